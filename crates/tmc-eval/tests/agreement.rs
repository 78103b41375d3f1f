//! `agreement` on a hand-made fixture (tests/data/agreement: references.jsonl, calibration/
//! with two systems, two readings, a toy
//! matcher whose decisions can be worked out by hand), its errors, its JSON shape, and the real
//! calibration set in the repository.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tmc_eval::agreement::{
    AgreementReport, CalibratedSystem, Confusion, agreement, calibrated_systems, lint_agreement,
};
use tmc_eval::bench::{load_readings, load_references, parse_references};
use tmc_eval::matching::{Similarity, StructuredSimilarity};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/agreement")
}

/// 1.0 when the titles are equal ignoring case, else 0: a matcher simple enough that the
/// expected confusion tables in expected.json can be derived by hand.
struct TitleEquality;

impl Similarity for TitleEquality {
    fn score(&self, a: &str, b: &str) -> f64 {
        f64::from(u8::from(a.eq_ignore_ascii_case(b)))
    }
    fn threshold(&self) -> f64 {
        0.5
    }
    fn describe(&self) -> String {
        "title equality".to_string()
    }
    fn score_pair(
        &self,
        g: &tmc_model::draft::Threat,
        r: &tmc_eval::bench::ReferenceThreat,
    ) -> f64 {
        self.score(&g.title, &r.title)
    }
}

fn fixture() -> (Vec<CalibratedSystem>, Value) {
    let refs = load_references(&data()).unwrap();
    let readings = load_readings(&data().join("calibration")).unwrap();
    let systems = calibrated_systems(&readings, &refs).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(data().join("expected.json")).unwrap())
            .unwrap();
    (systems, expected)
}

fn confusion_vec(c: &Confusion) -> Vec<usize> {
    vec![
        c.match_matched,
        c.match_unmatched,
        c.partial_matched,
        c.partial_unmatched,
        c.none_matched,
        c.none_unmatched,
    ]
}

fn close(got: Option<f64>, want: &Value) {
    match want.as_f64() {
        Some(w) => assert!(
            got.is_some_and(|g| (g - w).abs() < 1e-9),
            "got {got:?}, want {w}"
        ),
        None => assert_eq!(got, None, "want null"),
    }
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn fixture_agreement_confusion_and_control() {
    let (systems, want) = fixture();
    // (dataset, system) order: d1/Shop, then d2/Camera; the control pairs Shop → Camera → Shop.
    assert_eq!(systems.len(), 2);
    assert_eq!(systems[0].system, "Shop");
    let report = agreement(&systems, &TitleEquality, None);
    let a = report.readings.iter().find(|r| r.reading == "A").unwrap();
    for s in &a.systems {
        let w = &want["reading_a"][&s.system];
        assert_eq!(
            confusion_vec(&s.confusion),
            usizes(&w["confusion"]),
            "{}",
            s.system
        );
        close(s.agreement, &w["agreement"]);
        close(s.graded_agreement, &w["graded_agreement"]);
        close(s.matcher_recall, &w["matcher_recall"]);
        close(s.judge_strict_recall, &w["judge_strict_recall"]);
        close(s.judge_lenient_recall, &w["judge_lenient_recall"]);
        close(s.covering_agreement, &w["covering_agreement"]);
        let c = s.control.as_ref().unwrap();
        assert_eq!(c.matched as u64, w["control_matched"].as_u64().unwrap());
        assert_eq!(
            c.references as u64,
            w["control_references"].as_u64().unwrap()
        );
        // Every disagreement is listed with the matcher's best threat.
        let disagreeing =
            s.confusion.match_unmatched + s.confusion.partial_unmatched + s.confusion.none_matched;
        assert_eq!(s.disagreements.len(), disagreeing);
    }
    let all = &a.summaries[0];
    assert_eq!(all.label, "all");
    assert_eq!(a.summaries.len(), 1, "no held-out system in the fixture");
    assert_eq!(
        confusion_vec(&all.confusion),
        usizes(&want["reading_a"]["all"]["confusion"])
    );
    close(all.agreement, &want["reading_a"]["all"]["agreement"]);
    // The toy matcher "recalls" a Camera reference with the Shop's SQL injection threat: a
    // text matcher rewards a transplanted threat, which is what the control exposes.
    close(
        all.control_recall,
        &want["reading_a"]["all"]["control_recall"],
    );

    let b = report.readings.iter().find(|r| r.reading == "B").unwrap();
    assert_eq!(b.systems.len(), 1, "reading B labels only the Shop");
    let w = &want["reading_b"]["Shop"];
    assert_eq!(
        confusion_vec(&b.systems[0].confusion),
        usizes(&w["confusion"])
    );
    close(b.systems[0].agreement, &w["agreement"]);
}

#[test]
fn fixture_inter_reader_agreement() {
    let (systems, want) = fixture();
    let report = agreement(&systems, &TitleEquality, None);
    assert_eq!(report.inter_reader.len(), 1);
    let x = &report.inter_reader[0];
    let w = &want["inter_reader"];
    assert_eq!((x.a.as_str(), x.b.as_str()), ("A", "B"));
    assert_eq!(x.systems as u64, w["systems"].as_u64().unwrap());
    assert_eq!(x.references as u64, w["references"].as_u64().unwrap());
    assert_eq!(
        x.relevance_threats as u64,
        w["relevance_threats"].as_u64().unwrap()
    );
    close(x.recall_agreement, &w["recall_agreement"]);
    close(x.recall_kappa, &w["recall_kappa"]);
    close(x.recall_exact_agreement, &w["recall_exact_agreement"]);
    close(x.recall_exact_kappa, &w["recall_exact_kappa"]);
    close(x.relevance_agreement, &w["relevance_agreement"]);
    close(x.relevance_kappa, &w["relevance_kappa"]);
    close(x.invalid_agreement, &w["invalid_agreement"]);
    close(x.invalid_kappa, &w["invalid_kappa"]);
}

#[test]
fn fixture_lint_agreement() {
    let (systems, want) = fixture();
    let w = &want["lint"];
    let flagged: BTreeSet<String> = w["flagged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let flags = BTreeMap::from([("s1.json".to_string(), flagged)]);
    let l = lint_agreement(&systems, "A", &flags);
    assert_eq!(
        l.flagged_invalid as u64,
        w["flagged_invalid"].as_u64().unwrap()
    );
    assert_eq!(
        l.flagged_not_invalid as u64,
        w["flagged_not_invalid"].as_u64().unwrap()
    );
    assert_eq!(
        l.unflagged_invalid as u64,
        w["unflagged_invalid"].as_u64().unwrap()
    );
    assert_eq!(
        l.unflagged_not_invalid as u64,
        w["unflagged_not_invalid"].as_u64().unwrap()
    );
    close(l.agreement, &w["agreement"]);
    close(l.precision, &w["precision"]);
    close(l.recall, &w["recall"]);
    let report = agreement(&systems, &TitleEquality, Some(&flags));
    assert_eq!(report.lint.len(), 2, "one lint row per reading");
    let without = agreement(&systems, &TitleEquality, None);
    assert!(without.lint.is_empty());
    assert!(without.lint_note.contains("no validity lint"));
}

#[test]
fn json_shape() {
    let (systems, _) = fixture();
    let report = agreement(&systems, &TitleEquality, None);
    let v: Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(v["matcher"], "title equality");
    assert_eq!(v["threshold"], 0.5);
    let sys = &v["readings"][0]["systems"][0];
    for key in [
        "system",
        "source_file",
        "held_out",
        "labelled",
        "agreement",
        "graded_agreement",
        "matcher_recall",
        "judge_strict_recall",
        "judge_lenient_recall",
        "covering_agreement",
        "control",
        "disagreements",
    ] {
        assert!(sys.get(key).is_some(), "systems[0].{key} missing: {sys}");
    }
    assert_eq!(sys["confusion"]["partial_unmatched"], 1);
    assert_eq!(sys["disagreements"][0]["ref_id"], "r3");
    assert_eq!(sys["disagreements"][0]["label"], "partial");
    assert_eq!(v["readings"][0]["summaries"][0]["label"], "all");
    assert!(v["inter_reader"][0]["recall_kappa"].is_f64());
    assert!(v["lint"].as_array().unwrap().is_empty());
    // Round trip (floats may differ in the last bit without serde_json's float_roundtrip).
    let back: AgreementReport = serde_json::from_value(v).unwrap();
    assert_eq!(back.readings.len(), report.readings.len());
    assert_eq!(
        back.readings[0].summaries[0].confusion,
        report.readings[0].summaries[0].confusion
    );
    let md = tmc_eval::agreement::render_markdown(&report);
    assert!(md.contains("| partial | 1 | 1 |"), "{md}");
    assert!(md.contains("A vs B"));
}

fn check_error(refs_text: &str, judged: &str, want: &str) {
    let dir = tempfile_dir();
    std::fs::write(dir.join("x.judged.json"), judged).unwrap();
    let refs = parse_references(refs_text, Path::new("refs.jsonl")).unwrap();
    let readings = load_readings(&dir).unwrap();
    let err = calibrated_systems(&readings, &refs)
        .unwrap_err()
        .to_string();
    assert!(err.contains(want), "{err}");
    assert!(err.contains("x.judged.json"), "names the file: {err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "tmc-eval-agreement-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bad_labels_are_named_errors() {
    let refs = r#"{"dataset": "d", "system": "S", "ref_id": "r1", "title": "t", "text": "x", "source_file": "s.json"}"#;
    let threats = r#""threats": [{"id": "t1", "title": "a"}]"#;
    check_error(
        refs,
        &format!(
            r#"{{"system": "S", "source_file": "s.json", "recall": {{"zz": {{"label": "none"}}}}, {threats}}}"#
        ),
        "recall.zz",
    );
    check_error(
        refs,
        &format!(
            r#"{{"system": "S", "source_file": "s.json", "recall": {{"r1": {{"label": "match", "threat_ids": ["nope"]}}}}, {threats}}}"#
        ),
        "recall.r1.threat_ids",
    );
    check_error(
        refs,
        r#"{"system": "S", "source_file": "s.json", "recall": {}}"#,
        "frozen `threats`",
    );
    check_error(
        refs,
        &format!(r#"{{"system": "S", "source_file": "other.json", {threats}}}"#),
        "field source_file",
    );
    // A label that is not match/partial/none is a parse error with its position.
    let dir = tempfile_dir();
    std::fs::write(
        dir.join("y.json"),
        "{\"system\": \"S\", \"source_file\": \"s.json\",\n \"recall\": {\"r1\": {\"label\": \"maybe\"}}}",
    )
    .unwrap();
    let err = load_readings(&dir).unwrap_err().to_string();
    assert!(err.contains("y.json") && err.contains("line 2"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The calibration set in the repository, with the structured matcher `tmc eval` uses: every
/// label resolves, and the control (frozen threats against another system's references) stays
/// near 0 — the property the element gate was tuned for.
#[test]
fn repository_calibration_set_with_the_structured_matcher() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bench = root.join("../shared/bench");
    if !bench.join("references.jsonl").exists() {
        eprintln!("SKIPPED: ../shared/bench not found beside the repository");
        return;
    }
    let refs = load_references(&bench).unwrap();
    let readings = load_readings(&root.join("calibration")).unwrap();
    let systems = calibrated_systems(&readings, &refs).unwrap();
    assert_eq!(systems.len(), 7);
    let sim = StructuredSimilarity::for_references(&refs);
    let report = agreement(&systems, &sim, None);
    println!("{}", tmc_eval::agreement::render_markdown(&report));
    let a = &report.readings[0];
    assert_eq!(a.reading, "A");
    let labels: Vec<&str> = a.summaries.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["all", "tuning", "held out"]);
    assert_eq!(a.summaries[0].references, 97);
    assert_eq!(a.summaries[1].systems, 4);
    assert_eq!(a.summaries[2].systems, 3);
    let control = a.summaries[0].control_recall.unwrap();
    assert!(control <= 0.02, "control recall {control}");
}
