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
