//! `diff_drafts` on real drafts: the built-in rules run on tests/data/old.yaml and new.yaml.

mod common;

use serde_json::json;
use tmc_diff::{ThreatDiff, diff_drafts};
use tmc_model::identity::fingerprint;
use tmc_model::{DecisionMatch, Severity, ThreatStatus};

fn diff() -> ThreatDiff {
    let f = common::fixture();
    diff_drafts(&f.old_draft, &f.new_draft)
}

fn ids(list: &[tmc_diff::ThreatRef]) -> Vec<&str> {
    list.iter().map(|t| t.id.as_str()).collect()
}

#[test]
fn threats_of_a_removed_component_are_gone() {
    let d = diff();
    let gone = ids(&d.gone);
    assert!(gone.iter().any(|id| id.ends_with("@legacy")), "{gone:?}");
    // Declaring authentication on the API removes the "callers not authenticated" threat.
    assert!(gone.contains(&"TMC-AUTHN-003@api"), "{gone:?}");
    let legacy = d.gone.iter().find(|t| t.id.ends_with("@legacy")).unwrap();
    assert_eq!(legacy.targets, ["component:legacy"]);
}

#[test]
fn an_added_flow_brings_new_threats() {
    let d = diff();
    let new = d.new.iter().find(|t| t.targets == ["flow:f-api-psp"]);
    assert!(new.is_some(), "{:?}", ids(&d.new));
    assert_eq!(new.map(|t| t.status), Some(ThreatStatus::Draft));
    assert!(new.is_some_and(|t| d.review.new_unreviewed.contains(&t.id)));
}

#[test]
fn renaming_the_api_changes_titles_of_its_threats() {
    let d = diff();
    let c = d
        .changed
        .iter()
        .find(|c| c.id == "TMC-REPUD-001@api")
        .unwrap();
    let title = c.changes.iter().find(|x| x.path == "title").unwrap();
    assert_eq!(
        title.old,
        Some(json!(
            "Changes made through Orders API are not attributable"
        ))
    );
    assert_eq!(
        title.new,
        Some(json!(
            "Changes made through Order Service are not attributable"
        ))
    );
    // The review fixture moved it to mitigated, so the status is a change too.
    let status = c.changes.iter().find(|x| x.path == "status").unwrap();
    assert_eq!(
        (status.old.clone(), status.new.clone()),
        (Some(json!("draft")), Some(json!("mitigated")))
    );
    // Same id in both drafts: never listed as new or gone.
    assert!(!ids(&d.new).contains(&"TMC-REPUD-001@api"));
    assert!(!ids(&d.gone).contains(&"TMC-REPUD-001@api"));
}

#[test]
fn severity_stride_targets_and_mitigations_are_compared() {
    let f = common::fixture();
    let mut new = f.old_draft.clone();
    let i = new
        .threats
        .iter()
        .position(|t| t.mitigations.len() >= 2)
        .unwrap();
    let t = &mut new.threats[i];
    let id = t.id.clone();
    t.severity.level = if t.severity.level == Severity::Info {
        Severity::Low
    } else {
        Severity::Info
    };
    t.stride.reverse(); // order alone is not a change
    t.targets[0].name = "renamed".into(); // a target's display name is not a change
    t.mitigations[0].status = tmc_model::MitigationStatus::Implemented;
    let removed = t.mitigations.pop().unwrap();
    let d = diff_drafts(&f.old_draft, &new);
    assert_eq!(d.changed.len(), 1);
    assert_eq!(d.changed[0].id, id);
    let paths: Vec<&str> = d.changed[0]
        .changes
        .iter()
        .map(|c| c.path.as_str())
        .collect();
    let first = format!(
        "mitigations.{}.status",
        f.old_draft.threats[i].mitigations[0].id
    );
    let gone = format!("mitigations.{}", removed.id);
    assert_eq!(
        paths,
        ["severity", first.as_str(), gone.as_str()],
        "{paths:?}"
    );
    let last = d.changed[0].changes.last().unwrap();
    assert!(last.new.is_none() && last.old.is_some());
}

#[test]
fn a_renamed_rule_is_re_identified_by_fingerprint() {
    let f = common::fixture();
    let mut new = f.old_draft.clone();
    let old_id = new.threats[1].id.clone();
    new.threats[1].id = format!("RENAMED-{old_id}");
    // A threat whose fingerprint differs (an extra CWE) stays new + gone.
    let other_old = new.threats[2].id.clone();
    new.threats[2].id = "OTHER@x".into();
    new.threats[2].references.cwe.push(99_999);
    let d = diff_drafts(&f.old_draft, &new);
    assert_eq!(d.reidentified.len(), 1, "{:?}", d.reidentified);
    let r = &d.reidentified[0];
    assert_eq!(
        (r.old_id.as_str(), r.new_id.as_str()),
        (old_id.as_str(), format!("RENAMED-{old_id}").as_str())
    );
    assert_eq!(r.fingerprint, fingerprint(&f.old_draft.threats[1]));
    assert!(r.changes.is_empty());
    assert_eq!(ids(&d.new), ["OTHER@x"]);
    assert_eq!(ids(&d.gone), [other_old.as_str()]);
}

#[test]
fn review_state_comes_from_the_new_draft() {
    let r = diff().review;
    assert!(r.reviewed);
    let c = r.carried_by_match;
    assert_eq!((c.id, c.wildcard, c.fingerprint, c.similar), (1, 1, 1, 1));
    assert_eq!(r.needs_confirmation, ["TMC-AUTHN-009@api"]);
    let similar = r
        .carried
        .iter()
        .find(|d| d.matched_by == DecisionMatch::Similar)
        .unwrap();
    assert_eq!(similar.key, "TMC-AUTHN-003@api");
    assert_eq!(r.orphaned.len(), 1);
    assert_eq!(r.orphaned[0].key, "TMC-REPUD-001@legacy");
    // TMC-AUTHN-009@api is new but carries a decision, so it is not "unreviewed".
    assert!(!r.new_unreviewed.iter().any(|id| id == "TMC-AUTHN-009@api"));
    assert!(!r.new_unreviewed.is_empty());
    let d = diff();
    for id in &r.new_unreviewed {
        assert!(
            ids(&d.new).contains(&id.as_str()),
            "{id} is not a new threat"
        );
    }
}

#[test]
fn identical_drafts_give_an_empty_diff_and_a_new_rule_set_does_not() {
    let f = common::fixture();
    assert!(diff_drafts(&f.new_draft, &f.new_draft).is_empty());
    let mut other = f.new_draft.clone();
    other.generator.ruleset_digest = "0000".into();
    let d = diff_drafts(&f.new_draft, &other);
    assert!(!d.is_empty());
    assert_eq!(d.ruleset.unwrap().new_digest, "0000");
}

#[test]
fn a_gone_threat_the_new_draft_suppresses_says_why() {
    let f = common::fixture();
    let mut new = f.old_draft.clone();
    let t = new.threats.remove(0);
    new.suppressed.push(tmc_model::SuppressedThreat {
        id: t.id.clone(),
        title: t.title.clone(),
        rule_id: "R".into(),
        targets: t.targets.clone(),
        reason: "authentication is declared".into(),
    });
    let d = diff_drafts(&f.old_draft, &new);
    assert_eq!(d.gone.len(), 1);
    assert_eq!(
        d.gone[0].suppressed_by.as_deref(),
        Some("authentication is declared")
    );
}
