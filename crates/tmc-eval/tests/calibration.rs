//! Runs the UAVThreatBench calibration on the real files in `shared/bench`.

use std::path::PathBuf;

use tmc_eval::calibrate::{UavRule, calibrate_uav_with};
use tmc_eval::calibrate_uav;

/// `shared/` sits beside the repository: <repo>/crates/tmc-eval → ../../../shared/bench.
fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench")
}

#[test]
fn reproduces_published_gpt4o_figures() {
    let cal = calibrate_uav(&bench_dir()).expect("UAVThreatBench files in shared/bench");
    println!("{cal:#?}");
    assert_eq!(cal.scenarios, 100);
    assert_eq!(cal.log_scenarios, 100);
    assert!(
        (cal.matched_pct - 87.0).abs() <= 3.0,
        "matched {}",
        cal.matched_pct
    );
    assert!(
        (cal.perfect_pct - 46.0).abs() <= 3.0,
        "perfect {}",
        cal.perfect_pct
    );
    assert_eq!(cal.published_matched_pct, Some(87.0));
    assert_eq!(cal.published_perfect_pct, Some(46.0));
    assert!(
        cal.log_agreement >= 93,
        "agreement {}/{}",
        cal.log_agreement,
        cal.log_scenarios
    );
}

/// The chosen rule must be the best of all variants (ties allowed); prints the comparison
/// that the `calibrate` module documentation summarises.
#[test]
fn chosen_rule_has_best_log_agreement() {
    let mut best = 0;
    let mut chosen = 0;
    for rule in UavRule::all() {
        let cal = calibrate_uav_with(&bench_dir(), rule).expect("UAVThreatBench files");
        println!(
            "{:<70} perfect {:>3.0}% matched {:>3.0}% agreement {}/{}",
            cal.rule, cal.perfect_pct, cal.matched_pct, cal.log_agreement, cal.log_scenarios
        );
        best = best.max(cal.log_agreement);
        if rule == UavRule::PAPER {
            chosen = cal.log_agreement;
        }
    }
    assert_eq!(chosen, best);
}
