#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Severity overrides accumulate per rule and technology: past reviews that overrode the
//! severity of one rule's threat on elements of one technology give the next draft the factor
//! "severity set in past reviews", which moves the level one step toward the reviewers' only
//! when a majority of at least two reviews agree. The cases are in
//! `tests/data/past-severity.json` (past decisions beside the factor they must produce).
//! Past rejections are switched off here so that only the override logic moves severities
//! (`review_feedback.rs` covers rejections).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tmc_kb::augment::{AugmentOptions, PAST_SEVERITY_FACTOR, augment_draft};
use tmc_kb::ingest::NoProgress;
use tmc_kb::search::KnowledgeBase;
use tmc_kb::{SqliteIndex, ingest_paths};
use tmc_model::{
    DecisionMatch, Draft, FactorAxis, Severity, SeverityOverride, SystemModel, ThreatReview,
    ThreatStatus,
};

#[derive(Deserialize)]
struct Cases {
    threat: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    reviews: Vec<String>,
    expect: Option<Expect>,
}

#[derive(Deserialize)]
struct Expect {
    delta: i32,
    axis: String,
    level: String,
    likelihood: u8,
    impact: u8,
    says: Vec<String>,
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

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

fn review(key: &str, override_: Option<SeverityOverride>, why: Option<&str>) -> ThreatReview {
    ThreatReview {
        key: key.into(),
        matched_by: DecisionMatch::Id,
        needs_confirmation: false,
        justification: why.map(String::from),
        expires: None,
        reviewer: Some("past reviewer".into()),
        reviewed_at: None,
        tickets: Vec::new(),
        severity_override: override_,
        drafted_title: None,
    }
}

/// One past review: the example under another product name, with one decision on `threat`.
fn past_review(dir: &Path, model: &SystemModel, n: usize, threat: &str, decision: &str) -> PathBuf {
    let mut past = draft(model);
    past.product.name = format!("Past shop {n}");
    let t = past.threats.iter_mut().find(|t| t.id == threat).unwrap();
    match decision {
        "kept" => {
            t.status = ThreatStatus::Open;
            t.review = Some(review(threat, None, None));
        }
        "rejected" => {
            t.status = ThreatStatus::NotApplicable;
            t.review = Some(review(threat, None, Some("Not reachable here.")));
        }
        level => {
            let level = Severity::parse(level).unwrap();
            let drafted = std::mem::replace(&mut t.severity.level, level);
            let o = SeverityOverride {
                drafted,
                reason: format!("reason {n}"),
            };
            t.review = Some(review(threat, Some(o), None));
        }
    }
    let path = dir.join(format!("past-{n}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&past).unwrap()).unwrap();
    path
}

#[test]
fn past_severity_overrides_move_a_level_only_when_a_majority_of_two_or_more_agree() {
    let cases: Cases =
        serde_json::from_str(&std::fs::read_to_string(data().join("past-severity.json")).unwrap())
            .unwrap();
    let model = example();
    let plain = draft(&model);
    let drafted = plain.threats.iter().find(|t| t.id == cases.threat).unwrap();
    assert_eq!(
        (
            drafted.severity.level,
            drafted.severity.likelihood,
            drafted.severity.impact
        ),
        (Severity::Medium, 2, 4),
        "the cases assume this drafted severity"
    );
    let opts = AugmentOptions {
        rejected_statuses: Vec::new(),
        ..AugmentOptions::default()
    };
    for case in &cases.cases {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = case
            .reviews
            .iter()
            .enumerate()
            .map(|(n, d)| past_review(dir.path(), &model, n + 1, &cases.threat, d))
            .collect();
        let mut index = SqliteIndex::in_memory().unwrap();
        ingest_paths(&mut index, &paths, None, &NoProgress).unwrap();
        let kb = KnowledgeBase::new(Box::new(index), None);

        let mut next = plain.clone();
        let report = augment_draft(&kb, &model, &mut next, &opts).unwrap();
        let t = next.threats.iter().find(|t| t.id == cases.threat).unwrap();
        let factors: Vec<_> = t
            .severity
            .factors
            .iter()
            .filter(|f| f.name == PAST_SEVERITY_FACTOR)
            .collect();
        let name = &case.name;
        let Some(want) = &case.expect else {
            assert!(factors.is_empty(), "{name}: {factors:?}");
            let (s, d) = (&t.severity, &drafted.severity);
            assert_eq!(
                (s.level, s.likelihood, s.impact),
                (d.level, d.likelihood, d.impact)
            );
            assert_eq!(report.severity_moved + report.severity_noted, 0, "{name}");
            continue;
        };
        assert_eq!(factors.len(), 1, "{name}: {:?}", t.severity.factors);
        let f = factors[0];
        assert_eq!(f.delta, want.delta, "{name}: {}", f.value);
        let axis = match f.applies_to {
            FactorAxis::Impact => "impact",
            FactorAxis::Likelihood => "likelihood",
        };
        assert_eq!(axis, want.axis, "{name}");
        assert!(
            f.value
                .starts_with("past reviews set TMC-IDP-003 on api-service to "),
            "{name}: {}",
            f.value
        );
        for s in &want.says {
            assert!(
                f.value.contains(s.as_str()),
                "{name}: want `{s}` in {}",
                f.value
            );
        }
        // Every overriding review is named, with its source and reason (up to three).
        for (n, d) in case.reviews.iter().enumerate() {
            let named = f
                .value
                .contains(&format!("\"Past shop {}\" (past-{}.json#", n + 1, n + 1));
            let same_level = f.value.contains(&format!(" to {d} ("));
            assert_eq!(named, same_level, "{name}: review {} in {}", n + 1, f.value);
        }
        let s = &t.severity;
        assert_eq!(s.level.as_str(), want.level, "{name}");
        assert_eq!(
            (s.likelihood, s.impact),
            (want.likelihood, want.impact),
            "{name}"
        );
        assert_eq!(s.score, s.likelihood * s.impact, "{name}");
        assert_eq!(s.level, Severity::for_score(s.score), "{name}");
        let moved = usize::from(want.delta != 0);
        assert_eq!(report.severity_moved, moved, "{name}");
        assert!(report.severity_noted + report.severity_moved >= 1, "{name}");

        // Applied once: augmenting the augmented draft changes nothing.
        let mut again = next.clone();
        augment_draft(&kb, &model, &mut again, &opts).unwrap();
        assert_eq!(again, next, "{name}: augmenting twice");

        // Leave-one-out: with every past review excluded, nothing of this happens.
        let excluded = AugmentOptions {
            exclude_sources: (1..=paths.len())
                .map(|n| format!("past-{n}.json"))
                .collect(),
            ..opts.clone()
        };
        let mut none = plain.clone();
        augment_draft(&kb, &model, &mut none, &excluded).unwrap();
        assert_eq!(none, plain, "{name}: excluded sources");
    }
}

/// What a reviewed threat's chunk keeps of its review: status, rule, technology, the
/// override (drafted level, new level, reason) and the justification; searchable by rule and
/// by `status=edited`, and shown to the copilot under the passage's title.
#[test]
fn a_reviewed_threats_chunk_keeps_the_decision() {
    let model = example();
    let mut past = draft(&model);
    let rejected = "TMC-API-002@catalog-api";
    let overridden = "TMC-IDP-003@catalog-api";
    for t in &mut past.threats {
        if t.id == rejected {
            t.status = ThreatStatus::NotApplicable;
            t.review = Some(review(rejected, None, Some("The catalogue is public.")));
        } else if t.id == overridden {
            let drafted = std::mem::replace(&mut t.severity.level, Severity::Low);
            let o = SeverityOverride {
                drafted,
                reason: "Short-lived gateway tokens.".into(),
            };
            t.review = Some(review(overridden, Some(o), None));
        }
    }
    let value = serde_json::to_value(&past).unwrap();
    let chunks = tmc_kb::parse::draft_chunks(&value).unwrap();
    let chunk = |id: &str| chunks.iter().find(|c| c.key == id).unwrap();

    let r = &chunk(rejected).meta;
    assert_eq!(r.status.as_deref(), Some("not-applicable"));
    assert_eq!(r.rule.as_deref(), Some("TMC-API-002"));
    assert_eq!(r.technologies, ["api-service"]);
    assert_eq!(r.justification.as_deref(), Some("The catalogue is public."));
    assert_eq!((r.drafted_severity.as_deref(), r.edited), (None, false));

    let o = chunk(overridden);
    assert_eq!(o.meta.status.as_deref(), Some("draft"));
    assert_eq!(o.meta.rule.as_deref(), Some("TMC-IDP-003"));
    assert_eq!(o.meta.severity.as_deref(), Some("low"));
    assert_eq!(o.meta.drafted_severity.as_deref(), Some("medium"));
    assert_eq!(
        o.meta.severity_reason.as_deref(),
        Some("Short-lived gateway tokens.")
    );
    assert!(o.meta.edited);
    let tags = o.meta.tags();
    for tag in [
        ("status", "edited"),
        ("rule", "TMC-IDP-003"),
        ("tech", "api-service"),
    ] {
        assert!(
            tags.contains(&(tag.0, tag.1.to_string())),
            "{tag:?} in {tags:?}"
        );
    }
    assert!(
        o.text
            .ends_with("\nRule: TMC-IDP-003\nSeverity set from medium to low because Short-lived gateway tokens."),
        "{}",
        o.text
    );

    // The copilot's passage shows the decision right under the title.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("past.json");
    std::fs::write(&path, serde_json::to_vec(&past).unwrap()).unwrap();
    let mut index = SqliteIndex::in_memory().unwrap();
    ingest_paths(&mut index, &[path], None, &NoProgress).unwrap();
    let kb = KnowledgeBase::new(Box::new(index), None);
    let ctx =
        tmc_kb::context::retrieve_context(&kb, &model, &tmc_kb::context::ContextOptions::default())
            .unwrap();
    let passage = ctx
        .iter()
        .find(|c| c.id == format!("past.json#{overridden}"))
        .unwrap_or_else(|| panic!("edited threats are context too: {ctx:?}"));
    assert!(
        passage.text.contains(
            "(JWT validation)\nRule: TMC-IDP-003\nSeverity set from medium to low because Short-lived gateway tokens.\n"
        ),
        "{}",
        passage.text
    );
    assert!(ctx.iter().all(|c| !c.id.ends_with(rejected)), "{ctx:?}");
}
