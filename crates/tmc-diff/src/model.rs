//! Model diff: which elements of the system model were added, removed or changed, and how.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tmc_model::SystemModel;

use crate::walk::walk;

/// Which kind of model element a changed field belongs to; it decides the field's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ElementType {
    /// The top level: `version`, `product.*`, `notes`.
    System,
    Component,
    Flow,
    TrustBoundary,
    DataAsset,
}

/// What a changed field means for a reviewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeClass {
    /// A declared control or security attribute: the fields the rule engine reads to suppress,
    /// downgrade or raise threats. A change here can silently remove threats, so the report
    /// calls it out.
    Control,
    /// Everything else: names, descriptions, technology, zone, topology, data sensitivity.
    Other,
}

/// Top-level fields of a [`tmc_model::Component`] that are declared controls or security
/// attributes (`model.*` and `device.*` are security attributes throughout). Taken from
/// `tmc-model/src/system.rs`: the `Option` security attributes whose "undeclared" and
/// "declared absent" the rules distinguish. `trust_zone`, `technology` and `kind` are not
/// here: they say what and where an element is, and are reported as `other`.
pub const COMPONENT_CONTROL_FIELDS: &[&str] = &[
    "internet_facing",
    "custom_developed",
    "authentication",
    "authorization",
    "input_validation",
    "output_encoding",
    "encryption_at_rest",
    "logging",
    "hardening",
    "rate_limiting",
    "backups",
    "multi_tenant",
    "secrets",
    "runs_untrusted_code",
    "public_access",
    "model",
    "device",
];

/// Top-level fields of a [`tmc_model::Flow`] that are declared controls: how the receiver
/// authenticates the sender and how the transport is protected.
pub const FLOW_CONTROL_FIELDS: &[&str] = &["authentication", "encryption"];

/// The class of a changed field, from its element type and dotted path. Fields this table does
/// not know (a DSL field added later) are `other` until they are listed above.
pub fn classify(element: ElementType, path: &str) -> ChangeClass {
    let top = path.split(['.', '[']).next().unwrap_or(path);
    let controls: &[&str] = match element {
        ElementType::Component => COMPONENT_CONTROL_FIELDS,
        ElementType::Flow => FLOW_CONTROL_FIELDS,
        ElementType::System | ElementType::TrustBoundary | ElementType::DataAsset => &[],
    };
    if controls.contains(&top) {
        ChangeClass::Control
    } else {
        ChangeClass::Other
    }
}

/// One changed field. `old`/`new` are the serialised values (`null` = absent, i.e. not
/// declared, an empty list or the default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted path in the element's YAML shape: `name`, `authentication.scheme`,
    /// `model.guardrails`, `product.owner`, `members`; list items of objects as `path[i]`.
    pub path: String,
    pub class: ChangeClass,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// An element named by id, with its display name (for a removed element: the old one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementRef {
    pub id: String,
    pub name: String,
}

/// An element present in both models, matched by id, whose fields differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedElement {
    pub id: String,
    /// The new display name (the rename, if any, is in `fields`).
    pub name: String,
    pub fields: Vec<FieldChange>,
}

impl ChangedElement {
    /// Whether any declared control or security attribute of this element changed.
    pub fn controls_changed(&self) -> bool {
        self.fields.iter().any(|f| f.class == ChangeClass::Control)
    }
}

/// Added, removed and changed elements of one kind. Added and changed follow the new model's
/// order, removed the old model's, so the output is deterministic.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ElementChanges {
    pub added: Vec<ElementRef>,
    pub removed: Vec<ElementRef>,
    pub changed: Vec<ChangedElement>,
}

impl ElementChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Everything that differs between two system models.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelDiff {
    /// Top-level changes: `version`, `product.*`, `notes` (class always `other`).
    pub system: Vec<FieldChange>,
    pub components: ElementChanges,
    pub flows: ElementChanges,
    pub trust_boundaries: ElementChanges,
    pub data: ElementChanges,
}

impl ModelDiff {
    pub fn is_empty(&self) -> bool {
        self.system.is_empty()
            && self.components.is_empty()
            && self.flows.is_empty()
            && self.trust_boundaries.is_empty()
            && self.data.is_empty()
    }
}

/// The element lists of [`SystemModel`]'s serialised form; everything else is `system`.
const ELEMENT_LISTS: [&str; 4] = ["components", "data", "flows", "trust_boundaries"];

/// Compares two models. Elements are matched by id; when a model repeats an id (a model that
/// failed validation), the first element with that id is used and the rest are ignored.
pub fn diff_models(old: &SystemModel, new: &SystemModel) -> ModelDiff {
    ModelDiff {
        system: system_changes(old, new),
        components: element_changes(
            ElementType::Component,
            &old.components,
            &new.components,
            |c| (c.id.as_str(), c.name.clone()),
        ),
        flows: element_changes(ElementType::Flow, &old.flows, &new.flows, |f| {
            (f.id.as_str(), f.display_name())
        }),
        trust_boundaries: element_changes(
            ElementType::TrustBoundary,
            &old.trust_boundaries,
            &new.trust_boundaries,
            |b| (b.id.as_str(), b.name.clone()),
        ),
        data: element_changes(ElementType::DataAsset, &old.data, &new.data, |d| {
            (d.id.as_str(), d.name.clone())
        }),
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    // Model types serialise to JSON without fail (string keys only); `Null` would compare as
    // "absent" rather than panic if that ever changed.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn changes(element: ElementType, old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut leaves = Vec::new();
    walk("", Some(old), Some(new), &mut leaves);
    leaves
        .into_iter()
        .map(|(path, old, new)| FieldChange {
            class: classify(element, &path),
            path,
            old,
            new,
        })
        .collect()
}

fn system_changes(old: &SystemModel, new: &SystemModel) -> Vec<FieldChange> {
    let strip = |m: &SystemModel| {
        let mut v = to_value(m);
        if let Some(o) = v.as_object_mut() {
            for k in ELEMENT_LISTS {
                o.remove(k);
            }
        }
        v
    };
    changes(ElementType::System, &strip(old), &strip(new))
}

fn element_changes<'a, T: Serialize>(
    element: ElementType,
    old: &'a [T],
    new: &'a [T],
    key: impl Fn(&'a T) -> (&'a str, String),
) -> ElementChanges {
    let mut old_by_id: HashMap<&str, &T> = HashMap::new();
    for e in old {
        old_by_id.entry(key(e).0).or_insert(e);
    }
    let mut out = ElementChanges::default();
    let mut seen_new: BTreeSet<&str> = BTreeSet::new();
    for e in new {
        let (id, name) = key(e);
        if !seen_new.insert(id) {
            continue;
        }
        match old_by_id.get(id) {
            None => out.added.push(ElementRef {
                id: id.to_string(),
                name,
            }),
            Some(o) => {
                let fields = changes(element, &to_value(*o), &to_value(e));
                if !fields.is_empty() {
                    out.changed.push(ChangedElement {
                        id: id.to_string(),
                        name,
                        fields,
                    });
                }
            }
        }
    }
    let mut seen_old: BTreeSet<&str> = BTreeSet::new();
    for e in old {
        let (id, name) = key(e);
        if seen_old.insert(id) && !seen_new.contains(id) {
            out.removed.push(ElementRef {
                id: id.to_string(),
                name,
            });
        }
    }
    out
}
