//! Review decisions on the server: the edits it records (the payload of each decision event)
//! and their translation into `tmc_review`'s validated edit methods. Everything else — the
//! decisions file, applying it to a draft (ids, wildcards, carry-over, orphans, manual
//! threats), counting and the gate — is `tmc_review`'s, so the server, `tmc review`, the
//! reports and `tmc check` agree on every decision and every count.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tmc_model::{DecisionMatch, Draft, MitigationStatus, Severity, Threat, ThreatStatus};
use tmc_review::{MitigationUpdate, ReviewError, WasSnapshot};

pub use tmc_review::{ApplyContext, Decisions, GateOptions, Tally, Verdict};

/// Longest free text (justification, reason, owner, ticket) accepted in one edit.
pub const MAX_TEXT: usize = 4000;

/// One review edit: what a decision event stores as its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Edit {
    /// Sets a threat's status; accepted, transferred and not-applicable need a justification.
    Decide {
        threat: String,
        status: ThreatStatus,
        #[serde(default)]
        justification: Option<String>,
        #[serde(default)]
        expires: Option<String>,
    },
    /// Overrides the drafted severity; the reason is required.
    SetSeverity {
        threat: String,
        level: Severity,
        reason: String,
    },
    /// Tracks one drafted mitigation.
    Mitigation {
        threat: String,
        mitigation: String,
        #[serde(default)]
        status: Option<MitigationStatus>,
        #[serde(default)]
        owner: Option<String>,
        #[serde(default)]
        ticket: Option<String>,
    },
}

impl Edit {
    pub fn threat(&self) -> &str {
        match self {
            Edit::Decide { threat, .. }
            | Edit::SetSeverity { threat, .. }
            | Edit::Mitigation { threat, .. } => threat,
        }
    }
}

/// Why an edit was refused; `field` names the form field or JSON member.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{threat}: {field}: {message}")]
pub struct EditError {
    pub threat: String,
    pub field: &'static str,
    pub message: String,
}

fn clean(text: &Option<String>) -> Option<String> {
    text.as_ref()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The message of a refused `tmc_review` edit, without the `threat `…`:` prefix the server
/// already shows as `threat`.
fn review_message(e: ReviewError) -> String {
    match e {
        ReviewError::Decision { message, .. } => message,
        other => other.to_string(),
    }
}

/// Checks an edit against the current draft and applies it to the decisions through
/// `tmc_review`'s edit methods (which enforce the decisions-file rules).
///
/// `drafted` is the stored draft (what the `was` snapshot records, so a reworded title does
/// not change the fingerprint); `reviewed` is the same draft with the decisions applied: when the threat's decision was carried
/// to it from an older id (fingerprint or similarity), the decision is first moved to the
/// threat's current id with a fresh `was` snapshot, so the reviewer's edit also confirms the
/// carry-over and the old key does not linger as an orphan.
pub fn edit(
    decisions: &mut Decisions,
    edit: &Edit,
    drafted: &Draft,
    reviewed: &Draft,
    reviewer: &str,
    now: &str,
) -> Result<(), EditError> {
    let key = edit.threat().to_string();
    let err = |field: &'static str, message: String| EditError {
        threat: key.clone(),
        field,
        message,
    };
    let Some(threat) = reviewed.threats.iter().find(|t| t.id == key) else {
        return Err(err(
            "threat",
            "no threat with this id in the current draft".into(),
        ));
    };
    // Manual threats exist only in the reviewed draft.
    let as_drafted = drafted
        .threats
        .iter()
        .find(|t| t.id == key)
        .unwrap_or(threat);
    let too_long = |t: &Option<String>| t.as_ref().is_some_and(|t| t.len() > MAX_TEXT);
    let mut next = decisions.clone();
    rekey_carried(&mut next, threat, as_drafted);
    let reviewer = Some(reviewer.to_string());
    match edit {
        Edit::Decide {
            status,
            justification,
            expires,
            ..
        } => {
            let justification = clean(justification);
            if too_long(&justification) {
                return Err(err(
                    "justification",
                    format!("longer than {MAX_TEXT} characters"),
                ));
            }
            if status.needs_justification() && justification.is_none() {
                return Err(err(
                    "justification",
                    format!("required when the status is `{}`", status.as_str()),
                ));
            }
            let expires = clean(expires);
            next.decide(
                &key,
                Some(as_drafted),
                *status,
                justification,
                reviewer,
                now,
                expires,
            )
            .map_err(|e| {
                let m = review_message(e);
                let field = if m.contains("expir") {
                    "expires"
                } else if m.contains("justification") {
                    "justification"
                } else {
                    "status"
                };
                err(field, m)
            })?;
        }
        Edit::SetSeverity { level, reason, .. } => {
            let reason = clean(&Some(reason.clone()));
            let Some(reason) = reason else {
                return Err(err("reason", "required for a severity override".into()));
            };
            if reason.len() > MAX_TEXT {
                return Err(err("reason", format!("longer than {MAX_TEXT} characters")));
            }
            next.set_severity(&key, *level, &reason, reviewer, now)
                .map_err(|e| err("reason", review_message(e)))?;
        }
        Edit::Mitigation {
            mitigation,
            status,
            owner,
            ticket,
            ..
        } => {
            if !threat.mitigations.iter().any(|m| &m.id == mitigation) {
                return Err(err(
                    "mitigation",
                    format!("`{mitigation}` is not a mitigation of this threat"),
                ));
            }
            let (owner, ticket) = (clean(owner), clean(ticket));
            if too_long(&owner) || too_long(&ticket) {
                return Err(err("owner", format!("longer than {MAX_TEXT} characters")));
            }
            let update = MitigationUpdate {
                status: *status,
                owner,
                ticket,
                due: None,
            };
            next.set_mitigation(&key, mitigation, update)
                .map_err(|e| err("mitigation", review_message(e)))?;
            // The mitigation edit is a decision too: who made it and when.
            if let Some(d) = next.threats.get_mut(&key) {
                d.reviewer = reviewer;
                d.reviewed_at = Some(now.to_string());
            }
        }
    }
    *decisions = next;
    Ok(())
}

/// Moves a decision carried to `threat` from another key (by fingerprint or similarity) to
/// the threat's own id. Wildcard decisions stay where they are: they cover other threats too.
fn rekey_carried(decisions: &mut Decisions, threat: &Threat, as_drafted: &Threat) {
    let Some(rv) = &threat.review else { return };
    if !matches!(
        rv.matched_by,
        DecisionMatch::Fingerprint | DecisionMatch::Similar
    ) || rv.key == threat.id
        || decisions.threats.contains_key(&threat.id)
    {
        return;
    }
    if let Some(mut d) = decisions.threats.remove(&rv.key) {
        d.was = Some(WasSnapshot::of(as_drafted));
        decisions.threats.insert(threat.id.clone(), d);
    }
}

/// Applies the decisions to a stored draft of the model in `ctx`.
pub fn apply(draft: &mut Draft, decisions: &Decisions, ctx: &ApplyContext) {
    // The report's content (counts, issues) is in `draft.review` and the threats themselves.
    let _report = tmc_review::apply(draft, decisions, ctx);
}

/// Percentage of threats reviewed, rounded down; 100 for an empty draft.
pub fn percent_reviewed(t: &Tally) -> usize {
    (t.reviewed * 100).checked_div(t.total).unwrap_or(100)
}

/// The gate at `threshold`, as `tmc check` runs it, on the day of `now` (RFC 3339).
pub fn check(draft: &Draft, threshold: Severity, now: &str) -> Verdict {
    tmc_review::check(
        draft,
        &GateOptions {
            threshold,
            today: now.get(..10).unwrap_or(now).to_string(),
            current_model_hash: None,
            fail_on_needs_confirmation: false,
        },
    )
}

/// The current UTC time as RFC 3339 (`2025-03-01T10:00:00Z`).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// Unix seconds as RFC 3339 UTC (civil-from-days, Howard Hinnant's algorithm).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_740_823_200), "2025-03-01T10:00:00Z");
    }
}
