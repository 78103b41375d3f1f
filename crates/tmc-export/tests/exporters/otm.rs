use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tmc_export::otm::{OTM_VERSION, ZONE_PREFIX, to_otm};

use crate::common;

#[test]
fn otm_document_shape() {
    let model = common::model("cicd-platform");
    let draft = common::draft("cicd-platform");
    let doc: Value = serde_json::from_str(&to_otm(&model, &draft).unwrap()).unwrap();
    assert_eq!(doc["otmVersion"], OTM_VERSION);
    assert_eq!(doc["project"]["name"], draft.product.name);
    assert!(doc["project"]["id"].as_str().is_some());
    for z in doc["trustZones"].as_array().unwrap() {
        let r = z["risk"]["trustRating"].as_u64().unwrap();
        assert!(r <= 100);
    }
    let zone_ids: BTreeSet<&str> = doc["trustZones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["id"].as_str().unwrap())
        .collect();
    for c in doc["components"].as_array().unwrap() {
        assert!(zone_ids.contains(c["parent"]["trustZone"].as_str().unwrap()));
    }
    let threat_ids: BTreeSet<&str> = doc["threats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let mit_ids: BTreeSet<&str> = doc["mitigations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for t in doc["threats"].as_array().unwrap() {
        for k in ["likelihood", "impact"] {
            let v = t["risk"][k].as_u64().unwrap();
            assert!((20..=100).contains(&v));
        }
    }
    for section in ["components", "dataflows", "trustZones", "dataAssets"] {
        for e in doc[section].as_array().unwrap() {
            for inst in e["threats"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                assert!(threat_ids.contains(inst["threat"].as_str().unwrap()));
                for m in inst["mitigations"].as_array().unwrap() {
                    assert!(mit_ids.contains(m["mitigation"].as_str().unwrap()));
                }
            }
        }
    }
}

#[test]
fn otm_round_trips_through_the_importer() {
    for name in common::EXAMPLES {
        let model = common::model(name);
        let draft = common::draft(name);
        let text = to_otm(&model, &draft).unwrap();
        let back = tmc_import::otm::import(text.as_bytes()).unwrap();
        let src = |id: &str| back.id_map.get(id).cloned().unwrap_or_default();

        let ours: BTreeMap<&str, &str> = model
            .components
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str()))
            .collect();
        let theirs: BTreeMap<String, String> = back
            .model
            .components
            .iter()
            .map(|c| (src(&c.id), c.name.clone()))
            .collect();
        let theirs_ref: BTreeMap<&str, &str> = theirs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(ours, theirs_ref, "{name}: components");

        let flows: BTreeSet<(String, String)> = model
            .flows
            .iter()
            .map(|f| (f.from.clone(), f.to.clone()))
            .collect();
        let back_flows: BTreeSet<(String, String)> = back
            .model
            .flows
            .iter()
            .map(|f| (src(&f.from), src(&f.to)))
            .collect();
        assert_eq!(flows, back_flows, "{name}: flows");
        assert_eq!(model.flows.len(), back.model.flows.len());

        // Boundaries, their members and nesting; synthetic trust-level zones are extra.
        let ours: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = model
            .trust_boundaries
            .iter()
            .map(|b| {
                (
                    b.id.clone(),
                    (
                        b.members.iter().cloned().collect(),
                        b.boundaries.iter().cloned().collect(),
                    ),
                )
            })
            .collect();
        let theirs: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = back
            .model
            .trust_boundaries
            .iter()
            .filter(|b| !src(&b.id).starts_with(ZONE_PREFIX))
            .map(|b| {
                (
                    src(&b.id),
                    (
                        b.members.iter().map(|m| src(m)).collect(),
                        b.boundaries.iter().map(|m| src(m)).collect(),
                    ),
                )
            })
            .collect();
        assert_eq!(ours, theirs, "{name}: boundaries");

        assert_eq!(draft.threats.len(), back.threats.len(), "{name}: threats");
        for (a, b) in draft.threats.iter().zip(&back.threats) {
            assert_eq!(a.title, b.title);
            assert_eq!(a.stride, b.stride);
            assert_eq!(a.status, b.status);
            assert_eq!(a.severity.likelihood, b.severity.likelihood);
            assert_eq!(a.severity.impact, b.severity.impact);
            assert_eq!(a.references.cwe, b.references.cwe);
            assert_eq!(a.targets.len(), b.targets.len());
            for (ta, tb) in a.targets.iter().zip(&b.targets) {
                assert_eq!(ta.kind, tb.kind);
                assert_eq!(ta.id, src(&tb.id));
            }
            // Compared as sets: the importer collects a threat's mitigations from every
            // instance, so a threat on two elements lists each twice.
            let ma: BTreeSet<&str> = a.mitigations.iter().map(|m| m.text.as_str()).collect();
            let mb: BTreeSet<&str> = b.mitigations.iter().map(|m| m.text.as_str()).collect();
            assert_eq!(ma, mb);
        }
    }
}
