#![allow(clippy::unwrap_used)]
//! Past threats are evidence, never transplants: a past review of another system (an Atlassian
//! Forge app, an Electrum wallet) must not put that system's names into our draft. What it may
//! do is corroborate a rule threat on an element of the same technology and role, with its
//! source named, and lend the mitigations that name nothing outside our model.

use std::collections::BTreeMap;
use std::path::Path;

use tmc_kb::augment::{ACCEPTED_FACTOR, AugmentOptions, augment_draft};
use tmc_kb::ingest::NoProgress;
use tmc_kb::search::KnowledgeBase;
use tmc_kb::{SqliteIndex, ingest_paths};
use tmc_model::{
    CoverageRow, Draft, ElementKind, Mitigation, Provenance, Stride, SystemModel, TargetKind,
    TargetRef, Threat, ThreatStatus,
};

fn example() -> SystemModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/webshop-payments.yaml");
    let bytes = std::fs::read(&path).unwrap();
    tmc_dsl::load_checked(&bytes, "webshop-payments.yaml")
        .unwrap()
        .0
        .model
}

fn draft(model: &SystemModel) -> Draft {
    let rules = tmc_engine::RuleSet::builtin().unwrap();
    tmc_engine::draft(model, &rules, &tmc_engine::DraftOptions::default())
}

/// A rule threat on a process (not `other`) with Tampering and a CWE: what the past threats
/// below are written to resemble.
fn anchor(model: &SystemModel, d: &Draft) -> (Threat, String) {
    d.threats
        .iter()
        .find_map(|t| {
            let c = model.component(&t.targets[0].id)?;
            (t.targets.len() == 1
                && c.kind == ElementKind::Process
                && c.technology.as_str() != "other"
                && t.stride.contains(&Stride::Tampering)
                && !t.references.cwe.is_empty()
                && matches!(t.provenance, Provenance::Rule { .. }))
            .then(|| (t.clone(), c.technology.as_str().to_string()))
        })
        .unwrap()
}

fn past_threat(id: &str, target: &str, title: &str, stride: Stride, cwe: &[u32]) -> Threat {
    let mut t = draft(&example()).threats[0].clone();
    t.id = id.into();
    t.title = title.into();
    t.description = format!("{title}. Seen in the Atlassian Forge app of DevArmor.");
    t.stride = vec![stride];
    t.targets = vec![TargetRef::component(target, target)];
    t.references.cwe = cwe.to_vec();
    t.status = ThreatStatus::Accepted;
    t.provenance = Provenance::Manual { author: None };
    t
}

/// The past review: "DevArmor-Forge App Integration", three accepted threats.
/// - T-1 on "Forge backend" (same technology and kind as the anchor): the anchor's threat in
///   that system's words, same STRIDE and CWE, one mitigation naming Atlassian Forge, one
///   generic.
/// - T-2 on "Electrum server" (same technology): spoofing with no CWE and an unrelated title.
/// - T-3 on "Forge issue store", a database: the same words, CWE and STRIDE, wrong technology.
fn past_review(dir: &Path, anchor: &Threat, tech: &str) -> std::path::PathBuf {
    let model = example();
    let mut past = draft(&model);
    past.product.name = "DevArmor-Forge App Integration".into();
    // Same threat in the other system's words: the anchor's title about its own element.
    let same = tmc_model::identity::normalised_title(&anchor.title, &anchor.targets);
    let mut t1 = past_threat(
        "T-1",
        "forge-backend",
        &format!("{same} in the Forge backend"),
        Stride::Tampering,
        &anchor.references.cwe[..1],
    );
    t1.mitigations = vec![
        Mitigation::proposed(
            "M1",
            "Validate Forge event payloads against the Atlassian Forge schema",
            vec![],
        ),
        Mitigation::proposed(
            "M2",
            "Reject every message whose body fails a strict allow-list schema check",
            vec![],
        ),
    ];
    let t2 = past_threat(
        "T-2",
        "electrum-server",
        "Malicious or spoofed ElectrumX feeds false blockchain data",
        Stride::Spoofing,
        &[],
    );
    let t3 = past_threat(
        "T-3",
        "issue-store",
        &format!("{same} in the Forge issue store"),
        Stride::Tampering,
        &anchor.references.cwe[..1],
    );
    past.threats = vec![t1, t2, t3];
    let row = |id: &str, tech: &str| CoverageRow {
        target: TargetRef::new(TargetKind::Component, id, id),
        technology: Some(tech.to_string()),
        counts: BTreeMap::new(),
    };
    past.coverage = vec![
        row("forge-backend", tech),
        row("electrum-server", tech),
        row("issue-store", "database"),
    ];
    let path = dir.join("past-forge.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&past).unwrap()).unwrap();
    path
}

#[test]
fn past_threats_of_another_system_corroborate_and_never_transplant() {
    let dir = tempfile::tempdir().unwrap();
    let model = example();
    let before = draft(&model);
    let (anchor, tech) = anchor(&model, &before);
    let path = past_review(dir.path(), &anchor, &tech);
    let mut index = SqliteIndex::in_memory().unwrap();
    ingest_paths(&mut index, &[path], None, &NoProgress).unwrap();
    let kb = KnowledgeBase::new(Box::new(index), None);

    let mut after = before.clone();
    let report = augment_draft(&kb, &model, &mut after, &AugmentOptions::default()).unwrap();

    // Nothing added: the same threats, by id.
    assert_eq!(report.threats_added, 0);
    let ids = |d: &Draft| d.threats.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before));

    // No foreign name in anything a reviewer reads as the threat.
    for t in &after.threats {
        let mut text = format!("{} {}", t.title, t.description);
        for m in &t.mitigations {
            text.push(' ');
            text.push_str(&m.text);
        }
        let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
        for name in ["Forge", "Atlassian", "Electrum", "ElectrumX", "DevArmor"] {
            assert!(!words.contains(&name), "{} names {name}: {text}", t.id);
        }
    }

    // The anchor carries the evidence with its source, and the generic mitigation only.
    let got = after.threats.iter().find(|t| t.id == anchor.id).unwrap();
    let factor = got
        .severity
        .factors
        .iter()
        .find(|f| f.name == ACCEPTED_FACTOR)
        .unwrap_or_else(|| panic!("no evidence on {}: {:?}", got.id, got.severity.factors));
    assert_eq!(factor.delta, 0, "evidence does not move severity");
    assert!(
        factor
            .value
            .contains("past review DevArmor-Forge App Integration (past-forge.json#T-1)"),
        "{}",
        factor.value
    );
    assert_eq!(got.severity.score, anchor.severity.score);
    assert!(
        got.mitigations
            .iter()
            .any(|m| m.text.contains("allow-list"))
    );
    assert_eq!(got.mitigations.len(), anchor.mitigations.len() + 1);
    assert!(report.mitigations_refused >= 1, "{report:?}");
    assert_eq!(report.mitigations_merged, 1, "{report:?}");

    // The wallet threat matches nothing; the database one is about another technology.
    for t in &after.threats {
        for f in &t.severity.factors {
            assert!(!f.value.contains("#T-2"), "{}: {}", t.id, f.value);
            assert!(!f.value.contains("#T-3"), "{}: {}", t.id, f.value);
        }
    }
    assert!(report.past_threats_unmatched >= 1, "{report:?}");

    // Twice is the same as once.
    let mut again = after.clone();
    augment_draft(&kb, &model, &mut again, &AugmentOptions::default()).unwrap();
    let twice = again.threats.iter().find(|t| t.id == anchor.id).unwrap();
    assert_eq!(twice.severity, got.severity);
    assert_eq!(twice.mitigations.len(), got.mitigations.len());
}
