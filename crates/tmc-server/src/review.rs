//! Review decisions on the server: the edits it records (the payload of each decision event)
//! and their translation into `tmc_review`'s validated edit methods. Everything else — the
//! decisions file, applying it to a draft (ids, wildcards, carry-over, orphans, manual
//! threats), counting and the gate — is `tmc_review`'s, so the server, `tmc review`, the
//! reports and `tmc check` agree on every decision and every count.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tmc_model::{DecisionMatch, Draft, MitigationStatus, Severity, Stride, Threat, ThreatStatus};
use tmc_review::{ManualThreat, MitigationDecision, MitigationUpdate, ReviewError, WasSnapshot};

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
    /// Adds a threat the generator did not draft (`Decisions::add_manual_threat`); without an
    /// `id` the next free `MANUAL-<n>` is used. `element` is an element id of the current model.
    AddManualThreat {
        #[serde(default)]
        id: Option<String>,
        title: String,
        #[serde(default)]
        description: String,
        element: String,
        stride: Vec<Stride>,
        severity: Severity,
    },
    /// Adds a new mitigation (with its text) to a threat; its id is the next free `MIT-<n>`.
    AddMitigation {
        threat: String,
        text: String,
        #[serde(default)]
        status: Option<MitigationStatus>,
        #[serde(default)]
        owner: Option<String>,
        #[serde(default)]
        ticket: Option<String>,
        /// `YYYY-MM-DD`.
        #[serde(default)]
        due: Option<String>,
    },
}

impl Edit {
    /// The threat the edit is about (`MANUAL-*` for a manual threat without a chosen id).
    pub fn threat(&self) -> &str {
        match self {
            Edit::Decide { threat, .. }
            | Edit::SetSeverity { threat, .. }
            | Edit::Mitigation { threat, .. }
            | Edit::AddMitigation { threat, .. } => threat,
            Edit::AddManualThreat { id, .. } => id.as_deref().unwrap_or("MANUAL-*"),
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
    ctx: &ApplyContext,
    reviewer: &str,
    now: &str,
) -> Result<String, EditError> {
    if let Edit::AddManualThreat { .. } = edit {
        return add_manual(decisions, edit, ctx, reviewer, now);
    }
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
        Edit::AddMitigation {
            text,
            status,
            owner,
            ticket,
            due,
            ..
        } => {
            let text = text.trim();
            if text.is_empty() {
                return Err(err("text", "a new mitigation needs a text".into()));
            }
            let (owner, ticket, due) = (clean(owner), clean(ticket), clean(due));
            if text.len() > MAX_TEXT || too_long(&owner) || too_long(&ticket) {
                return Err(err("text", format!("longer than {MAX_TEXT} characters")));
            }
            if let Some(d) = &due
                && !tmc_review::is_date(d)
            {
                return Err(err("due", format!("`{d}` is not a date YYYY-MM-DD")));
            }
            let status = status.unwrap_or_default();
            let taken = |id: &str| {
                threat.mitigations.iter().any(|m| m.id == id)
                    || next
                        .threats
                        .get(&key)
                        .is_some_and(|d| d.mitigations.iter().any(|m| m.id == id))
                    || next
                        .manual_threats
                        .iter()
                        .filter(|m| m.id == key)
                        .any(|m| m.mitigations.iter().any(|x| x.id == id))
            };
            let id = (1..)
                .map(|n| format!("MIT-{n}"))
                .find(|id| !taken(id))
                .unwrap_or_else(|| "MIT-0".into());
            if let Some(pos) = next.manual_threats.iter().position(|m| m.id == key) {
                // A manual threat carries its own mitigations; re-adding it validates them.
                let mut m = next.manual_threats.remove(pos);
                m.mitigations.push(MitigationDecision {
                    id,
                    text: Some(text.to_string()),
                    status: Some(status),
                    owner,
                    ticket,
                    due,
                });
                next.add_manual_threat(m)
                    .map_err(|e| err("mitigation", review_message(e)))?;
            } else {
                next.add_mitigation(&key, &id, text, status)
                    .map_err(|e| err("mitigation", review_message(e)))?;
                let update = MitigationUpdate {
                    status: None,
                    owner,
                    ticket,
                    due,
                };
                next.set_mitigation(&key, &id, update)
                    .map_err(|e| err("mitigation", review_message(e)))?;
                if let Some(d) = next.threats.get_mut(&key) {
                    d.reviewer = reviewer;
                    d.reviewed_at = Some(now.to_string());
                }
            }
        }
        Edit::AddManualThreat { .. } => {
            return Err(err("op", "handled above".into()));
        }
    }
    *decisions = next;
    Ok(key)
}

/// Adds a manual threat after checking its fields and its element against the model in `ctx`.
fn add_manual(
    decisions: &mut Decisions,
    edit: &Edit,
    ctx: &ApplyContext,
    reviewer: &str,
    now: &str,
) -> Result<String, EditError> {
    let Edit::AddManualThreat {
        id,
        title,
        description,
        element,
        stride,
        severity,
    } = edit
    else {
        return Err(EditError {
            threat: edit.threat().to_string(),
            field: "op",
            message: "not a manual threat".into(),
        });
    };
    let key = match id.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        Some(i) => i.to_string(),
        None => (1..)
            .map(|n| format!("MANUAL-{n}"))
            .find(|i| !decisions.manual_threats.iter().any(|m| &m.id == i))
            .unwrap_or_else(|| "MANUAL-0".into()),
    };
    let err = |field: &'static str, message: String| EditError {
        threat: key.clone(),
        field,
        message,
    };
    let title = title.trim();
    if title.is_empty() {
        return Err(err("title", "a manual threat needs a title".into()));
    }
    if title.len() > MAX_TEXT || description.len() > MAX_TEXT {
        return Err(err(
            "description",
            format!("longer than {MAX_TEXT} characters"),
        ));
    }
    if stride.is_empty() {
        return Err(err("stride", "pick at least one STRIDE category".into()));
    }
    let element = element.trim();
    if !ctx.elements.contains_key(element) {
        return Err(err(
            "element",
            format!("`{element}` is not an element id of the current model"),
        ));
    }
    let mut next = decisions.clone();
    next.add_manual_threat(ManualThreat {
        id: key.clone(),
        title: title.to_string(),
        description: description.trim().to_string(),
        stride: stride.clone(),
        targets: vec![element.to_string()],
        severity: *severity,
        cwe: Vec::new(),
        status: ThreatStatus::Open,
        justification: None,
        expires: None,
        reviewer: Some(reviewer.to_string()),
        reviewed_at: Some(now.to_string()),
        tickets: Vec::new(),
        mitigations: Vec::new(),
    })
    .map_err(|e| {
        let m = review_message(e);
        err(if m.contains("id") { "id" } else { "title" }, m)
    })?;
    *decisions = next;
    Ok(key)
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
