use std::collections::BTreeSet;

use serde_json::Value;
use tmc_export::threagile::to_threagile;

use crate::common;

/// Threagile's JSON schema from the shared knowledge base: `$TMC_SHARED_DIR`, the `shared/`
/// folder beside the checkout (as CI lays it out), or `/work/shared`. `None` when absent, so a
/// plain checkout still runs the other checks.
pub fn schema() -> Option<jsonschema::Validator> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("TMC_SHARED_DIR") {
        candidates.push(std::path::PathBuf::from(dir));
    }
    candidates.push(manifest.join("../../../shared"));
    candidates.push(std::path::PathBuf::from("/work/shared"));
    let path = candidates
        .into_iter()
        .map(|d| d.join("kb/threagile-schema.json"))
        .find(|p| p.exists())?;
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Some(jsonschema::validator_for(&schema).unwrap())
}

#[test]
fn threagile_output_validates_against_the_schema() {
    let validator = schema();
    for name in ["cicd-platform", "rag-chatbot", "hostile"] {
        let model = common::model(name);
        let draft = if name == "hostile" {
            common::hostile_draft()
        } else {
            common::draft(name)
        };
        let yaml = to_threagile(&model, &draft).unwrap();
        let doc: Value = serde_saphyr::from_str(&yaml).unwrap();
        match &validator {
            Some(v) => {
                let errors: Vec<String> = v
                    .iter_errors(&doc)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect();
                assert!(errors.is_empty(), "{name}: {errors:#?}");
            }
            None => eprintln!("threagile schema not found; skipping schema validation"),
        }

        // References Threagile resolves by id must resolve.
        let assets = doc["technical_assets"].as_object().unwrap();
        assert_eq!(assets.len(), model.components.len());
        let asset_ids: BTreeSet<&str> =
            assets.values().map(|a| a["id"].as_str().unwrap()).collect();
        let data_ids: BTreeSet<&str> = doc["data_assets"]
            .as_object()
            .unwrap()
            .values()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        let tags: BTreeSet<&str> = doc["tags_available"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let mut links = 0;
        for a in assets.values() {
            for t in a["tags"].as_array().unwrap() {
                assert!(tags.contains(t.as_str().unwrap()));
            }
            for d in a["data_assets_processed"].as_array().unwrap() {
                assert!(data_ids.contains(d.as_str().unwrap()));
            }
            for l in a["communication_links"].as_object().unwrap().values() {
                links += 1;
                assert!(asset_ids.contains(l["target"].as_str().unwrap()));
                for d in l["data_assets_sent"].as_array().unwrap() {
                    assert!(data_ids.contains(d.as_str().unwrap()));
                    // Threagile expects a sender to process what it sends.
                    assert!(a["data_assets_processed"].as_array().unwrap().contains(d));
                }
            }
        }
        assert_eq!(links, model.flows.len());
        for b in doc["trust_boundaries"].as_object().unwrap().values() {
            for m in b["technical_assets_inside"].as_array().unwrap() {
                assert!(asset_ids.contains(m.as_str().unwrap()));
            }
        }
    }
}

#[test]
fn threagile_output_imports_back() {
    let model = common::model("cicd-platform");
    let draft = common::draft("cicd-platform");
    let yaml = to_threagile(&model, &draft).unwrap();
    let back = tmc_import::threagile::import(yaml.as_bytes()).unwrap();
    assert_eq!(back.model.components.len(), model.components.len());
    assert_eq!(back.model.flows.len(), model.flows.len());
    assert_eq!(
        back.model.trust_boundaries.len(),
        model.trust_boundaries.len()
    );
}
