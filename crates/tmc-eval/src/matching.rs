//! Deciding which generated threat matches which reference threat.
//!
//! Two matchings answer two questions:
//!
//! * **many-to-one** ([`many_to_one`]): is this reference covered by *some* generated threat,
//!   and does this generated threat correspond to *some* reference? Drafts often split one
//!   reference threat across several targets, so recall and reference precision allow reuse.
//! * **one-to-one** ([`optimal_assignment`]): the strict F1 of the Threat Composer consistency
//!   method, where each threat may be paired once and the pairing maximises total similarity
//!   (Hungarian algorithm), so one broad generated threat cannot claim many references.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use serde::{Deserialize, Serialize};
use tmc_model::draft::Threat;

use crate::bench::ReferenceThreat;
use crate::text::{IdfTable, bm25_overlap, overlap_terms, processed_token_set_ratio};

/// A similarity between two threat texts, on 0..=1, with the threshold at which its authors
/// consider two threats the same. Implementations must be deterministic: the scores they give
/// are recorded with the evaluation results.
pub trait Similarity {
    /// Similarity of `a` and `b` on 0..=1 (higher is more similar).
    fn score(&self, a: &str, b: &str) -> f64;
    /// Scores at or above this are a match.
    fn threshold(&self) -> f64;
    /// A short description of the method and its parameters, stored with the scores.
    fn describe(&self) -> String;
    /// Similarity of a generated threat and a reference. The default compares their texts
    /// ([`threat_text`], [`reference_text`]); structured matchers also look at targets and STRIDE.
    fn score_pair(&self, generated: &Threat, reference: &ReferenceThreat) -> f64 {
        self.score(&threat_text(generated), &reference_text(reference))
    }
}

/// Marks where a drafted description stops being threat text: the knowledge base appends the
/// past model it came from, and imported Threat Composer threats append reviewer comments.
/// Neither says anything about the mechanism, and the provenance names another system.
pub const PROVENANCE_MARKERS: &[&str] = &["\n\nFrom the knowledge base:", "\n\nComments:"];

/// The threat text of a description without [`PROVENANCE_MARKERS`] tails.
pub fn strip_provenance(description: &str) -> &str {
    let cut = PROVENANCE_MARKERS
        .iter()
        .filter_map(|m| description.find(m))
        .min()
        .unwrap_or(description.len());
    &description[..cut]
}

/// Global parameters of [`StructuredSimilarity`]. None refers to a system, a reference or a
/// word of the labelled texts; each is a property of the decision rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StructuredParams {
    /// Weight of the mechanism text similarity (lexical, on titles + descriptions).
    pub mechanism_weight: f64,
    /// Weight of the element correspondence (target vs reference component or prose).
    pub element_weight: f64,
    /// Weight of STRIDE agreement.
    pub stride_weight: f64,
    /// STRIDE credit when either side has no STRIDE label (unknown is neither agreement nor
    /// disagreement).
    pub stride_unknown: f64,
    /// Weight of token-set ratio against BM25 overlap inside the mechanism similarity.
    pub token_set_weight: f64,
    /// A pair whose element score is below this cannot match, whatever its wording: the
    /// protocol's match is "the same attacked component or flow" first.
    pub element_gate: f64,
    /// Scores at or above this are a match.
    pub threshold: f64,
}

impl Default for StructuredParams {
    fn default() -> Self {
        STRUCTURED_DEFAULT
    }
}

/// The tuned parameters (see `calibration/README.md` for how and why).
///
/// Tuned on the four calibration systems not in `agreement::HELD_OUT_SOURCES` by a grid over
/// every parameter (weights in steps of 0.1, gate 0–0.9, threshold 0.20–0.95), keeping only
/// settings whose mismatched-system control is ≤ 5 %:
///
/// * `element_gate` 0.5 is the one parameter that matters: without it a third of the control
///   references "match", because knowledge-base threats are other systems' threats copied with
///   their wording; with it the control is 0.
/// * mechanism 0.7 / element 0.2 / STRIDE 0.1: the element is already required by the gate, so
///   its weight only ranks; STRIDE labels are coarse (and absent in one dataset).
/// * `stride_unknown` 0.5: unknown is half-way, not agreement; 1.0 scored 3 references better
///   on the tuning set, inside the noise of the threshold.
/// * `token_set_weight` 0.5: the lexical matcher's calibrated mix; 0–1 changed nothing robust.
/// * `threshold` 0.6: the tuning optimum; agreement swings ±5 points between 0.56 and 0.64,
///   so it is a noisy peak rather than a plateau.
pub const STRUCTURED_DEFAULT: StructuredParams = StructuredParams {
    mechanism_weight: 0.7,
    element_weight: 0.2,
    stride_weight: 0.1,
    stride_unknown: 0.5,
    token_set_weight: 0.5,
    element_gate: 0.5,
    threshold: 0.6,
};

/// The parts of a structured score, for inspection and tuning.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairFeatures {
    /// Lexical similarity of the mechanism texts (0..=1).
    pub mechanism: f64,
    /// Best target ↔ reference component name similarity (0..=1); 0 when the reference has
    /// no components.
    pub element_component: f64,
    /// Share (IDF-weighted) of the best target name's words that the reference prose uses.
    pub element_mention: f64,
    /// STRIDE: `Some(true)` overlap, `Some(false)` disjoint, `None` when a side has none.
    pub stride: Option<bool>,
    /// The reference lists its components: the element is judged on them, not on the prose.
    pub reference_has_components: bool,
}

/// The benchmark protocol's match: "the same attacked component or flow, the same attacker
/// mechanism and a compatible impact", as a weighted sum of three evidences on 0..=1:
///
/// * **mechanism**: [`LexicalSimilarity`] of title + description (provenance tails stripped,
///   [`strip_provenance`]) against the reference's title + text;
/// * **element**: how well some target names the attacked element: IDF-weighted overlap of the
///   target's name (or id) with a reference component, or, for references that list no
///   components, how much of the target's name the reference prose mentions;
/// * **STRIDE**: 1 when the categories overlap, 0 when disjoint, `stride_unknown` when a side
///   has none.
///
/// Below `element_gate` on the element a pair cannot match. The IDF table is the lexical
/// matcher's, so words every reference uses ("data", "attacker") weigh little everywhere.
#[derive(Debug, Clone)]
pub struct StructuredSimilarity {
    pub lexical: LexicalSimilarity,
    pub params: StructuredParams,
}

impl StructuredSimilarity {
    /// Default parameters over `lexical`'s IDF table (its own weight and threshold are
    /// replaced by the structured parameters).
    pub fn new(lexical: LexicalSimilarity) -> Self {
        Self::with_params(lexical, STRUCTURED_DEFAULT)
    }

    pub fn with_params(lexical: LexicalSimilarity, params: StructuredParams) -> Self {
        let lexical = lexical.with_token_set_weight(params.token_set_weight);
        StructuredSimilarity { lexical, params }
    }

    /// IDF over the reference texts, as `tmc eval` and `tmc eval --agreement` both build it,
    /// so the two measure the same matcher.
    pub fn for_references(refs: &[ReferenceThreat]) -> Self {
        Self::new(LexicalSimilarity::from_corpus(
            refs.iter().map(reference_text),
        ))
    }

    /// Whether some target names some component of the reference (name similarity ≥ 0.5).
    pub fn same_element(&self, generated: &Threat, reference: &ReferenceThreat) -> bool {
        self.features(generated, reference).element_component >= 0.5
    }

    fn idf(&self) -> &IdfTable {
        &self.lexical.idf
    }

    /// The three evidences of a pair.
    pub fn features(&self, generated: &Threat, reference: &ReferenceThreat) -> PairFeatures {
        let g = format!(
            "{} {}",
            generated.title,
            strip_provenance(&generated.description)
        );
        let r = format!("{} {}", reference.title, reference.text);
        let mechanism = self.lexical.score(&g, &r);
        let idf = self.idf();
        let mut element_component: f64 = 0.0;
        let mut element_mention: f64 = 0.0;
        let prose = overlap_terms(&r);
        for t in &generated.targets {
            let names = [t.name.as_str(), t.id.as_str()];
            for c in &reference.components {
                for n in names {
                    element_component = element_component.max(bm25_overlap(n, c, idf));
                }
            }
            let terms = overlap_terms(&t.name);
            let total: f64 = terms.iter().map(|x| idf.idf(x)).sum();
            if total > 0.0 {
                let found: f64 = terms
                    .iter()
                    .filter(|x| prose.contains(*x))
                    .map(|x| idf.idf(x))
                    .sum();
                element_mention = element_mention.max(found / total);
            }
        }
        let stride = if generated.stride.is_empty() || reference.stride.is_empty() {
            None
        } else {
            Some(
                reference
                    .stride
                    .iter()
                    .any(|s| generated.stride.contains(s)),
            )
        };
        PairFeatures {
            mechanism,
            element_component,
            element_mention,
            stride,
            reference_has_components: !reference.components.is_empty(),
        }
    }

    /// Combines features with the parameters.
    pub fn combine(&self, f: &PairFeatures) -> f64 {
        let p = &self.params;
        let element = if f.reference_has_components {
            f.element_component
        } else {
            f.element_mention
        };
        if element < p.element_gate {
            return 0.0;
        }
        let stride = match f.stride {
            Some(true) => 1.0,
            Some(false) => 0.0,
            None => p.stride_unknown,
        };
        (p.mechanism_weight * f.mechanism + p.element_weight * element + p.stride_weight * stride)
            .clamp(0.0, 1.0)
    }
}

impl Similarity for StructuredSimilarity {
    fn score(&self, a: &str, b: &str) -> f64 {
        self.lexical.score(a, b)
    }

    fn threshold(&self) -> f64 {
        self.params.threshold
    }

    fn describe(&self) -> String {
        let p = &self.params;
        format!(
            "structured: {:.2}*mechanism [{}] + {:.2}*element (target vs component, else vs prose; gate {:.2}) + {:.2}*stride (unknown {:.2}), threshold {:.2}",
            p.mechanism_weight,
            self.lexical.describe(),
            p.element_weight,
            p.element_gate,
            p.stride_weight,
            p.stride_unknown,
            p.threshold
        )
    }

    fn score_pair(&self, generated: &Threat, reference: &ReferenceThreat) -> f64 {
        self.combine(&self.features(generated, reference))
    }
}

/// Default threshold of [`LexicalSimilarity`].
///
/// Calibrated on UAVThreatBench's 1,000 GPT-4o × expert threat pairs (IDF over each
/// scenario's 7 threats), taking the published rule (token-set ratio ≥ 70) as the label:
///
/// | threshold | pairs the rule matches (150) kept | other pairs (850) let through |
/// |---|---|---|
/// | 0.45 | 150 | 89 |
/// | **0.50** | 144 | 31 |
/// | 0.55 | 128 | 8 |
///
/// 0.5 keeps 96 % of the paper's matches while admitting under 4 % of the rest (many of
/// which score 65–69 on token-set ratio and are arguably matches too).
pub const LEXICAL_THRESHOLD: f64 = 0.5;

/// Threshold for embedding cosine similarity, as in the Threat Composer consistency method.
pub const EMBEDDING_COSINE_THRESHOLD: f64 = 0.4;

/// Deterministic lexical similarity used when no embedding model is configured:
///
/// `score = w · token_set_ratio(a, b) / 100 + (1 − w) · bm25_overlap(a, b)`, with `w = 0.5`.
///
/// Token-set ratio (on RapidFuzz-processed text) rewards shared wording regardless of order
/// and is what UAVThreatBench calibrated; on its own it gives 100 whenever one text's words
/// are a subset of the other's and is inflated by shared function words. The BM25-style
/// overlap (IDF-weighted Dice of content words) corrects both: common words weigh little, and
/// a short text inside a long one only gets partial credit.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalSimilarity {
    pub(crate) idf: IdfTable,
    token_set_weight: f64,
    threshold: f64,
}

impl Default for LexicalSimilarity {
    /// Uniform term weights, weight 0.5 and [`LEXICAL_THRESHOLD`].
    fn default() -> Self {
        LexicalSimilarity {
            idf: IdfTable::default(),
            token_set_weight: 0.5,
            threshold: LEXICAL_THRESHOLD,
        }
    }
}

impl LexicalSimilarity {
    /// IDF weights from the texts being compared (generated and reference threats of one
    /// system), so words every threat of that system uses ("drone", "api") count less.
    pub fn from_corpus<I, S>(texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        LexicalSimilarity {
            idf: IdfTable::from_documents(texts),
            ..LexicalSimilarity::default()
        }
    }

    /// Overrides the weight of token-set ratio against BM25 overlap (clamped to 0..=1).
    pub fn with_token_set_weight(mut self, weight: f64) -> Self {
        self.token_set_weight = if weight.is_finite() {
            weight.clamp(0.0, 1.0)
        } else {
            0.5
        };
        self
    }

    /// Overrides the match threshold (clamped to 0..=1).
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = if threshold.is_finite() {
            threshold.clamp(0.0, 1.0)
        } else {
            LEXICAL_THRESHOLD
        };
        self
    }
}

impl Similarity for LexicalSimilarity {
    fn score(&self, a: &str, b: &str) -> f64 {
        let tsr = processed_token_set_ratio(a, b) / 100.0;
        let overlap = bm25_overlap(a, b, &self.idf);
        let w = self.token_set_weight;
        (w * tsr + (1.0 - w) * overlap).clamp(0.0, 1.0)
    }

    fn threshold(&self) -> f64 {
        self.threshold
    }

    fn describe(&self) -> String {
        format!(
            "lexical: {:.2}*token_set_ratio/100 + {:.2}*bm25_overlap (idf over {} texts), threshold {:.2}",
            self.token_set_weight,
            1.0 - self.token_set_weight,
            self.idf.documents(),
            self.threshold
        )
    }
}

/// Turns texts into vectors; implemented by whatever embedding model the CLI configures.
pub trait Embedder {
    /// `None` when the text cannot be embedded; the pair then scores 0.
    fn embed(&self, text: &str) -> Option<Vec<f32>>;
    fn model_name(&self) -> String;
}

/// Cosine similarity of embeddings (negative cosines count as 0), threshold
/// [`EMBEDDING_COSINE_THRESHOLD`]. Embeds on every call; wrap a caching embedder for speed.
pub struct EmbeddingSimilarity<E: Embedder> {
    pub embedder: E,
    pub threshold: f64,
}

impl<E: Embedder> EmbeddingSimilarity<E> {
    pub fn new(embedder: E) -> Self {
        EmbeddingSimilarity {
            embedder,
            threshold: EMBEDDING_COSINE_THRESHOLD,
        }
    }
}

impl<E: Embedder> Similarity for EmbeddingSimilarity<E> {
    fn score(&self, a: &str, b: &str) -> f64 {
        match (self.embedder.embed(a), self.embedder.embed(b)) {
            (Some(x), Some(y)) => cosine(&x, &y).max(0.0),
            _ => 0.0,
        }
    }

    fn threshold(&self) -> f64 {
        self.threshold
    }

    fn describe(&self) -> String {
        format!(
            "embedding cosine ({}), threshold {:.2}",
            self.embedder.model_name(),
            self.threshold
        )
    }
}

/// Cosine of two vectors; 0 for mismatched lengths, zero vectors or non-finite results.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    let c = dot / (na.sqrt() * nb.sqrt());
    if c.is_finite() {
        c.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Text of a generated threat for matching: title, description and target names, because a
/// reference names the attacked component in its prose and a draft names it in its targets.
pub fn threat_text(t: &Threat) -> String {
    let mut parts: Vec<&str> = vec![t.title.as_str(), t.description.as_str()];
    parts.extend(t.targets.iter().map(|x| x.name.as_str()));
    join_nonempty(&parts)
}

/// Text of a reference threat for matching: title, text and components (see [`threat_text`]).
pub fn reference_text(r: &ReferenceThreat) -> String {
    let mut parts: Vec<&str> = vec![r.title.as_str(), r.text.as_str()];
    parts.extend(r.components.iter().map(String::as_str));
    join_nonempty(&parts)
}

fn join_nonempty(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Similarities of every generated (row) × reference (column) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl ScoreMatrix {
    /// Scores every pair; non-finite scores become 0 so later steps never see NaN.
    pub fn compute(generated: &[String], references: &[String], sim: &dyn Similarity) -> Self {
        let mut data = Vec::with_capacity(generated.len() * references.len());
        for g in generated {
            for r in references {
                let s = sim.score(g, r);
                data.push(if s.is_finite() {
                    s.clamp(0.0, 1.0)
                } else {
                    0.0
                });
            }
        }
        ScoreMatrix {
            rows: generated.len(),
            cols: references.len(),
            data,
        }
    }

    /// A matrix from explicit rows (for tests and external scorers); short rows are padded
    /// with 0 and long ones cut to the first row's length.
    pub fn from_rows(rows: &[Vec<f64>]) -> Self {
        let cols = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * cols);
        for r in rows {
            for c in 0..cols {
                let s = r.get(c).copied().unwrap_or(0.0);
                data.push(if s.is_finite() {
                    s.clamp(0.0, 1.0)
                } else {
                    0.0
                });
            }
        }
        ScoreMatrix {
            rows: rows.len(),
            cols,
            data,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Score of generated `g` against reference `r`; 0 outside the matrix.
    pub fn get(&self, g: usize, r: usize) -> f64 {
        if g < self.rows && r < self.cols {
            self.data.get(g * self.cols + r).copied().unwrap_or(0.0)
        } else {
            0.0
        }
    }
}

/// A matched (generated, reference) pair, by index into the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub generated: usize,
    pub reference: usize,
    pub score: f64,
}

/// Result of the many-to-one matching: each side's best partner at or above the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct ManyToOne {
    /// For each reference, the best-scoring generated threat, if any reaches the threshold.
    pub reference_best: Vec<Option<Pair>>,
    /// For each generated threat, the best-scoring reference, if any reaches the threshold.
    pub generated_best: Vec<Option<Pair>>,
}

impl ManyToOne {
    pub fn recalled(&self) -> usize {
        self.reference_best.iter().flatten().count()
    }

    pub fn reference_precise(&self) -> usize {
        self.generated_best.iter().flatten().count()
    }
}

/// Many-to-one matching; ties go to the lower index so results are deterministic.
pub fn many_to_one(m: &ScoreMatrix, threshold: f64) -> ManyToOne {
    let mut reference_best: Vec<Option<Pair>> = vec![None; m.cols()];
    let mut generated_best: Vec<Option<Pair>> = vec![None; m.rows()];
    for (g, g_best) in generated_best.iter_mut().enumerate() {
        for (r, r_best) in reference_best.iter_mut().enumerate() {
            let score = m.get(g, r);
            if score < threshold {
                continue;
            }
            let pair = Pair {
                generated: g,
                reference: r,
                score,
            };
            if g_best.is_none_or(|p| score > p.score) {
                *g_best = Some(pair);
            }
            if r_best.is_none_or(|p| score > p.score) {
                *r_best = Some(pair);
            }
        }
    }
    ManyToOne {
        reference_best,
        generated_best,
    }
}

/// Similarities become integers in 0..=WEIGHT_SCALE for the Hungarian algorithm, which needs
/// an exact (totally ordered, overflow-free) weight type.
const WEIGHT_SCALE: f64 = 1_000_000.0;

/// One-to-one assignment maximising the total similarity of pairs at or above the threshold
/// (Hungarian algorithm, `pathfinding::kuhn_munkres`).
///
/// Pairs below the threshold get weight 0 *before* the assignment, so the optimiser never
/// spends a threat on a pair that would be discarded; such zero-weight pairs are then dropped.
/// Returned pairs are sorted by reference index.
pub fn optimal_assignment(m: &ScoreMatrix, threshold: f64) -> Vec<Pair> {
    if m.rows() == 0 || m.cols() == 0 {
        return Vec::new();
    }
    let weight = |g: usize, r: usize| -> i64 {
        let s = m.get(g, r);
        if s >= threshold {
            // Scores are clamped to 0..=1, so this is within 0..=1e6 and cannot overflow.
            (s * WEIGHT_SCALE).round() as i64
        } else {
            0
        }
    };
    // kuhn_munkres needs rows ≤ columns: put the shorter side on the rows.
    let transpose = m.rows() > m.cols();
    let (nr, nc) = if transpose {
        (m.cols(), m.rows())
    } else {
        (m.rows(), m.cols())
    };
    let matrix = Matrix::from_fn(nr, nc, |(i, j)| {
        if transpose {
            weight(j, i)
        } else {
            weight(i, j)
        }
    });
    let (_, assignment) = kuhn_munkres(&matrix);
    let mut pairs: Vec<Pair> = assignment
        .iter()
        .enumerate()
        .map(|(i, &j)| if transpose { (j, i) } else { (i, j) })
        .filter(|&(g, r)| weight(g, r) > 0)
        .map(|(g, r)| Pair {
            generated: g,
            reference: r,
            score: m.get(g, r),
        })
        .collect();
    pairs.sort_by_key(|p| (p.reference, p.generated));
    pairs
}

/// Greedy one-to-one matching: repeatedly take the highest-scoring remaining pair at or
/// above the threshold. Kept to show (and test) where it loses to [`optimal_assignment`].
pub fn greedy_assignment(m: &ScoreMatrix, threshold: f64) -> Vec<Pair> {
    let mut candidates: Vec<Pair> = Vec::new();
    for g in 0..m.rows() {
        for r in 0..m.cols() {
            let score = m.get(g, r);
            if score >= threshold {
                candidates.push(Pair {
                    generated: g,
                    reference: r,
                    score,
                });
            }
        }
    }
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.generated.cmp(&b.generated))
            .then(a.reference.cmp(&b.reference))
    });
    let mut used_g = vec![false; m.rows()];
    let mut used_r = vec![false; m.cols()];
    let mut pairs = Vec::new();
    for p in candidates {
        if !used_g[p.generated] && !used_r[p.reference] {
            used_g[p.generated] = true;
            used_r[p.reference] = true;
            pairs.push(p);
        }
    }
    pairs.sort_by_key(|p| (p.reference, p.generated));
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_beats_greedy_on_crossed_pairs() {
        // Greedy takes g0–r0 (0.90) and then g1 has nothing left above 0.5;
        // the optimum pairs g0–r1 and g1–r0 (0.80 + 0.85).
        let m = ScoreMatrix::from_rows(&[vec![0.90, 0.80], vec![0.85, 0.10]]);
        let greedy = greedy_assignment(&m, 0.5);
        let optimal = optimal_assignment(&m, 0.5);
        assert_eq!(greedy.len(), 1);
        assert_eq!(optimal.len(), 2);
        let got: Vec<(usize, usize)> = optimal.iter().map(|p| (p.generated, p.reference)).collect();
        assert_eq!(got, vec![(1, 0), (0, 1)]);
    }

    #[test]
    fn assignment_handles_wide_tall_and_empty() {
        let tall = ScoreMatrix::from_rows(&[vec![0.1], vec![0.9], vec![0.6]]);
        let pairs = optimal_assignment(&tall, 0.5);
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].generated, pairs[0].reference), (1, 0));
        let below = ScoreMatrix::from_rows(&[vec![0.1, 0.2]]);
        assert!(optimal_assignment(&below, 0.5).is_empty());
        assert!(optimal_assignment(&ScoreMatrix::from_rows(&[]), 0.5).is_empty());
    }

    #[test]
    fn many_to_one_allows_reuse() {
        let m = ScoreMatrix::from_rows(&[vec![0.9, 0.7], vec![0.2, 0.3]]);
        let mo = many_to_one(&m, 0.5);
        assert_eq!(mo.recalled(), 2);
        assert_eq!(mo.reference_precise(), 1);
    }

    #[test]
    fn lexical_scores_identity_high_and_unrelated_low() {
        let sim = LexicalSimilarity::default();
        let a = "SQL injection in the login form exposes customer records";
        assert!((sim.score(a, a) - 1.0).abs() < 1e-9);
        let b = "Denial of service by flooding the message queue";
        assert!(sim.score(a, b) < sim.threshold(), "{}", sim.score(a, b));
    }

    #[test]
    fn cosine_edges() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-9);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }
}
