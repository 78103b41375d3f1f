//! Review state as the exporters show it: the status counts, a mitigation's one-line form, and
//! which threats count as closed for code-scanning suppressions. Kept in one module so CSV,
//! XLSX, SARIF and Threagile agree on every word.

use tmc_model::{Draft, Mitigation, MitigationStatus, Severity, Threat, ThreatStatus};

/// Review counts of a draft.
///
/// Taken from `tmc_review::tally`, the workspace's one counting function, so the exports
/// count exactly what the report and the CI gate count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Threats per status, in [`ThreatStatus::ALL`] order (zeros included).
    pub by_status: Vec<(ThreatStatus, usize)>,
    /// Unresolved (draft or open) threats per severity, critical first (zeros included).
    pub unresolved_by_severity: Vec<(Severity, usize)>,
    /// Mitigations per status, in [`MitigationStatus::ALL`] order (zeros included).
    pub mitigations_by_status: Vec<(MitigationStatus, usize)>,
    pub mitigations: usize,
    /// Implemented or verified.
    pub mitigations_done: usize,
}

/// Severities from the most to the least severe, the order every summary lists them in.
pub(crate) const LEVELS: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// Counts threats by status and unresolved threats by severity, and mitigations by status.
pub(crate) fn counts(draft: &Draft) -> Counts {
    let t = tmc_review::tally(draft);
    Counts {
        mitigations_done: t.mitigation_status(MitigationStatus::Implemented)
            + t.mitigation_status(MitigationStatus::Verified),
        by_status: t.by_status,
        unresolved_by_severity: t.unresolved_by_severity,
        mitigations_by_status: t.mitigations_by_status,
        mitigations: t.mitigations,
    }
}

/// A mitigation as one line: `text [status, owner, ticket, due]`, absent fields left out.
pub(crate) fn mitigation_line(m: &Mitigation) -> String {
    let mut parts = vec![m.status.as_str()];
    for v in [&m.owner, &m.ticket, &m.due].into_iter().flatten() {
        parts.push(v.as_str());
    }
    format!("{} [{}]", m.text, parts.join(", "))
}

/// Why a threat is closed, when its status closes it (everything but draft and open): the
/// reviewer's justification, else the status name. Code-scanning UIs show closed threats as
/// suppressed with this text.
pub(crate) fn closed_because(t: &Threat) -> Option<String> {
    if t.status.is_unresolved() {
        return None;
    }
    let justification = t
        .review
        .as_ref()
        .and_then(|r| r.justification.as_deref())
        .map(str::trim)
        .filter(|j| !j.is_empty());
    Some(match justification {
        Some(j) => j.to_string(),
        None => format!("Status {} in review.", t.status.as_str()),
    })
}

/// `high → low: reason`, the drafted level, the level now and the reviewer's reason.
pub(crate) fn severity_override(t: &Threat) -> Option<String> {
    let o = t.review.as_ref()?.severity_override.as_ref()?;
    Some(format!(
        "{} → {}: {}",
        o.drafted.as_str(),
        t.severity.level.as_str(),
        o.reason
    ))
}

/// Whether a review touched the threat: a decision applied or the status is not `draft`.
pub(crate) fn is_reviewed(t: &Threat) -> bool {
    t.review.is_some() || t.status != ThreatStatus::Draft
}

/// The review decision in one sentence for formats with no field for it (Threat Dragon's
/// description): `Review: accepted by alice on 2026-11-30, expires 2027-03-31: why. Tickets:
/// A, B. Severity medium → low: reason.` `None` for an unreviewed threat.
pub(crate) fn decision_sentence(t: &Threat) -> Option<String> {
    if !is_reviewed(t) {
        return None;
    }
    let mut out = format!("Review: {}", t.status.as_str());
    let Some(r) = &t.review else {
        out.push('.');
        return Some(out);
    };
    if let Some(who) = &r.reviewer {
        out.push_str(&format!(" by {who}"));
    }
    if let Some(at) = &r.reviewed_at {
        out.push_str(&format!(" on {}", at.get(..10).unwrap_or(at)));
    }
    if let Some(e) = &r.expires {
        out.push_str(&format!(", expires {e}"));
    }
    if r.needs_confirmation {
        out.push_str(" (carried from a similar threat; needs confirmation)");
    }
    match r.justification.as_deref().map(str::trim) {
        Some(j) if !j.is_empty() => out.push_str(&format!(": {j}")),
        _ => {}
    }
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    if !r.tickets.is_empty() {
        out.push_str(&format!(" Tickets: {}.", r.tickets.join(", ")));
    }
    if let Some(o) = severity_override(t) {
        out.push_str(&format!(" Severity {o}"));
        if !out.ends_with(['.', '!', '?']) {
            out.push('.');
        }
    }
    Some(out)
}
