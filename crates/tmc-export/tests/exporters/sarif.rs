use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use tmc_export::sarif::{FINGERPRINT_KEY, SARIF_SCHEMA, level, security_severity, to_sarif};
use tmc_model::{Draft, Provenance, Severity};

use crate::common;

/// Checks, property by property, what SARIF 2.1.0 requires of the objects we emit.
fn check_structure(log: &Value, draft: &Draft, uri: &str) {
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["$schema"], SARIF_SCHEMA);
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "tmc");
    assert!(!driver["version"].as_str().unwrap().is_empty());

    let rules = driver["rules"].as_array().unwrap();
    let mut ids = HashSet::new();
    for r in rules {
        let id = r["id"].as_str().unwrap();
        assert!(ids.insert(id.to_string()), "duplicate rule id {id}");
        assert!(!r["shortDescription"]["text"].as_str().unwrap().is_empty());
        assert!(!r["fullDescription"]["text"].as_str().unwrap().is_empty());
        assert!(!r["help"]["text"].as_str().unwrap().is_empty());
        let tags: Vec<&str> = r["properties"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            tags.contains(&"security"),
            "rule {id} lacks the security tag"
        );
        if let Some(s) = r["properties"].get("security-severity") {
            let s: f64 = s.as_str().unwrap().parse().unwrap();
            assert!((0.0..=10.0).contains(&s));
        }
        let lvl = r["defaultConfiguration"]["level"].as_str().unwrap();
        assert!(["none", "note", "warning", "error"].contains(&lvl));
    }

    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), draft.threats.len() + draft.suppressed.len());
    for (i, res) in results.iter().enumerate() {
        assert!(!res["message"]["text"].as_str().unwrap().is_empty());
        let rid = res["ruleId"].as_str().unwrap();
        let idx = usize::try_from(res["ruleIndex"].as_u64().unwrap()).unwrap();
        assert!(idx < rules.len(), "ruleIndex out of range");
        assert_eq!(rules[idx]["id"], rid, "ruleIndex does not point at ruleId");
        let lvl = res["level"].as_str().unwrap();
        assert!(["none", "note", "warning", "error"].contains(&lvl));
        let locs = res["locations"].as_array().unwrap();
        assert!(!locs.is_empty());
        for l in locs {
            let pl = &l["physicalLocation"];
            assert_eq!(pl["artifactLocation"]["uri"], uri);
            assert_eq!(pl["artifactLocation"]["uriBaseId"], "%SRCROOT%");
            assert!(pl["region"]["startLine"].as_u64().unwrap() >= 1);
            assert!(pl["region"]["startColumn"].as_u64().unwrap() >= 1);
        }
        let fp = res["partialFingerprints"][FINGERPRINT_KEY]
            .as_str()
            .unwrap();
        if let Some(t) = draft.threats.get(i) {
            assert_eq!(fp, t.id);
            assert_eq!(lvl, level(t.severity.level));
            let expected_rule = match &t.provenance {
                Provenance::Rule { rule_id, .. } => rule_id.as_str(),
                Provenance::Import { .. } => "tmc-import",
                Provenance::Model { .. } => "tmc-model",
                Provenance::KnowledgeBase { .. } => "tmc-knowledge-base",
                Provenance::Manual { .. } => "tmc-manual",
            };
            assert_eq!(rid, expected_rule);
            // Catalogue tags of the threat appear on its rule.
            let tags = rules[idx]["properties"]["tags"].as_array().unwrap();
            for c in &t.references.cwe {
                assert!(tags.contains(&Value::from(format!("CWE-{c}"))));
            }
            for a in &t.references.owasp_top10_2021 {
                assert!(tags.contains(&Value::from(format!("OWASP-{a}:2021"))));
            }
            for s in &t.stride {
                assert!(tags.contains(&Value::from(s.name())));
            }
        } else {
            assert_eq!(res["suppressions"][0]["kind"], "inSource");
        }
    }
}

#[test]
fn examples_are_structurally_valid_sarif() {
    for name in common::EXAMPLES {
        let model = common::model(name);
        let draft = common::draft(name);
        let uri = format!("examples/{name}.yaml");
        let mut positions = BTreeMap::new();
        positions.insert(model.components[0].id.clone(), (42, 5));
        let text = to_sarif(&model, &draft, &uri, &positions).unwrap();
        let log: Value = serde_json::from_str(&text).unwrap();
        check_structure(&log, &draft, &uri);
        // A located element points at its line; the rest fall back to line 1.
        let first = &model.components[0].id;
        for (t, res) in draft
            .threats
            .iter()
            .zip(log["runs"][0]["results"].as_array().unwrap())
        {
            let region = &res["locations"][0]["physicalLocation"]["region"];
            if &t.targets[0].id == first {
                assert_eq!(region["startLine"], 42);
                assert_eq!(region["startColumn"], 5);
            } else {
                assert_eq!(region["startLine"], 1);
            }
        }
    }
}

#[test]
fn other_provenances_get_pseudo_rules() {
    let model = common::model("hostile");
    let draft = common::hostile_draft();
    let text = to_sarif(&model, &draft, "hostile.yaml", &BTreeMap::new()).unwrap();
    let log: Value = serde_json::from_str(&text).unwrap();
    check_structure(&log, &draft, "hostile.yaml");
    let rules: Vec<&str> = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["TMC-TEST-001", "tmc-model", "tmc-import", "TMC-TEST-002"]
    );
    // The rule's short description drops the target name.
    assert_eq!(
        log["runs"][0]["tool"]["driver"]["rules"][0]["shortDescription"]["text"],
        "Cross-site scripting, \"stored\"."
    );
    let msg = log["runs"][0]["results"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(msg.starts_with("Cross-site scripting, \"stored\" in Web. A comment"));
}

#[test]
fn levels_and_security_severity_agree() {
    assert_eq!(level(Severity::Critical), "error");
    assert_eq!(level(Severity::High), "error");
    assert_eq!(level(Severity::Medium), "warning");
    assert_eq!(level(Severity::Low), "note");
    assert_eq!(level(Severity::Info), "note");
    // GitHub's bands: critical >= 9, high 7-8.9, medium 4-6.9, low 0.1-3.9.
    for score in 1..=25u8 {
        assert!(security_severity(Severity::Critical, score) >= 9.0);
        let h = security_severity(Severity::High, score);
        assert!((7.0..9.0).contains(&h));
        let m = security_severity(Severity::Medium, score);
        assert!((4.0..7.0).contains(&m));
        let l = security_severity(Severity::Low, score);
        assert!((0.1..4.0).contains(&l));
    }
    assert!(security_severity(Severity::High, 20) > security_severity(Severity::High, 12));
}
