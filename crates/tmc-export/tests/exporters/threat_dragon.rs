use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tmc_export::threat_dragon::{TD_VERSION, to_threat_dragon};
use tmc_model::{SystemModel, TargetKind};

use crate::common;

/// Names of members and nested boundaries per boundary name.
fn membership(m: &SystemModel) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let cname = |id: &str| m.component(id).map(|c| c.name.clone()).unwrap_or_default();
    let bname = |id: &str| {
        m.trust_boundaries
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.name.clone())
            .unwrap_or_default()
    };
    m.trust_boundaries
        .iter()
        .map(|b| {
            (
                b.name.clone(),
                (
                    b.members.iter().map(|x| cname(x)).collect(),
                    b.boundaries.iter().map(|x| bname(x)).collect(),
                ),
            )
        })
        .collect()
}

#[test]
fn threat_dragon_document_shape() {
    let model = common::model("cicd-platform");
    let draft = common::draft("cicd-platform");
    let doc: Value = serde_json::from_str(&to_threat_dragon(&model, &draft).unwrap()).unwrap();
    assert_eq!(doc["version"], TD_VERSION);
    assert_eq!(doc["summary"]["title"], draft.product.name);
    let d = &doc["detail"]["diagrams"][0];
    assert_eq!(d["diagramType"], "STRIDE");
    let cells = d["cells"].as_array().unwrap();
    let ids: BTreeSet<&str> = cells.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), cells.len(), "cell ids are unique");
    for c in cells {
        let shape = c["shape"].as_str().unwrap();
        let ty = c["data"]["type"].as_str().unwrap();
        let expected = match shape {
            "actor" => "tm.Actor",
            "process" => "tm.Process",
            "store" => "tm.Store",
            "flow" => "tm.Flow",
            "trust-boundary-box" => "tm.BoundaryBox",
            other => panic!("unexpected shape {other}"),
        };
        assert_eq!(ty, expected);
        if shape == "flow" {
            assert!(ids.contains(c["source"]["cell"].as_str().unwrap()));
            assert!(ids.contains(c["target"]["cell"].as_str().unwrap()));
        }
        for t in c["data"]["threats"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            assert!(["Open", "Mitigated", "NA"].contains(&t["status"].as_str().unwrap()));
            assert!(["High", "Medium", "Low"].contains(&t["severity"].as_str().unwrap()));
            assert_eq!(t["modelType"], "STRIDE");
            assert!(!t["title"].as_str().unwrap().is_empty());
        }
    }
}

#[test]
fn threat_dragon_round_trips_through_the_importer() {
    for name in common::EXAMPLES {
        let model = common::model(name);
        let draft = common::draft(name);
        let text = to_threat_dragon(&model, &draft).unwrap();
        let back = tmc_import::threat_dragon::import(text.as_bytes()).unwrap();

        let ours: BTreeSet<(String, &str)> = model
            .components
            .iter()
            .map(|c| (c.name.clone(), c.kind.as_str()))
            .collect();
        let theirs: BTreeSet<(String, &str)> = back
            .model
            .components
            .iter()
            .map(|c| (c.name.clone(), c.kind.as_str()))
            .collect();
        assert_eq!(ours, theirs, "{name}: components");
        assert_eq!(model.components.len(), back.model.components.len());

        let fname = |m: &SystemModel, id: &str| m.component(id).map(|c| c.name.clone());
        let flows: BTreeSet<_> = model
            .flows
            .iter()
            .map(|f| (fname(&model, &f.from), fname(&model, &f.to)))
            .collect();
        let back_flows: BTreeSet<_> = back
            .model
            .flows
            .iter()
            .map(|f| (fname(&back.model, &f.from), fname(&back.model, &f.to)))
            .collect();
        assert_eq!(flows, back_flows, "{name}: flows");
        assert_eq!(model.flows.len(), back.model.flows.len());

        // Membership and nesting survive as geometry.
        assert_eq!(
            membership(&model),
            membership(&back.model),
            "{name}: boundaries"
        );

        // Every threat arrives, once per component or flow it targets.
        let expected: usize = draft
            .threats
            .iter()
            .map(|t| {
                t.targets
                    .iter()
                    .filter(|x| matches!(x.kind, TargetKind::Component | TargetKind::Flow))
                    .map(|x| &x.id)
                    .collect::<BTreeSet<_>>()
                    .len()
                    .max(1)
            })
            .sum();
        assert_eq!(back.threats.len(), expected, "{name}: threats");
        let titles: BTreeSet<&str> = draft.threats.iter().map(|t| t.title.as_str()).collect();
        let back_titles: BTreeSet<&str> = back.threats.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(titles, back_titles);
        for t in &back.threats {
            assert_eq!(t.targets.len(), 1, "each imported threat sits on one cell");
        }
    }
}

#[test]
fn threats_on_data_and_unknown_targets_are_kept() {
    let model = common::model("hostile");
    let draft = common::hostile_draft();
    let text = to_threat_dragon(&model, &draft).unwrap();
    let back = tmc_import::threat_dragon::import(text.as_bytes()).unwrap();
    assert_eq!(back.threats.len(), draft.threats.len());
    let moved = back
        .threats
        .iter()
        .find(|t| t.title == "Imported, low")
        .unwrap();
    assert!(
        moved
            .description
            .starts_with("About data asset \"Unknown data\".")
    );
    let mitigated = back
        .threats
        .iter()
        .find(|t| t.title.starts_with("@SUM"))
        .unwrap();
    assert_eq!(mitigated.status, tmc_model::ThreatStatus::Mitigated);
}
