//! Reproducing UAVThreatBench's published GPT-4o figures with our `token_set_ratio`.
//!
//! Before our matcher is trusted on our own drafts it must reproduce a published table: on
//! UAVThreatBench (100 drone/OT scenarios, 5 expert threats each, 2 GPT-4o threats each) the
//! paper reports that GPT-4o matched 87 % of scenarios and 46 % perfectly at token-set ratio
//! ≥ 70, and its evaluation log lists each scenario's label.
//!
//! # Which rule reproduces the log
//!
//! The files do not say which fields were compared or how ties between threats were handled,
//! so the variants were scored against the log's 100 per-scenario labels (see
//! `tests/calibration.rs`, which prints them all):
//!
//! | compared text | processing | assignment | rounded | perfect / matched | agreement |
//! |---|---|---|---|---|---|
//! | `Threat` | default_process | one-to-one, greedy | yes | 46 / 86 | **95** |
//! | `Threat` | default_process | any expert | yes | 48 / 86 | 93 |
//! | `Threat` | default_process | any expert | no | 47 / 85 | 91 |
//! | `Threat` + `RED Article` | default_process | one-to-one, greedy | no | 45 / 86 | 94 |
//! | `Threat` + `RED Article` | default_process | any expert | yes | 49 / 88 | 90 |
//! | `Threat` | none (RapidFuzz 3 default) | any expert | yes | 19 / 59 | 55 |
//!
//! The paper's own table (from the same log) says 46 % perfect and 87 % matched.
//!
//! The rule chosen ([`UavRule::PAPER`]) compares only the `Threat` sentence of each generated
//! threat with those of the scenario's expert threats, after RapidFuzz's default processing
//! (as fuzzywuzzy/thefuzz apply by default), rounds the score to an integer (thefuzz returns
//! integers), and lets each expert threat be claimed once: generated threats, in file order,
//! take the best still-unclaimed expert threat, and match if that score is ≥ 70. The RED
//! article is not part of the text. The five scenarios that still disagree have scores on
//! both sides of 70 that no variant reconciles; the stored GPT-4o file is probably a slightly
//! different run from the one logged.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bench::{UavScenario, load_uav};
use crate::error::EvalError;
use crate::text::{default_process, token_set_ratio};

/// The paper's threshold on token-set ratio.
pub const UAV_THRESHOLD: f64 = 70.0;

/// Scenario-level outcome, as the paper's log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UavLabel {
    /// Every generated threat matched an expert threat.
    Perfect,
    /// Some, not all, matched.
    Partial,
    /// None matched (or nothing was generated).
    NoMatch,
}

impl UavLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            UavLabel::Perfect => "Perfect",
            UavLabel::Partial => "Partial",
            UavLabel::NoMatch => "No Match",
        }
    }

    fn from_counts(matched: usize, generated: usize) -> UavLabel {
        if generated > 0 && matched == generated {
            UavLabel::Perfect
        } else if matched > 0 {
            UavLabel::Partial
        } else {
            UavLabel::NoMatch
        }
    }
}

/// Which text of a UAVThreatBench threat is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UavText {
    /// The `Threat` sentence only.
    Threat,
    /// The `Threat` sentence followed by the RED article, e.g. "… (d)".
    ThreatAndArticle,
}

/// A variant of the matching rule; [`UavRule::PAPER`] is the one that reproduces the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UavRule {
    pub text: UavText,
    /// Apply [`default_process`] before scoring.
    pub process: bool,
    /// Each expert threat may be claimed by one generated threat only (greedy, file order).
    pub one_to_one: bool,
    /// Round the score to an integer before comparing with the threshold.
    pub round: bool,
}

impl UavRule {
    /// The rule that best reproduces the published per-scenario labels (see module docs).
    pub const PAPER: UavRule = UavRule {
        text: UavText::Threat,
        process: true,
        one_to_one: true,
        round: true,
    };

    /// Every combination, for comparing variants against the log.
    pub fn all() -> Vec<UavRule> {
        let mut out = Vec::new();
        for text in [UavText::Threat, UavText::ThreatAndArticle] {
            for process in [true, false] {
                for one_to_one in [true, false] {
                    for round in [true, false] {
                        out.push(UavRule {
                            text,
                            process,
                            one_to_one,
                            round,
                        });
                    }
                }
            }
        }
        out
    }

    pub fn describe(&self) -> String {
        format!(
            "text={} processed={} one_to_one={} rounded={} threshold={}",
            match self.text {
                UavText::Threat => "Threat",
                UavText::ThreatAndArticle => "Threat+RED",
            },
            self.process,
            self.one_to_one,
            self.round,
            UAV_THRESHOLD
        )
    }
}

/// Result of [`calibrate_uav`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UavCalibration {
    /// The rule used, in words.
    pub rule: String,
    /// Scenarios present in both the ground truth and the generated file.
    pub scenarios: usize,
    pub perfect: usize,
    pub partial: usize,
    pub no_match: usize,
    /// (perfect + partial) / scenarios, in percent.
    pub matched_pct: f64,
    /// perfect / scenarios, in percent.
    pub perfect_pct: f64,
    /// Figures from the log's summary table, when it has a row for the model.
    pub published_matched_pct: Option<f64>,
    pub published_perfect_pct: Option<f64>,
    /// Scenarios whose label equals the log's.
    pub log_agreement: usize,
    /// Scenarios that both we and the log label.
    pub log_scenarios: usize,
    /// "id: log label → our label" for each disagreement.
    pub disagreements: Vec<String>,
}

/// Reproduces UAVThreatBench's GPT-4o figures with [`UavRule::PAPER`].
pub fn calibrate_uav(bench_dir: &Path) -> Result<UavCalibration, EvalError> {
    calibrate_uav_with(bench_dir, UavRule::PAPER)
}

/// As [`calibrate_uav`], with another rule (to compare variants).
pub fn calibrate_uav_with(bench_dir: &Path, rule: UavRule) -> Result<UavCalibration, EvalError> {
    let files = load_uav(bench_dir)?;
    Ok(calibrate_uav_data(
        &files.ground_truth,
        &files.generated,
        &files.log,
        &files.generated_file_name,
        rule,
    ))
}

/// The pure computation behind [`calibrate_uav_with`].
pub fn calibrate_uav_data(
    ground_truth: &[UavScenario],
    generated: &[UavScenario],
    log: &str,
    model_file: &str,
    rule: UavRule,
) -> UavCalibration {
    let ours = classify_scenarios(ground_truth, generated, rule);
    let logged = parse_log_labels(log, model_file);
    let count = |l: UavLabel| ours.values().filter(|&&x| x == l).count();
    let (perfect, partial, no_match) = (
        count(UavLabel::Perfect),
        count(UavLabel::Partial),
        count(UavLabel::NoMatch),
    );
    let scenarios = ours.len();
    let pct = |n: usize| {
        if scenarios == 0 {
            0.0
        } else {
            100.0 * n as f64 / scenarios as f64
        }
    };
    let mut log_agreement = 0;
    let mut log_scenarios = 0;
    let mut disagreements = Vec::new();
    for (id, theirs) in &logged {
        if let Some(mine) = ours.get(id) {
            log_scenarios += 1;
            if mine == theirs {
                log_agreement += 1;
            } else {
                disagreements.push(format!("{id}: {} → {}", theirs.as_str(), mine.as_str()));
            }
        }
    }
    let published = parse_log_summary(log, model_file);
    UavCalibration {
        rule: rule.describe(),
        scenarios,
        perfect,
        partial,
        no_match,
        matched_pct: pct(perfect + partial),
        perfect_pct: pct(perfect),
        published_matched_pct: published.map(|p| p.1),
        published_perfect_pct: published.map(|p| p.0),
        log_agreement,
        log_scenarios,
        disagreements,
    }
}

/// Labels each scenario present in both files (keyed by scenario id).
pub fn classify_scenarios(
    ground_truth: &[UavScenario],
    generated: &[UavScenario],
    rule: UavRule,
) -> BTreeMap<String, UavLabel> {
    let experts: BTreeMap<&str, &UavScenario> =
        ground_truth.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut out = BTreeMap::new();
    for scenario in generated {
        let Some(expert) = experts.get(scenario.id.as_str()) else {
            continue;
        };
        let prepare = |t: &crate::bench::UavThreat| {
            let text = match (rule.text, &t.red_article) {
                (UavText::ThreatAndArticle, Some(a)) => format!("{} {a}", t.text),
                _ => t.text.clone(),
            };
            if rule.process {
                default_process(&text)
            } else {
                text
            }
        };
        let expert_texts: Vec<String> = expert.threats.iter().map(prepare).collect();
        let mut claimed = vec![false; expert_texts.len()];
        let mut matched = 0;
        for threat in &scenario.threats {
            let text = prepare(threat);
            // Best expert threat (lowest index on ties), skipping claimed ones if one-to-one.
            let mut best: Option<(usize, f64)> = None;
            for (j, e) in expert_texts.iter().enumerate() {
                if rule.one_to_one && claimed[j] {
                    continue;
                }
                let mut s = token_set_ratio(&text, e);
                if rule.round {
                    s = s.round();
                }
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((j, s));
                }
            }
            if let Some((j, s)) = best
                && s >= UAV_THRESHOLD
            {
                matched += 1;
                claimed[j] = true;
            }
        }
        out.insert(
            scenario.id.clone(),
            UavLabel::from_counts(matched, scenario.threats.len()),
        );
    }
    out
}

/// Per-scenario labels for `model_file` from the log's "Detailed Scenario IDs by
/// Classification" section: a `Model File: <name> …` line, then `Perfect Match IDs (n):`,
/// `Partial Match IDs (n):` and `No Match IDs (n):` each followed by comma-separated ids.
pub fn parse_log_labels(log: &str, model_file: &str) -> BTreeMap<String, UavLabel> {
    let mut out = BTreeMap::new();
    let mut in_model = false;
    let mut current: Option<UavLabel> = None;
    for line in log.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Model File:") {
            in_model = rest.split_whitespace().next() == Some(model_file);
            current = None;
            continue;
        }
        if !in_model {
            continue;
        }
        if t.starts_with("Perfect Match IDs") {
            current = Some(UavLabel::Perfect);
        } else if t.starts_with("Partial Match IDs") {
            current = Some(UavLabel::Partial);
        } else if t.starts_with("No Match IDs") {
            current = Some(UavLabel::NoMatch);
        } else if t.starts_with("---") {
            in_model = false;
        } else if let Some(label) = current {
            for id in t.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                out.insert(id.to_string(), label);
            }
        }
    }
    out
}

/// (perfect %, total match %) from the log's summary table row for `model_file`, whose cells
/// look like `46.00      %41.00      %13.00       %87.00          %`.
pub fn parse_log_summary(log: &str, model_file: &str) -> Option<(f64, f64)> {
    let line = log
        .lines()
        .find(|l| l.split_whitespace().next() == Some(model_file))?;
    let numbers: Vec<f64> = line
        .split(|c: char| c.is_whitespace() || c == '%')
        .skip(1)
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match numbers.as_slice() {
        [perfect, _partial, _none, total] => Some((*perfect, *total)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::UavThreat;

    fn scenario(id: &str, threats: &[&str]) -> UavScenario {
        UavScenario {
            id: id.to_string(),
            threats: threats
                .iter()
                .map(|t| UavThreat {
                    text: t.to_string(),
                    red_article: None,
                })
                .collect(),
        }
    }

    const LOG: &str = "Model File                     Perfect (%)    Partial (%)
m.json                                              46.00      %41.00      %13.00       %87.00          %
--- Detailed ---

Model File: other.json (Total evaluated: 1)
  Perfect Match IDs (1):
    S1
Model File: m.json (Total evaluated: 3)
  Perfect Match IDs (1):
    S1
  Partial Match IDs (1):
    S2
  No Match IDs (1):
    S3
";

    #[test]
    fn parses_log() {
        let labels = parse_log_labels(LOG, "m.json");
        assert_eq!(labels.len(), 3);
        assert_eq!(labels["S2"], UavLabel::Partial);
        assert_eq!(parse_log_summary(LOG, "m.json"), Some((46.0, 87.0)));
        assert_eq!(parse_log_summary(LOG, "x.json"), None);
    }

    #[test]
    fn labels_scenarios() {
        let gt = vec![
            scenario(
                "S1",
                &["RF jamming of the link", "GPS spoofing of the drone"],
            ),
            scenario("S2", &["RF jamming of the link", "Firmware tampering"]),
            scenario("S3", &["Firmware tampering"]),
        ];
        let generated = vec![
            scenario("S1", &["rf jamming of the link!", "GPS spoofing the drone"]),
            scenario(
                "S2",
                &["RF jamming of the link", "Data exfiltration over Wi-Fi"],
            ),
            scenario("S3", &["Sensor blinding with lasers"]),
        ];
        let cal = calibrate_uav_data(&gt, &generated, LOG, "m.json", UavRule::PAPER);
        assert_eq!((cal.perfect, cal.partial, cal.no_match), (1, 1, 1));
        assert_eq!(cal.log_agreement, 3);
        assert!((cal.matched_pct - 200.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn one_to_one_stops_double_claims() {
        let gt = vec![scenario(
            "S",
            &["rf jamming of the link", "unrelated words entirely"],
        )];
        let generated = vec![scenario(
            "S",
            &["rf jamming of the link", "rf jamming of the link now"],
        )];
        let greedy = classify_scenarios(&gt, &generated, UavRule::PAPER);
        assert_eq!(greedy["S"], UavLabel::Partial);
        let any = UavRule {
            one_to_one: false,
            ..UavRule::PAPER
        };
        assert_eq!(
            classify_scenarios(&gt, &generated, any)["S"],
            UavLabel::Perfect
        );
    }
}
