//! The Markdown report a reviewer reads: summary, coverage matrix, then threats by component.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tmc_model::{Draft, MitigationStatus, Provenance, Severity, Stride, TargetKind, Threat};

/// Escapes text for a Markdown table cell or inline use: pipes and line breaks would break the
/// table, and HTML in a model description must not render as HTML in a viewer.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

const LEVELS: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

pub fn render(draft: &Draft) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Threat model: {}\n", esc(&draft.product.name));
    if let Some(d) = &draft.product.description {
        let _ = writeln!(out, "{}\n", esc(d.trim()));
    }
    let _ = writeln!(
        out,
        "_Draft by {} {} (mode `{}`, {} rules, rule set `{}`){}. Every threat below is a proposal for review._\n",
        draft.generator.tool,
        draft.generator.version,
        draft.generator.mode,
        draft.generator.rules_loaded,
        draft.generator.ruleset_digest,
        draft
            .source_file
            .as_ref()
            .map(|s| format!(" from `{}`", esc(s)))
            .unwrap_or_default()
    );

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

    // Threats grouped by their first target.
    let _ = writeln!(out, "\n## Threats by element\n");
    let mut groups: BTreeMap<(u8, String), Vec<&Threat>> = BTreeMap::new();
    for t in &draft.threats {
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
            render_threat(&mut out, t);
        }
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
    out
}

fn render_threat(out: &mut String, t: &Threat) {
    let stride: Vec<String> = t.stride.iter().map(|s| s.letter().to_string()).collect();
    let _ = writeln!(
        out,
        "#### [{}] {}\n",
        t.severity.level.as_str().to_uppercase(),
        esc(&t.title)
    );
    let _ = writeln!(out, "`{}` · STRIDE {}\n", esc(&t.id), stride.join(""));
    let _ = writeln!(out, "{}\n", esc(&t.description));
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
            let status = match m.status {
                MitigationStatus::NotApplicable => "not applicable",
                MitigationStatus::InProgress => "in progress",
                MitigationStatus::WontDo => "won't do",
                other => other.as_str(),
            };
            let asvs = if m.asvs.is_empty() {
                String::new()
            } else {
                format!(" (ASVS {})", m.asvs.join(", "))
            };
            let _ = writeln!(out, "  - [{status}] `{}` {}{asvs}", m.id, esc(&m.text));
        }
    }
    out.push('\n');
}
