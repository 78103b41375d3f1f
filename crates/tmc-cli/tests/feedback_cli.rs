//! Reviews teach the next draft (issue 12, point 8), through the real `tmc` binary.
//!
//! The walk: copy examples/webshop-payments.yaml, review three rule threats on its
//! `catalog-api` (an api-service process) with `tmc review` — reject one as not applicable with
//! a reason, override another's severity with a reason, accept a third — and `tmc kb ingest`
//! the model with its decisions file. Then draft `tests/data/feedback/clinic.yaml`, another
//! system whose `schedule-api` is the same technology and kind under other names, with and
//! without `--kb`, and compare: the only differences allowed are the ones listed in
//! `tests/data/feedback/after-one-review.json` (per threat: the severity it ends with and the
//! factors the knowledge base added). A second reviewed system that overrides the same rule
//! the same way (`after-two-reviews.json`) turns the shown override into a one-step move.
//! `{webshop}` and `{trade}` in the expected files stand for the knowledge-base source names
//! of the two reviewed models (they contain the temporary directory's path).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const REVIEWER: &str = "Feedback Tester";
const REJECT: &str = "TMC-API-002@catalog-api";
const REJECT_REASON: &str = "Every endpoint is read-only; there are no privileged functions.";
const OVERRIDE: &str = "TMC-IDP-003@catalog-api";
const OVERRIDE_REASON: &str = "Tokens are minted by our gateway and live five minutes.";
const SECOND_OVERRIDE_REASON: &str = "Only the warehouse scanners call it.";
const ACCEPT: &str = "TMC-TAMP-001@catalog-api";
const ACCEPT_REASON: &str = "Inputs are checked against the API schema at the gateway.";

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/feedback")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A temporary directory holding the models and the data directory (the knowledge base).
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/webshop-payments.yaml");
        std::fs::copy(example, env.path("webshop.yaml")).unwrap();
        std::fs::copy(data().join("clinic.yaml"), env.path("clinic.yaml")).unwrap();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tmc"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("TMC_CONFIG")
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("TMC_DATA_DIR", self.path("data"))
            .env("TMC_REVIEWER", REVIEWER)
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed; returns (stdout, stderr).
    fn ok(&self, args: &[&str]) -> (String, String) {
        let o = self.run(args);
        assert!(o.status.success(), "tmc {args:?}: {}", stderr(&o));
        let err = stderr(&o);
        (String::from_utf8(o.stdout).unwrap(), err)
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args).0).unwrap()
    }

    /// The knowledge-base source name of a reviewed model (`kb ingest` writes the reviewed
    /// draft under the data directory, named after the model's absolute path).
    fn source_name(&self, model: &str) -> String {
        let stats = self.json(&["kb", "stats", "--sources", "--format", "json"]);
        let suffix = format!("_{}.draft.json", model.replace('.', "_"));
        let names: Vec<&str> = stats["source_list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        let found = names.iter().find(|n| n.ends_with(&suffix));
        found
            .unwrap_or_else(|| panic!("no source for {model} in {names:?}"))
            .to_string()
    }
}

/// How a `--kb` draft differs from the plain draft, in the shape of the expected files: per
/// threat whose severity changed, the severity it ends with and the factors added after the
/// plain draft's. Fails if anything but the severity differs, if a factor was removed, or if a
/// threat was added or dropped: the knowledge base only adds evidence and moves severities.
fn changes(plain: &Value, kb: &Value) -> BTreeMap<String, Value> {
    let by_id = |d: &Value| -> BTreeMap<String, Value> {
        d["threats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_string(), t.clone()))
            .collect()
    };
    let (before, after) = (by_id(plain), by_id(kb));
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the knowledge base neither adds nor drops threats"
    );
    let mut out = BTreeMap::new();
    for (id, b) in &before {
        let a = &after[id];
        let mut a_rest = a.clone();
        let mut b_rest = b.clone();
        a_rest.as_object_mut().unwrap().remove("severity");
        b_rest.as_object_mut().unwrap().remove("severity");
        assert_eq!(a_rest, b_rest, "{id}: only the severity may change");
        if a["severity"] == b["severity"] {
            continue;
        }
        let (fa, fb) = (
            a["severity"]["factors"].as_array().unwrap(),
            b["severity"]["factors"].as_array().unwrap(),
        );
        assert_eq!(&fa[..fb.len()], &fb[..], "{id}: drafted factors are kept");
        let s = &a["severity"];
        out.insert(
            id.clone(),
            serde_json::json!({
                "level": s["level"], "likelihood": s["likelihood"], "impact": s["impact"],
                "score": s["score"], "added_factors": fa[fb.len()..],
            }),
        );
    }
    out
}

/// An expected-changes file with the source names filled in.
fn expected(file: &str, sources: &[(&str, &str)]) -> BTreeMap<String, Value> {
    let mut text = read(&data().join(file));
    for (placeholder, name) in sources {
        text = text.replace(placeholder, name);
    }
    serde_json::from_str(&text).unwrap()
}

/// Every threat text of a draft that a reader takes as being about this system.
fn threat_texts(draft: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for t in draft["threats"].as_array().unwrap() {
        out.push(t["title"].as_str().unwrap().to_string());
        out.push(t["description"].as_str().unwrap().to_string());
        for m in t["mitigations"].as_array().unwrap() {
            out.push(m["text"].as_str().unwrap().to_string());
        }
        for x in t["targets"].as_array().unwrap() {
            out.push(x["name"].as_str().unwrap().to_string());
        }
    }
    out
}

/// The first system's own names: product, components, data, flows and boundaries.
fn webshop_names(env: &Env) -> Vec<String> {
    let model: Value = serde_saphyr::from_str(&read(&env.path("webshop.yaml"))).unwrap();
    let mut names = vec![model["product"]["name"].as_str().unwrap().to_string()];
    for list in ["components", "data", "flows", "trust_boundaries"] {
        for item in model[list].as_array().unwrap() {
            names.extend(item["name"].as_str().map(String::from));
        }
    }
    names.push("Larkspur".into());
    names
}

#[test]
fn a_reviewed_model_changes_the_next_draft_of_a_similar_system_and_only_as_described() {
    let env = Env::new();
    let plain = env.json(&["draft", "clinic.yaml", "--format", "json"]);

    // The review of the first system: three decisions on catalog-api.
    env.ok(&[
        "review",
        "reject",
        "webshop.yaml",
        REJECT,
        "--reason",
        REJECT_REASON,
    ]);
    env.ok(&[
        "review",
        "severity",
        "webshop.yaml",
        OVERRIDE,
        "low",
        "--reason",
        OVERRIDE_REASON,
    ]);
    env.ok(&[
        "review",
        "accept",
        "webshop.yaml",
        ACCEPT,
        "--reason",
        ACCEPT_REASON,
    ]);
    let (out, _) = env.ok(&["kb", "ingest", "webshop.yaml"]);
    assert!(out.starts_with("1 files: 1 added"), "{out}");

    // `tmc kb feedback`: per rule, what the review made of its threats.
    let rows = env.json(&["kb", "feedback", "--format", "json"]);
    let want: Vec<Value> = serde_json::from_str(&read(&data().join("feedback.json"))).unwrap();
    for w in &want {
        let got = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == w["rule"]);
        assert_eq!(got, Some(w), "feedback row for {}", w["rule"]);
    }
    let (text, _) = env.ok(&["kb", "feedback"]);
    let row = text.lines().find(|l| l.starts_with("TMC-API-002 "));
    let cells: Vec<&str> = row.unwrap_or_default().split_whitespace().collect();
    assert_eq!(cells, ["TMC-API-002", "3", "0", "1", "0", "2"], "{text}");

    // The next draft of the similar system, with the knowledge base.
    let webshop = env.source_name("webshop.yaml");
    let (json, log) = env.ok(&["draft", "clinic.yaml", "--kb", "--format", "json"]);
    assert!(log.contains("1 lowered by past rejections"), "{log}");
    let after_one: Value = serde_json::from_str(&json).unwrap();
    let got = changes(&plain, &after_one);
    let want = expected("after-one-review.json", &[("{webshop}", &webshop)]);
    assert_eq!(
        got,
        want,
        "got:\n{}",
        serde_json::to_string_pretty(&got).unwrap()
    );

    // No threat text names anything of the first system (the factors name the past review,
    // which is their point).
    let baseline = threat_texts(&plain).join("\n").to_lowercase();
    let texts = threat_texts(&after_one).join("\n").to_lowercase();
    for name in webshop_names(&env) {
        let name = name.to_lowercase();
        if !baseline.contains(&name) {
            assert!(!texts.contains(&name), "`{name}` leaked into the draft");
        }
    }

    // A second reviewed system sets the same rule on the same technology to the same level:
    // two of two reviews agree, so the level moves one step.
    let trade = read(&env.path("webshop.yaml")).replace(
        "name: Larkspur Outdoor web shop",
        "name: Larkspur trade counter",
    );
    std::fs::write(env.path("trade.yaml"), trade).unwrap();
    env.ok(&[
        "review",
        "severity",
        "trade.yaml",
        OVERRIDE,
        "low",
        "--reason",
        SECOND_OVERRIDE_REASON,
    ]);
    env.ok(&["kb", "ingest", "trade.yaml"]);
    let trade = env.source_name("trade.yaml");
    let after_two = env.json(&["draft", "clinic.yaml", "--kb", "--format", "json"]);
    let got = changes(&plain, &after_two);
    let want = expected(
        "after-two-reviews.json",
        &[("{webshop}", &webshop), ("{trade}", &trade)],
    );
    assert_eq!(
        got,
        want,
        "got:\n{}",
        serde_json::to_string_pretty(&got).unwrap()
    );
}
