//! JSON Schemas generated from the Rust types, so editors autocomplete exactly what we parse.

use tmc_model::{Draft, SystemModel};

/// JSON Schema of the system-model DSL.
pub fn model_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(SystemModel)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            "https://tmc.dev/schema/threatmodel-v1.json".into(),
        );
        obj.insert(
            "title".into(),
            "tmc system model (threatmodel.yaml) v1".into(),
        );
    }
    schema
}

/// JSON Schema of the draft threat model that `tmc draft` writes.
pub fn draft_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Draft)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), "https://tmc.dev/schema/draft-v1.json".into());
        obj.insert("title".into(), "tmc draft threat model v1".into());
    }
    schema
}
