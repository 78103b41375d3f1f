//! The built-in rule set loads, lints clean, and drafts every example.
#![allow(clippy::unwrap_used)]

use tmc_engine::{DraftOptions, RuleSet, draft};

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn builtin_rules_load() {
    let set = RuleSet::builtin().unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(!set.is_empty());
}

#[test]
fn examples_draft() {
    let set = RuleSet::builtin().unwrap();
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let (parsed, _) = tmc_dsl::load_checked(&bytes, &path.display().to_string()).unwrap();
        let d = draft(&parsed.model, &set, &DraftOptions::default());
        assert!(
            !d.threats.is_empty(),
            "{} drafted no threats",
            path.display()
        );
    }
}

/// Runs every rule test in `rules/tests/`.
#[test]
fn rule_tests_pass() {
    let set = RuleSet::builtin().unwrap();
    let dir = repo().join("rules/tests");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut failures = Vec::new();
    let mut cases = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let file = tmc_engine::ruletest::parse_tests(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in file.tests {
            cases += 1;
            let model = match (&case.inline, &case.model) {
                (Some(m), _) => m.clone(),
                (None, Some(rel)) => {
                    let p = path.parent().unwrap().join(rel);
                    let bytes =
                        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    tmc_dsl::load_checked(&bytes, &p.display().to_string())
                        .unwrap_or_else(|e| panic!("{e}"))
                        .0
                        .model
                }
                (None, None) => panic!("{}: case `{}` has no model", path.display(), case.name),
            };
            let d = draft(&model, &set, &DraftOptions::default());
            for f in tmc_engine::ruletest::check(&d, &case) {
                failures.push(format!("{}: {f}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn load_example(name: &str) -> tmc_model::SystemModel {
    let path = repo().join("examples").join(name);
    let bytes = std::fs::read(&path).unwrap();
    tmc_dsl::load_checked(&bytes, name).unwrap().0.model
}

/// STRIDE per element: over the examples, every STRIDE letter that applies to an element kind is
/// drafted on some element of that kind (external entity S,R; process STRIDE; data store TRID;
/// flow TID). Fails if a rule file is removed or a category loses its last rule.
#[test]
fn stride_per_element_coverage_over_examples() {
    use std::collections::{BTreeSet, HashMap};
    use tmc_model::{ElementKind, TargetKind};
    let set = RuleSet::builtin().unwrap();
    let mut seen: BTreeSet<(String, char)> = BTreeSet::new();
    for name in [
        "webshop-payments.yaml",
        "hr-saas-sso.yaml",
        "mobile-banking.yaml",
        "iot-telemetry.yaml",
        "rag-chatbot.yaml",
        "cicd-platform.yaml",
    ] {
        let model = load_example(name);
        let kinds: HashMap<&str, ElementKind> = model
            .components
            .iter()
            .map(|c| (c.id.as_str(), c.kind))
            .collect();
        let d = draft(&model, &set, &DraftOptions::default());
        for t in &d.threats {
            for target in &t.targets {
                let kind = match target.kind {
                    TargetKind::Component => kinds[target.id.as_str()].as_str().to_string(),
                    TargetKind::Flow => "flow".to_string(),
                    _ => continue,
                };
                for s in &t.stride {
                    seen.insert((kind.clone(), s.letter()));
                }
            }
        }
    }
    let expected = [
        ("external-entity", "SR"),
        ("process", "STRIDE"),
        ("data-store", "TRID"),
        ("flow", "TID"),
    ];
    let mut missing = Vec::new();
    for (kind, letters) in expected {
        for l in letters.chars() {
            if !seen.contains(&(kind.to_string(), l)) {
                missing.push(format!("{kind}:{l}"));
            }
        }
    }
    assert!(missing.is_empty(), "no threat drafted for {missing:?}");
}

/// Every technology in the DSL catalogue (but `other`) is named by at least one rule condition.
#[test]
fn every_technology_has_a_rule() {
    let set = RuleSet::builtin().unwrap();
    let conditions: String = set
        .rules()
        .iter()
        .map(|r| r.spec.when.clone())
        .collect::<Vec<_>>()
        .join("\n");
    let missing: Vec<&str> = tmc_model::Technology::ALL
        .iter()
        .map(|t| t.as_str())
        .filter(|t| *t != "other" && !conditions.contains(&format!("\"{t}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "technologies without a rule: {missing:?}"
    );
    assert!(set.len() >= 120, "at least 120 rules, found {}", set.len());
}

/// A model that triggers nothing is a valid, empty draft, not an error.
#[test]
fn quiet_model_gives_empty_draft() {
    let text = "version: 1\nproduct:\n  name: Static brochure\ncomponents:\n  - id: page\n    name: Brochure page\n    kind: data-store\n    technology: file-storage\n    in_scope: false\n";
    let (parsed, _) = tmc_dsl::load_checked(text.as_bytes(), "quiet.yaml").unwrap();
    let d = draft(
        &parsed.model,
        &RuleSet::builtin().unwrap(),
        &DraftOptions::default(),
    );
    assert!(d.threats.is_empty());
    assert!(d.coverage.is_empty());
    assert!(d.generator.rules_loaded >= 120);
}

/// No declared control is contradicted: a threat that survives must not be one whose rule lists
/// a suppressing control that holds for its target (the engine moves those to `suppressed`).
#[test]
fn suppressed_threats_name_their_control() {
    let set = RuleSet::builtin().unwrap();
    let model = load_example("hr-saas-sso.yaml");
    let d = draft(&model, &set, &DraftOptions::default());
    let live: std::collections::HashSet<&str> = d.threats.iter().map(|t| t.id.as_str()).collect();
    for s in &d.suppressed {
        assert!(!s.reason.trim().is_empty(), "{} has no reason", s.id);
        assert!(
            !live.contains(s.id.as_str()),
            "{} is both live and suppressed",
            s.id
        );
    }
    for t in &d.threats {
        if let Some(why) = &t.severity.downgraded_by {
            assert!(!why.trim().is_empty());
        }
    }
}

/// A threat without a CWE cannot be mapped to requirements, merged with its twin from another
/// rule, or checked against the interface it needs: every built-in rule names one.
#[test]
fn every_builtin_rule_carries_a_cwe() {
    let set = RuleSet::builtin().unwrap();
    let missing: Vec<&str> = set
        .rules()
        .iter()
        .filter(|r| r.references.cwe.is_empty())
        .map(|r| r.spec.id.as_str())
        .collect();
    assert!(missing.is_empty(), "rules without a CWE: {missing:?}");
}
