//! `attribute_names_are_documented`: the attribute table in `src/attrs.rs` and the one in
//! `docs/rules.md` list the same names, so a rule author reading the docs sees every attribute
//! a condition may use, and nothing that would be a load error.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use tmc_engine::attrs::{Attr, TargetType};

/// The backticked names in the first column of the tables under `## Attributes`.
fn documented(doc: &str) -> BTreeSet<String> {
    let start = doc
        .find("\n## Attributes")
        .expect("docs/rules.md has `## Attributes`");
    let section = &doc[start + 1..];
    let end = section[1..].find("\n## ").map_or(section.len(), |e| e + 1);
    section[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name.to_string()))
        .collect()
}

/// Every attribute path the engine resolves, except `flow.source.*` / `flow.destination.*`,
/// which are the component attributes again (the docs say so in one sentence).
fn engine_paths() -> BTreeSet<String> {
    [TargetType::Component, TargetType::Flow, TargetType::Data]
        .into_iter()
        .flat_map(Attr::all_paths)
        .filter(|p| !p.starts_with("flow.source.") && !p.starts_with("flow.destination."))
        .collect()
}

#[test]
fn attribute_names_are_documented() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let docs = documented(&doc);
    let engine = engine_paths();
    assert!(engine.len() > 50, "attribute table looks empty: {engine:?}");

    let undocumented: Vec<&String> = engine.difference(&docs).collect();
    let unknown: Vec<&String> = docs.difference(&engine).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{}: attribute tables out of step with crates/tmc-engine/src/attrs.rs\n\
         in the engine, missing from the docs: {undocumented:?}\n\
         in the docs, unknown to the engine: {unknown:?}",
        path.display()
    );
    for role in ["flow.source.*", "flow.destination.*"] {
        assert!(
            doc.contains(&format!("`{role}`")),
            "docs/rules.md does not mention `{role}`"
        );
    }
    // Every documented path resolves for its target type (so the docs never teach a load error).
    for p in &docs {
        let target = match p.split('.').next() {
            Some("component") => TargetType::Component,
            Some("flow") => TargetType::Flow,
            Some("data") => TargetType::Data,
            _ => TargetType::Component, // product.* resolves for every target
        };
        assert!(
            Attr::resolve(p, target).is_some(),
            "docs/rules.md: `{p}` does not resolve"
        );
    }
}

#[test]
fn the_doc_parser_reads_tables_only() {
    let doc = "# R\n\n## Attributes\n\nprose `component.fake`\n\n| attribute | type |\n|---|---|\n\
               | `component.id` | Text |\n| `flow.local` | Bool |\n\n## Rule tests\n\n| `data.id` | Text |\n";
    let got: Vec<String> = documented(doc).into_iter().collect();
    assert_eq!(
        got,
        vec!["component.id".to_string(), "flow.local".to_string()]
    );
}
