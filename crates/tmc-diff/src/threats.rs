//! Threat diff: which threats two drafts disagree on, and the review state of the new draft.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tmc_model::identity::fingerprint;
use tmc_model::{DecisionMatch, Draft, OrphanedDecision, Severity, Stride, Threat, ThreatStatus};

use crate::walk::walk;

/// A threat as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreatRef {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub stride: Vec<Stride>,
    /// Target ids as `kind:id`, e.g. `component:api`, `flow:f-login`.
    pub targets: Vec<String>,
    pub status: ThreatStatus,
    /// For a gone threat: the reason the new draft gives for suppressing it (a declared control
    /// now removes it), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<String>,
}

/// One changed property of a threat. `path` is one of `severity` (the level), `title`,
/// `stride` (sorted letters), `targets` (sorted `kind:id`), `status`, or for mitigations
/// (matched by id) `mitigations.<id>` (added / removed: one side `null`) and
/// `mitigations.<id>.<field>` (`text`, `status`, `owner`, `ticket`, `due`, `asvs`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreatChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// A threat present in both drafts under the same id whose compared properties differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedThreat {
    pub id: String,
    /// The new title.
    pub title: String,
    pub changes: Vec<ThreatChange>,
}

/// A gone threat and a new threat with the same fingerprint: the same threat under a new id
/// (a renamed rule, a re-imported source id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reidentified {
    pub old_id: String,
    pub new_id: String,
    pub fingerprint: String,
    /// The new title.
    pub title: String,
    /// Differences between the two, as for [`ChangedThreat`].
    pub changes: Vec<ThreatChange>,
}

/// A review decision the new draft carries on one of its threats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarriedDecision {
    pub threat_id: String,
    /// The decisions-file key that applied (a threat id or a wildcard pattern).
    pub key: String,
    pub matched_by: DecisionMatch,
    pub needs_confirmation: bool,
    pub status: ThreatStatus,
}

/// Decisions carried, counted by how they matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MatchCounts {
    pub id: usize,
    pub wildcard: usize,
    pub fingerprint: usize,
    pub similar: usize,
}

impl MatchCounts {
    pub fn total(&self) -> usize {
        self.id + self.wildcard + self.fingerprint + self.similar
    }
}

/// The review state of the new draft: what attached, what needs a person, what is lost.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReviewState {
    /// Whether the new draft had review decisions applied (`draft.review` present).
    pub reviewed: bool,
    pub carried_by_match: MatchCounts,
    /// Every threat of the new draft with a review, in draft order.
    pub carried: Vec<CarriedDecision>,
    /// Ids of carried decisions a reviewer must confirm (matched by similarity).
    pub needs_confirmation: Vec<String>,
    /// Decisions whose threat is gone, from `new.review.orphaned`.
    pub orphaned: Vec<OrphanedDecision>,
    /// Ids of threats in `ThreatDiff::new` with status `draft` and no review: nobody has looked
    /// at them yet.
    pub new_unreviewed: Vec<String>,
}

/// The rule-set digests of two drafts, present only when they differ: threats may then have
/// changed without any model change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesetChange {
    pub old_digest: String,
    pub new_digest: String,
}

/// Everything that differs between two drafts, plus the new draft's review state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ThreatDiff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ruleset: Option<RulesetChange>,
    /// In the new draft only (and not re-identified), new-draft order.
    pub new: Vec<ThreatRef>,
    /// In the old draft only (and not re-identified), old-draft order.
    pub gone: Vec<ThreatRef>,
    /// Same id, different severity level, title, STRIDE, targets, status or mitigations.
    pub changed: Vec<ChangedThreat>,
    pub reidentified: Vec<Reidentified>,
    pub review: ReviewState,
}

impl ThreatDiff {
    /// No threat differs and the rule set is the same. The review state is not a difference:
    /// it describes the new draft alone.
    pub fn is_empty(&self) -> bool {
        self.ruleset.is_none()
            && self.new.is_empty()
            && self.gone.is_empty()
            && self.changed.is_empty()
            && self.reidentified.is_empty()
    }
}

fn targets(t: &Threat) -> Vec<String> {
    let set: BTreeSet<String> = t
        .targets
        .iter()
        .map(|r| format!("{}:{}", r.kind.as_str(), r.id))
        .collect();
    set.into_iter().collect()
}

fn stride(t: &Threat) -> Vec<Stride> {
    let set: BTreeSet<Stride> = t.stride.iter().copied().collect();
    set.into_iter().collect()
}

fn threat_ref(t: &Threat) -> ThreatRef {
    ThreatRef {
        id: t.id.clone(),
        title: t.title.clone(),
        severity: t.severity.level,
        stride: stride(t),
        targets: targets(t),
        status: t.status,
        suppressed_by: None,
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The compared properties of two versions of one threat.
fn threat_changes(old: &Threat, new: &Threat) -> Vec<ThreatChange> {
    let mut out = Vec::new();
    let mut push = |path: &str, a: Value, b: Value| {
        if a != b {
            out.push(ThreatChange {
                path: path.to_string(),
                old: Some(a),
                new: Some(b),
            });
        }
    };
    push(
        "severity",
        to_value(&old.severity.level),
        to_value(&new.severity.level),
    );
    push(
        "title",
        Value::from(old.title.as_str()),
        Value::from(new.title.as_str()),
    );
    push("stride", to_value(&stride(old)), to_value(&stride(new)));
    push("targets", to_value(&targets(old)), to_value(&targets(new)));
    push("status", to_value(&old.status), to_value(&new.status));

    // Mitigations by id: the walk sees added and removed ones as whole objects against absent,
    // so report those whole instead of leaf by leaf.
    let old_m: HashMap<&str, &tmc_model::Mitigation> =
        old.mitigations.iter().map(|m| (m.id.as_str(), m)).collect();
    let new_ids: BTreeSet<&str> = new.mitigations.iter().map(|m| m.id.as_str()).collect();
    for m in &new.mitigations {
        let path = format!("mitigations.{}", m.id);
        match old_m.get(m.id.as_str()) {
            None => out.push(ThreatChange {
                path,
                old: None,
                new: Some(to_value(m)),
            }),
            Some(o) => {
                let mut leaves = Vec::new();
                walk(&path, Some(&to_value(*o)), Some(&to_value(m)), &mut leaves);
                out.extend(leaves.into_iter().map(|(path, old, new)| ThreatChange {
                    path,
                    old,
                    new,
                }));
            }
        }
    }
    for m in &old.mitigations {
        if !new_ids.contains(m.id.as_str()) {
            out.push(ThreatChange {
                path: format!("mitigations.{}", m.id),
                old: Some(to_value(m)),
                new: None,
            });
        }
    }
    out
}

/// Compares two drafts. Threats are matched by id (the first of a repeated id wins); then each
/// gone threat is paired with the first unpaired new threat of equal
/// [`fingerprint`], one to one, and both leave the new/gone lists as "re-identified".
pub fn diff_drafts(old: &Draft, new: &Draft) -> ThreatDiff {
    let mut old_by_id: HashMap<&str, &Threat> = HashMap::new();
    for t in &old.threats {
        old_by_id.entry(t.id.as_str()).or_insert(t);
    }
    let mut new_by_id: HashMap<&str, &Threat> = HashMap::new();
    for t in &new.threats {
        new_by_id.entry(t.id.as_str()).or_insert(t);
    }

    let mut changed = Vec::new();
    let mut added: Vec<&Threat> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for t in &new.threats {
        if !seen.insert(t.id.as_str()) {
            continue;
        }
        match old_by_id.get(t.id.as_str()) {
            None => added.push(t),
            Some(o) => {
                let changes = threat_changes(o, t);
                if !changes.is_empty() {
                    changed.push(ChangedThreat {
                        id: t.id.clone(),
                        title: t.title.clone(),
                        changes,
                    });
                }
            }
        }
    }
    let mut gone: Vec<&Threat> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for t in &old.threats {
        if seen.insert(t.id.as_str()) && !new_by_id.contains_key(t.id.as_str()) {
            gone.push(t);
        }
    }

    // Second pass: same fingerprint, different id.
    let added_fp: Vec<String> = added.iter().map(|t| fingerprint(t)).collect();
    let mut paired_new = vec![false; added.len()];
    let mut reidentified = Vec::new();
    let mut still_gone = Vec::new();
    for g in gone {
        let fp = fingerprint(g);
        let hit = (0..added.len()).find(|&i| !paired_new[i] && added_fp[i] == fp);
        match hit {
            Some(i) => {
                paired_new[i] = true;
                reidentified.push(Reidentified {
                    old_id: g.id.clone(),
                    new_id: added[i].id.clone(),
                    fingerprint: fp,
                    title: added[i].title.clone(),
                    changes: threat_changes(g, added[i]),
                });
            }
            None => still_gone.push(g),
        }
    }
    let new_list: Vec<&Threat> = added
        .iter()
        .zip(&paired_new)
        .filter(|(_, p)| !**p)
        .map(|(t, _)| *t)
        .collect();

    let suppressed: HashMap<&str, &str> = new
        .suppressed
        .iter()
        .map(|s| (s.id.as_str(), s.reason.as_str()))
        .collect();
    let gone = still_gone
        .into_iter()
        .map(|t| ThreatRef {
            suppressed_by: suppressed.get(t.id.as_str()).map(|r| (*r).to_string()),
            ..threat_ref(t)
        })
        .collect();

    let review = review_state(new, &new_list);
    ThreatDiff {
        ruleset: (old.generator.ruleset_digest != new.generator.ruleset_digest).then(|| {
            RulesetChange {
                old_digest: old.generator.ruleset_digest.clone(),
                new_digest: new.generator.ruleset_digest.clone(),
            }
        }),
        new: new_list.iter().map(|t| threat_ref(t)).collect(),
        gone,
        changed,
        reidentified,
        review,
    }
}

fn review_state(new: &Draft, new_threats: &[&Threat]) -> ReviewState {
    let mut state = ReviewState {
        reviewed: new.review.is_some(),
        orphaned: new
            .review
            .as_ref()
            .map(|r| r.orphaned.clone())
            .unwrap_or_default(),
        ..ReviewState::default()
    };
    for t in &new.threats {
        let Some(r) = &t.review else { continue };
        let counter = match r.matched_by {
            DecisionMatch::Id => &mut state.carried_by_match.id,
            DecisionMatch::Wildcard => &mut state.carried_by_match.wildcard,
            DecisionMatch::Fingerprint => &mut state.carried_by_match.fingerprint,
            DecisionMatch::Similar => &mut state.carried_by_match.similar,
        };
        *counter += 1;
        if r.needs_confirmation {
            state.needs_confirmation.push(t.id.clone());
        }
        state.carried.push(CarriedDecision {
            threat_id: t.id.clone(),
            key: r.key.clone(),
            matched_by: r.matched_by,
            needs_confirmation: r.needs_confirmation,
            status: t.status,
        });
    }
    state.new_unreviewed = new_threats
        .iter()
        .filter(|t| t.status == ThreatStatus::Draft && t.review.is_none())
        .map(|t| t.id.clone())
        .collect();
    state
}
