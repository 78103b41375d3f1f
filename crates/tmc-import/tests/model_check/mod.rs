//! Checks every imported model must pass: the DSL's own validation with zero errors, a JSON
//! round trip through the DSL loader, and threat targets that point at real elements.

use std::collections::HashSet;

use tmc_import::ImportResult;
use tmc_model::TargetKind;

pub fn assert_clean(r: &ImportResult, what: &str) {
    let parsed = tmc_dsl::ParsedModel {
        model: r.model.clone(),
        file: what.to_string(),
        index: Default::default(),
    };
    let errors: Vec<_> = tmc_dsl::validate(&parsed)
        .into_iter()
        .filter(tmc_dsl::Diagnostic::is_error)
        .collect();
    assert!(errors.is_empty(), "{what}: validation errors: {errors:#?}");

    // The model must survive the DSL loader (deny_unknown_fields, enums, version).
    let json = serde_json::to_vec(&r.model).unwrap_or_else(|e| panic!("{what}: {e}"));
    let reparsed = tmc_dsl::parse_model(&json, &format!("{what}.json"))
        .unwrap_or_else(|e| panic!("{what}: does not reload: {e:?}"));
    assert_eq!(reparsed.model, r.model, "{what}: reload changed the model");

    let m = &r.model;
    let ids = |k: TargetKind| -> HashSet<&str> {
        match k {
            TargetKind::Component => m.components.iter().map(|c| c.id.as_str()).collect(),
            TargetKind::Flow => m.flows.iter().map(|c| c.id.as_str()).collect(),
            TargetKind::Data => m.data.iter().map(|c| c.id.as_str()).collect(),
            TargetKind::Boundary => m.trust_boundaries.iter().map(|c| c.id.as_str()).collect(),
        }
    };
    let mut threat_ids = HashSet::new();
    for t in &r.threats {
        assert!(
            threat_ids.insert(t.id.as_str()),
            "{what}: duplicate threat id {}",
            t.id
        );
        assert!(t.id.starts_with("import:"), "{what}: threat id {}", t.id);
        for tr in &t.targets {
            assert!(
                ids(tr.kind).contains(tr.id.as_str()),
                "{what}: threat {} targets missing {:?} {}",
                t.id,
                tr.kind,
                tr.id
            );
        }
    }
    let all: HashSet<&str> = [
        TargetKind::Component,
        TargetKind::Flow,
        TargetKind::Data,
        TargetKind::Boundary,
    ]
    .into_iter()
    .flat_map(ids)
    .collect();
    for ours in r.id_map.keys() {
        assert!(
            all.contains(ours.as_str()),
            "{what}: id_map names unknown element {ours}"
        );
    }
    for n in &r.notes {
        if let Some(e) = &n.element {
            assert!(
                all.contains(e.as_str()),
                "{what}: note on unknown element {e}: {}",
                n.message
            );
        }
    }
}

pub fn count_status(r: &ImportResult, s: tmc_model::ThreatStatus) -> usize {
    r.threats.iter().filter(|t| t.status == s).count()
}
