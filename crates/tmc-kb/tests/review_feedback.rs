#![allow(clippy::unwrap_used)]
//! Past reviews feeding the next draft: accepted threats become prompt context, rejected ones
//! lower the likelihood of the rule threats that match them on similar elements.

use std::path::{Path, PathBuf};

use tmc_kb::augment::{AugmentOptions, REJECTED_FACTOR, augment_draft};
use tmc_kb::context::{ContextOptions, retrieve_context};
use tmc_kb::ingest::NoProgress;
use tmc_kb::search::KnowledgeBase;
use tmc_kb::{SqliteIndex, ingest_paths};
use tmc_model::{Draft, Provenance, SystemModel, TargetKind, ThreatStatus};

fn example() -> SystemModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/webshop-payments.yaml");
    let bytes = std::fs::read(&path).unwrap();
    tmc_dsl::load_checked(&bytes, "webshop-payments.yaml")
        .unwrap()
        .0
        .model
}

fn draft(model: &SystemModel) -> Draft {
    let rules = tmc_engine::RuleSet::builtin().unwrap();
    tmc_engine::draft(model, &rules, &tmc_engine::DraftOptions::default())
}

/// A reviewed draft of the same architecture under another product name: one rule threat on a
/// component rejected, one on another component accepted. Returns (path, rejected id,
/// accepted id).
fn past_review(dir: &Path, model: &SystemModel) -> (PathBuf, String, String) {
    let mut past = draft(model);
    past.product.name = "Past webshop".into();
    let on_component = |t: &tmc_model::Threat| {
        t.targets.len() == 1
            && t.targets[0].kind == TargetKind::Component
            && matches!(t.provenance, Provenance::Rule { .. })
    };
    let rejected = past
        .threats
        .iter()
        .position(|t| on_component(t) && t.severity.likelihood > 1)
        .unwrap();
    let rejected_target = past.threats[rejected].targets[0].id.clone();
    let rejected_title = past.threats[rejected].title.clone();
    let rejected_cwe = past.threats[rejected].references.cwe.clone();
    let accepted = past
        .threats
        .iter()
        .position(|t| {
            on_component(t)
                && t.targets[0].id != rejected_target
                && t.title != rejected_title
                && !t.references.cwe.iter().any(|c| rejected_cwe.contains(c))
        })
        .unwrap();
    past.threats[rejected].status = ThreatStatus::NotApplicable;
    past.threats[accepted].status = ThreatStatus::Accepted;
    let ids = (
        past.threats[rejected].id.clone(),
        past.threats[accepted].id.clone(),
    );
    // Only reviewed threats go into the knowledge base, as after a real review.
    past.threats.retain(|t| t.status != ThreatStatus::Draft);
    let path = dir.join("past.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&past).unwrap()).unwrap();
    (path, ids.0, ids.1)
}

fn kb_with(path: &Path) -> KnowledgeBase {
    let mut index = SqliteIndex::in_memory().unwrap();
    let summary = ingest_paths(&mut index, &[path.to_path_buf()], None, &NoProgress).unwrap();
    assert_eq!(summary.by_kind.get("threat"), Some(&2), "{summary:?}");
    KnowledgeBase::new(Box::new(index), None)
}

#[test]
fn a_past_rejection_lowers_the_matching_rule_threat_once_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let model = example();
    let (path, rejected, accepted) = past_review(dir.path(), &model);
    let kb = kb_with(&path);

    let before = draft(&model);
    let mut after = before.clone();
    let report = augment_draft(&kb, &model, &mut after, &AugmentOptions::default()).unwrap();

    let find = |d: &Draft, id: &str| d.threats.iter().find(|t| t.id == id).unwrap().clone();
    let (old, new) = (find(&before, &rejected), find(&after, &rejected));
    assert_eq!(new.severity.likelihood, old.severity.likelihood - 1);
    assert_eq!(
        new.severity.score,
        new.severity.likelihood * new.severity.impact
    );
    let factor = new
        .severity
        .factors
        .iter()
        .find(|f| f.name == REJECTED_FACTOR)
        .unwrap();
    assert_eq!(factor.delta, -1);
    assert!(factor.value.contains("Past webshop"), "{}", factor.value);
    assert!(
        factor.value.contains(&format!("past.json#{rejected}")),
        "{}",
        factor.value
    );

    let acc = find(&after, &accepted);
    assert!(
        acc.severity
            .factors
            .iter()
            .all(|f| f.name != REJECTED_FACTOR)
    );
    let lowered = after
        .threats
        .iter()
        .filter(|t| t.severity.factors.iter().any(|f| f.name == REJECTED_FACTOR))
        .count();
    assert!(lowered >= 1);
    assert_eq!(report.threats_lowered, lowered);

    // Augmenting the augmented draft again does not lower twice.
    let mut again = after.clone();
    augment_draft(&kb, &model, &mut again, &AugmentOptions::default()).unwrap();
    assert_eq!(find(&again, &rejected).severity, new.severity);

    // Turned off, nothing moves.
    let mut off = before.clone();
    let opts = AugmentOptions {
        rejected_statuses: Vec::new(),
        ..AugmentOptions::default()
    };
    let r = augment_draft(&kb, &model, &mut off, &opts).unwrap();
    assert_eq!(r.threats_lowered, 0);
    assert_eq!(find(&off, &rejected).severity, old.severity);
}

#[test]
fn prompt_context_carries_accepted_past_threats_with_their_source_and_never_rejected_ones() {
    let dir = tempfile::tempdir().unwrap();
    let model = example();
    let (path, rejected, accepted) = past_review(dir.path(), &model);
    let kb = kb_with(&path);

    let ctx = retrieve_context(&kb, &model, &ContextOptions::default()).unwrap();
    let ids: Vec<&str> = ctx.iter().map(|c| c.id.as_str()).collect();
    assert!(
        ids.contains(&format!("past.json#{accepted}").as_str()),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|i| i.ends_with(&format!("#{rejected}"))),
        "{ids:?}"
    );
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "each passage once");
    for c in &ctx {
        assert!(
            c.text
                .starts_with("Past threat model \"Past webshop\", review status accepted:"),
            "{}",
            c.text
        );
        assert!(!c.elements.is_empty());
        assert!(
            c.elements
                .iter()
                .all(|e| model.component(e).is_some() || model.flows.iter().any(|f| &f.id == e))
        );
    }

    let capped = ContextOptions {
        max_chunks: 1,
        max_chars: 40,
        ..ContextOptions::default()
    };
    let one = retrieve_context(&kb, &model, &capped).unwrap();
    assert_eq!(one.len(), 1);
    assert!(one[0].text.ends_with(" …"), "{}", one[0].text);

    let excluded = ContextOptions {
        exclude_sources: vec!["past.json".into()],
        ..ContextOptions::default()
    };
    assert!(retrieve_context(&kb, &model, &excluded).unwrap().is_empty());
}
