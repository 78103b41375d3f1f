//! YAML budgets (issue 14): they stop alias bombs without capping honest models. A big model
//! generated in memory loads with the defaults; past a limit the error names the limit, the count
//! reached, the option that raises it, and where in the file the parser was.

use std::time::{Duration, Instant};

use tmc_dsl::{LoadOptions, MAX_MODEL_BYTES, load_checked, load_checked_with};

mod support;
use support::synthetic::synthetic_yaml;

fn first_error(bytes: &[u8], options: &LoadOptions) -> tmc_dsl::Diagnostic {
    match load_checked_with(bytes, "big.yaml", options) {
        Ok(_) => panic!("expected the model to be refused"),
        Err(e) => e.0.into_iter().next().expect("at least one error"),
    }
}

#[test]
fn fifty_thousand_components_load_with_the_default_budgets() {
    let text = synthetic_yaml(50_000);
    assert!(
        text.len() < MAX_MODEL_BYTES,
        "generator drifted: {} bytes",
        text.len()
    );
    let (parsed, _warnings) = match load_checked(text.as_bytes(), "big.yaml") {
        Ok(x) => x,
        Err(e) => panic!("50 000 components refused: {}", e.0[0]),
    };
    assert_eq!(parsed.model.components.len(), 50_000);
    assert_eq!(parsed.model.flows.len(), 150_000);
    // Positions survive at this size too (the location pass has the same budgets).
    let last = parsed.index.flows.last().expect("flow positions");
    assert!(last.id.line > 1_000_000, "last flow at {:?}", last.id);
    assert_eq!(parsed.index.components.len(), 50_000);
}

#[test]
fn past_the_node_limit_the_error_names_limit_count_flag_and_place() {
    let text = synthetic_yaml(1_000);
    let small = LoadOptions {
        max_yaml_nodes: 10_000,
        ..LoadOptions::default()
    };
    let d = first_error(text.as_bytes(), &small);
    assert_eq!(d.code, "yaml-budget", "{d}");
    assert!(d.message.contains("more than 10000 nodes"), "{}", d.message);
    assert!(d.message.contains("reached 10001"), "{}", d.message);
    let help = d.help.as_deref().unwrap_or_default();
    assert!(help.contains("--max-yaml-nodes 20002"), "{help}");
    assert!(help.contains("max_yaml_nodes"), "{help}");
    // The 10 001st node is well into the components list, not at the top of the file.
    assert!(d.line > 100, "position {}:{}", d.line, d.column);
    assert!(d.column > 0);
    assert_eq!(d.file, "big.yaml");

    // Raising the limit is all it takes.
    let raised = LoadOptions {
        max_yaml_nodes: 200_000,
        ..LoadOptions::default()
    };
    assert!(load_checked_with(text.as_bytes(), "big.yaml", &raised).is_ok());
}

#[test]
fn default_node_budget_is_far_above_the_old_cap() {
    // The old budget refused 250 001 nodes, i.e. about 3 000 components; the headline
    // model is 10 000.
    assert!(load_checked(synthetic_yaml(10_000).as_bytes(), "10k.yaml").is_ok());
}

#[test]
fn file_size_limit_is_an_option_with_a_hint() {
    let text = synthetic_yaml(100);
    let tiny = LoadOptions {
        max_model_bytes: 1_000,
        ..LoadOptions::default()
    };
    let d = first_error(text.as_bytes(), &tiny);
    assert_eq!(d.code, "file-too-large");
    assert!(d.message.contains("limited to 1000 bytes"), "{}", d.message);
    assert!(
        d.help
            .as_deref()
            .unwrap_or_default()
            .contains("max_model_bytes"),
        "{d:?}"
    );
}

#[test]
fn alias_bomb_fails_fast_with_the_budget_named() {
    // Via an alias in a place the model accepts (a component's tags), so only the alias
    // budget can stop it.
    let mut s = String::from("version: 1\nproduct:\n  name: Bomb\ncomponents:\n");
    s.push_str("  - id: a\n    name: A\n    kind: process\n    technology: worker\n    tags: &t [");
    s.push_str(&vec!["lol"; 1_000].join(","));
    s.push_str("]\n");
    for i in 0..200 {
        s.push_str(&format!(
            "  - id: b{i}\n    name: B\n    kind: process\n    technology: worker\n    tags: *t\n"
        ));
    }
    // 200 expansions of 1 002 events: over a 100 000-event alias budget.
    let started = Instant::now();
    let d = first_error(s.as_bytes(), &LoadOptions::default());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(d.code, "yaml-budget", "{d}");
    assert!(d.message.contains("at most 100000 events"), "{}", d.message);
    assert!(d.line > 5, "{d}");
    assert!(
        d.help
            .as_deref()
            .unwrap_or_default()
            .contains("max_alias_events"),
        "{d:?}"
    );
    // ... and a generous alias budget lets the same (honest, if odd) file load.
    let generous = LoadOptions {
        max_alias_events: 1_000_000,
        ..LoadOptions::default()
    };
    if let Err(e) = load_checked_with(s.as_bytes(), "t.yaml", &generous) {
        panic!("refused with a generous alias budget: {}", e.0[0]);
    }
}
