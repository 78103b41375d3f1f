#![allow(clippy::unwrap_used)]
//! Runs every case of `tests/data/keyword-cases.yaml` through the keyword table.
//!
//! The cases include every keyword of the two tables that `data/keywords.yaml` replaced, so a
//! change to the file that loses one of their answers fails here unless the case is changed
//! too, on purpose and with a `was:` saying what it used to be.

use std::collections::BTreeMap;

use serde::Deserialize;
use tmc_import::keywords::{self, TextKind};
use tmc_model::{ElementKind, Protocol, Technology};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    technology: Vec<TechnologyCase>,
    protocol: Vec<ProtocolCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TechnologyCase {
    label: String,
    technology: Option<Technology>,
    kind: Option<ElementKind>,
    #[serde(default)]
    was: BTreeMap<OldTable, Option<Technology>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtocolCase {
    label: String,
    /// Expected from a protocol field.
    protocol: Option<Protocol>,
    /// Expected from prose, when it differs from `protocol`; `Some(None)` is "nothing".
    #[serde(default, deserialize_with = "present")]
    prose: Option<Option<Protocol>>,
    #[serde(default)]
    was: BTreeMap<OldTable, Option<Protocol>>,
}

/// Tells an explicit `prose: null` (expect nothing) from an absent `prose` (same as protocol).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum OldTable {
    Builder,
    BuilderProse,
    Diagram,
}

fn cases() -> Cases {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/keyword-cases.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn technology_cases() {
    let cases = cases();
    assert!(cases.technology.len() > 300, "the case file lost its cases");
    let mut failures = Vec::new();
    for c in &cases.technology {
        let got = keywords::technology(&c.label);
        if got != c.technology {
            failures.push(format!(
                "{:?}: expected {:?}, got {:?}",
                c.label, c.technology, got
            ));
        }
        let kind = got.map(Technology::default_kind);
        if kind != c.kind {
            failures.push(format!(
                "{:?}: expected kind {:?}, got {:?}",
                c.label, c.kind, kind
            ));
        }
        for (table, old) in &c.was {
            if *old == c.technology {
                failures.push(format!(
                    "{:?}: `was` for {table:?} equals the expected answer; drop it",
                    c.label
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn protocol_cases() {
    let cases = cases();
    assert!(cases.protocol.len() > 80, "the case file lost its cases");
    let mut failures = Vec::new();
    for c in &cases.protocol {
        let prose = c.prose.unwrap_or(c.protocol);
        let field = keywords::protocol(&c.label, TextKind::ProtocolField);
        let in_prose = keywords::protocol(&c.label, TextKind::Prose);
        if field != c.protocol {
            failures.push(format!(
                "{:?} as a protocol field: expected {:?}, got {:?}",
                c.label, c.protocol, field
            ));
        }
        if in_prose != prose {
            failures.push(format!(
                "{:?} in prose: expected {prose:?}, got {in_prose:?}",
                c.label
            ));
        }
        for (table, old) in &c.was {
            let now = match table {
                OldTable::Builder => c.protocol,
                OldTable::BuilderProse | OldTable::Diagram => prose,
            };
            if *old == now {
                failures.push(format!(
                    "{:?}: `was` for {table:?} equals the expected answer; drop it",
                    c.label
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
