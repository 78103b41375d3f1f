//! `diff_models` on two fixture models (tests/data/old.yaml → new.yaml) loaded by the DSL.

mod common;

use serde_json::json;
use tmc_diff::{
    COMPONENT_CONTROL_FIELDS, ChangeClass, ElementType, FLOW_CONTROL_FIELDS, FieldChange,
    ModelDiff, classify, diff_models,
};

fn diff() -> ModelDiff {
    diff_models(&common::model("old.yaml"), &common::model("new.yaml"))
}

fn field<'a>(fields: &'a [FieldChange], path: &str) -> &'a FieldChange {
    fields
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no change at {path} in {fields:?}"))
}

#[test]
fn renamed_component_is_changed_not_added_and_removed() {
    let d = diff();
    let api = d.components.changed.iter().find(|c| c.id == "api").unwrap();
    assert_eq!(api.name, "Order Service");
    let name = field(&api.fields, "name");
    assert_eq!(name.class, ChangeClass::Other);
    assert_eq!(name.old, Some(json!("Orders API")));
    assert_eq!(name.new, Some(json!("Order Service")));
    assert!(!d.components.added.iter().any(|e| e.id == "api"));
    assert!(!d.components.removed.iter().any(|e| e.id == "api"));
}

#[test]
fn changed_authentication_and_encryption_are_controls() {
    let d = diff();
    let api = d.components.changed.iter().find(|c| c.id == "api").unwrap();
    let auth = field(&api.fields, "authentication.scheme");
    assert_eq!(auth.class, ChangeClass::Control);
    assert_eq!(
        (auth.old.clone(), auth.new.clone()),
        (Some(json!("none")), Some(json!("jwt")))
    );
    assert!(api.controls_changed());

    let flow = d
        .flows
        .changed
        .iter()
        .find(|c| c.id == "f-web-api")
        .unwrap();
    let enc = field(&flow.fields, "encryption");
    assert_eq!(enc.class, ChangeClass::Control);
    assert_eq!(enc.new, Some(json!("tls-1.3")));
    // The protocol is what the flow speaks, not a declared control.
    assert_eq!(field(&flow.fields, "protocol").class, ChangeClass::Other);
}

#[test]
fn added_and_removed_elements() {
    let d = diff();
    let ids = |l: &[tmc_diff::ElementRef]| l.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&d.components.added), ["psp"]);
    assert_eq!(ids(&d.components.removed), ["legacy"]);
    assert_eq!(d.components.removed[0].name, "Legacy exporter");
    assert_eq!(ids(&d.flows.added), ["f-api-psp"]);
    assert_eq!(d.flows.added[0].name, "api → psp");
    assert_eq!(ids(&d.flows.removed), ["f-legacy-db"]);
    // Unchanged elements are in no list.
    assert!(
        !d.components
            .changed
            .iter()
            .any(|c| c.id == "web" || c.id == "db")
    );
    assert!(!d.flows.changed.iter().any(|c| c.id == "f-shop-web"));
}

#[test]
fn boundary_membership_data_classification_and_product() {
    let d = diff();
    let b = &d.trust_boundaries.changed;
    assert_eq!(b.len(), 1);
    let members = field(&b[0].fields, "members");
    assert_eq!(members.old, Some(json!(["api", "db", "legacy"])));
    assert_eq!(members.new, Some(json!(["api", "db"])));
    assert_eq!(members.class, ChangeClass::Other);

    let orders = &d.data.changed[0];
    assert_eq!(
        field(&orders.fields, "classification").new,
        Some(json!("restricted"))
    );
    assert_eq!(
        field(&d.system, "product.owner").old,
        Some(json!("shop-team@example.com"))
    );
    assert_eq!(d.system.len(), 1, "{:?}", d.system);
}

#[test]
fn a_model_against_itself_is_empty() {
    let m = common::model("new.yaml");
    assert!(diff_models(&m, &m).is_empty());
    assert!(!diff().is_empty());
}

#[test]
fn reordering_lists_is_not_a_change_but_nested_attributes_are() {
    let old = common::model("new.yaml");
    let mut new = old.clone();
    new.trust_boundaries[1].members.reverse();
    new.components.reverse();
    assert!(diff_models(&old, &new).is_empty());

    let web = new.components.iter_mut().find(|c| c.id == "web").unwrap();
    web.model = Some(tmc_model::ModelAttributes {
        guardrails: Some(true),
        ..Default::default()
    });
    let d = diff_models(&old, &new);
    let f = field(&d.components.changed[0].fields, "model.guardrails");
    assert_eq!(
        (f.class, f.old.clone(), f.new.clone()),
        (ChangeClass::Control, None, Some(json!(true)))
    );
}

/// Every field the DSL schema has for components and flows must be either a listed control or
/// one of the known other fields, so a new DSL field forces a decision on its class.
#[test]
fn every_dsl_field_has_a_deliberate_class() {
    let schema = tmc_dsl::schema::model_schema();
    let cases: [(&str, &[&str], &[&str]); 2] = [
        (
            "Component",
            COMPONENT_CONTROL_FIELDS,
            &[
                "id",
                "name",
                "description",
                "kind",
                "technology",
                "trust_zone",
                "in_scope",
                "tags",
                "notes",
            ],
        ),
        (
            "Flow",
            FLOW_CONTROL_FIELDS,
            &[
                "id",
                "name",
                "from",
                "to",
                "protocol",
                "port",
                "data",
                "data_received",
                "bidirectional",
                "description",
                "notes",
            ],
        ),
    ];
    for (def, controls, others) in cases {
        let props = schema["$defs"][def]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no $defs.{def}.properties in the model schema"));
        for key in props.keys() {
            assert!(
                controls.contains(&key.as_str()) || others.contains(&key.as_str()),
                "{def}.{key} is neither a control nor a known other field: classify it"
            );
        }
        for key in controls {
            assert!(
                props.contains_key(*key),
                "{def}.{key} is listed as a control but not in the DSL"
            );
        }
    }
    let element = |def: &str| match def {
        "Component" => ElementType::Component,
        _ => ElementType::Flow,
    };
    assert_eq!(
        classify(element("Component"), "device.secure_boot"),
        ChangeClass::Control
    );
    assert_eq!(
        classify(element("Flow"), "authentication"),
        ChangeClass::Control
    );
    assert_eq!(classify(ElementType::DataAsset, "pii"), ChangeClass::Other);
}
