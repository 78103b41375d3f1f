//! Imports the public threat models in `/work/shared/bench/sources` (read-only, beside the
//! repository) and checks element and threat counts that were verified by reading each source
//! independently, plus agreement with the benchmark's `references.jsonl`.
//!
//! The bench directory lives outside the repository; when it is absent (a plain checkout) the
//! tests skip with a message instead of failing.

mod model_check;

use std::collections::BTreeSet;
use std::path::PathBuf;

use model_check::{assert_clean, count_status};
use tmc_import::{Format, ImportResult, detect};
use tmc_model::{Provenance, TargetKind, ThreatStatus};

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench")
}

fn source(name: &str) -> Option<Vec<u8>> {
    let p = bench_dir().join("sources").join(name);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(_) => {
            eprintln!("skipping: {} not found", p.display());
            None
        }
    }
}

/// Imports via detection (checking it picks `expected`), then runs the model checks.
fn load(name: &str, expected: Format) -> Option<ImportResult> {
    let bytes = source(name)?;
    assert_eq!(
        detect(&bytes, name),
        Some(expected),
        "{name}: detected format"
    );
    let r = tmc_import::import(&bytes, name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_clean(&r, name);
    Some(r)
}

fn counts(r: &ImportResult) -> (usize, usize, usize, usize, usize) {
    let m = &r.model;
    (
        m.components.len(),
        m.data.len(),
        m.flows.len(),
        m.trust_boundaries.len(),
        r.threats.len(),
    )
}

/// Reference threats for a source file: (ref_id, severity).
fn references(source_file: &str) -> Option<Vec<(String, Option<String>)>> {
    let text = std::fs::read_to_string(bench_dir().join("references.jsonl")).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .unwrap_or_else(|e| panic!("references.jsonl: {e}"))
            })
            .filter(|v| v["source_file"] == source_file)
            .map(|v| {
                (
                    v["ref_id"].as_str().unwrap_or_default().to_string(),
                    v["severity"].as_str().map(str::to_lowercase),
                )
            })
            .collect(),
    )
}

fn source_ids(r: &ImportResult) -> BTreeSet<String> {
    r.threats
        .iter()
        .map(|t| match &t.provenance {
            Provenance::Import { source_id, .. } => source_id.clone(),
            other => panic!("unexpected provenance {other:?}"),
        })
        .collect()
}

/// Same threats as the reference (by source id), and the same severity where both state one.
fn assert_matches_references(name: &str, r: &ImportResult, by_id: bool) {
    let Some(refs) = references(name) else { return };
    assert_eq!(
        r.threats.len(),
        refs.len(),
        "{name}: threat count vs references.jsonl"
    );
    if by_id {
        let ours = source_ids(r);
        let theirs: BTreeSet<String> = refs.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ours, theirs, "{name}: threat ids vs references.jsonl");
        for (id, sev) in &refs {
            let Some(sev) = sev else { continue };
            if sev.contains('=') {
                continue; // "likelihood=100 impact=100": numbers, not a level
            }
            let t = r
                .threats
                .iter()
                .find(|t| matches!(&t.provenance, Provenance::Import { source_id, .. } if source_id == id))
                .unwrap_or_else(|| panic!("{name}: no threat for reference {id}"));
            assert_eq!(t.severity.level.as_str(), sev, "{name}: severity of {id}");
        }
    }
}

const TD_DEMO: &str = "OWASP__threat-dragon__td.vue__src__service__demo__v2-threat-model.json";
const TD_3TIER: &str = "OWASP__threat-dragon__td.vue__src__service__demo__three-tier-web-app.json";
const TD_IOT: &str = "OWASP__threat-dragon__td.vue__src__service__demo__iot-device.json";
const OTM: &str = "OWASP__threat-dragon__td.vue__src__service__demo__mobile-cloud.otm.json";
const TC_GENAI: &str = "awslabs__threat-composer__packages__threat-composer__src__data__workspaceExamples__GenAIChatbot.tc.json";
const TC_SELF: &str = "awslabs__threat-composer__packages__threat-composer__src__data__workspaceExamples__ThreatComposer.tc.json";
const TC_EX4: &str = "awslabs__threat-composer__workshop-examples__threat-modeling-for-builders-self-paced-elearning__ThreatModelingForBuilders-Exercise4.tc.json";
const TML_HUSKY: &str = "OWASP__www-project-threat-model-library__threat-models__ai-ml-systems__husky-ai-threat-model.json";
const TML_DEVARMOR: &str = "OWASP__www-project-threat-model-library__threat-models__third-party-integrations__devarmor-jira-integration.json";
const TML_WALLET: &str = "OWASP__www-project-threat-model-library__threat-models__web__cryptocurrency-wallet-threat-model.json";
const THREAGILE: &str = "Threagile__threagile__demo__example__threagile.yaml";

#[test]
fn threat_dragon_demo() {
    let Some(r) = load(TD_DEMO, Format::ThreatDragon) else {
        return;
    };
    // 1 actor + 2 processes + 4 stores; 10 flows; 3 boundary curves; 14 threats on 9 cells.
    assert_eq!(counts(&r), (7, 0, 10, 3, 14));
    assert_eq!(count_status(&r, ThreatStatus::Mitigated), 4);
    assert_eq!(count_status(&r, ThreatStatus::Open), 10);
    // "Web Request" starts 10 px right of the Browser actor without being attached to it.
    let web_request = r
        .model
        .flows
        .iter()
        .find(|f| f.name.as_deref() == Some("Web Request"))
        .unwrap();
    assert_eq!(
        r.model.component(&web_request.from).unwrap().name,
        "Browser"
    );
    // Curves enclose nothing.
    assert!(
        r.model
            .trust_boundaries
            .iter()
            .all(|b| b.members.is_empty())
    );
    let store = r
        .model
        .components
        .iter()
        .find(|c| c.name == "Web Application Config")
        .unwrap();
    assert!(!store.in_scope);
    assert_matches_references(TD_DEMO, &r, true);
}

#[test]
fn threat_dragon_three_tier() {
    let Some(r) = load(TD_3TIER, Format::ThreatDragon) else {
        return;
    };
    assert_eq!(counts(&r), (3, 0, 3, 2, 2));
    assert_eq!(count_status(&r, ThreatStatus::Mitigated), 2);
    // Boxes: the Web UI in the first, Web Service and PostgresSQL in the second.
    let mut members: Vec<Vec<String>> = r
        .model
        .trust_boundaries
        .iter()
        .map(|b| {
            b.members
                .iter()
                .map(|m| r.model.component(m).unwrap().name.clone())
                .collect()
        })
        .collect();
    members.sort();
    assert_eq!(
        members,
        vec![
            vec!["Web Service".to_string(), "PostgresSQL".to_string()],
            vec!["Web UI".to_string()]
        ]
    );
}

#[test]
fn threat_dragon_iot() {
    let Some(r) = load(TD_IOT, Format::ThreatDragon) else {
        return;
    };
    // 1 actor + 9 processes + 1 store; 14 flows; 1 boundary curve; 4 threats.
    assert_eq!(counts(&r), (11, 0, 14, 1, 4));
    assert_eq!(count_status(&r, ThreatStatus::Mitigated), 1);
    assert_eq!(count_status(&r, ThreatStatus::Open), 3);
}

#[test]
fn otm_mobile_cloud() {
    let Some(r) = load(OTM, Format::Otm) else {
        return;
    };
    // 4 components in 2 trust zones; 6 flows; 43 threats, each instantiated once.
    assert_eq!(counts(&r), (4, 0, 6, 2, 43));
    assert!(
        r.threats
            .iter()
            .all(|t| t.targets.len() == 1 && t.targets[0].kind == TargetKind::Component)
    );
    assert!(r.threats.iter().all(|t| t.mitigations.len() == 1));
    // Microsoft TMT output: every instance is "AutoGenerated", i.e. nobody reviewed it.
    assert_eq!(count_status(&r, ThreatStatus::Draft), 43);
    let public_api = r
        .model
        .components
        .iter()
        .find(|c| c.name == "Public API v2")
        .unwrap();
    assert_eq!(
        r.threats
            .iter()
            .filter(|t| t.targets[0].id == public_api.id)
            .count(),
        31
    );
    assert_matches_references(OTM, &r, true);
}

#[test]
fn threat_composer_genai() {
    let Some(r) = load(TC_GENAI, Format::ThreatComposer) else {
        return;
    };
    // No components in the source: 18 distinct impacted assets become components.
    assert_eq!(counts(&r), (18, 0, 0, 0, 37));
    assert_eq!(
        r.threats.iter().map(|t| t.mitigations.len()).sum::<usize>(),
        122
    );
    assert_eq!(count_status(&r, ThreatStatus::Open), 37);
    assert!(r.threats.iter().all(|t| !t.stride.is_empty()));
    assert_matches_references(TC_GENAI, &r, false);
}

#[test]
fn threat_composer_self() {
    let Some(r) = load(TC_SELF, Format::ThreatComposer) else {
        return;
    };
    assert_eq!(counts(&r), (7, 0, 0, 0, 20));
    assert_eq!(count_status(&r, ThreatStatus::Mitigated), 20);
    assert_eq!(
        r.threats.iter().map(|t| t.mitigations.len()).sum::<usize>(),
        32
    );
    assert_eq!(r.threats.iter().filter(|t| t.targets.is_empty()).count(), 2);
    assert_matches_references(TC_SELF, &r, false);
}

#[test]
fn threat_composer_exercise4() {
    let Some(r) = load(TC_EX4, Format::ThreatComposer) else {
        return;
    };
    assert_eq!(counts(&r), (4, 0, 0, 0, 10));
    assert_eq!(
        r.threats.iter().map(|t| t.mitigations.len()).sum::<usize>(),
        29
    );
    // Two threats carry no STRIDE metadata; none has a priority.
    assert_eq!(r.threats.iter().filter(|t| t.stride.is_empty()).count(), 2);
    assert_matches_references(TC_EX4, &r, false);
}

#[test]
fn tml_husky_ai() {
    let Some(r) = load(TML_HUSKY, Format::ThreatModelLibrary) else {
        return;
    };
    // 4 actors + 6 components + 7 stores; 7 data sets; 23 flows of which `user-api-gateway`
    // names an undefined actor `user`; 3 trust zones; 9 threats.
    assert_eq!(counts(&r), (17, 7, 22, 3, 9));
    assert!(
        r.threats
            .iter()
            .all(|t| !t.references.cwe.is_empty() && !t.references.capec.is_empty())
    );
    assert_eq!(
        r.threats.iter().map(|t| t.mitigations.len()).sum::<usize>(),
        32
    );
    assert_matches_references(TML_HUSKY, &r, true);
}

#[test]
fn tml_devarmor() {
    let Some(r) = load(TML_DEVARMOR, Format::ThreatModelLibrary) else {
        return;
    };
    assert_eq!(counts(&r), (12, 3, 9, 3, 4));
    assert!(r.threats.iter().all(|t| !t.targets.is_empty()));
    assert_matches_references(TML_DEVARMOR, &r, true);
}

#[test]
fn tml_wallet() {
    let Some(r) = load(TML_WALLET, Format::ThreatModelLibrary) else {
        return;
    };
    assert_eq!(counts(&r), (14, 3, 11, 3, 3));
    assert_eq!(r.threats.iter().map(|t| t.targets.len()).sum::<usize>(), 6);
    assert_matches_references(TML_WALLET, &r, true);
}

#[test]
fn threagile_example() {
    let Some(r) = load(THREAGILE, Format::Threagile) else {
        return;
    };
    // 14 technical assets, 12 data assets, 20 communication links, 5 trust boundaries, and the
    // two risks of the one individual risk category.
    assert_eq!(counts(&r), (14, 12, 20, 5, 2));
    let app_net = r
        .model
        .trust_boundaries
        .iter()
        .find(|b| b.id == "application-network")
        .unwrap();
    assert_eq!(app_net.boundaries, vec!["web-dmz", "erp-dmz", "auth-env"]);
    let members: usize = r
        .model
        .trust_boundaries
        .iter()
        .map(|b| b.members.len())
        .sum();
    assert_eq!(members, 12);
    // None of the file's risk_tracking keys names the individual risks.
    assert_eq!(
        count_status(&r, ThreatStatus::Draft),
        2,
        "untracked risks are unchecked"
    );
    assert!(
        r.threats
            .iter()
            .any(|t| t.id == "import:threagile:something-strange@sql-database")
    );
}
