//! The one counting function. Reports, exports, the server and the CI gate all call [`tally`],
//! so "how many threats are open" has one answer everywhere.
//!
//! "Unresolved" is [`ThreatStatus::is_unresolved`]: `draft` and `open` only. Accepted,
//! transferred, avoided, mitigated and not-applicable threats never count as unresolved,
//! whatever their mitigations say.

use serde::Serialize;
use tmc_model::{Draft, MitigationStatus, Severity, Stride, ThreatStatus};

const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// Counts over a (reviewed or unreviewed) draft. Every list holds every value, zeros
/// included, in a fixed order, so two tallies compare and render alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Threats in the draft (suppressed ones are not threats).
    pub total: usize,
    /// By status, in [`ThreatStatus::ALL`] order.
    pub by_status: Vec<(ThreatStatus, usize)>,
    /// By (effective, i.e. overridden) severity, critical first.
    pub by_severity: Vec<(Severity, usize)>,
    /// Unresolved threats by severity, critical first.
    pub unresolved_by_severity: Vec<(Severity, usize)>,
    /// Threats per STRIDE letter (a threat with two letters counts under both).
    pub by_stride: Vec<(Stride, usize)>,
    /// Mitigations of all threats by status, in [`MitigationStatus::ALL`] order.
    pub mitigations_by_status: Vec<(MitigationStatus, usize)>,
    pub mitigations: usize,
    /// Threats with at least one implemented or verified mitigation.
    pub threats_with_done_mitigation: usize,
    pub unresolved: usize,
    /// Threats with any review decision (the rest are unreviewed).
    pub reviewed: usize,
    /// Decisions carried by similarity that a reviewer has not confirmed.
    pub needs_confirmation: usize,
    pub suppressed: usize,
    /// Decisions that attached to nothing.
    pub orphaned: usize,
    /// Accepted threats with an expiry: (threat id, `YYYY-MM-DD`), in draft order.
    pub acceptances_expiring: Vec<(String, String)>,
}

impl Tally {
    pub fn status(&self, s: ThreatStatus) -> usize {
        self.by_status
            .iter()
            .find(|(x, _)| *x == s)
            .map_or(0, |(_, n)| *n)
    }

    pub fn severity(&self, s: Severity) -> usize {
        self.by_severity
            .iter()
            .find(|(x, _)| *x == s)
            .map_or(0, |(_, n)| *n)
    }

    pub fn mitigation_status(&self, s: MitigationStatus) -> usize {
        self.mitigations_by_status
            .iter()
            .find(|(x, _)| *x == s)
            .map_or(0, |(_, n)| *n)
    }

    /// Unresolved threats whose severity is `level` or above: what the gate fails on.
    pub fn unresolved_at_or_above(&self, level: Severity) -> usize {
        self.unresolved_by_severity
            .iter()
            .filter(|(s, _)| *s >= level)
            .map(|(_, n)| n)
            .sum()
    }

    /// Ids of accepted threats whose acceptance expired before `today` (`YYYY-MM-DD`; an
    /// acceptance is valid through its expiry day).
    pub fn expired_acceptances(&self, today: &str) -> Vec<&str> {
        self.acceptances_expiring
            .iter()
            .filter(|(_, e)| e.as_str() < today)
            .map(|(id, _)| id.as_str())
            .collect()
    }
}

/// Counts a draft.
pub fn tally(draft: &Draft) -> Tally {
    let mut by_status: Vec<(ThreatStatus, usize)> =
        ThreatStatus::ALL.iter().map(|s| (*s, 0)).collect();
    let mut by_severity: Vec<(Severity, usize)> = SEVERITIES.iter().map(|s| (*s, 0)).collect();
    let mut unresolved_by_severity = by_severity.clone();
    let mut by_stride: Vec<(Stride, usize)> = Stride::ALL.iter().map(|s| (*s, 0)).collect();
    let mut mitigations_by_status: Vec<(MitigationStatus, usize)> =
        MitigationStatus::ALL.iter().map(|s| (*s, 0)).collect();
    let mut t = Tally {
        total: draft.threats.len(),
        by_status: Vec::new(),
        by_severity: Vec::new(),
        unresolved_by_severity: Vec::new(),
        by_stride: Vec::new(),
        mitigations_by_status: Vec::new(),
        mitigations: 0,
        threats_with_done_mitigation: 0,
        unresolved: 0,
        reviewed: 0,
        needs_confirmation: 0,
        suppressed: draft.suppressed.len(),
        orphaned: draft.review.as_ref().map_or(0, |r| r.orphaned.len()),
        acceptances_expiring: Vec::new(),
    };
    for threat in &draft.threats {
        bump(&mut by_status, threat.status);
        let level = threat.severity.level;
        bump(&mut by_severity, level);
        if threat.status.is_unresolved() {
            t.unresolved += 1;
            bump(&mut unresolved_by_severity, level);
        }
        let mut letters = threat.stride.clone();
        letters.sort();
        letters.dedup();
        for l in letters {
            bump(&mut by_stride, l);
        }
        for m in &threat.mitigations {
            t.mitigations += 1;
            bump(&mut mitigations_by_status, m.status);
        }
        if threat.mitigations.iter().any(|m| m.status.is_done()) {
            t.threats_with_done_mitigation += 1;
        }
        if let Some(r) = &threat.review {
            t.reviewed += 1;
            if r.needs_confirmation {
                t.needs_confirmation += 1;
            }
            if threat.status == ThreatStatus::Accepted
                && let Some(e) = &r.expires
            {
                t.acceptances_expiring.push((threat.id.clone(), e.clone()));
            }
        }
    }
    t.by_status = by_status;
    t.by_severity = by_severity;
    t.unresolved_by_severity = unresolved_by_severity;
    t.by_stride = by_stride;
    t.mitigations_by_status = mitigations_by_status;
    t
}

fn bump<T: PartialEq>(list: &mut [(T, usize)], value: T) {
    if let Some(e) = list.iter_mut().find(|(x, _)| *x == value) {
        e.1 += 1;
    }
}
