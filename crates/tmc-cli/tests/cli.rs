//! End-to-end tests of the `tmc` binary: real processes, real files, real exit codes.
//! Draft snapshots live in tests/snapshots/ beside their inputs in examples/; run with
//! `UPDATE_EXPECT=1` to rewrite them after an intended change, then review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bench() -> PathBuf {
    repo().join("../shared/bench")
}

/// Tests that read `../shared/bench` skip (with a message) in a clone without it, instead of
/// failing: the benchmark is shared data beside the repository, not part of it.
fn no_bench(test: &str) -> bool {
    let missing = !bench().join("references.jsonl").exists();
    if missing {
        eprintln!("SKIPPED {test}: ../shared/bench not found beside the repository");
    }
    missing
}

fn tmc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tmc"))
        .args(args)
        .current_dir(repo())
        .env_remove("TMC_CONFIG")
        .env("TMC_DATA_DIR", std::env::temp_dir().join("tmc-cli-tests"))
        .output()
        .expect("run tmc")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn init_then_validate_then_draft() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tm.yaml");
    let m = model.to_str().unwrap();
    let o = tmc(&["init", "--name", "Ledger: \"core\"", "--no-input", "-o", m]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&model).unwrap();
    assert!(
        text.contains("Ledger: \\\"core\\\""),
        "name is quoted safely: {text}"
    );
    let o = tmc(&["validate", m]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A second init must not overwrite the work.
    let o = tmc(&["init", "--no-input", "-o", m]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("already exists"));
    let o = tmc(&["draft", m, "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let draft: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(draft["product"]["name"], "Ledger: \"core\"");
}

#[test]
fn validate_reports_place_and_exit_code() {
    let o = tmc(&["validate", "tests/fixtures/invalid/flow-to-nowhere.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("tests/fixtures/invalid/flow-to-nowhere.yaml:"),
        "file named: {err}"
    );
    assert!(err.contains("flow-to-nowhere"), "{err}");
    let o = tmc(&[
        "validate",
        "--format",
        "json",
        "tests/fixtures/invalid/duplicate-id.yaml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ok"], false);
    let first = &v["diagnostics"][0];
    assert_eq!(first["code"], "duplicate-id");
    assert!(first["line"].as_u64().unwrap() > 0);
}

#[test]
fn examples_validate_and_drafts_match_snapshots() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut mismatches = Vec::new();
    let mut examples: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 5);
    for path in examples {
        let rel = format!("examples/{}", path.file_name().unwrap().to_str().unwrap());
        let o = tmc(&["validate", "--deny-warnings", &rel]);
        let lint_ok = o.status.success();
        let o = tmc(&["validate", &rel]);
        assert!(o.status.success(), "{rel}: {}", stderr(&o));
        let _ = lint_ok; // warnings are allowed in examples; errors are not
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        for (fmt, ext) in [("md", "md"), ("json", "json")] {
            let o = tmc(&["draft", &rel, "--format", fmt]);
            assert!(o.status.success(), "{rel}: {}", stderr(&o));
            let got = stdout(&o);
            let snap = repo()
                .join("tests/snapshots")
                .join(format!("{stem}.draft.{ext}"));
            if update {
                std::fs::write(&snap, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&snap).unwrap_or_default();
            if want != got {
                mismatches.push(snap.display().to_string());
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "drafts changed (review, then rerun with UPDATE_EXPECT=1): {mismatches:?}"
    );
}

#[test]
fn draft_json_has_provenance_and_stable_ids() {
    let o = tmc(&["draft", "examples/rag-chatbot.yaml", "--format", "json"]);
    assert!(o.status.success());
    let d: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let threats = d["threats"].as_array().unwrap();
    assert!(threats.len() > 10);
    let mut ids = std::collections::HashSet::new();
    for t in threats {
        assert!(
            ids.insert(t["id"].as_str().unwrap().to_string()),
            "duplicate id {}",
            t["id"]
        );
        assert_eq!(t["provenance"]["source"], "rule");
        let rule = t["provenance"]["rule_id"].as_str().unwrap();
        assert!(t["id"].as_str().unwrap().starts_with(&format!("{rule}@")));
        assert!(
            !t["severity"]["factors"].as_array().unwrap().is_empty()
                || t["severity"]["score"].as_u64().unwrap() > 0
        );
    }
    // An LLM chatbot with tools must get prompt-injection and agency threats.
    let llm: Vec<&str> = threats
        .iter()
        .flat_map(|t| {
            t["references"]["owasp_llm_2025"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_string))
        .map(|s| Box::leak(s.into_boxed_str()) as &str)
        .collect();
    assert!(llm.contains(&"LLM01"), "prompt injection expected: {llm:?}");
    assert!(llm.contains(&"LLM06"), "excessive agency expected: {llm:?}");
    // Re-drafting gives the same ids (reviews attach to them).
    let o2 = tmc(&["draft", "examples/rag-chatbot.yaml", "--format", "json"]);
    let d2: serde_json::Value = serde_json::from_str(&stdout(&o2)).unwrap();
    let ids2: std::collections::HashSet<String> = d2["threats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ids2);
}

#[test]
fn min_severity_filters() {
    let all = tmc(&[
        "draft",
        "examples/webshop-payments.yaml",
        "--format",
        "json",
    ]);
    let high = tmc(&[
        "draft",
        "examples/webshop-payments.yaml",
        "--format",
        "json",
        "--min-severity",
        "high",
    ]);
    let a: serde_json::Value = serde_json::from_str(&stdout(&all)).unwrap();
    let h: serde_json::Value = serde_json::from_str(&stdout(&high)).unwrap();
    let h_threats = h["threats"].as_array().unwrap();
    assert!(h_threats.len() < a["threats"].as_array().unwrap().len());
    assert!(
        h_threats
            .iter()
            .all(|t| ["high", "critical"].contains(&t["severity"]["level"].as_str().unwrap()))
    );
    let bad = tmc(&[
        "draft",
        "examples/webshop-payments.yaml",
        "--min-severity",
        "severe",
    ]);
    assert!(!bad.status.success());
}

#[test]
fn organisation_rules_override_and_lint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("org.yaml"),
        r#"rules:
  - id: ORG-001
    title: "Unreviewed vendor {component.name}"
    stride: [S]
    target: component
    when: component.technology == "llm"
    description: "{component.name} has not been through vendor review."
    likelihood: 2
    impact: 2
    mitigations:
      - id: M-ORG-VENDOR
        text: Run the vendor questionnaire.
    references:
      cwe: [1357]
      owasp_top10_2021: [A06]
      owasp_top10_2025: [A03]
"#,
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let o = tmc(&[
        "draft",
        "examples/rag-chatbot.yaml",
        "--format",
        "json",
        "--rules",
        d,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ORG-001@"));
    let o = tmc(&["rules", "lint", "--rules", d]);
    assert!(stderr(&o).contains("rules:"), "{}", stderr(&o));
    // A broken organisation rule names file, line and rule id.
    std::fs::write(
        dir.path().join("broken.yaml"),
        "rules:\n  - id: ORG-002\n    title: x\n    stride: [S]\n    target: component\n    when: component.technolgy == \"llm\"\n    description: x\n    likelihood: 2\n    impact: 2\n",
    )
    .unwrap();
    let o = tmc(&["rules", "list", "--rules", d]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("broken.yaml:2"), "{err}");
    assert!(err.contains("ORG-002"), "{err}");
    assert!(err.contains("did you mean `component.technology`"), "{err}");
}

#[test]
fn builtin_rules_lint_clean_and_tests_pass() {
    let o = tmc(&["rules", "lint"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tmc(&["rules", "test", "rules/tests"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains(" passed, 0 failed"));
}

#[test]
fn export_sarif_has_one_result_per_threat_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let draft = dir.path().join("d.json");
    let o = tmc(&[
        "draft",
        "examples/iot-telemetry.yaml",
        "-o",
        draft.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tmc(&["export", draft.to_str().unwrap(), "--to", "sarif"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sarif: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let d: serde_json::Value = serde_json::from_slice(&std::fs::read(&draft).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let unsuppressed = results
        .iter()
        .filter(|r| r.get("suppressions").is_none())
        .count();
    assert_eq!(unsuppressed, d["threats"].as_array().unwrap().len());
    let with_lines = results
        .iter()
        .filter(|r| {
            r["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap_or(0)
                > 1
        })
        .count();
    assert!(
        with_lines * 2 > results.len(),
        "most results point at their element's line"
    );
}

#[test]
fn import_drawio_png_gives_the_right_model() {
    let png = repo().join("crates/tmc-import/tests/fixtures/drawio/shop.drawio.png");
    if !png.exists() {
        panic!("fixture missing: {}", png.display());
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.yaml");
    let o = tmc(&["import", png.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tmc(&["validate", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("# Confirm these guesses"),
        "notes kept for a person"
    );
    assert!(
        text.contains("kind: data-store"),
        "the cylinder is a data store"
    );
    assert!(
        text.contains("object-storage"),
        "the S3 icon is object storage"
    );
}

#[test]
fn eval_prints_every_system_and_the_summary() {
    if no_bench("eval_prints_every_system_and_the_summary") {
        return;
    }
    let b = bench();
    let o = tmc(&["eval", "--bench", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for system in [
        "Demo Threat Model",
        "Husky AI",
        "Sample Generative AI Chatbot",
    ] {
        assert!(out.contains(system), "{system} missing from:\n{out}");
    }
    assert!(stderr(&o).contains("eval summary (mode rules, offline)"));
    assert!(out.contains("not judged"));
    // Model modes without a provider fail clearly (usage error) rather than print zeros.
    let o = tmc(&["eval", "--bench", b.to_str().unwrap(), "--mode", "llm"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--provider"), "{}", stderr(&o));
    let o = tmc(&[
        "eval",
        "--calibrate",
        "uavthreatbench",
        "--bench",
        b.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!((c["matched_pct"].as_f64().unwrap() - 87.0).abs() <= 3.0);
    assert!((c["perfect_pct"].as_f64().unwrap() - 46.0).abs() <= 3.0);
}

#[test]
fn eval_save_and_compare() {
    if no_bench("eval_save_and_compare") {
        return;
    }
    let b = bench();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    for _ in 0..2 {
        let o = tmc(&[
            "eval",
            "-q",
            "--bench",
            b.to_str().unwrap(),
            "--system",
            "Husky",
            "--save",
            a.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let lines = std::fs::read_to_string(&a).unwrap();
    assert_eq!(lines.lines().count(), 2);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["mode"], "rules");
    assert!(first["date"].as_str().unwrap().ends_with('Z'));
    let o = tmc(&[
        "eval",
        "--compare",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("expert.recall"));
    assert!(stdout(&o).contains("+0.0"));
}

#[test]
fn schema_validates_shape() {
    let o = tmc(&["schema"]);
    let s: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(s["properties"]["components"].is_object());
    let o = tmc(&["schema", "draft"]);
    let s: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(s["properties"]["threats"].is_object());
}

#[test]
fn huge_and_binary_inputs_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    // A sparse file just over the model size limit: refused from its length, before reading.
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(tmc_dsl::MAX_MODEL_BYTES as u64 + 1).unwrap();
    drop(f);
    let o = tmc(&["validate", big.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("limit"));
    let bin = dir.path().join("bin.yaml");
    std::fs::write(&bin, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let o = tmc(&["draft", bin.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("UTF-8"), "{}", stderr(&o));
    let o = tmc(&["import", bin.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

/// `--matcher embedding` with the real MiniLM weights (TMC_TEST_MINILM_DIR, set by
/// scripts/services.sh): the decision rule is recorded, and the control — drafts scored against
/// another system's references — stays below the real figures.
#[test]
fn eval_embedding_matcher_records_its_rule_and_its_control_is_lower() {
    if no_bench("eval_embedding_matcher_records_its_rule_and_its_control_is_lower") {
        return;
    }
    let b = bench();
    let o = tmc(&[
        "eval",
        "--bench",
        b.to_str().unwrap(),
        "--matcher",
        "embedding",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--embeddings-dir"), "{}", stderr(&o));
    let Some(dir) = std::env::var_os("TMC_TEST_MINILM_DIR") else {
        eprintln!("SKIPPED: TMC_TEST_MINILM_DIR not set (scripts/services.sh fetches the weights)");
        return;
    };
    let o = tmc(&[
        "eval",
        "--bench",
        b.to_str().unwrap(),
        "--matcher",
        "embedding",
        "--embeddings-dir",
        dir.to_str().unwrap(),
        "--control",
        "--format",
        "json",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rule = report["systems"][0]["similarity"].as_str().unwrap();
    assert!(rule.starts_with("embedding cosine (local:"), "{rule}");
    assert!(rule.contains("threshold 0.40"), "{rule}");
    let recall = |line: &str| -> f64 {
        let rest = line.split("recall ").nth(1).unwrap();
        rest.split('%').next().unwrap().parse().unwrap()
    };
    let real = err.lines().find(|l| l.starts_with("eval summary")).unwrap();
    let control = err.lines().find(|l| l.starts_with("control")).unwrap();
    assert!(
        recall(control) < recall(real),
        "control {control}\nreal {real}"
    );
}
