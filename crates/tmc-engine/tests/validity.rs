//! The validity lint (`tmc_engine::validity::check`) on data: one fixture file per finding
//! kind in `tests/data/validity/` (hand-written threats on `model.yaml`, the findings they
//! must give, and clean cases that must give none), then every example drafted with the
//! built-in rules.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tmc_engine::validity::{self, Finding, FindingKind};
use tmc_engine::{DraftOptions, RuleSet, draft};
use tmc_model::{
    Draft, Generator, Provenance, References, Severity, SeverityAssessment, Stride, SystemModel,
    TargetRef, Threat, ThreatStatus,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/validity")
}

fn load_model(path: &Path) -> SystemModel {
    let bytes = std::fs::read(path).unwrap();
    let (parsed, _) = tmc_dsl::load_checked(&bytes, &path.display().to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    parsed.model
}

/// A threat as a fixture writes it: only what the lint reads.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseThreat {
    id: String,
    title: String,
    description: String,
    stride: Vec<Stride>,
    targets: Vec<TargetRef>,
    #[serde(default)]
    cwe: Vec<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    kind: String,
    threat: String,
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[allow(dead_code)]
    about: String,
    threats: Vec<CaseThreat>,
    expected: Vec<Expected>,
}

fn threat(c: CaseThreat) -> Threat {
    Threat {
        id: c.id,
        title: c.title,
        description: c.description,
        stride: c.stride,
        targets: c.targets,
        references: References {
            cwe: c.cwe,
            ..References::default()
        },
        severity: SeverityAssessment {
            level: Severity::Medium,
            likelihood: 3,
            impact: 3,
            score: 9,
            factors: vec![],
            downgraded_by: None,
        },
        mitigations: vec![],
        provenance: Provenance::Manual { author: None },
        status: ThreatStatus::Draft,
        review: None,
    }
}

fn draft_of(model: &SystemModel, threats: Vec<Threat>) -> Draft {
    Draft {
        draft_version: tmc_model::DRAFT_VERSION,
        product: model.product.clone(),
        source_file: None,
        generator: Generator {
            tool: "fixture".into(),
            version: "0".into(),
            mode: "manual".into(),
            rules_loaded: 0,
            ruleset_digest: String::new(),
        },
        threats,
        suppressed: vec![],
        coverage: vec![],
        review: None,
    }
}

/// Runs one fixture file: the findings must be exactly the expected ones, in order.
fn run_case(name: &str) -> Vec<Finding> {
    let model = load_model(&data_dir().join("model.yaml"));
    let path = data_dir().join(format!("{name}.json"));
    let case: CaseFile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ids: Vec<String> = case.threats.iter().map(|t| t.id.clone()).collect();
    let d = draft_of(&model, case.threats.into_iter().map(threat).collect());
    let got = validity::check(&model, &d);
    let expected: Vec<Finding> = case
        .expected
        .into_iter()
        .map(|e| Finding {
            kind: FindingKind::parse(&e.kind)
                .unwrap_or_else(|| panic!("{}: unknown kind `{}`", path.display(), e.kind)),
            threat_id: e.threat,
            message: e.message,
        })
        .collect();
    let show = |v: &[Finding]| v.iter().map(|f| format!("  {f}\n")).collect::<String>();
    assert_eq!(
        got,
        expected,
        "{}\ngot:\n{}expected:\n{}",
        path.display(),
        show(&got),
        show(&expected)
    );
    // Every kind a fixture is named for has a flagged and a clean threat.
    let kind = FindingKind::parse(name).unwrap();
    assert!(
        got.iter().any(|f| f.kind == kind),
        "{name}: nothing flagged"
    );
    assert!(
        ids.iter()
            .any(|id| id.starts_with("clean") && !got.iter().any(|f| &f.threat_id == id)),
        "{name}: no clean case"
    );
    got
}

#[test]
fn names_unknown() {
    run_case("names-unknown");
}

#[test]
fn web_cwe_on_non_web() {
    run_case("web-cwe-on-non-web");
}

#[test]
fn network_threat_on_local_flow() {
    run_case("network-threat-on-local-flow");
}

#[test]
fn contradicted_by_control() {
    run_case("contradicted-by-control");
}

#[test]
fn duplicate() {
    run_case("duplicate");
    // The clean template pair in the fixture is one threat to `same_threat`, which compares
    // whole titles; the lint takes the shared element name out first. Pinned so that the
    // reason for not calling `same_threat` directly stays visible.
    let mk = |id: &str, title: &str| {
        threat(CaseThreat {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            stride: vec![Stride::Tampering],
            targets: vec![TargetRef::component(
                "events",
                "Order events queue (Amazon SQS)",
            )],
            cwe: vec![],
        })
    };
    let a = mk("a", "Poisoned messages on Order events queue (Amazon SQS)");
    let b = mk(
        "b",
        "Replayed or duplicated financial messages on Order events queue (Amazon SQS)",
    );
    assert!(tmc_model::identity::same_threat(&a, &b));
}

#[test]
fn counts_list_every_kind() {
    let findings = run_case("contradicted-by-control");
    let counts = validity::counts(&findings);
    assert_eq!(counts.len(), FindingKind::ALL.len());
    assert_eq!(counts[&FindingKind::ContradictedByControl], findings.len());
    assert_eq!(counts[&FindingKind::Duplicate], 0);
}

/// Every example, drafted with the built-in rules: kinds 1-4 only where listed in
/// `examples-known.txt` (known rule bugs), duplicates at most 2 % of an example's threats.
#[test]
fn examples_are_valid() {
    let set = RuleSet::builtin().unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let known_text = std::fs::read_to_string(data_dir().join("examples-known.txt")).unwrap();
    let mut known: BTreeSet<(String, String, String)> = BTreeSet::new();
    for (n, line) in known_text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert!(
            parts.len() == 3 && FindingKind::parse(parts[1]).is_some(),
            "examples-known.txt:{}: expected `<example> <kind> <threat id>`",
            n + 1
        );
        known.insert((parts[0].into(), parts[1].into(), parts[2].into()));
    }

    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut unexpected = Vec::new();
    let mut seen = BTreeSet::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let model = load_model(&path);
        let d = draft(&model, &set, &DraftOptions::default());
        let findings = validity::check(&model, &d);
        let counts = validity::counts(&findings);
        println!(
            "{file}: {} threats, {}",
            d.threats.len(),
            counts
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for f in &findings {
            println!("  {f}");
            if f.kind == FindingKind::Duplicate {
                continue;
            }
            let key = (file.clone(), f.kind.to_string(), f.threat_id.clone());
            if known.contains(&key) {
                seen.insert(key);
            } else {
                unexpected.push(format!("{file}: {f}"));
            }
        }
        let dups = counts[&FindingKind::Duplicate];
        assert!(
            dups * 50 <= d.threats.len(),
            "{file}: {dups} duplicates in {} threats (more than 2 %)",
            d.threats.len()
        );
    }
    for stale in known.difference(&seen) {
        println!("examples-known.txt: no longer found: {stale:?}");
    }
    assert!(
        unexpected.is_empty(),
        "validity findings not in examples-known.txt:\n{}",
        unexpected.join("\n")
    );
}
