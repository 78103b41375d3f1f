//! How far a matcher (and a validity lint) agrees with people who read the drafts.
//!
//! `tmc eval`'s figures are only worth steering by if its matcher decides "this reference is
//! covered" the way a judge with the rubric (`shared/bench/RELEVANCE.md`) does. The calibration
//! set holds, per expert system of the development benchmark, one of our own drafts frozen with
//! its threat texts and one or more independent *readings* of it: per reference `match` /
//! `partial` / `none` with the covering threat ids, and per sampled threat `specific` /
//! `generic` / `invalid`. This module is pure: it takes the parsed readings, the references and
//! a [`Similarity`], and says
//!
//! * per reference, whether the matcher's decision (best frozen threat at or above the
//!   threshold) agrees with the label read as covered (`match` or `partial`) vs `none`, plus a
//!   graded agreement where `partial` is worth half ([`RecallJudgement::credit`]);
//! * the confusion table (label × matcher decision) and the matcher's recall beside the judge's
//!   strict and lenient recall;
//! * a **control**: each system's frozen threats against the *next* system's references, which
//!   they cannot be right about; a matcher that recalls much there is measuring topic or
//!   wording, not threats;
//! * inter-reader agreement (percent and Cohen's κ) when there are two or more readings;
//! * a validity lint's agreement with the `invalid` labels, when the caller has a lint.
//!
//! Labels are for measuring; nothing in the matcher may be derived from them (see
//! `calibration/README.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tmc_model::draft::{
    Provenance, References, Severity, SeverityAssessment, Stride, TargetRef, Threat, ThreatStatus,
};

use crate::bench::ReferenceThreat;
use crate::error::EvalError;
use crate::matching::Similarity;

/// Systems held out from tuning the structured matcher, by source file: the odd positions of
/// the seven calibrated systems in (dataset, system) order, fixed before any tuning run, so
/// each of the three datasets has systems on both sides.
pub const HELD_OUT_SOURCES: &[&str] = &[
    "awslabs__threat-composer__packages__threat-composer__src__data__workspaceExamples__ThreatComposer.tc.json",
    "OWASP__threat-dragon__td.vue__src__service__demo__v2-threat-model.json",
    "OWASP__www-project-threat-model-library__threat-models__web__cryptocurrency-wallet-threat-model.json",
];

/// True when `source_file` is one of [`HELD_OUT_SOURCES`].
pub fn is_held_out(source_file: &str) -> bool {
    HELD_OUT_SOURCES.contains(&source_file)
}

/// A judge's recall label for one reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecallJudgement {
    /// Same attacked element (or one containing it), same mechanism, compatible impact.
    Match,
    /// Right element and class of attack with a vaguer mechanism, or right mechanism on the
    /// wrong element.
    Partial,
    None,
}

impl RecallJudgement {
    pub const ALL: [RecallJudgement; 3] = [
        RecallJudgement::Match,
        RecallJudgement::Partial,
        RecallJudgement::None,
    ];

    /// Covered in the lenient sense: `match` or `partial`.
    pub fn covered(self) -> bool {
        self != RecallJudgement::None
    }

    /// Credit in lenient recall: 1, ½, 0.
    pub fn credit(self) -> f64 {
        match self {
            RecallJudgement::Match => 1.0,
            RecallJudgement::Partial => 0.5,
            RecallJudgement::None => 0.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecallJudgement::Match => "match",
            RecallJudgement::Partial => "partial",
            RecallJudgement::None => "none",
        }
    }
}

/// A judge's relevance label for one drafted threat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelevanceJudgement {
    Specific,
    Generic,
    Invalid,
}

/// One reference's label in a reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallLabel {
    pub label: RecallJudgement,
    /// Frozen threats the judge saw as covering the reference.
    #[serde(default)]
    pub threat_ids: Vec<String>,
}

/// One sampled threat's label in a reading (the checks beside the label are kept verbatim).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelevanceLabel {
    pub label: RelevanceJudgement,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride_ok: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_ok: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigation_ok: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A drafted threat as it was when judged: only what the judge and the matcher read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrozenThreat {
    pub id: String,
    /// `rule`, `knowledge-base`, ... (informational).
    #[serde(default)]
    pub origin: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub stride: Vec<Stride>,
    #[serde(default)]
    pub targets: Vec<TargetRef>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub cwe: Vec<u32>,
}

impl FrozenThreat {
    /// The threat as a draft [`Threat`], so any [`Similarity`] scores it as it would score a
    /// fresh draft. A missing severity becomes medium; there are no mitigations.
    pub fn to_threat(&self) -> Threat {
        let level = self.severity.unwrap_or(Severity::Medium);
        Threat {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            stride: self.stride.clone(),
            targets: self.targets.clone(),
            references: References {
                cwe: self.cwe.clone(),
                ..References::default()
            },
            severity: SeverityAssessment {
                level,
                likelihood: 3,
                impact: 3,
                score: 9,
                factors: Vec::new(),
                downgraded_by: None,
            },
            mitigations: Vec::new(),
            provenance: Provenance::Import {
                format: "tmc-calibration".to_string(),
                source_id: self.id.clone(),
            },
            status: ThreatStatus::Draft,
            review: None,
        }
    }
}

/// One judged file: a reading of one system. `threats` may be absent when another reading of
/// the same system carries the frozen threats (a second reader labels the same draft).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgedFile {
    pub system: String,
    pub source_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader: Option<String>,
    #[serde(default)]
    pub recall: BTreeMap<String, RecallLabel>,
    #[serde(default)]
    pub relevance: BTreeMap<String, RelevanceLabel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threats: Option<Vec<FrozenThreat>>,
}

/// A judged file with the path it was read from (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub file: JudgedFile,
}

/// One reader's labels over some systems.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// "A", "B", ...
    pub name: String,
    pub files: Vec<LoadedFile>,
}

/// Parses one judged file; errors name the file and, through serde, line and column.
pub fn parse_judged(text: &str, path: &std::path::Path) -> Result<JudgedFile, EvalError> {
    serde_json::from_str(text).map_err(|source| EvalError::Json {
        path: path.to_path_buf(),
        line: 0,
        source,
    })
}

/// A calibrated system: its frozen threats and each reading's labels of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibratedSystem {
    pub dataset: String,
    pub system: String,
    pub source_file: String,
    pub threats: Vec<FrozenThreat>,
    /// Its references, in `references.jsonl` order.
    pub references: Vec<ReferenceThreat>,
    /// Reading name → (file, labels).
    pub readings: BTreeMap<String, LoadedFile>,
}

/// Joins readings with the references and checks every id: each labelled reference must
/// exist for that system, each covering or relevance-labelled threat must be a frozen threat,
/// and some reading must carry the frozen threats. Systems come out in (dataset, system) order
/// so the control pairing is stable.
pub fn calibrated_systems(
    readings: &[Reading],
    refs: &[ReferenceThreat],
) -> Result<Vec<CalibratedSystem>, EvalError> {
    let mut by_source: BTreeMap<String, Vec<(String, &LoadedFile)>> = BTreeMap::new();
    for r in readings {
        for f in &r.files {
            let entry = by_source.entry(f.file.source_file.clone()).or_default();
            if let Some((other, prev)) = entry.iter().find(|(name, _)| *name == r.name) {
                return Err(EvalError::Format {
                    path: f.path.clone(),
                    message: format!(
                        "reading {other} already has a file for {} ({})",
                        f.file.source_file,
                        prev.path.display()
                    ),
                });
            }
            entry.push((r.name.clone(), f));
        }
    }
    let mut out = Vec::new();
    for (source, files) in by_source {
        let system_refs: Vec<ReferenceThreat> = refs
            .iter()
            .filter(|r| r.source_file == source)
            .cloned()
            .collect();
        let first = files
            .first()
            .map(|(_, f)| f)
            .ok_or_else(|| EvalError::Format {
                path: PathBuf::from(&source),
                message: "no reading".to_string(),
            })?;
        if system_refs.is_empty() {
            return Err(EvalError::Format {
                path: first.path.clone(),
                message: format!(
                    "field source_file: `{source}` has no references in references.jsonl"
                ),
            });
        }
        let Some(threats) = files.iter().find_map(|(_, f)| f.file.threats.clone()) else {
            return Err(EvalError::Format {
                path: first.path.clone(),
                message: format!(
                    "no reading of `{source}` carries the frozen `threats` the labels refer to"
                ),
            });
        };
        let threat_ids: BTreeSet<&str> = threats.iter().map(|t| t.id.as_str()).collect();
        let ref_ids: BTreeSet<&str> = system_refs.iter().map(|r| r.ref_id.as_str()).collect();
        for (_, f) in &files {
            let bad = |message: String| EvalError::Format {
                path: f.path.clone(),
                message,
            };
            for (ref_id, label) in &f.file.recall {
                if !ref_ids.contains(ref_id.as_str()) {
                    return Err(bad(format!(
                        "recall.{ref_id}: no reference `{ref_id}` for {source} in references.jsonl"
                    )));
                }
                if let Some(t) = label
                    .threat_ids
                    .iter()
                    .find(|t| !threat_ids.contains(t.as_str()))
                {
                    return Err(bad(format!(
                        "recall.{ref_id}.threat_ids: `{t}` is not a frozen threat of this system"
                    )));
                }
            }
            if let Some(t) = f
                .file
                .relevance
                .keys()
                .find(|t| !threat_ids.contains(t.as_str()))
            {
                return Err(bad(format!(
                    "relevance.{t}: `{t}` is not a frozen threat of this system"
                )));
            }
        }
        let head = &system_refs[0];
        out.push(CalibratedSystem {
            dataset: head.dataset.clone(),
            system: head.system.clone(),
            source_file: source.clone(),
            threats,
            readings: files
                .into_iter()
                .map(|(name, f)| (name, f.clone()))
                .collect(),
            references: system_refs,
        });
    }
    out.sort_by(|a, b| (&a.dataset, &a.system).cmp(&(&b.dataset, &b.system)));
    Ok(out)
}

/// Label × matcher decision counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub match_matched: usize,
    pub match_unmatched: usize,
    pub partial_matched: usize,
    pub partial_unmatched: usize,
    pub none_matched: usize,
    pub none_unmatched: usize,
}

impl Confusion {
    fn add(&mut self, label: RecallJudgement, matched: bool) {
        let cell = match (label, matched) {
            (RecallJudgement::Match, true) => &mut self.match_matched,
            (RecallJudgement::Match, false) => &mut self.match_unmatched,
            (RecallJudgement::Partial, true) => &mut self.partial_matched,
            (RecallJudgement::Partial, false) => &mut self.partial_unmatched,
            (RecallJudgement::None, true) => &mut self.none_matched,
            (RecallJudgement::None, false) => &mut self.none_unmatched,
        };
        *cell += 1;
    }

    fn merge(&mut self, o: &Confusion) {
        self.match_matched += o.match_matched;
        self.match_unmatched += o.match_unmatched;
        self.partial_matched += o.partial_matched;
        self.partial_unmatched += o.partial_unmatched;
        self.none_matched += o.none_matched;
        self.none_unmatched += o.none_unmatched;
    }

    /// (matched, unmatched) for one label.
    pub fn row(&self, label: RecallJudgement) -> (usize, usize) {
        match label {
            RecallJudgement::Match => (self.match_matched, self.match_unmatched),
            RecallJudgement::Partial => (self.partial_matched, self.partial_unmatched),
            RecallJudgement::None => (self.none_matched, self.none_unmatched),
        }
    }

    pub fn total(&self) -> usize {
        RecallJudgement::ALL
            .iter()
            .map(|&l| {
                let (a, b) = self.row(l);
                a + b
            })
            .sum()
    }

    /// Share of references where matched ⇔ covered (match or partial).
    pub fn agreement(&self) -> Option<f64> {
        ratio(
            self.match_matched + self.partial_matched + self.none_unmatched,
            self.total(),
        )
    }

    /// Mean of `1 − |matched − credit|`: a partial counts half either way.
    pub fn graded_agreement(&self) -> Option<f64> {
        let n = self.total();
        let score = (self.match_matched + self.none_unmatched) as f64
            + 0.5 * (self.partial_matched + self.partial_unmatched) as f64;
        (n > 0).then(|| score / n as f64)
    }

    pub fn matcher_recall(&self) -> Option<f64> {
        ratio(
            self.match_matched + self.partial_matched + self.none_matched,
            self.total(),
        )
    }

    pub fn judge_strict_recall(&self) -> Option<f64> {
        ratio(self.match_matched + self.match_unmatched, self.total())
    }

    pub fn judge_lenient_recall(&self) -> Option<f64> {
        let n = self.total();
        let credit = (self.match_matched + self.match_unmatched) as f64
            + 0.5 * (self.partial_matched + self.partial_unmatched) as f64;
        (n > 0).then(|| credit / n as f64)
    }
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// A reference where matcher and label disagree, for reading the errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    pub ref_id: String,
    pub label: RecallJudgement,
    pub matched: bool,
    /// The matcher's best frozen threat and its score (even below the threshold).
    pub best_threat: Option<String>,
    pub best_score: f64,
}

/// Frozen threats of one system scored against another system's references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlScore {
    /// The system whose references were used.
    pub against: String,
    pub references: usize,
    pub matched: usize,
    pub recall: Option<f64>,
}

/// One system under one reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemAgreement {
    pub dataset: String,
    pub system: String,
    pub source_file: String,
    pub held_out: bool,
    /// Frozen threats the matcher saw.
    pub threats: usize,
    /// References with a label in this reading.
    pub labelled: usize,
    pub confusion: Confusion,
    pub agreement: Option<f64>,
    pub graded_agreement: Option<f64>,
    pub matcher_recall: Option<f64>,
    pub judge_strict_recall: Option<f64>,
    pub judge_lenient_recall: Option<f64>,
    /// Of references both call covered (and the judge named threats for), the share whose
    /// best-scoring threat is among the judge's covering threats: right for the right reason.
    pub covering_agreement: Option<f64>,
    pub control: Option<ControlScore>,
    pub disagreements: Vec<Disagreement>,
}

/// A group of systems (all, tuning, held out) under one reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementSummary {
    pub label: String,
    pub systems: usize,
    pub references: usize,
    /// Pooled over references (each reference weighs the same): the figure the ≥ 85 % target
    /// is about.
    pub confusion: Confusion,
    pub agreement: Option<f64>,
    /// What a matcher that never matches would agree (the share of `none` labels): the floor
    /// an agreement figure has to beat to mean anything.
    pub never_match_agreement: Option<f64>,
    pub graded_agreement: Option<f64>,
    /// Mean of per-system agreement (each system weighs the same).
    pub macro_agreement: Option<f64>,
    /// Pooled recalls.
    pub matcher_recall: Option<f64>,
    pub judge_strict_recall: Option<f64>,
    pub judge_lenient_recall: Option<f64>,
    /// Macro recalls, as `tmc eval` reports recall (mean over systems).
    pub macro_matcher_recall: Option<f64>,
    pub macro_judge_strict_recall: Option<f64>,
    pub macro_judge_lenient_recall: Option<f64>,
    /// Control recall, pooled over the control references and as a macro mean.
    pub control_recall: Option<f64>,
    pub macro_control_recall: Option<f64>,
}

fn summarise(label: &str, systems: &[&SystemAgreement]) -> AgreementSummary {
    let mut confusion = Confusion::default();
    for s in systems {
        confusion.merge(&s.confusion);
    }
    let (mut c_refs, mut c_matched) = (0, 0);
    for c in systems.iter().filter_map(|s| s.control.as_ref()) {
        c_refs += c.references;
        c_matched += c.matched;
    }
    AgreementSummary {
        label: label.to_string(),
        systems: systems.len(),
        references: confusion.total(),
        confusion,
        agreement: confusion.agreement(),
        never_match_agreement: ratio(
            confusion.none_matched + confusion.none_unmatched,
            confusion.total(),
        ),
        graded_agreement: confusion.graded_agreement(),
        macro_agreement: mean(systems.iter().map(|s| s.agreement)),
        matcher_recall: confusion.matcher_recall(),
        judge_strict_recall: confusion.judge_strict_recall(),
        judge_lenient_recall: confusion.judge_lenient_recall(),
        macro_matcher_recall: mean(systems.iter().map(|s| s.matcher_recall)),
        macro_judge_strict_recall: mean(systems.iter().map(|s| s.judge_strict_recall)),
        macro_judge_lenient_recall: mean(systems.iter().map(|s| s.judge_lenient_recall)),
        control_recall: ratio(c_matched, c_refs),
        macro_control_recall: mean(
            systems
                .iter()
                .map(|s| s.control.as_ref().and_then(|c| c.recall)),
        ),
    }
}

/// Everything for one reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingAgreement {
    pub reading: String,
    pub systems: Vec<SystemAgreement>,
    /// "all", then "tuning" and "held out" ([`HELD_OUT_SOURCES`]) when both are non-empty.
    pub summaries: Vec<AgreementSummary>,
}

/// Two readings compared on what both labelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterReader {
    pub a: String,
    pub b: String,
    pub systems: usize,
    /// References both readings labelled.
    pub references: usize,
    /// Covered (match or partial) vs none.
    pub recall_agreement: Option<f64>,
    pub recall_kappa: Option<f64>,
    /// match / partial / none exactly.
    pub recall_exact_agreement: Option<f64>,
    pub recall_exact_kappa: Option<f64>,
    /// Threats both readings labelled for relevance.
    pub relevance_threats: usize,
    pub relevance_agreement: Option<f64>,
    pub relevance_kappa: Option<f64>,
    /// invalid vs not.
    pub invalid_agreement: Option<f64>,
    pub invalid_kappa: Option<f64>,
}

/// A validity lint's findings against the `invalid` labels of one reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LintAgreement {
    pub reading: String,
    /// Labelled threats considered.
    pub threats: usize,
    pub flagged_invalid: usize,
    pub flagged_not_invalid: usize,
    pub unflagged_invalid: usize,
    pub unflagged_not_invalid: usize,
    pub agreement: Option<f64>,
    /// flagged_invalid / flagged.
    pub precision: Option<f64>,
    /// flagged_invalid / invalid.
    pub recall: Option<f64>,
}

/// The whole `tmc eval --agreement` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementReport {
    /// [`Similarity::describe`]: the decision rule measured.
    pub matcher: String,
    pub threshold: f64,
    pub readings: Vec<ReadingAgreement>,
    pub inter_reader: Vec<InterReader>,
    /// Present when a validity lint was scored; see `lint_note` otherwise.
    pub lint: Vec<LintAgreement>,
    pub lint_note: String,
}

impl AgreementReport {
    pub fn to_json(&self) -> Result<String, EvalError> {
        serde_json::to_string_pretty(self).map_err(EvalError::Serialize)
    }
}

/// Best score and threat index for each reference.
fn best_per_reference(
    threats: &[Threat],
    refs: &[ReferenceThreat],
    sim: &dyn Similarity,
) -> Vec<Option<(usize, f64)>> {
    refs.iter()
        .map(|r| {
            let mut best: Option<(usize, f64)> = None;
            for (i, t) in threats.iter().enumerate() {
                let s = sim.score_pair(t, r);
                let s = if s.is_finite() {
                    s.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((i, s));
                }
            }
            best
        })
        .collect()
}

fn control_score(
    threats: &[Threat],
    next: &CalibratedSystem,
    sim: &dyn Similarity,
) -> ControlScore {
    let best = best_per_reference(threats, &next.references, sim);
    let matched = best
        .iter()
        .filter(|b| b.is_some_and(|(_, s)| s >= sim.threshold()))
        .count();
    ControlScore {
        against: next.system.clone(),
        references: next.references.len(),
        matched,
        recall: ratio(matched, next.references.len()),
    }
}

fn system_agreement(
    sys: &CalibratedSystem,
    file: &JudgedFile,
    threats: &[Threat],
    control: Option<ControlScore>,
    sim: &dyn Similarity,
) -> SystemAgreement {
    let best = best_per_reference(threats, &sys.references, sim);
    let mut confusion = Confusion::default();
    let mut disagreements = Vec::new();
    let (mut cover_n, mut cover_same) = (0, 0);
    for (r, b) in sys.references.iter().zip(&best) {
        let Some(label) = file.recall.get(&r.ref_id) else {
            continue;
        };
        let matched = b.is_some_and(|(_, s)| s >= sim.threshold());
        confusion.add(label.label, matched);
        let best_threat = b.map(|(i, _)| threats[i].id.clone());
        if matched && label.label.covered() && !label.threat_ids.is_empty() {
            cover_n += 1;
            cover_same += usize::from(
                best_threat
                    .as_ref()
                    .is_some_and(|t| label.threat_ids.contains(t)),
            );
        }
        if matched != label.label.covered() {
            disagreements.push(Disagreement {
                ref_id: r.ref_id.clone(),
                label: label.label,
                matched,
                best_threat,
                best_score: b.map_or(0.0, |(_, s)| s),
            });
        }
    }
    SystemAgreement {
        dataset: sys.dataset.clone(),
        system: sys.system.clone(),
        source_file: sys.source_file.clone(),
        held_out: is_held_out(&sys.source_file),
        threats: threats.len(),
        labelled: confusion.total(),
        agreement: confusion.agreement(),
        graded_agreement: confusion.graded_agreement(),
        matcher_recall: confusion.matcher_recall(),
        judge_strict_recall: confusion.judge_strict_recall(),
        judge_lenient_recall: confusion.judge_lenient_recall(),
        covering_agreement: ratio(cover_same, cover_n),
        confusion,
        control,
        disagreements,
    }
}

/// Scores `sim` against every reading of `systems` (see the module documentation).
///
/// The control pairs system *i*'s frozen threats with system *i+1*'s references (cyclically,
/// in the order given, which [`calibrated_systems`] makes (dataset, system) order); it is
/// computed once per system, as it does not depend on the labels. `lint` is the set of
/// threat ids a validity lint flags, per source file, when the caller has a lint.
pub fn agreement(
    systems: &[CalibratedSystem],
    sim: &dyn Similarity,
    lint: Option<&BTreeMap<String, BTreeSet<String>>>,
) -> AgreementReport {
    let threats: Vec<Vec<Threat>> = systems
        .iter()
        .map(|s| s.threats.iter().map(FrozenThreat::to_threat).collect())
        .collect();
    let n = systems.len();
    let controls: Vec<Option<ControlScore>> = (0..n)
        .map(|i| (n > 1).then(|| control_score(&threats[i], &systems[(i + 1) % n], sim)))
        .collect();
    let names: BTreeSet<&str> = systems
        .iter()
        .flat_map(|s| s.readings.keys().map(String::as_str))
        .collect();
    let mut readings = Vec::new();
    for name in &names {
        let rows: Vec<SystemAgreement> = systems
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.readings
                    .get(*name)
                    .map(|f| system_agreement(s, &f.file, &threats[i], controls[i].clone(), sim))
            })
            .collect();
        let all: Vec<&SystemAgreement> = rows.iter().collect();
        let tuning: Vec<&SystemAgreement> = rows.iter().filter(|s| !s.held_out).collect();
        let held: Vec<&SystemAgreement> = rows.iter().filter(|s| s.held_out).collect();
        let mut summaries = vec![summarise("all", &all)];
        if !tuning.is_empty() && !held.is_empty() {
            summaries.push(summarise("tuning", &tuning));
            summaries.push(summarise("held out", &held));
        }
        readings.push(ReadingAgreement {
            reading: (*name).to_string(),
            systems: rows,
            summaries,
        });
    }
    let names: Vec<&str> = names.into_iter().collect();
    let mut inter_reader = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            inter_reader.push(inter_reader_agreement(systems, a, b));
        }
    }
    let (lint, lint_note) = match lint {
        Some(flags) => (
            names
                .iter()
                .map(|r| lint_agreement(systems, r, flags))
                .collect(),
            "validity lint scored against the `invalid` relevance labels".to_string(),
        ),
        None => (
            Vec::new(),
            "no validity lint to score: none exists yet (issue 16, point 6)".to_string(),
        ),
    };
    AgreementReport {
        matcher: sim.describe(),
        threshold: sim.threshold(),
        readings,
        inter_reader,
        lint,
        lint_note,
    }
}

/// Observed agreement and Cohen's κ of paired categorical labels.
fn kappa<T: Ord + Copy>(pairs: &[(T, T)]) -> (Option<f64>, Option<f64>) {
    let n = pairs.len();
    if n == 0 {
        return (None, None);
    }
    let observed = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n as f64;
    let mut ca: BTreeMap<T, usize> = BTreeMap::new();
    let mut cb: BTreeMap<T, usize> = BTreeMap::new();
    for &(a, b) in pairs {
        *ca.entry(a).or_default() += 1;
        *cb.entry(b).or_default() += 1;
    }
    let expected: f64 = ca
        .iter()
        .map(|(k, &x)| x as f64 * cb.get(k).copied().unwrap_or(0) as f64)
        .sum::<f64>()
        / (n * n) as f64;
    // κ is undefined when chance agreement is total (both readers used one label only).
    let k = (expected < 1.0).then(|| (observed - expected) / (1.0 - expected));
    (Some(observed), k)
}

fn inter_reader_agreement(systems: &[CalibratedSystem], a: &str, b: &str) -> InterReader {
    let mut recall: Vec<(RecallJudgement, RecallJudgement)> = Vec::new();
    let mut relevance: Vec<(RelevanceJudgement, RelevanceJudgement)> = Vec::new();
    let mut shared_systems = 0;
    for s in systems {
        let (Some(fa), Some(fb)) = (s.readings.get(a), s.readings.get(b)) else {
            continue;
        };
        shared_systems += 1;
        for (ref_id, la) in &fa.file.recall {
            if let Some(lb) = fb.file.recall.get(ref_id) {
                recall.push((la.label, lb.label));
            }
        }
        for (id, la) in &fa.file.relevance {
            if let Some(lb) = fb.file.relevance.get(id) {
                relevance.push((la.label, lb.label));
            }
        }
    }
    let covered: Vec<(bool, bool)> = recall
        .iter()
        .map(|(x, y)| (x.covered(), y.covered()))
        .collect();
    let invalid: Vec<(bool, bool)> = relevance
        .iter()
        .map(|(x, y)| {
            (
                *x == RelevanceJudgement::Invalid,
                *y == RelevanceJudgement::Invalid,
            )
        })
        .collect();
    let (recall_agreement, recall_kappa) = kappa(&covered);
    let (recall_exact_agreement, recall_exact_kappa) = kappa(&recall);
    let (relevance_agreement, relevance_kappa) = kappa(&relevance);
    let (invalid_agreement, invalid_kappa) = kappa(&invalid);
    InterReader {
        a: a.to_string(),
        b: b.to_string(),
        systems: shared_systems,
        references: recall.len(),
        recall_agreement,
        recall_kappa,
        recall_exact_agreement,
        recall_exact_kappa,
        relevance_threats: relevance.len(),
        relevance_agreement,
        relevance_kappa,
        invalid_agreement,
        invalid_kappa,
    }
}

/// Scores a lint's flagged threat ids (per source file) against one reading's relevance
/// labels: a flag is right when the judge said `invalid`.
pub fn lint_agreement(
    systems: &[CalibratedSystem],
    reading: &str,
    flagged: &BTreeMap<String, BTreeSet<String>>,
) -> LintAgreement {
    let (mut fi, mut fv, mut ui, mut uv) = (0, 0, 0, 0);
    let empty = BTreeSet::new();
    for s in systems {
        let Some(f) = s.readings.get(reading) else {
            continue;
        };
        let flags = flagged.get(&s.source_file).unwrap_or(&empty);
        for (id, label) in &f.file.relevance {
            let invalid = label.label == RelevanceJudgement::Invalid;
            match (flags.contains(id), invalid) {
                (true, true) => fi += 1,
                (true, false) => fv += 1,
                (false, true) => ui += 1,
                (false, false) => uv += 1,
            }
        }
    }
    LintAgreement {
        reading: reading.to_string(),
        threats: fi + fv + ui + uv,
        flagged_invalid: fi,
        flagged_not_invalid: fv,
        unflagged_invalid: ui,
        unflagged_not_invalid: uv,
        agreement: ratio(fi + uv, fi + fv + ui + uv),
        precision: ratio(fi, fi + fv),
        recall: ratio(fi, fi + ui),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{:.1}%", 100.0 * x))
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
}

/// Markdown (and plain-text) rendering: one table per reading, summaries, confusion tables,
/// inter-reader agreement, the lint line.
pub fn render_markdown(report: &AgreementReport) -> String {
    let mut out = String::new();
    out.push_str("# Matcher agreement with the calibration labels\n\n");
    out.push_str(&format!("Matcher: {}\n\n", report.matcher));
    for r in &report.readings {
        out.push_str(&format!("## Reading {}\n\n", r.reading));
        out.push_str("| system | held out | refs | agreement | graded | matcher recall | judge strict | judge lenient | covering | control |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for s in &r.systems {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                s.system.replace('|', "\\|"),
                if s.held_out { "yes" } else { "no" },
                s.labelled,
                pct(s.agreement),
                pct(s.graded_agreement),
                pct(s.matcher_recall),
                pct(s.judge_strict_recall),
                pct(s.judge_lenient_recall),
                pct(s.covering_agreement),
                pct(s.control.as_ref().and_then(|c| c.recall)),
            ));
        }
        out.push('\n');
        out.push_str("| group | systems | refs | agreement | never-match floor | graded | macro agreement | matcher recall (pooled / macro) | judge strict | judge lenient | control (pooled / macro) |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
        for m in &r.summaries {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} | {} / {} | {} / {} |\n",
                m.label,
                m.systems,
                m.references,
                pct(m.agreement),
                pct(m.never_match_agreement),
                pct(m.graded_agreement),
                pct(m.macro_agreement),
                pct(m.matcher_recall),
                pct(m.macro_matcher_recall),
                pct(m.judge_strict_recall),
                pct(m.macro_judge_strict_recall),
                pct(m.judge_lenient_recall),
                pct(m.macro_judge_lenient_recall),
                pct(m.control_recall),
                pct(m.macro_control_recall),
            ));
        }
        if let Some(all) = r.summaries.first() {
            out.push_str("\nConfusion (all systems): label × matcher decision\n\n");
            out.push_str("| label | matched | unmatched |\n|---|---|---|\n");
            for l in RecallJudgement::ALL {
                let (a, b) = all.confusion.row(l);
                out.push_str(&format!("| {} | {a} | {b} |\n", l.as_str()));
            }
        }
        out.push('\n');
    }
    if !report.inter_reader.is_empty() {
        out.push_str("## Inter-reader agreement\n\n");
        out.push_str("| readings | systems | refs | covered vs none (κ) | match/partial/none (κ) | relevance threats | specific/generic/invalid (κ) | invalid vs not (κ) |\n");
        out.push_str("|---|---|---|---|---|---|---|---|\n");
        for x in &report.inter_reader {
            out.push_str(&format!(
                "| {} vs {} | {} | {} | {} ({}) | {} ({}) | {} | {} ({}) | {} ({}) |\n",
                x.a,
                x.b,
                x.systems,
                x.references,
                pct(x.recall_agreement),
                num(x.recall_kappa),
                pct(x.recall_exact_agreement),
                num(x.recall_exact_kappa),
                x.relevance_threats,
                pct(x.relevance_agreement),
                num(x.relevance_kappa),
                pct(x.invalid_agreement),
                num(x.invalid_kappa),
            ));
        }
        out.push('\n');
    }
    out.push_str("## Validity lint\n\n");
    out.push_str(&format!("{}\n", report.lint_note));
    for l in &report.lint {
        out.push_str(&format!(
            "\nReading {}: {} threats, agreement {}, precision {}, recall {} (flagged invalid {}, flagged other {}, missed invalid {}, other {})\n",
            l.reading,
            l.threats,
            pct(l.agreement),
            pct(l.precision),
            pct(l.recall),
            l.flagged_invalid,
            l.flagged_not_invalid,
            l.unflagged_invalid,
            l.unflagged_not_invalid
        ));
    }
    out
}
