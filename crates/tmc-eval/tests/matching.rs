//! The matcher and scorer on the real references: identity, unrelated systems, aggregation.

use std::path::PathBuf;

use tmc_eval::bench::{group_by_system, load_references};
use tmc_eval::matching::reference_text;
use tmc_eval::{LexicalSimilarity, Similarity, aggregate, render_markdown, render_table, score_system};
use tmc_model::draft::Threat;

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench")
}

#[test]
fn loads_all_references() {
    let refs = load_references(&bench_dir()).unwrap();
    assert_eq!(refs.len(), 193);
    let groups = group_by_system(&refs);
    assert_eq!(groups.len(), 9);
    assert!(refs.iter().any(|r| !r.cwe.is_empty()));
    assert!(refs.iter().any(|r| r.severity.is_some()));
}

#[test]
fn every_system_scores_perfectly_against_itself() {
    let refs = load_references(&bench_dir()).unwrap();
    let mut scores = Vec::new();
    for (key, group) in group_by_system(&refs) {
        let threats: Vec<Threat> = group.iter().map(|r| r.to_threat()).collect();
        let sim = LexicalSimilarity::from_corpus(group.iter().map(reference_text));
        let s = score_system(&threats, &group, &sim);
        println!("{key:?}: dup {} recall {:?} strict F1 {:?}", s.duplicates_removed, s.recall, s.strict_f1);
        assert_eq!(s.recall, Some(1.0), "{key:?}");
        assert_eq!(s.reference_precision, Some(1.0), "{key:?}");
        // Duplicated reference texts (if any) collapse on the generated side only.
        let expected_f1 = 2.0 * s.generated as f64 / (s.generated + s.references) as f64;
        assert_eq!(s.strict_f1, Some(expected_f1), "{key:?}");
        if s.duplicates_removed == 0 {
            assert_eq!(s.strict_f1, Some(1.0), "{key:?}");
        }
        if s.severity_pairs > 0 {
            assert_eq!(s.severity_exact, Some(1.0));
        }
        scores.push(s);
    }
    let report = aggregate(scores);
    let expert = report.expert.as_ref().unwrap();
    assert!(expert.recall.unwrap() > 0.999);
    assert!(report.tool_baselines.as_ref().unwrap().systems == 2);
    assert_eq!(expert.systems, 7);
    let table = render_table(&report);
    assert!(table.contains("expert (macro)"));
    assert!(render_markdown(&report).contains("| system |"));
    assert_eq!(report.to_jsonl().unwrap().lines().count(), 9);
    println!("{table}");
}

#[test]
fn unrelated_systems_score_near_zero() {
    let refs = load_references(&bench_dir()).unwrap();
    let groups = group_by_system(&refs);
    let keys: Vec<_> = groups.keys().cloned().collect();
    let mut worst: f64 = 0.0;
    for a in &keys {
        for b in &keys {
            if a == b || a.0 == b.0 {
                continue; // the same dataset shares a template vocabulary; not "unrelated"
            }
            let threats: Vec<Threat> = groups[a].iter().map(|r| r.to_threat()).collect();
            let texts = groups[a].iter().chain(&groups[b]).map(reference_text);
            let sim = LexicalSimilarity::from_corpus(texts);
            let s = score_system(&threats, &groups[b], &sim);
            let r = s.recall.unwrap_or(0.0);
            println!("{:?} vs {:?}: recall {r:.2} strict F1 {:?}", a.1, b.1, s.strict_f1);
            worst = worst.max(r);
        }
    }
    assert!(worst <= 0.15, "an unrelated system recalled {worst}");
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
