//! The CI gate (`tmc check`): a reviewed draft passes when nothing at or above the threshold
//! is unresolved, every decision attached, the review was made on this model version and no
//! acceptance has expired. It reads only the draft and [`tally`]: the same counts the reports
//! show.

use serde::Serialize;
use tmc_model::{Draft, Severity, ThreatStatus};

use crate::tally::{Tally, tally};

/// What the gate checks against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateOptions {
    /// Unresolved threats at this severity or above fail the gate.
    pub threshold: Severity,
    /// `YYYY-MM-DD`; acceptances that expired before it fail the gate.
    pub today: String,
    /// Hash of the model file now; `None` uses the hash recorded in `draft.review`.
    pub current_model_hash: Option<String>,
    /// Also fail on decisions carried by similarity that nobody confirmed.
    pub fail_on_needs_confirmation: bool,
}

/// One reason the gate failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum GateFailure {
    Unresolved {
        id: String,
        title: String,
        severity: Severity,
        status: ThreatStatus,
    },
    Orphaned {
        key: String,
        reason: String,
    },
    /// The model changed since the review (`reviewed` is `None` when the review records no
    /// hash at all).
    ModelChanged {
        reviewed: Option<String>,
        current: String,
    },
    ExpiredAcceptance {
        id: String,
        title: String,
        expires: String,
    },
    NeedsConfirmation {
        id: String,
        title: String,
        key: String,
    },
}

impl GateFailure {
    /// One line for the summary.
    pub fn message(&self) -> String {
        match self {
            GateFailure::Unresolved {
                id,
                title,
                severity,
                status,
            } => format!(
                "unresolved {} threat ({}): {id} — {title}",
                severity.as_str(),
                status.as_str()
            ),
            GateFailure::Orphaned { key, reason } => {
                format!("orphaned decision {key}: {reason}")
            }
            GateFailure::ModelChanged { reviewed, current } => match reviewed {
                Some(r) => format!(
                    "the model changed since the review: reviewed {r}, now {current}; review the \
                     changes and update model_hash"
                ),
                None => format!(
                    "the review does not record the model it was made on; after reviewing, set \
                     model_hash: {current}"
                ),
            },
            GateFailure::ExpiredAcceptance { id, title, expires } => {
                format!("acceptance expired on {expires}: {id} — {title}")
            }
            GateFailure::NeedsConfirmation { id, title, key } => format!(
                "decision {key} was carried to {id} by similarity and needs confirmation — {title}"
            ),
        }
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub pass: bool,
    pub failures: Vec<GateFailure>,
    pub tally: Tally,
    /// The threshold it was checked at, for the summary.
    pub threshold: Severity,
}

/// Runs the gate over a (reviewed) draft.
pub fn check(draft: &Draft, opts: &GateOptions) -> Verdict {
    let tally = tally(draft);
    let mut failures = Vec::new();
    // Highest severity first, then draft order, so the worst is on top of the summary.
    let mut unresolved: Vec<_> = draft
        .threats
        .iter()
        .filter(|t| t.status.is_unresolved() && t.severity.level >= opts.threshold)
        .collect();
    unresolved.sort_by_key(|t| std::cmp::Reverse(t.severity.level));
    for t in unresolved {
        failures.push(GateFailure::Unresolved {
            id: t.id.clone(),
            title: t.title.clone(),
            severity: t.severity.level,
            status: t.status,
        });
    }
    if let Some(review) = &draft.review {
        for o in &review.orphaned {
            failures.push(GateFailure::Orphaned {
                key: o.key.clone(),
                reason: o.reason.clone(),
            });
        }
        let current = opts
            .current_model_hash
            .clone()
            .or_else(|| review.model_hash.clone());
        if let Some(current) = current
            && review.reviewed_model_hash.as_ref() != Some(&current)
        {
            failures.push(GateFailure::ModelChanged {
                reviewed: review.reviewed_model_hash.clone(),
                current,
            });
        }
    }
    let expired = tally.expired_acceptances(&opts.today);
    for t in draft
        .threats
        .iter()
        .filter(|t| expired.contains(&t.id.as_str()))
    {
        failures.push(GateFailure::ExpiredAcceptance {
            id: t.id.clone(),
            title: t.title.clone(),
            expires: t
                .review
                .as_ref()
                .and_then(|r| r.expires.clone())
                .unwrap_or_default(),
        });
    }
    if opts.fail_on_needs_confirmation {
        for t in &draft.threats {
            if let Some(r) = t.review.as_ref().filter(|r| r.needs_confirmation) {
                failures.push(GateFailure::NeedsConfirmation {
                    id: t.id.clone(),
                    title: t.title.clone(),
                    key: r.key.clone(),
                });
            }
        }
    }
    Verdict {
        pass: failures.is_empty(),
        failures,
        tally,
        threshold: opts.threshold,
    }
}

impl Verdict {
    /// A one-screen plain-text summary: the verdict, the counts, then each failure (at most
    /// 30 listed, with how many more).
    pub fn summary_text(&self) -> String {
        const SHOWN: usize = 30;
        let t = &self.tally;
        let mut out = String::new();
        out.push_str(if self.pass { "PASS" } else { "FAIL" });
        out.push_str(&format!(
            ": {} threats, {} unresolved ({} at {} or above), {} reviewed\n",
            t.total,
            t.unresolved,
            t.unresolved_at_or_above(self.threshold),
            self.threshold.as_str(),
            t.reviewed
        ));
        let statuses: Vec<String> = t
            .by_status
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        if !statuses.is_empty() {
            out.push_str(&format!("status: {}\n", statuses.join(", ")));
        }
        let sev: Vec<String> = t
            .unresolved_by_severity
            .iter()
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        out.push_str(&format!("unresolved by severity: {}\n", sev.join(", ")));
        out.push_str(&format!(
            "mitigations: {} ({} done), threats with a done mitigation: {}\n",
            t.mitigations,
            t.mitigation_status(tmc_model::MitigationStatus::Implemented)
                + t.mitigation_status(tmc_model::MitigationStatus::Verified),
            t.threats_with_done_mitigation
        ));
        if t.orphaned > 0 || t.needs_confirmation > 0 {
            out.push_str(&format!(
                "orphaned decisions: {}, needing confirmation: {}\n",
                t.orphaned, t.needs_confirmation
            ));
        }
        if !self.failures.is_empty() {
            out.push_str(&format!("\n{} failure(s):\n", self.failures.len()));
            for f in self.failures.iter().take(SHOWN) {
                out.push_str(&format!("  - {}\n", f.message()));
            }
            if self.failures.len() > SHOWN {
                out.push_str(&format!("  ... and {} more\n", self.failures.len() - SHOWN));
            }
        }
        out
    }
}
