//! The Markdown report a reviewer reads: summary, coverage matrix, then threats by component.
//!
//! A reviewed draft (review decisions applied, or any threat past `draft`) also gets a review
//! summary near the top, threats in sections by status (nothing closed is hidden: rejected
//! threats get their own section), each threat's decision, and the decisions that matched
//! nothing. A draft without review renders exactly as it did before reviews existed, byte for
//! byte, so committed reports of unreviewed drafts do not churn.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tmc_model::{
    DecisionMatch, Draft, MitigationStatus, Provenance, Severity, Stride, TargetKind, Threat,
    ThreatStatus,
};

/// Escapes text for a Markdown table cell or inline use: pipes and line breaks would break the
/// table, and HTML in a model description must not render as HTML in a viewer.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

/// [`esc`] plus Markdown emphasis, code and link syntax, for review text (justifications,
/// reasons, names): a reviewer's `[link](javascript:...)` or `*` must show as typed.
fn esc_text(s: &str) -> String {
    let mut out = String::new();
    for c in esc(s).chars() {
        if matches!(c, '`' | '*' | '_' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text for inside a code span: a backtick would end the span early.
fn code(s: &str) -> String {
    esc(s).replace('`', "'")
}

const LEVELS: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// Whether the draft carries review state: a decisions file was applied, or some threat has a
/// decision or a status other than `draft`.
pub fn is_reviewed(draft: &Draft) -> bool {
    draft.review.is_some()
        || draft
            .threats
            .iter()
            .any(|t| t.review.is_some() || t.status != ThreatStatus::Draft)
}

pub fn render(draft: &Draft) -> String {
    let reviewed = is_reviewed(draft);
    let mut out = String::new();
    let _ = writeln!(out, "# Threat model: {}\n", esc(&draft.product.name));
    if let Some(d) = &draft.product.description {
        let _ = writeln!(out, "{}\n", esc(d.trim()));
    }
    let _ = writeln!(
        out,
        "_Draft by {} {} (mode `{}`, {} rules, rule set `{}`){}. {}_\n",
        draft.generator.tool,
        draft.generator.version,
        draft.generator.mode,
        draft.generator.rules_loaded,
        draft.generator.ruleset_digest,
        draft
            .source_file
            .as_ref()
            .map(|s| format!(" from `{}`", esc(s)))
            .unwrap_or_default(),
        if reviewed {
            "Review decisions are applied; threats still in draft are proposals for review."
        } else {
            "Every threat below is a proposal for review."
        }
    );
    if reviewed {
        render_review_summary(&mut out, draft);
    }

    // Summary by severity and STRIDE.
    let _ = writeln!(out, "## Summary\n");
    let _ = writeln!(out, "| Severity | Threats |\n|---|---|");
    for level in LEVELS {
        let n = draft
            .threats
            .iter()
            .filter(|t| t.severity.level == level)
            .count();
        let _ = writeln!(out, "| {} | {n} |", level.as_str());
    }
    let _ = writeln!(out, "| **total** | **{}** |\n", draft.threats.len());
    let _ = writeln!(out, "| STRIDE | Threats |\n|---|---|");
    for s in Stride::ALL {
        let n = draft
            .threats
            .iter()
            .filter(|t| t.stride.contains(&s))
            .count();
        let _ = writeln!(out, "| {} {} | {n} |", s.letter(), s.name());
    }
    if !draft.suppressed.is_empty() {
        let _ = writeln!(
            out,
            "\n{} further threat(s) were suppressed by declared controls (listed at the end).",
            draft.suppressed.len()
        );
    }

    // Coverage matrix.
    let _ = writeln!(out, "\n## Coverage (element × STRIDE)\n");
    let _ = writeln!(
        out,
        "Counts of threats per element; `·` marks a STRIDE category that does not apply to the element kind, `0` one that applies but has no threat.\n"
    );
    let _ = writeln!(
        out,
        "| Element | Kind | S | T | R | I | D | E |\n|---|---|---|---|---|---|---|---|"
    );
    for row in &draft.coverage {
        let kind = match row.target.kind {
            TargetKind::Component => "component",
            TargetKind::Flow => "flow",
            TargetKind::Data => "data",
            TargetKind::Boundary => "boundary",
        };
        let cells: Vec<String> = Stride::ALL
            .iter()
            .map(|s| {
                row.counts
                    .get(&s.letter().to_string())
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "·".into())
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {kind} | {} |",
            esc(&row.target.name),
            cells.join(" | ")
        );
    }

    if reviewed {
        for (title, statuses) in STATUS_SECTIONS {
            let threats: Vec<&Threat> = draft
                .threats
                .iter()
                .filter(|t| statuses.contains(&t.status))
                .collect();
            blank_line(&mut out);
            let _ = writeln!(out, "## {title} ({})\n", threats.len());
            if threats.is_empty() {
                let _ = writeln!(out, "None.\n");
            }
            render_by_element(&mut out, &threats, true);
        }
    } else {
        // Threats grouped by their first target.
        let _ = writeln!(out, "\n## Threats by element\n");
        let threats: Vec<&Threat> = draft.threats.iter().collect();
        render_by_element(&mut out, &threats, false);
    }

    if !draft.suppressed.is_empty() {
        let _ = writeln!(out, "## Suppressed by declared controls\n");
        let _ = writeln!(out, "| Threat | Target | Control |\n|---|---|---|");
        for s in &draft.suppressed {
            let targets: Vec<&str> = s.targets.iter().map(|t| t.name.as_str()).collect();
            let _ = writeln!(
                out,
                "| {} (`{}`) | {} | {} |",
                esc(&s.title),
                esc(&s.id),
                esc(&targets.join(", ")),
                esc(&s.reason)
            );
        }
    }
    render_critic(&mut out, draft);
    if let Some(r) = draft.review.as_ref().filter(|r| !r.orphaned.is_empty()) {
        blank_line(&mut out);
        let _ = writeln!(out, "## Orphaned decisions\n");
        let _ = writeln!(
            out,
            "Decisions in the review that match no threat of this draft. Remove them from the decisions file, or fix their keys if the threat was renamed.\n"
        );
        let _ = writeln!(
            out,
            "| Decision | Status | Why it matched nothing |\n|---|---|---|"
        );
        for o in &r.orphaned {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                code(&o.key),
                o.status.as_str(),
                esc_text(&o.reason)
            );
        }
    }
    out
}

/// Ends the text with an empty line (once), so the next heading stands apart.
fn blank_line(out: &mut String) {
    while !out.ends_with("\n\n") {
        out.push('\n');
    }
}

/// The status sections of a reviewed report, in reading order: what still needs work first.
const STATUS_SECTIONS: [(&str, &[ThreatStatus]); 4] = [
    (
        "Open and unreviewed",
        &[ThreatStatus::Open, ThreatStatus::Draft],
    ),
    ("Mitigated", &[ThreatStatus::Mitigated]),
    (
        "Accepted / transferred / avoided",
        &[
            ThreatStatus::Accepted,
            ThreatStatus::Transferred,
            ThreatStatus::Avoided,
        ],
    ),
    (
        "Not applicable (rejected in review)",
        &[ThreatStatus::NotApplicable],
    ),
];

/// Review counts of a draft.
///
/// Taken from `tmc_review::tally`, the workspace's one counting function, so the report counts
/// exactly what the exports and the CI gate count.
struct Counts {
    /// Threats per status, in [`ThreatStatus::ALL`] order.
    by_status: Vec<(ThreatStatus, usize)>,
    /// Draft or open threats per severity, in [`LEVELS`] order.
    unresolved_by_severity: Vec<(Severity, usize)>,
    /// Mitigations per status, in [`MitigationStatus::ALL`] order.
    mitigations_by_status: Vec<(MitigationStatus, usize)>,
    mitigations: usize,
    /// Implemented or verified.
    mitigations_done: usize,
    needs_confirmation: usize,
}

fn counts(draft: &Draft) -> Counts {
    let t = tmc_review::tally(draft);
    Counts {
        mitigations_done: t.mitigation_status(MitigationStatus::Implemented)
            + t.mitigation_status(MitigationStatus::Verified),
        needs_confirmation: t.needs_confirmation,
        by_status: t.by_status,
        unresolved_by_severity: t.unresolved_by_severity,
        mitigations_by_status: t.mitigations_by_status,
        mitigations: t.mitigations,
    }
}

fn status_label(s: ThreatStatus) -> &'static str {
    match s {
        ThreatStatus::Draft => "draft (not reviewed)",
        ThreatStatus::Open => "open (confirmed, not yet treated)",
        ThreatStatus::Mitigated => "mitigated",
        ThreatStatus::Accepted => "accepted",
        ThreatStatus::Transferred => "transferred",
        ThreatStatus::Avoided => "avoided",
        ThreatStatus::NotApplicable => "not applicable (rejected in review)",
    }
}

fn mitigation_label(s: MitigationStatus) -> &'static str {
    match s {
        MitigationStatus::NotApplicable => "not applicable",
        MitigationStatus::InProgress => "in progress",
        MitigationStatus::WontDo => "won't do",
        other => other.as_str(),
    }
}

fn render_review_summary(out: &mut String, draft: &Draft) {
    let c = counts(draft);
    let _ = writeln!(out, "## Review summary\n");
    if let Some(r) = &draft.review {
        if let Some(f) = &r.file {
            let _ = writeln!(out, "Decisions from `{}`.\n", code(f));
        }
        if let (Some(was), Some(now)) = (&r.reviewed_model_hash, &r.model_hash)
            && was != now
        {
            let _ = writeln!(
                out,
                "**The model changed since the last review** (reviewed `{}`, now `{}`): check the threats still in draft.\n",
                code(was),
                code(now)
            );
        }
    }
    let _ = writeln!(out, "| Status | Threats |\n|---|---|");
    for (s, n) in &c.by_status {
        let _ = writeln!(out, "| {} | {n} |", status_label(*s));
    }
    let unresolved: usize = c.unresolved_by_severity.iter().map(|(_, n)| n).sum();
    let _ = writeln!(out, "| **total** | **{}** |\n", draft.threats.len());
    let _ = writeln!(out, "| Severity | Unresolved (draft or open) |\n|---|---|");
    for (l, n) in &c.unresolved_by_severity {
        let _ = writeln!(out, "| {} | {n} |", l.as_str());
    }
    let _ = writeln!(out, "| **total** | **{unresolved}** |\n");
    let by: Vec<String> = c
        .mitigations_by_status
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{} {n}", mitigation_label(*s)))
        .collect();
    let _ = writeln!(
        out,
        "**Mitigations:** {} of {} done (implemented or verified){}.\n",
        c.mitigations_done,
        c.mitigations,
        if by.is_empty() {
            String::new()
        } else {
            format!("; {}", by.join(", "))
        }
    );
    if c.needs_confirmation > 0 {
        let _ = writeln!(
            out,
            "**Needs confirmation:** {} decision(s) were carried over from a similar threat, not the same one; confirm or redo them:\n",
            c.needs_confirmation
        );
        for t in &draft.threats {
            let Some(r) = t.review.as_ref().filter(|r| r.needs_confirmation) else {
                continue;
            };
            let _ = writeln!(
                out,
                "- `{}` {} — {} (from decision `{}`)",
                code(&t.id),
                esc_text(&t.title),
                t.status.as_str(),
                code(&r.key)
            );
        }
        out.push('\n');
    }
    if let Some(r) = draft.review.as_ref().filter(|r| !r.orphaned.is_empty()) {
        let _ = writeln!(
            out,
            "**Orphaned decisions:** {} decision(s) match no threat any more (listed at the end).\n",
            r.orphaned.len()
        );
    }
}

/// Threats under one `###` heading per first target, components first.
fn render_by_element(out: &mut String, threats: &[&Threat], reviewed: bool) {
    let mut groups: BTreeMap<(u8, String), Vec<&Threat>> = BTreeMap::new();
    for t in threats {
        let key = t
            .targets
            .first()
            .map(|x| {
                let order = match x.kind {
                    TargetKind::Component => 0,
                    TargetKind::Flow => 1,
                    TargetKind::Data => 2,
                    TargetKind::Boundary => 3,
                };
                (order, x.name.clone())
            })
            .unwrap_or((9, "(no target)".into()));
        groups.entry(key).or_default().push(t);
    }
    for ((_, name), threats) in &groups {
        let _ = writeln!(out, "### {}\n", esc(name));
        for t in threats {
            render_threat(out, t, reviewed);
        }
    }
}

/// The review decision of one threat, as list items under its heading.
fn render_decision(out: &mut String, t: &Threat) {
    let mut status = status_label(t.status).to_string();
    if let Some(r) = &t.review {
        if let Some(who) = &r.reviewer {
            status.push_str(&format!(" by {}", esc_text(who)));
        }
        if let Some(at) = &r.reviewed_at {
            status.push_str(&format!(" on {}", esc_text(at)));
        }
        if let Some(e) = &r.expires {
            status.push_str(&format!(" (expires {})", esc_text(e)));
        }
    }
    let _ = writeln!(out, "- **Status:** {status}");
    let Some(r) = &t.review else {
        return;
    };
    if r.needs_confirmation {
        let _ = writeln!(
            out,
            "- **Needs confirmation:** the decision `{}` was carried over from a similar threat; confirm it applies to this one",
            code(&r.key)
        );
    } else if r.matched_by != DecisionMatch::Id {
        let how = match r.matched_by {
            DecisionMatch::Wildcard => "a wildcard",
            DecisionMatch::Fingerprint => "its fingerprint (the id changed)",
            DecisionMatch::Id | DecisionMatch::Similar => "a similar threat",
        };
        let _ = writeln!(out, "- **Decision:** `{}`, matched by {how}", code(&r.key));
    }
    if let Some(j) = &r.justification {
        let _ = writeln!(out, "- **Justification:** {}", esc_text(j));
    }
    if !r.tickets.is_empty() {
        let tickets: Vec<String> = r.tickets.iter().map(|x| esc_text(x)).collect();
        let _ = writeln!(out, "- **Tickets:** {}", tickets.join(", "));
    }
    if let Some(o) = &r.severity_override {
        let by = r
            .reviewer
            .as_deref()
            .map(|w| format!(" by {}", esc_text(w)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- **Severity override:** {} → {}{by}: {}",
            o.drafted.as_str(),
            t.severity.level.as_str(),
            esc_text(&o.reason)
        );
    }
    if let Some(d) = &r.drafted_title {
        let _ = writeln!(out, "- **Drafted title:** {}", esc_text(d));
    }
}

fn render_threat(out: &mut String, t: &Threat, reviewed: bool) {
    let stride: Vec<String> = t.stride.iter().map(|s| s.letter().to_string()).collect();
    let _ = writeln!(
        out,
        "#### [{}] {}\n",
        t.severity.level.as_str().to_uppercase(),
        esc(&t.title)
    );
    let _ = writeln!(out, "`{}` · STRIDE {}\n", esc(&t.id), stride.join(""));
    let _ = writeln!(out, "{}\n", esc(&t.description));
    if reviewed {
        render_decision(out, t);
    }
    if t.targets.len() > 1 {
        let names: Vec<&str> = t.targets.iter().map(|x| x.name.as_str()).collect();
        let _ = writeln!(out, "- **Applies to:** {}", esc(&names.join(", ")));
    }
    let sev = &t.severity;
    let factors: Vec<String> = sev
        .factors
        .iter()
        .map(|f| {
            format!(
                "{} = {} ({:+} {:?})",
                f.name,
                esc(&f.value),
                f.delta,
                f.applies_to
            )
            .to_lowercase()
        })
        .collect();
    let _ = writeln!(
        out,
        "- **Severity:** {} = likelihood {} × impact {} (score {}){}",
        sev.level.as_str(),
        sev.likelihood,
        sev.impact,
        sev.score,
        if factors.is_empty() {
            String::new()
        } else {
            format!("; factors: {}", factors.join("; "))
        }
    );
    let r = &t.references;
    let mut refs = Vec::new();
    if !r.cwe.is_empty() {
        refs.push(
            r.cwe
                .iter()
                .map(|c| format!("CWE-{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if !r.capec.is_empty() {
        refs.push(
            r.capec
                .iter()
                .map(|c| format!("CAPEC-{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    for (label, v) in [
        ("OWASP 2021", &r.owasp_top10_2021),
        ("OWASP 2025", &r.owasp_top10_2025),
        ("API 2023", &r.owasp_api_2023),
        ("LLM 2025", &r.owasp_llm_2025),
    ] {
        if !v.is_empty() {
            refs.push(format!("{label} {}", v.join(", ")));
        }
    }
    if !refs.is_empty() {
        let _ = writeln!(out, "- **References:** {}", refs.join(" · "));
    }
    match &t.provenance {
        Provenance::Rule {
            rule_id,
            triggered_by,
            also_raised_by,
        } => {
            let why: Vec<String> = triggered_by
                .iter()
                .map(|(k, v)| format!("`{k}` = {}", esc(v)))
                .collect();
            let _ = writeln!(
                out,
                "- **Why:** rule `{rule_id}` fired on {}",
                why.join(", ")
            );
            if !also_raised_by.is_empty() {
                let _ = writeln!(out, "- **Also raised by:** {}", also_raised_by.join(", "));
            }
        }
        Provenance::Import { format, source_id } => {
            let _ = writeln!(
                out,
                "- **Source:** imported from {format} (`{}`)",
                esc(source_id)
            );
        }
        Provenance::Manual { author } => {
            let by = author
                .as_deref()
                .map(|a| format!(" by {}", esc(a)))
                .unwrap_or_default();
            let _ = writeln!(out, "- **Source:** added in review{by}");
        }
        Provenance::Model {
            provider,
            model,
            prompt_version,
            ..
        } => {
            let _ = writeln!(
                out,
                "- **Source:** model {provider}/{model}, prompt {prompt_version}"
            );
        }
        Provenance::KnowledgeBase { source_ids } => {
            let _ = writeln!(
                out,
                "- **Source:** knowledge base ({})",
                esc(&source_ids.join(", "))
            );
        }
    }
    if let Some(d) = &sev.downgraded_by {
        let _ = writeln!(out, "- **Downgraded by a declared control:** {}", esc(d));
    }
    if !t.mitigations.is_empty() {
        let _ = writeln!(out, "- **Mitigations:**");
        for m in &t.mitigations {
            let status = mitigation_label(m.status);
            let asvs = if m.asvs.is_empty() {
                String::new()
            } else {
                format!(" (ASVS {})", m.asvs.join(", "))
            };
            // Owner, ticket and due date only exist once someone reviewed the mitigation, so
            // unreviewed drafts render as before.
            let mut who = Vec::new();
            if let Some(o) = &m.owner {
                who.push(format!("owner {}", esc_text(o)));
            }
            if let Some(x) = &m.ticket {
                who.push(format!("ticket {}", esc_text(x)));
            }
            if let Some(d) = &m.due {
                who.push(format!("due {}", esc_text(d)));
            }
            let who = if who.is_empty() {
                String::new()
            } else {
                format!(" — {}", who.join(", "))
            };
            let _ = writeln!(out, "  - [{status}] `{}` {}{asvs}{who}", m.id, esc(&m.text));
        }
    }
    out.push('\n');
}

/// "The copilot thinks these do not apply": unreviewed threats the critic marked, with its
/// reason and what it rests on. Nothing is removed; a reviewer confirms (not-applicable) or
/// restores (any other decision), and a decided threat leaves this list.
fn render_critic(out: &mut String, draft: &Draft) {
    let marked: Vec<(&Threat, &tmc_model::SeverityFactor)> = draft
        .threats
        .iter()
        .filter(|t| t.status == ThreatStatus::Draft)
        .filter_map(|t| {
            t.severity
                .factors
                .iter()
                .find(|f| f.name.starts_with(tmc_model::CRITIC_NOT_APPLICABLE_FACTOR))
                .map(|f| (t, f))
        })
        .collect();
    if marked.is_empty() {
        return;
    }
    blank_line(out);
    let _ = writeln!(
        out,
        "## The copilot thinks these do not apply — confirm or restore ({})
",
        marked.len()
    );
    let _ = writeln!(
        out,
        "Still in the draft above. `tmc review reject` confirms one (with the reason); any other decision restores it.\n"
    );
    let _ = writeln!(out, "| Threat | Reason | Rests on |\n|---|---|---|");
    for (t, f) in marked {
        let reason = &f.name[tmc_model::CRITIC_NOT_APPLICABLE_FACTOR.len()..];
        let _ = writeln!(
            out,
            "| {} (`{}`) | {} | {} |",
            esc(&t.title),
            code(&t.id),
            esc_text(reason),
            esc_text(&f.value)
        );
    }
}
