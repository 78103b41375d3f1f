//! Shared fixture loading for the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use tmc_model::Draft;
use tmc_review::{ApplyContext, Decisions};

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn draft(name: &str) -> Draft {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn decisions(name: &str) -> Decisions {
    tmc_review::parse(read(name).as_bytes(), name).unwrap_or_else(|e| panic!("{e}"))
}

/// The model's elements as the draft's coverage rows list them (every element has a row).
pub fn context(draft: &Draft) -> ApplyContext {
    let elements: BTreeMap<_, _> = draft
        .coverage
        .iter()
        .map(|r| (r.target.id.clone(), (r.target.kind, r.target.name.clone())))
        .collect();
    ApplyContext {
        elements,
        model_hash: Some(format!("sha256:{}", "1".repeat(64))),
        file: Some("threatmodel.review.yaml".into()),
    }
}
