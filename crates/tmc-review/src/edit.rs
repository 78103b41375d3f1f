//! Edits to a decisions file, for `tmc review` and the server. Each edit is validated with the
//! parser's own rules before it is made: on error nothing changes and the error names the
//! threat. The clock is an argument (`now`, RFC 3339), never read here.

use tmc_model::{MitigationStatus, Severity, Threat, ThreatStatus};

use crate::ReviewError;
use crate::decisions::{
    Decisions, ManualThreat, MitigationDecision, SeverityChange, ThreatDecision, WasSnapshot,
    validate_decision, validate_manual,
};
use crate::is_rfc3339;
use crate::pattern::is_pattern;

/// Fields of a mitigation to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MitigationUpdate {
    pub status: Option<MitigationStatus>,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    /// `YYYY-MM-DD`.
    pub due: Option<String>,
}

impl Decisions {
    /// Changes one decision through `change`, keeping it only if it validates.
    fn update(
        &mut self,
        key: &str,
        change: impl FnOnce(&mut ThreatDecision) -> Result<(), String>,
    ) -> Result<(), ReviewError> {
        let mut d = self.threats.get(key).cloned().unwrap_or_default();
        change(&mut d).map_err(|m| ReviewError::decision(key, m))?;
        validate_decision(key, &d).map_err(|(_, m)| ReviewError::decision(key, m))?;
        self.threats.insert(key.to_string(), d);
        Ok(())
    }

    /// Records a status decision. `threat` is the threat as drafted now (its `was` snapshot
    /// is recorded so the decision can follow it); pass `None` for a pattern. `now` is the
    /// RFC 3339 time of the decision.
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &mut self,
        key: &str,
        threat: Option<&Threat>,
        status: ThreatStatus,
        justification: Option<String>,
        reviewer: Option<String>,
        now: &str,
        expires: Option<String>,
    ) -> Result<(), ReviewError> {
        check_now(key, now)?;
        self.update(key, |d| {
            if threat.is_some() && is_pattern(key) {
                return Err("a pattern covers many threats; decide it without a threat".into());
            }
            d.status = Some(status);
            d.justification = justification.filter(|j| !j.trim().is_empty());
            d.expires = expires;
            stamp(d, reviewer, now);
            if let Some(t) = threat {
                d.was = Some(WasSnapshot::of(t));
            }
            Ok(())
        })
    }

    /// Overrides the severity, with the reason.
    pub fn set_severity(
        &mut self,
        key: &str,
        level: Severity,
        reason: &str,
        reviewer: Option<String>,
        now: &str,
    ) -> Result<(), ReviewError> {
        check_now(key, now)?;
        self.update(key, |d| {
            d.severity = Some(SeverityChange {
                level,
                reason: reason.trim().to_string(),
            });
            stamp(d, reviewer, now);
            Ok(())
        })
    }

    /// Removes a severity override (back to the drafted level).
    pub fn clear_severity(&mut self, key: &str) -> Result<(), ReviewError> {
        self.existing(key)?;
        self.update(key, |d| {
            d.severity = None;
            Ok(())
        })
    }

    /// Rewords a threat's title and/or description; `None` leaves it, `Some("")` for the
    /// description clears the edit.
    pub fn edit_text(
        &mut self,
        key: &str,
        title: Option<String>,
        description: Option<String>,
    ) -> Result<(), ReviewError> {
        self.update(key, |d| {
            if let Some(t) = title {
                d.title = Some(t);
            }
            if let Some(desc) = description {
                d.description = (!desc.trim().is_empty()).then_some(desc);
            }
            Ok(())
        })
    }

    /// Adds a new mitigation (with its text) to a threat's decision.
    pub fn add_mitigation(
        &mut self,
        key: &str,
        mitigation_id: &str,
        text: &str,
        status: MitigationStatus,
    ) -> Result<(), ReviewError> {
        self.update(key, |d| {
            if d.mitigations.iter().any(|m| m.id == mitigation_id) {
                return Err(format!(
                    "mitigation `{mitigation_id}` is already in this decision; use set_mitigation"
                ));
            }
            if text.trim().is_empty() {
                return Err(format!("new mitigation `{mitigation_id}` needs a text"));
            }
            d.mitigations.push(MitigationDecision {
                id: mitigation_id.to_string(),
                text: Some(text.to_string()),
                status: Some(status),
                ..MitigationDecision::default()
            });
            Ok(())
        })
    }

    /// Tracks a drafted (or added) mitigation: status, owner, ticket, due date.
    pub fn set_mitigation(
        &mut self,
        key: &str,
        mitigation_id: &str,
        update: MitigationUpdate,
    ) -> Result<(), ReviewError> {
        self.update(key, |d| {
            if mitigation_id.trim().is_empty() {
                return Err("a mitigation id is required".into());
            }
            let pos = match d.mitigations.iter().position(|m| m.id == mitigation_id) {
                Some(p) => p,
                None => {
                    d.mitigations.push(MitigationDecision {
                        id: mitigation_id.to_string(),
                        ..MitigationDecision::default()
                    });
                    d.mitigations.len() - 1
                }
            };
            let m = &mut d.mitigations[pos];
            if update.status.is_some() {
                m.status = update.status;
            }
            if update.owner.is_some() {
                m.owner = update.owner;
            }
            if update.ticket.is_some() {
                m.ticket = update.ticket;
            }
            if update.due.is_some() {
                m.due = update.due;
            }
            Ok(())
        })
    }

    /// Adds a manual threat; its id must be new.
    pub fn add_manual_threat(&mut self, threat: ManualThreat) -> Result<(), ReviewError> {
        validate_manual(&threat).map_err(|(_, m)| ReviewError::decision(&threat.id, m))?;
        if self.manual_threats.iter().any(|m| m.id == threat.id) {
            return Err(ReviewError::decision(
                &threat.id,
                "a manual threat with this id already exists",
            ));
        }
        self.manual_threats.push(threat);
        self.manual_threats.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(())
    }

    /// Removes a decision (or a manual threat, by its id) and returns what was removed, as a
    /// manual threat or a decision.
    pub fn remove_decision(&mut self, key: &str) -> Result<Removed, ReviewError> {
        if let Some(d) = self.threats.remove(key) {
            return Ok(Removed::Decision(Box::new(d)));
        }
        if let Some(i) = self.manual_threats.iter().position(|m| m.id == key) {
            return Ok(Removed::Manual(Box::new(self.manual_threats.remove(i))));
        }
        Err(ReviewError::decision(
            key,
            "there is no decision or manual threat with this key",
        ))
    }

    fn existing(&self, key: &str) -> Result<&ThreatDecision, ReviewError> {
        self.threats
            .get(key)
            .ok_or_else(|| ReviewError::decision(key, "there is no decision with this key"))
    }
}

/// What [`Decisions::remove_decision`] took out.
#[derive(Debug, Clone, PartialEq)]
pub enum Removed {
    Decision(Box<ThreatDecision>),
    Manual(Box<ManualThreat>),
}

fn check_now(key: &str, now: &str) -> Result<(), ReviewError> {
    if is_rfc3339(now) {
        Ok(())
    } else {
        Err(ReviewError::decision(
            key,
            format!("the decision time must be RFC 3339 (2025-03-01T10:00:00Z), got `{now}`"),
        ))
    }
}

fn stamp(d: &mut ThreatDecision, reviewer: Option<String>, now: &str) {
    if reviewer.is_some() {
        d.reviewer = reviewer;
    }
    d.reviewed_at = Some(now.to_string());
}
