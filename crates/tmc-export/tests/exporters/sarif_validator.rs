//! Microsoft's SARIF validator (`Sarif.Multitool validate`) on what we export: every example
//! drafted from an ABSOLUTE path (the case that once gave SARIF1004 errors), plus a reviewed
//! draft with every status and hostile text. Zero errors and zero warnings, or the test fails
//! with the validator's own messages.
//!
//! The validator is a .NET binary from npm; `scripts/sarif-validator.sh` installs it and prints
//! its path: `TMC_TEST_SARIF_VALIDATOR=$(bash scripts/sarif-validator.sh) cargo test -p
//! tmc-export`. Without the variable the test says it skipped and passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tmc_export::{ExportOptions, Format, export};

use crate::common;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Element id → (line, column), as the CLI computes them for SARIF.
fn positions(parsed: &tmc_dsl::ParsedModel) -> BTreeMap<String, (u64, u64)> {
    let m = &parsed.model;
    let idx = &parsed.index;
    let mut out = BTreeMap::new();
    let mut add = |ids: Vec<&String>, pos: &[tmc_dsl::load::ElementPos]| {
        for (id, p) in ids.into_iter().zip(pos) {
            if p.id.line > 0 {
                out.insert(id.clone(), (p.id.line, p.id.column));
            }
        }
    };
    add(
        m.components.iter().map(|c| &c.id).collect(),
        &idx.components,
    );
    add(m.flows.iter().map(|f| &f.id).collect(), &idx.flows);
    add(m.data.iter().map(|d| &d.id).collect(), &idx.data);
    add(
        m.trust_boundaries.iter().map(|b| &b.id).collect(),
        &idx.trust_boundaries,
    );
    out
}

/// (name, SARIF text) for every example drafted from its absolute path, and the reviewed
/// fixture (exported both inside a root and with no root at all).
pub fn exports() -> Vec<(String, String)> {
    let root = repo_root();
    let rules = tmc_engine::RuleSet::builtin().unwrap();
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 5, "examples not found under {root:?}");
    let mut out = Vec::new();
    for path in examples {
        assert!(path.is_absolute());
        let file = path.display().to_string();
        let (parsed, _) = tmc_dsl::load_checked(&std::fs::read(&path).unwrap(), &file).unwrap();
        let opts = tmc_engine::DraftOptions {
            min_severity: None,
            source_file: Some(file.clone()),
        };
        let draft = tmc_engine::draft(&parsed.model, &rules, &opts);
        assert!(!draft.threats.is_empty(), "{file}: no threats");
        let options = ExportOptions {
            model_uri: file.clone(),
            positions: positions(&parsed),
            repo_root: Some(root.clone()),
        };
        let bytes = export(Format::Sarif, &parsed.model, &draft, &options).unwrap();
        out.push((
            path.file_stem().unwrap().to_string_lossy().into_owned(),
            String::from_utf8(bytes).unwrap(),
        ));
    }
    let model = common::model("hostile");
    let draft = common::reviewed_draft();
    for (name, root) in [
        ("reviewed-in-root", Some(PathBuf::from("/abs/checkout"))),
        ("reviewed-no-root", None),
    ] {
        let options = ExportOptions {
            model_uri: draft.source_file.clone().unwrap(),
            positions: BTreeMap::from([("api".to_string(), (17, 5))]),
            repo_root: root,
        };
        let bytes = export(Format::Sarif, &model, &draft, &options).unwrap();
        out.push((name.to_string(), String::from_utf8(bytes).unwrap()));
    }
    out
}

/// Runs the validator on one log; returns its errors and warnings as lines (notes go to
/// stderr: they are advice such as "provide code snippets", not failures).
fn validate(validator: &std::ffi::OsStr, dir: &Path, name: &str, text: &str) -> Vec<String> {
    let input = dir.join(format!("{name}.sarif"));
    let log = dir.join(format!("{name}.validation.sarif"));
    std::fs::write(&input, text).unwrap();
    // The log path is new (fresh temporary directory), so no `--log ForceOverwrite`: that
    // option takes a list and would swallow a following file argument.
    let o = Command::new(validator)
        .arg("validate")
        .arg(&input)
        // The SARIF rules and GitHub code scanning's own (GH1xxx).
        .arg("--rule-kind")
        .arg("Sarif;Gh")
        .arg("--output")
        .arg(&log)
        .output()
        .unwrap();
    let report: Value = match std::fs::read_to_string(&log) {
        Ok(s) => serde_json::from_str(s.trim_start_matches('\u{feff}')).unwrap(),
        Err(e) => panic!(
            "{name}: validator wrote no log ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    };
    let mut problems = Vec::new();
    for run in report["runs"].as_array().unwrap() {
        for inv in run["invocations"].as_array().into_iter().flatten() {
            assert_eq!(
                inv["executionSuccessful"], true,
                "{name}: validator run failed: {inv:#}"
            );
        }
        for r in run["results"].as_array().into_iter().flatten() {
            // SARIF's default level is "warning" when a result omits it.
            let level = r["level"].as_str().unwrap_or("warning");
            let rule = r["ruleId"].as_str().unwrap_or("?");
            let line = format!("{name}: {level} {rule}: {}", r["message"]["arguments"]);
            if level == "error" || level == "warning" {
                problems.push(line);
            } else {
                eprintln!("{line}");
            }
        }
    }
    problems
}

#[test]
fn microsoft_sarif_validator_reports_no_errors_or_warnings() {
    let Some(validator) = std::env::var_os("TMC_TEST_SARIF_VALIDATOR") else {
        println!(
            "skipped: set TMC_TEST_SARIF_VALIDATOR to the Sarif.Multitool binary (bash scripts/sarif-validator.sh prints it)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The harness sees problems: a log whose driver lacks informationUri and version draws
    // SARIF2005 warnings.
    let bare = r#"{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{"tool":{"driver":{"name":"x"}},"results":[]}]}"#;
    let seen = validate(&validator, dir.path(), "bare", bare);
    assert!(
        seen.iter().any(|p| p.contains("SARIF2005")),
        "validator output not understood: {seen:?}"
    );
    let mut problems = Vec::new();
    let mut checked = 0;
    for (name, text) in exports() {
        problems.extend(validate(&validator, dir.path(), &name, &text));
        checked += 1;
    }
    assert!(checked >= 7);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
