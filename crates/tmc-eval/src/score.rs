//! Scores of one drafted system against its references, and their aggregation.
//!
//! Follows the protocol in `shared/bench/README.md`: several numbers rather than one, ratios
//! left undefined (`None`) rather than zero when their denominator is empty, macro averages
//! over systems, and tool-output baselines never pooled with expert references.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tmc_model::draft::{Stride, Threat};

use crate::bench::{ReferenceThreat, is_tool_baseline};
use crate::error::EvalError;
use crate::matching::{
    Pair, ScoreMatrix, Similarity, many_to_one, optimal_assignment, reference_text, threat_text,
};
use crate::text::default_process;

/// STRIDE sub-scores for one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrideScore {
    /// "S", "T", "R", "I", "D" or "E".
    pub letter: String,
    /// References labelled with this category.
    pub references: usize,
    /// Of those, how many some generated threat recalls (many-to-one).
    pub recalled: usize,
    /// recalled / references; `None` when no reference carries the label.
    pub recall: Option<f64>,
    /// Strict (one-to-one) pairs whose reference carries the label.
    pub pairs: usize,
    /// Of those, pairs whose generated threat carries the label too.
    pub pairs_agreeing: usize,
    /// pairs_agreeing / pairs: does the draft classify the matched threat the same way?
    pub label_agreement: Option<f64>,
}

/// One strict pair, by ids, so a reviewer can inspect what was matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedPair {
    pub generated_id: String,
    pub reference_id: String,
    pub score: f64,
}

/// All scores of one system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemScore {
    pub dataset: String,
    pub system: String,
    /// The references are another tool's output (a baseline, not truth).
    pub tool_baseline: bool,
    /// The similarity method and threshold ([`Similarity::describe`]): the decision rule.
    pub similarity: String,
    pub threshold: f64,
    /// Generated threats after removing exact textual duplicates.
    pub generated: usize,
    /// Generated threats removed as duplicates.
    pub duplicates_removed: usize,
    /// References after removing exact textual duplicates.
    pub references: usize,
    /// References removed as duplicates (same title, text and components).
    pub reference_duplicates_removed: usize,
    /// References some generated threat matches.
    pub recalled: usize,
    pub recall: Option<f64>,
    /// Generated threats that match some reference.
    pub reference_precise: usize,
    /// A lower bound on precision: unmatched threats may still be valid.
    pub reference_precision: Option<f64>,
    /// Pairs in the optimal one-to-one assignment.
    pub strict_pairs: usize,
    pub strict_precision: Option<f64>,
    pub strict_recall: Option<f64>,
    /// `2·pairs / (generated + references)`.
    pub strict_f1: Option<f64>,
    pub stride: Vec<StrideScore>,
    /// Strict pairs where both sides have a severity (all generated threats do).
    pub severity_pairs: usize,
    pub severity_exact: Option<f64>,
    pub severity_within_one: Option<f64>,
    /// Strict pairs where both sides list CWEs.
    pub cwe_pairs: usize,
    /// Share of those pairs with at least one CWE in common.
    pub cwe_exact: Option<f64>,
    /// Validity precision needs a judge (model or person); `None` means "not judged".
    pub relevance: Option<f64>,
    pub pairs: Vec<MatchedPair>,
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Scores `generated` against the references of one system.
///
/// Recall and reference precision use the many-to-one matching; strict P/R/F1 and the
/// sub-metrics on matched pairs (STRIDE label agreement, severity, CWE) use the optimal
/// one-to-one pairs, so each pair is counted once. Exact textual duplicates (same processed
/// title, text and targets) are removed on both sides first. Dataset and system names come
/// from the first reference.
pub fn score_system(
    generated: &[Threat],
    refs: &[ReferenceThreat],
    sim: &dyn Similarity,
) -> SystemScore {
    // De-duplicate generated threats whose processed text is identical: the protocol counts
    // precision "after de-duplication", and exact copies are the one unambiguous case.
    let mut seen = BTreeSet::new();
    let mut gen_threats: Vec<&Threat> = Vec::new();
    let mut gen_texts: Vec<String> = Vec::new();
    for t in generated {
        let text = threat_text(t);
        if seen.insert(default_process(&text)) {
            gen_threats.push(t);
            gen_texts.push(text);
        }
    }
    // References get the same treatment: tool outputs repeat a threat once per data flow
    // with identical text, which would otherwise count one missed threat three times.
    let mut seen_refs = BTreeSet::new();
    let mut kept_refs: Vec<&ReferenceThreat> = Vec::new();
    let mut ref_texts: Vec<String> = Vec::new();
    for r in refs {
        let text = reference_text(r);
        if seen_refs.insert(default_process(&text)) {
            kept_refs.push(r);
            ref_texts.push(text);
        }
    }
    let reference_duplicates_removed = refs.len() - kept_refs.len();
    let refs = kept_refs.as_slice();
    let threshold = sim.threshold();
    let rows: Vec<Vec<f64>> = gen_threats
        .iter()
        .map(|g| refs.iter().map(|r| sim.score_pair(g, r)).collect())
        .collect();
    let matrix = ScoreMatrix::from_rows(&rows);
    let loose = many_to_one(&matrix, threshold);
    let strict = optimal_assignment(&matrix, threshold);

    let n_gen = gen_threats.len();
    let n_ref = refs.len();
    let recalled = loose.recalled();
    let precise = loose.reference_precise();

    let stride = Stride::ALL
        .iter()
        .map(|&letter| stride_score(letter, refs, &gen_threats, &loose.reference_best, &strict))
        .collect();

    let (mut sev_pairs, mut sev_exact, mut sev_near) = (0, 0, 0);
    let (mut cwe_pairs, mut cwe_same) = (0, 0);
    for p in &strict {
        let (g, r) = (gen_threats[p.generated], refs[p.reference]);
        if let Some(rs) = r.severity {
            sev_pairs += 1;
            let diff = (g.severity.level.rank() - rs.rank()).abs();
            sev_exact += usize::from(diff == 0);
            sev_near += usize::from(diff <= 1);
        }
        if !g.references.cwe.is_empty() && !r.cwe.is_empty() {
            cwe_pairs += 1;
            cwe_same += usize::from(g.references.cwe.iter().any(|c| r.cwe.contains(c)));
        }
    }

    SystemScore {
        dataset: refs.first().map(|r| r.dataset.clone()).unwrap_or_default(),
        system: refs.first().map(|r| r.system.clone()).unwrap_or_default(),
        tool_baseline: refs.first().is_some_and(|r| is_tool_baseline(&r.dataset)),
        similarity: sim.describe(),
        threshold,
        generated: n_gen,
        duplicates_removed: generated.len() - n_gen,
        references: n_ref,
        reference_duplicates_removed,
        recalled,
        recall: ratio(recalled, n_ref),
        reference_precise: precise,
        reference_precision: ratio(precise, n_gen),
        strict_pairs: strict.len(),
        strict_precision: ratio(strict.len(), n_gen),
        strict_recall: ratio(strict.len(), n_ref),
        strict_f1: ratio(2 * strict.len(), n_gen + n_ref),
        stride,
        severity_pairs: sev_pairs,
        severity_exact: ratio(sev_exact, sev_pairs),
        severity_within_one: ratio(sev_near, sev_pairs),
        cwe_pairs,
        cwe_exact: ratio(cwe_same, cwe_pairs),
        relevance: None,
        pairs: strict
            .iter()
            .map(|p| MatchedPair {
                generated_id: gen_threats[p.generated].id.clone(),
                reference_id: refs[p.reference].ref_id.clone(),
                score: p.score,
            })
            .collect(),
    }
}

fn stride_score(
    letter: Stride,
    refs: &[&ReferenceThreat],
    generated: &[&Threat],
    reference_best: &[Option<Pair>],
    strict: &[Pair],
) -> StrideScore {
    let labelled: Vec<usize> = (0..refs.len())
        .filter(|&i| refs[i].stride.contains(&letter))
        .collect();
    let recalled = labelled
        .iter()
        .filter(|&&i| reference_best.get(i).is_some_and(Option::is_some))
        .count();
    let pairs: Vec<&Pair> = strict
        .iter()
        .filter(|p| refs[p.reference].stride.contains(&letter))
        .collect();
    let agreeing = pairs
        .iter()
        .filter(|p| generated[p.generated].stride.contains(&letter))
        .count();
    StrideScore {
        letter: letter.letter().to_string(),
        references: labelled.len(),
        recalled,
        recall: ratio(recalled, labelled.len()),
        pairs: pairs.len(),
        pairs_agreeing: agreeing,
        label_agreement: ratio(agreeing, pairs.len()),
    }
}

/// Macro averages over a group of systems (each system weighs the same, whatever its size).
/// A metric's mean is over the systems where it is defined; `None` if none is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacroSummary {
    /// A dataset name, or "expert (macro)" / "tool baselines (macro)".
    pub label: String,
    pub tool_baseline: bool,
    pub systems: usize,
    pub generated: usize,
    pub references: usize,
    pub recall: Option<f64>,
    pub reference_precision: Option<f64>,
    pub strict_precision: Option<f64>,
    pub strict_recall: Option<f64>,
    pub strict_f1: Option<f64>,
    /// Per STRIDE letter, the mean of per-system category recall.
    pub stride_recall: BTreeMap<String, Option<f64>>,
    pub severity_exact: Option<f64>,
    pub severity_within_one: Option<f64>,
    pub cwe_exact: Option<f64>,
    pub relevance: Option<f64>,
}

/// Everything `tmc eval` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub systems: Vec<SystemScore>,
    /// One summary per dataset, sorted by name.
    pub datasets: Vec<MacroSummary>,
    /// Macro average over systems with expert references.
    pub expert: Option<MacroSummary>,
    /// Macro average over systems whose references are tool output, kept apart.
    pub tool_baselines: Option<MacroSummary>,
}

impl EvalReport {
    /// One JSON object per system, one per line, for `--save` (append-friendly).
    pub fn to_jsonl(&self) -> Result<String, EvalError> {
        let mut out = String::new();
        for s in &self.systems {
            out.push_str(&serde_json::to_string(s).map_err(EvalError::Serialize)?);
            out.push('\n');
        }
        Ok(out)
    }

    /// The whole report as pretty JSON, for `--format json`.
    pub fn to_json(&self) -> Result<String, EvalError> {
        serde_json::to_string_pretty(self).map_err(EvalError::Serialize)
    }
}

fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn summarise(label: &str, tool_baseline: bool, systems: &[&SystemScore]) -> MacroSummary {
    let m = |f: fn(&SystemScore) -> Option<f64>| mean(systems.iter().map(|s| f(s)));
    let stride_recall = Stride::ALL
        .iter()
        .map(|l| {
            let letter = l.letter().to_string();
            let value = mean(systems.iter().map(|s| {
                s.stride
                    .iter()
                    .find(|x| x.letter == letter)
                    .and_then(|x| x.recall)
            }));
            (letter, value)
        })
        .collect();
    MacroSummary {
        label: label.to_string(),
        tool_baseline,
        systems: systems.len(),
        generated: systems.iter().map(|s| s.generated).sum(),
        references: systems.iter().map(|s| s.references).sum(),
        recall: m(|s| s.recall),
        reference_precision: m(|s| s.reference_precision),
        strict_precision: m(|s| s.strict_precision),
        strict_recall: m(|s| s.strict_recall),
        strict_f1: m(|s| s.strict_f1),
        stride_recall,
        severity_exact: m(|s| s.severity_exact),
        severity_within_one: m(|s| s.severity_within_one),
        cwe_exact: m(|s| s.cwe_exact),
        relevance: m(|s| s.relevance),
    }
}

/// Per-dataset and macro summaries; tool baselines get their own macro row and never enter
/// the expert one.
pub fn aggregate(systems: Vec<SystemScore>) -> EvalReport {
    let mut by_dataset: BTreeMap<&str, Vec<&SystemScore>> = BTreeMap::new();
    for s in &systems {
        by_dataset.entry(s.dataset.as_str()).or_default().push(s);
    }
    let datasets = by_dataset
        .iter()
        .map(|(name, group)| summarise(name, group.iter().any(|s| s.tool_baseline), group))
        .collect();
    let expert: Vec<&SystemScore> = systems.iter().filter(|s| !s.tool_baseline).collect();
    let tools: Vec<&SystemScore> = systems.iter().filter(|s| s.tool_baseline).collect();
    let expert = (!expert.is_empty()).then(|| summarise("expert (macro)", false, &expert));
    let tool_baselines =
        (!tools.is_empty()).then(|| summarise("tool baselines (macro)", true, &tools));
    EvalReport {
        systems,
        datasets,
        expert,
        tool_baselines,
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{:.0}%", 100.0 * x))
}

/// A table row: label, gen, refs, then the percentage columns.
struct Row {
    label: String,
    generated: usize,
    references: usize,
    cells: [Option<f64>; 8],
}

const HEADERS: [&str; 11] = [
    "system", "gen", "refs", "recall", "ref-prec", "strict-P", "strict-R", "F1", "sev=", "sev±1",
    "cwe=",
];

fn system_row(s: &SystemScore) -> Row {
    Row {
        label: format!("{} / {}", s.dataset, s.system),
        generated: s.generated,
        references: s.references,
        cells: [
            s.recall,
            s.reference_precision,
            s.strict_precision,
            s.strict_recall,
            s.strict_f1,
            s.severity_exact,
            s.severity_within_one,
            s.cwe_exact,
        ],
    }
}

fn summary_row(m: &MacroSummary) -> Row {
    Row {
        label: format!("{} ({} systems)", m.label, m.systems),
        generated: m.generated,
        references: m.references,
        cells: [
            m.recall,
            m.reference_precision,
            m.strict_precision,
            m.strict_recall,
            m.strict_f1,
            m.severity_exact,
            m.severity_within_one,
            m.cwe_exact,
        ],
    }
}

fn row_cells(r: &Row) -> Vec<String> {
    let mut v = vec![
        r.label.clone(),
        r.generated.to_string(),
        r.references.to_string(),
    ];
    v.extend(r.cells.iter().map(|c| pct(*c)));
    v
}

/// Sections of the report: systems, then per-dataset, then the macro rows.
fn sections(report: &EvalReport) -> Vec<(&'static str, Vec<Row>)> {
    let mut out = vec![
        ("Systems", report.systems.iter().map(system_row).collect()),
        (
            "Datasets (macro over systems)",
            report.datasets.iter().map(summary_row).collect(),
        ),
    ];
    let macros: Vec<Row> = report
        .expert
        .iter()
        .chain(report.tool_baselines.iter())
        .map(summary_row)
        .collect();
    out.push(("Macro averages (tool baselines kept apart)", macros));
    out
}

fn footer(report: &EvalReport) -> String {
    let rule = report
        .systems
        .first()
        .map(|s| s.similarity.clone())
        .unwrap_or_else(|| "none".to_string());
    format!(
        "Match rule: {rule}. Relevance (validity precision): not judged.\n\
         Tool-baseline datasets are another tool's output, not ground truth.\n"
    )
}

/// Plain-text table with aligned columns.
pub fn render_table(report: &EvalReport) -> String {
    let secs = sections(report);
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
    for (_, rows) in &secs {
        for r in rows {
            for (w, c) in widths.iter_mut().zip(row_cells(r)) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            if i == 0 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let header: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for (title, rows) in &secs {
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("{title}\n"));
        out.push_str(&line(&header));
        for r in rows {
            out.push_str(&line(&row_cells(r)));
        }
        out.push('\n');
    }
    out.push_str(&footer(report));
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The same content as [`render_table`], as Markdown tables.
pub fn render_markdown(report: &EvalReport) -> String {
    let mut out = String::from("# Evaluation\n\n");
    for (title, rows) in sections(report) {
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("## {title}\n\n| {} |\n", HEADERS.join(" | ")));
        out.push_str(&format!(
            "|---|{}\n",
            "---:|".repeat(HEADERS.len().saturating_sub(1))
        ));
        for r in &rows {
            let cells: Vec<String> = row_cells(r).iter().map(|c| md_escape(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out.push('\n');
    }
    out.push_str(&footer(report));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::LexicalSimilarity;
    use tmc_model::draft::Severity;

    fn reference(
        id: &str,
        title: &str,
        stride: &[Stride],
        sev: Option<Severity>,
    ) -> ReferenceThreat {
        ReferenceThreat {
            dataset: "d".into(),
            system: "s".into(),
            ref_id: id.into(),
            title: title.into(),
            text: String::new(),
            stride: stride.to_vec(),
            components: Vec::new(),
            severity: sev,
            mitigations: Vec::new(),
            cwe: vec![89],
            capec: Vec::new(),
            source_file: String::new(),
        }
    }

    #[test]
    fn sub_metrics_on_matched_pairs() {
        let refs = vec![
            reference(
                "1",
                "SQL injection in the search API",
                &[Stride::Tampering],
                Some(Severity::High),
            ),
            reference(
                "2",
                "Session token theft through XSS",
                &[Stride::Spoofing],
                Some(Severity::Low),
            ),
        ];
        let mut g1 = refs[0].to_threat();
        g1.severity.level = Severity::Critical; // one level off
        g1.stride = vec![Stride::InformationDisclosure]; // label disagrees
        g1.references.cwe = vec![89];
        let mut g2 = refs[1].to_threat();
        g2.references.cwe = vec![79];
        let unrelated = reference("3", "Backups stored without encryption", &[], None).to_threat();
        let s = score_system(&[g1, g2, unrelated], &refs, &LexicalSimilarity::default());
        assert_eq!((s.generated, s.references, s.strict_pairs), (3, 2, 2));
        assert_eq!(s.recall, Some(1.0));
        assert_eq!(s.reference_precision, Some(2.0 / 3.0));
        assert_eq!(s.strict_f1, Some(0.8));
        assert_eq!(s.severity_exact, Some(0.5));
        assert_eq!(s.severity_within_one, Some(1.0));
        assert_eq!(s.cwe_exact, Some(0.5));
        let t = &s.stride[1];
        assert_eq!((t.letter.as_str(), t.references, t.recalled), ("T", 1, 1));
        assert_eq!(t.label_agreement, Some(0.0));
        assert_eq!(s.stride[0].label_agreement, Some(1.0));
        assert_eq!(s.stride[2].recall, None);
        assert_eq!(s.relevance, None);

        let report = aggregate(vec![s]);
        assert_eq!(report.datasets.len(), 1);
        assert!(report.tool_baselines.is_none());
        assert!(render_table(&report).contains("d / s"));
    }
}
