//! The matcher and scorer on the real references: identity, unrelated systems, aggregation.

use std::path::PathBuf;

use tmc_eval::bench::{group_by_system, is_tool_baseline, load_references};
use tmc_eval::matching::reference_text;
use tmc_eval::{
    LexicalSimilarity, Similarity, aggregate, render_markdown, render_table, score_system,
};
use tmc_model::draft::Threat;

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench")
}

#[test]
fn loads_all_references() {
    let refs = load_references(&bench_dir()).expect("shared/bench/references.jsonl");
    assert_eq!(refs.len(), 193);
    let groups = group_by_system(&refs);
    assert_eq!(groups.len(), 9);
    assert!(refs.iter().any(|r| !r.cwe.is_empty()));
    assert!(refs.iter().any(|r| r.severity.is_some()));
}

#[test]
fn every_system_scores_perfectly_against_itself() {
    let refs = load_references(&bench_dir()).expect("shared/bench/references.jsonl");
    let mut scores = Vec::new();
    for (key, group) in group_by_system(&refs) {
        let threats: Vec<Threat> = group.iter().map(|r| r.to_threat()).collect();
        let sim = LexicalSimilarity::from_corpus(group.iter().map(reference_text));
        let s = score_system(&threats, &group, &sim);
        println!(
            "{key:?}: dup {}/{} recall {:?} strict F1 {:?}",
            s.duplicates_removed, s.reference_duplicates_removed, s.recall, s.strict_f1
        );
        assert_eq!(s.recall, Some(1.0), "{key:?}");
        assert_eq!(s.reference_precision, Some(1.0), "{key:?}");
        // Duplicated reference texts collapse on both sides alike.
        assert_eq!(s.strict_f1, Some(1.0), "{key:?}");
        assert_eq!(
            s.duplicates_removed, s.reference_duplicates_removed,
            "{key:?}"
        );
        if s.severity_pairs > 0 {
            assert_eq!(s.severity_exact, Some(1.0));
        }
        scores.push(s);
    }
    let report = aggregate(scores);
    let expert = report.expert.as_ref().expect("expert summary");
    assert!(expert.recall.expect("recall") > 0.999);
    assert!(
        report
            .tool_baselines
            .as_ref()
            .expect("baseline summary")
            .systems
            == 2
    );
    assert_eq!(expert.systems, 7);
    let table = render_table(&report);
    assert!(table.contains("expert (macro)"));
    assert!(render_markdown(&report).contains("| system |"));
    assert_eq!(report.to_jsonl().expect("serialisable").lines().count(), 9);
    println!("{table}");
}

#[test]
fn unrelated_systems_score_near_zero() {
    let refs = load_references(&bench_dir()).expect("shared/bench/references.jsonl");
    let groups = group_by_system(&refs);
    let keys: Vec<_> = groups.keys().cloned().collect();
    let mut worst: f64 = 0.0;
    let mut total = 0.0;
    let mut pairs = 0u32;
    for a in &keys {
        for b in &keys {
            // The same dataset shares a template vocabulary, and the two tool baselines are
            // both generic web-application catalogues (both list XSS, SQL injection, …):
            // neither pair is "unrelated".
            if a == b || a.0 == b.0 || (is_tool_baseline(&a.0) && is_tool_baseline(&b.0)) {
                continue;
            }
            let threats: Vec<Threat> = groups[a].iter().map(|r| r.to_threat()).collect();
            let texts = groups[a].iter().chain(&groups[b]).map(reference_text);
            let sim = LexicalSimilarity::from_corpus(texts);
            let s = score_system(&threats, &groups[b], &sim);
            let r = s.recall.unwrap_or(0.0);
            println!(
                "{:?} vs {:?}: recall {r:.2} strict F1 {:?}",
                a.1, b.1, s.strict_f1
            );
            worst = worst.max(r);
            total += r;
            pairs += 1;
        }
    }
    assert!(pairs > 0);
    assert!(worst <= 0.10, "an unrelated system recalled {worst}");
    assert!(
        total / f64::from(pairs) <= 0.02,
        "mean unrelated recall {}",
        total / f64::from(pairs)
    );
}

#[test]
fn threshold_is_recorded() {
    let sim = LexicalSimilarity::default();
    let s = score_system(&[], &[], &sim);
    assert_eq!(s.recall, None);
    assert_eq!(s.strict_f1, None);
    assert!(s.similarity.contains("threshold"));
    assert_eq!(s.threshold, sim.threshold());
}
