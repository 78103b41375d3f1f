//! Fixture loading shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;
use tmc_model::{Draft, OrphanedDecision, ReviewSummary, SystemModel, ThreatReview, ThreatStatus};

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A fixture model, parsed and validated like `tmc` does.
pub fn model(name: &str) -> SystemModel {
    match tmc_dsl::load_checked(read(name).as_bytes(), name) {
        Ok((parsed, _warnings)) => parsed.model,
        Err(e) => panic!("{name} does not validate: {e:?}"),
    }
}

/// The built-in rules' draft of a model.
pub fn draft(m: &SystemModel) -> Draft {
    let rules = tmc_engine::RuleSet::builtin().expect("built-in rules load");
    tmc_engine::draft(m, &rules, &tmc_engine::DraftOptions::default())
}

#[derive(Deserialize)]
struct ReviewFixture {
    decisions: Vec<DecisionFixture>,
    orphaned: Vec<OrphanedDecision>,
}

#[derive(Deserialize)]
struct DecisionFixture {
    threat: String,
    status: ThreatStatus,
    review: ThreatReview,
}

/// Lays the review state of a fixture file onto a draft, as applying decisions would.
/// Panics when a decision names a threat the draft lacks, so a rule change that renames a
/// threat shows up here instead of as a silently smaller review.
pub fn apply_review(draft: &mut Draft, name: &str) {
    let fixture: ReviewFixture = serde_json::from_str(&read(name)).expect("review fixture parses");
    for d in fixture.decisions {
        let Some(t) = draft.threats.iter_mut().find(|t| t.id == d.threat) else {
            panic!("{name}: no threat {} in the draft", d.threat);
        };
        t.status = d.status;
        t.review = Some(d.review);
    }
    draft.review = Some(ReviewSummary {
        file: Some("threatmodel.review.yaml".into()),
        orphaned: fixture.orphaned,
        ..ReviewSummary::default()
    });
}

/// Old and new fixture models with their drafts; the new draft carries `new-review.json`.
pub struct Fixture {
    pub old_model: SystemModel,
    pub new_model: SystemModel,
    pub old_draft: Draft,
    pub new_draft: Draft,
}

pub fn fixture() -> Fixture {
    let old_model = model("old.yaml");
    let new_model = model("new.yaml");
    let old_draft = draft(&old_model);
    let mut new_draft = draft(&new_model);
    apply_review(&mut new_draft, "new-review.json");
    Fixture {
        old_model,
        new_model,
        old_draft,
        new_draft,
    }
}
