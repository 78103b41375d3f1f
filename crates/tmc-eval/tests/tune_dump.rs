#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::Write;
use std::path::PathBuf;
use tmc_eval::agreement::{FrozenThreat, calibrated_systems};
use tmc_eval::bench::{load_readings, load_references};
use tmc_eval::matching::{StructuredSimilarity, strip_provenance};
use tmc_eval::text::{bm25_overlap, processed_token_set_ratio};

#[test]
#[ignore]
fn dump() {
    let bench = PathBuf::from("/work/shared/bench");
    let refs = load_references(&bench).unwrap();
    let readings = load_readings(&PathBuf::from("/work/main/calibration")).unwrap();
    let systems = calibrated_systems(&readings, &refs).unwrap();
    let sim = StructuredSimilarity::for_references(&refs);
    let idf = tmc_eval::LexicalSimilarity::from_corpus(
        refs.iter().map(tmc_eval::matching::reference_text),
    );
    let _ = idf;
    let mut out = std::fs::File::create("/tmp/features.tsv").unwrap();
    let n = systems.len();
    for (i, s) in systems.iter().enumerate() {
        for (kind, target) in [("real", &systems[i]), ("control", &systems[(i + 1) % n])] {
            for t in &s.threats {
                let th = FrozenThreat::to_threat(t);
                for r in &target.references {
                    let f = sim.features(&th, r);
                    let g = format!("{} {}", th.title, strip_provenance(&th.description));
                    let graw = format!("{} {}", th.title, th.description);
                    let rr = format!("{} {}", r.title, r.text);
                    let tsr = processed_token_set_ratio(&g, &rr) / 100.0;
                    let tsr_raw = processed_token_set_ratio(&graw, &rr) / 100.0;
                    let tsr_title = processed_token_set_ratio(&th.title, &r.title) / 100.0;
                    let _ = bm25_overlap;
                    writeln!(out, "{kind}\t{i}\t{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{}\t{}",
                        s.source_file, r.ref_id, t.id, t.origin, f.mechanism, tsr, tsr_raw, tsr_title, f.element_component, f.element_mention,
                        match f.stride { Some(true) => 1, Some(false) => 0, None => -1 }, r.components.len()).unwrap();
                }
            }
        }
    }
}
