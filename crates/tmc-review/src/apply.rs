//! Applying decisions to a draft: which decision belongs to which threat, and what the draft
//! looks like after review.
//!
//! Precedence, first match wins for each threat:
//! 1. a key equal to the threat's id ([`DecisionMatch::Id`]);
//! 2. carry-over of an exact key that matches no id: the recorded `was.fingerprint` equals the
//!    threat's fingerprint ([`DecisionMatch::Fingerprint`]), else the threat has the same
//!    targets, a shared STRIDE letter and a title similarity of at least
//!    [`SAME_THREAT_SIMILARITY`] to `was.title` ([`DecisionMatch::Similar`], needs a
//!    reviewer's confirmation);
//! 3. the most specific wildcard pattern covering the id (most literal characters; ties go to
//!    the first key in sorted order) ([`DecisionMatch::Wildcard`]).
//!
//! Carried decisions beat wildcards because they were made about that very threat. A decision
//! that attaches to nothing, and a pattern that covers nothing, is an orphan with a reason.
//! Nothing is ever removed from the draft: decisions set statuses, review records, severities,
//! titles and mitigation progress, and add manual threats.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use tmc_model::identity::{SAME_THREAT_SIMILARITY, fingerprint, title_similarity};
use tmc_model::{
    DecisionMatch, Draft, Mitigation, MitigationStatus, OrphanedDecision, Provenance, References,
    ReviewSummary, Severity, SeverityAssessment, SeverityOverride, SystemModel, TargetKind,
    TargetRef, Threat, ThreatReview, ThreatStatus,
};

use crate::decisions::{
    Decisions, ManualThreat, MitigationDecision, SeverityChange, ThreatDecision, WasSnapshot,
    is_manual_id, split_target, validate_decision, validate_manual,
};
use crate::pattern::{is_pattern, matches, specificity};
use crate::{is_date, is_rfc3339};

/// What `apply` knows about the current model besides the draft.
#[derive(Debug, Clone, Default)]
pub struct ApplyContext {
    /// Every element id of the current model with its kind and display name. Empty means
    /// "unknown": orphan reasons then cannot say which element is gone, and manual threat
    /// targets are resolved from the draft's coverage rows only.
    pub elements: BTreeMap<String, (TargetKind, String)>,
    /// [`crate::model_hash`] of the model file the draft was made from.
    pub model_hash: Option<String>,
    /// The decisions file as given, recorded in [`ReviewSummary::file`].
    pub file: Option<String>,
}

impl ApplyContext {
    /// The context of a loaded model: its components, flows, data and boundaries.
    pub fn from_model(model: &SystemModel, model_hash: Option<String>) -> ApplyContext {
        let mut elements = BTreeMap::new();
        let names: HashMap<&str, &str> = model
            .components
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str()))
            .collect();
        for c in &model.components {
            elements.insert(c.id.clone(), (TargetKind::Component, c.name.clone()));
        }
        for f in &model.flows {
            // The engine's name for an unnamed flow, so manual threats read like drafted ones.
            let name = f.name.clone().unwrap_or_else(|| {
                let end = |id: &str| names.get(id).map_or(id.to_string(), |n| n.to_string());
                format!("{} → {}", end(&f.from), end(&f.to))
            });
            elements.insert(f.id.clone(), (TargetKind::Flow, name));
        }
        for d in &model.data {
            elements.insert(d.id.clone(), (TargetKind::Data, d.name.clone()));
        }
        for b in &model.trust_boundaries {
            elements.insert(b.id.clone(), (TargetKind::Boundary, b.name.clone()));
        }
        ApplyContext {
            elements,
            model_hash,
            file: None,
        }
    }
}

/// A decision that could not be applied as written (beyond being an orphan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyIssue {
    /// The decisions-file key or manual threat id.
    pub key: String,
    pub message: String,
}

/// What `apply` did, for the CLI's one-line summary and the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Drafted threats that received a decision.
    pub applied: usize,
    pub by_id: usize,
    pub by_wildcard: usize,
    pub by_fingerprint: usize,
    pub by_similar: usize,
    /// Carried by similarity: a reviewer should confirm (`tmc review confirm`).
    pub needs_confirmation: usize,
    /// Decisions and patterns that attached to nothing (see `draft.review.orphaned`).
    pub orphans: usize,
    pub manual_added: usize,
    /// Threats (drafted or manual) without any review decision after applying.
    pub unreviewed: usize,
    /// Parts of decisions that could not be applied (unknown mitigation without text, ...).
    pub issues: Vec<ApplyIssue>,
}

/// Applies `decisions` to `draft` (as drafted, not yet reviewed) in place and returns what
/// happened. Never panics and never removes anything from the draft.
pub fn apply(draft: &mut Draft, decisions: &Decisions, ctx: &ApplyContext) -> ApplyReport {
    let mut report = ApplyReport::default();
    let mut orphaned: Vec<OrphanedDecision> = Vec::new();
    let n = draft.threats.len();
    let mut chosen: Vec<Option<(&str, DecisionMatch)>> = vec![None; n];
    let index: HashMap<&str, usize> = draft
        .threats
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();

    // 1. exact ids.
    let mut unmatched_exact: Vec<(&str, &ThreatDecision)> = Vec::new();
    for (key, d) in &decisions.threats {
        if is_pattern(key) {
            continue;
        }
        match index.get(key.as_str()) {
            Some(&i) if chosen[i].is_none() => chosen[i] = Some((key, DecisionMatch::Id)),
            Some(_) => {}
            None => unmatched_exact.push((key, d)),
        }
    }
    // 2. carry-over, fingerprint first for every key, then similarity, so a close-but-wrong
    // similar match never takes a threat another key follows exactly.
    let fingerprints: Vec<String> = draft.threats.iter().map(fingerprint).collect();
    let mut still: Vec<(&str, &ThreatDecision)> = Vec::new();
    for (key, d) in unmatched_exact {
        let hit = d.was.as_ref().and_then(|w| {
            (0..n).find(|&i| chosen[i].is_none() && fingerprints[i] == w.fingerprint)
        });
        match hit {
            Some(i) => chosen[i] = Some((key, DecisionMatch::Fingerprint)),
            None => still.push((key, d)),
        }
    }
    for (key, d) in still {
        let hit = d.was.as_ref().and_then(|w| best_similar(draft, &chosen, w));
        match hit {
            Some(i) => chosen[i] = Some((key, DecisionMatch::Similar)),
            None => orphaned.push(OrphanedDecision {
                key: key.to_string(),
                status: d.status.unwrap_or_default(),
                reason: orphan_reason(key, d, draft, ctx),
            }),
        }
    }
    // 3. wildcards.
    let patterns: Vec<(&str, &ThreatDecision)> = decisions
        .threats
        .iter()
        .filter(|(k, _)| is_pattern(k))
        .map(|(k, d)| (k.as_str(), d))
        .collect();
    let mut pattern_used = vec![false; patterns.len()];
    // The most specific pattern over each threat, also where a direct decision was chosen:
    // a direct decision without a status (only a severity or mitigation change) takes its
    // status from the pattern instead of leaving the threat unreviewed.
    let mut best_pattern: Vec<Option<usize>> = vec![None; n];
    for (i, t) in draft.threats.iter().enumerate() {
        let mut best: Option<usize> = None;
        for (p, (key, _)) in patterns.iter().enumerate() {
            if matches(key, &t.id) {
                pattern_used[p] = true;
                if best.is_none_or(|b| specificity(key) > specificity(patterns[b].0)) {
                    best = Some(p);
                }
            }
        }
        best_pattern[i] = best;
        if chosen[i].is_none()
            && let Some(b) = best
        {
            chosen[i] = Some((patterns[b].0, DecisionMatch::Wildcard));
        }
    }
    for (p, (key, d)) in patterns.iter().enumerate() {
        if !pattern_used[p] {
            orphaned.push(OrphanedDecision {
                key: key.to_string(),
                status: d.status.unwrap_or_default(),
                reason: pattern_orphan_reason(key, ctx),
            });
        }
    }

    // Apply.
    for (i, choice) in chosen.iter().enumerate() {
        let Some((key, how)) = *choice else { continue };
        let Some(decision) = decisions.threats.get(key) else {
            continue;
        };
        let issues = apply_one(&mut draft.threats[i], key, decision, how);
        report.issues.extend(issues);
        if decision.status.is_none()
            && how != DecisionMatch::Wildcard
            && let Some(b) = best_pattern[i]
            && let Some(status) = patterns[b].1.status
        {
            let t = &mut draft.threats[i];
            t.status = status;
            if let Some(r) = t.review.as_mut() {
                if r.justification.is_none() {
                    r.justification = patterns[b].1.justification.clone();
                }
                if r.expires.is_none() {
                    r.expires = patterns[b].1.expires.clone();
                }
            }
        }
        report.applied += 1;
        match how {
            DecisionMatch::Id => report.by_id += 1,
            DecisionMatch::Wildcard => report.by_wildcard += 1,
            DecisionMatch::Fingerprint => report.by_fingerprint += 1,
            DecisionMatch::Similar => {
                report.by_similar += 1;
                report.needs_confirmation += 1;
            }
        }
    }

    // Manual threats.
    let mut manual: Vec<&ManualThreat> = decisions.manual_threats.iter().collect();
    manual.sort_by(|a, b| a.id.cmp(&b.id));
    for m in manual {
        match manual_threat(m, draft, ctx) {
            Ok(threat) => {
                add_to_coverage(draft, &threat);
                draft.threats.push(threat);
                report.manual_added += 1;
            }
            Err(reason) => {
                report.issues.push(ApplyIssue {
                    key: m.id.clone(),
                    message: reason.clone(),
                });
                orphaned.push(OrphanedDecision {
                    key: m.id.clone(),
                    status: m.status,
                    reason,
                });
            }
        }
    }

    report.orphans = orphaned.len();
    report.unreviewed = draft.threats.iter().filter(|t| t.review.is_none()).count();
    draft.review = Some(ReviewSummary {
        file: ctx.file.clone(),
        reviewed_model_hash: decisions.model_hash.clone(),
        model_hash: ctx.model_hash.clone(),
        orphaned,
    });
    report
}

/// The unclaimed threat most similar to a recorded snapshot, if any reaches the threshold.
fn best_similar(
    draft: &Draft,
    chosen: &[Option<(&str, DecisionMatch)>],
    was: &WasSnapshot,
) -> Option<usize> {
    let was_targets = was.target_ids();
    let mut best: Option<(usize, f64)> = None;
    for (i, t) in draft.threats.iter().enumerate() {
        if chosen[i].is_some() {
            continue;
        }
        let targets: BTreeSet<&str> = t.targets.iter().map(|r| r.id.as_str()).collect();
        if targets != was_targets || !t.stride.iter().any(|s| was.stride.contains(s)) {
            continue;
        }
        let sim = title_similarity(&was.title, &t.title);
        if sim >= SAME_THREAT_SIMILARITY && best.is_none_or(|(_, b)| sim > b) {
            best = Some((i, sim));
        }
    }
    best.map(|(i, _)| i)
}

/// Targets a key talks about: from the snapshot when there is one (kind-qualified), else the
/// part after `@` (`to:<id>` groups are about a component).
fn key_targets<'a>(key: &'a str, d: Option<&'a ThreatDecision>) -> Vec<(Option<&'a str>, &'a str)> {
    if let Some(w) = d.and_then(|d| d.was.as_ref()) {
        return w.targets.iter().map(|t| split_target(t)).collect();
    }
    match key.split_once('@') {
        Some((_, target)) => match target.strip_prefix("to:") {
            Some(id) => vec![(Some("component"), id)],
            None => vec![(None, target)],
        },
        None => Vec::new(),
    }
}

fn gone(ctx: &ApplyContext, targets: &[(Option<&str>, &str)]) -> Vec<String> {
    if ctx.elements.is_empty() {
        return Vec::new();
    }
    targets
        .iter()
        .filter(|(_, id)| !id.contains('*') && !ctx.elements.contains_key(*id))
        .map(|(kind, id)| format!("{} `{id}`", kind.unwrap_or("element")))
        .collect()
}

fn orphan_reason(key: &str, d: &ThreatDecision, draft: &Draft, ctx: &ApplyContext) -> String {
    if let Some(s) = draft.suppressed.iter().find(|s| s.id == key) {
        return format!(
            "the threat is now suppressed by a declared control ({}); remove the decision",
            s.reason
        );
    }
    let gone = gone(ctx, &key_targets(key, Some(d)));
    if !gone.is_empty() {
        let verb = if gone.len() == 1 { "is" } else { "are" };
        return format!("{} {verb} no longer in the model", gone.join(" and "));
    }
    match &d.was {
        None => "no threat with this id in the draft, and the decision has no `was` snapshot \
                 to follow it by fingerprint or title"
            .to_string(),
        Some(w) => format!(
            "no threat with this id, fingerprint {} or a title like \"{}\" on the same targets \
             is in the draft (the rule no longer raises it, or it changed too much: decide again)",
            w.fingerprint, w.title
        ),
    }
}

fn pattern_orphan_reason(key: &str, ctx: &ApplyContext) -> String {
    let gone = gone(ctx, &key_targets(key, None));
    if gone.is_empty() {
        "the pattern matches no threat in the draft".to_string()
    } else {
        format!(
            "the pattern matches no threat in the draft: {} is no longer in the model",
            gone.join(" and ")
        )
    }
}

/// Applies one decision to one threat; returns what could not be applied.
fn apply_one(
    threat: &mut Threat,
    key: &str,
    d: &ThreatDecision,
    how: DecisionMatch,
) -> Vec<ApplyIssue> {
    let mut issues = Vec::new();
    if let Some(s) = d.status {
        threat.status = s;
    }
    let severity_override = d.severity.as_ref().map(|SeverityChange { level, reason }| {
        let drafted = threat.severity.level;
        threat.severity.level = *level;
        SeverityOverride {
            drafted,
            reason: reason.clone(),
        }
    });
    let mut drafted_title = None;
    if let Some(title) = &d.title
        && *title != threat.title
    {
        drafted_title = Some(std::mem::replace(&mut threat.title, title.clone()));
    }
    if let Some(desc) = &d.description {
        threat.description = desc.clone();
    }
    for m in &d.mitigations {
        if let Err(message) = merge_mitigation(&mut threat.mitigations, m) {
            issues.push(ApplyIssue {
                key: key.to_string(),
                message,
            });
        }
    }
    threat.review = Some(ThreatReview {
        key: key.to_string(),
        matched_by: how,
        needs_confirmation: how == DecisionMatch::Similar,
        justification: d.justification.clone(),
        expires: d.expires.clone(),
        reviewer: d.reviewer.clone(),
        reviewed_at: d.reviewed_at.clone(),
        tickets: d.tickets.clone(),
        severity_override,
        drafted_title,
    });
    issues
}

fn merge_mitigation(list: &mut Vec<Mitigation>, m: &MitigationDecision) -> Result<(), String> {
    match list.iter_mut().find(|x| x.id == m.id) {
        Some(x) => {
            if let Some(t) = &m.text {
                x.text = t.clone();
            }
            if let Some(s) = m.status {
                x.status = s;
            }
            if m.owner.is_some() {
                x.owner = m.owner.clone();
            }
            if m.ticket.is_some() {
                x.ticket = m.ticket.clone();
            }
            if m.due.is_some() {
                x.due = m.due.clone();
            }
            Ok(())
        }
        None => match &m.text {
            Some(text) => {
                list.push(Mitigation {
                    id: m.id.clone(),
                    text: text.clone(),
                    asvs: Vec::new(),
                    status: m.status.unwrap_or_default(),
                    owner: m.owner.clone(),
                    ticket: m.ticket.clone(),
                    due: m.due.clone(),
                });
                Ok(())
            }
            None => Err(format!(
                "mitigation `{}` is not drafted on this threat and has no `text` to add it with",
                m.id
            )),
        },
    }
}

/// Likelihood and impact that give exactly `level` under [`Severity::for_score`]: a manual
/// threat has no factors, so its score is the level's middle.
fn score_for(level: Severity) -> (u8, u8) {
    match level {
        Severity::Info => (1, 1),
        Severity::Low => (2, 2),
        Severity::Medium => (3, 3),
        Severity::High => (4, 4),
        Severity::Critical => (5, 5),
    }
}

fn resolve_target(id: &str, draft: &Draft, ctx: &ApplyContext) -> Option<TargetRef> {
    if let Some((kind, name)) = ctx.elements.get(id) {
        return Some(TargetRef::new(*kind, id, name.clone()));
    }
    if !ctx.elements.is_empty() {
        return None;
    }
    draft
        .coverage
        .iter()
        .map(|r| &r.target)
        .chain(draft.threats.iter().flat_map(|t| t.targets.iter()))
        .find(|t| t.id == id)
        .cloned()
}

fn manual_threat(m: &ManualThreat, draft: &Draft, ctx: &ApplyContext) -> Result<Threat, String> {
    if draft.threats.iter().any(|t| t.id == m.id) {
        return Err(format!(
            "manual threat id `{}` is already used by a drafted threat",
            m.id
        ));
    }
    let mut targets = Vec::new();
    let mut unknown = Vec::new();
    for id in &m.targets {
        match resolve_target(id, draft, ctx) {
            Some(t) => targets.push(t),
            None => unknown.push(format!("`{id}`")),
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "manual threat target {} is not in the model",
            unknown.join(", ")
        ));
    }
    let mut mitigations = Vec::new();
    for md in &m.mitigations {
        merge_mitigation(&mut mitigations, md)?;
    }
    let (likelihood, impact) = score_for(m.severity);
    Ok(Threat {
        id: m.id.clone(),
        title: m.title.clone(),
        description: m.description.clone(),
        stride: m.stride.clone(),
        targets,
        references: References {
            cwe: m.cwe.clone(),
            ..References::default()
        },
        severity: SeverityAssessment {
            level: m.severity,
            likelihood,
            impact,
            score: likelihood * impact,
            factors: Vec::new(),
            downgraded_by: None,
        },
        mitigations,
        provenance: Provenance::Manual {
            author: m.reviewer.clone(),
        },
        status: m.status,
        review: Some(ThreatReview {
            key: m.id.clone(),
            matched_by: DecisionMatch::Id,
            needs_confirmation: false,
            justification: m.justification.clone(),
            expires: m.expires.clone(),
            reviewer: m.reviewer.clone(),
            reviewed_at: m.reviewed_at.clone(),
            tickets: m.tickets.clone(),
            severity_override: None,
            drafted_title: None,
        }),
    })
}

/// Counts a manual threat in the coverage rows of its targets (letters that do not apply to
/// an element stay absent, as the engine writes them).
fn add_to_coverage(draft: &mut Draft, threat: &Threat) {
    for t in &threat.targets {
        if let Some(row) = draft
            .coverage
            .iter_mut()
            .find(|r| r.target.kind == t.kind && r.target.id == t.id)
        {
            for s in &threat.stride {
                if let Some(c) = row.counts.get_mut(&s.letter().to_string()) {
                    *c += 1;
                }
            }
        }
    }
}

/// Turns a draft whose threats carry statuses (imported from Threat Dragon, Threagile, OTM or
/// Threat Composer, or a reviewed draft) into a decisions file, so the review lives on in
/// `threatmodel.review.yaml`. A status that needs a justification but came without one gets
/// a justification saying so, for a reviewer to replace. Fields that would not validate
/// (malformed dates, keys with spaces) are left out rather than failing the import.
pub fn decisions_from_statuses(draft: &Draft) -> Decisions {
    let mut out = Decisions::default();
    for t in &draft.threats {
        if let Provenance::Manual { author } = &t.provenance
            && is_manual_id(&t.id)
        {
            let m = manual_from_threat(t, author.clone());
            if validate_manual(&m).is_ok() {
                out.manual_threats.push(m);
            }
            continue;
        }
        let mitigations: Vec<MitigationDecision> = t
            .mitigations
            .iter()
            .filter(|m| {
                m.status != MitigationStatus::Proposed
                    || m.owner.is_some()
                    || m.ticket.is_some()
                    || m.due.is_some()
            })
            .map(mitigation_decision)
            .collect();
        if t.status == ThreatStatus::Draft && t.review.is_none() && mitigations.is_empty() {
            continue;
        }
        let r = t.review.as_ref();
        let status = (t.status != ThreatStatus::Draft).then_some(t.status);
        let mut justification = r.and_then(|r| r.justification.clone());
        if status.is_some_and(ThreatStatus::needs_justification)
            && justification.as_deref().is_none_or(|j| j.trim().is_empty())
        {
            justification = Some(format!(
                "status `{}` came from {} without a justification; replace this with the reason",
                t.status.as_str(),
                origin_words(&t.provenance)
            ));
        }
        let decision = ThreatDecision {
            status,
            justification,
            expires: r
                .and_then(|r| r.expires.clone())
                .filter(|e| status == Some(ThreatStatus::Accepted) && is_date(e)),
            severity: r
                .and_then(|r| r.severity_override.as_ref())
                .filter(|o| !o.reason.trim().is_empty())
                .map(|o| SeverityChange {
                    level: t.severity.level,
                    reason: o.reason.clone(),
                }),
            title: r
                .and_then(|r| r.drafted_title.as_ref())
                .map(|_| t.title.clone()),
            description: None,
            reviewer: r.and_then(|r| r.reviewer.clone()),
            reviewed_at: r
                .and_then(|r| r.reviewed_at.clone())
                .filter(|s| is_rfc3339(s)),
            tickets: r.map(|r| r.tickets.clone()).unwrap_or_default(),
            mitigations,
            was: Some(WasSnapshot::of(t)),
        };
        if validate_decision(&t.id, &decision).is_ok() {
            out.threats.insert(t.id.clone(), decision);
        }
    }
    out
}

fn mitigation_decision(m: &Mitigation) -> MitigationDecision {
    MitigationDecision {
        id: m.id.clone(),
        text: None,
        status: (m.status != MitigationStatus::Proposed).then_some(m.status),
        owner: m.owner.clone(),
        ticket: m.ticket.clone(),
        due: m.due.clone().filter(|d| is_date(d)),
    }
}

fn manual_from_threat(t: &Threat, author: Option<String>) -> ManualThreat {
    let r = t.review.as_ref();
    let mut justification = r.and_then(|r| r.justification.clone());
    if t.status.needs_justification()
        && justification.as_deref().is_none_or(|j| j.trim().is_empty())
    {
        justification = Some(format!(
            "status `{}` was recorded without a justification; replace this with the reason",
            t.status.as_str()
        ));
    }
    ManualThreat {
        id: t.id.clone(),
        title: t.title.clone(),
        description: t.description.clone(),
        stride: t.stride.clone(),
        targets: t.targets.iter().map(|x| x.id.clone()).collect(),
        severity: t.severity.level,
        cwe: t.references.cwe.clone(),
        status: t.status,
        justification,
        expires: r
            .and_then(|r| r.expires.clone())
            .filter(|e| t.status == ThreatStatus::Accepted && is_date(e)),
        reviewer: r.and_then(|r| r.reviewer.clone()).or(author),
        reviewed_at: r
            .and_then(|r| r.reviewed_at.clone())
            .filter(|s| is_rfc3339(s)),
        tickets: r.map(|r| r.tickets.clone()).unwrap_or_default(),
        mitigations: t
            .mitigations
            .iter()
            .map(|m| MitigationDecision {
                text: Some(m.text.clone()),
                ..mitigation_decision(m)
            })
            .collect(),
    }
}

fn origin_words(p: &Provenance) -> String {
    match p {
        Provenance::Import { format, .. } => format!("the {format} import"),
        other => format!("the {} source", other.origin()),
    }
}
