//! Drafting with the knowledge base (`tmc draft --kb`, eval mode `rules+kb`).
//!
//! Per in-scope component and per flow, retrieve threats that past reviews accepted for
//! elements with the same technology, keep those whose STRIDE categories apply to the element
//! kind and that the rule engine did not already raise on that element, and add them with
//! [`Provenance::KnowledgeBase`]. Then give mitigations without ASVS references the ASVS
//! requirements mapped to the threat's CWEs. Every addition names its source, so a reviewer
//! can trace it to the past model.

use std::collections::BTreeSet;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tmc_model::{
    Component, Draft, ElementKind, FactorAxis, Flow, Mitigation, MitigationStatus, Provenance,
    References, Severity, SeverityAssessment, SeverityFactor, Stride, SystemModel, TargetKind,
    TargetRef, Threat, ThreatStatus,
};

use crate::error::KbError;
use crate::index::Filter;
use crate::search::{Hit, KnowledgeBase, SearchMode, SearchOptions};

#[derive(Debug, Clone, PartialEq)]
pub struct AugmentOptions {
    /// Most threats added per element, so retrieval cannot flood a draft.
    pub per_element: usize,
    /// Candidates retrieved per element before filtering.
    pub candidates: usize,
    /// Review statuses that count as "accepted in a past review".
    pub statuses: Vec<String>,
    /// Sources never used (leave-one-system-out evaluation).
    pub exclude_sources: Vec<String>,
    /// Add ASVS requirement ids to mitigations.
    pub asvs: bool,
    /// Most ASVS requirements added per mitigation.
    pub asvs_per_mitigation: usize,
    /// Review statuses that count as "rejected in a past review": a rule threat matching one
    /// on a similar element gets its likelihood lowered by one, with the reason shown.
    pub rejected_statuses: Vec<String>,
}

impl Default for AugmentOptions {
    fn default() -> Self {
        AugmentOptions {
            per_element: 3,
            candidates: 12,
            statuses: vec!["accepted".into(), "mitigated".into()],
            exclude_sources: Vec::new(),
            asvs: true,
            asvs_per_mitigation: 2,
            rejected_statuses: vec!["rejected".into(), "not-applicable".into()],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AugmentReport {
    pub threats_added: usize,
    /// Rule threats whose likelihood a past rejection lowered.
    pub threats_lowered: usize,
    pub mitigations_enriched: usize,
    pub mode: Option<String>,
}

/// STRIDE categories that apply to an element (Microsoft's STRIDE-per-element table).
fn applicable(kind: Option<ElementKind>) -> &'static [&'static str] {
    match kind {
        Some(ElementKind::ExternalEntity) => &["S", "R"],
        Some(ElementKind::Process) => &["S", "T", "R", "I", "D", "E"],
        Some(ElementKind::DataStore) => &["T", "R", "I", "D"],
        None => &["T", "I", "D"],
    }
}

fn words(s: &str) -> BTreeSet<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

/// Jaccard overlap of title words: two titles sharing half their words name the same threat.
fn similar_titles(a: &str, b: &str) -> bool {
    let (x, y) = (words(a), words(b));
    if x.is_empty() || y.is_empty() {
        return false;
    }
    let inter = x.intersection(&y).count() as f64;
    let union = x.union(&y).count() as f64;
    inter / union >= 0.5
}

fn short_hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An element of the model as the knowledge base queries it.
pub(crate) struct Element {
    pub(crate) target: TargetRef,
    pub(crate) kind: Option<ElementKind>,
    pub(crate) technology: Option<String>,
    pub(crate) query: String,
}

/// Past-review threats with one of `statuses`, for elements of `el`'s technology (any
/// technology when the element has none), minus the excluded sources.
pub(crate) fn past_threats(el: &Element, statuses: &[&str], exclude_sources: &[String]) -> Filter {
    let filter = Filter {
        exclude_sources: exclude_sources.to_vec(),
        ..Filter::default()
    }
    .with("kind", &["threat"])
    .with("status", statuses);
    match &el.technology {
        Some(t) => filter.with("tech", &[t.as_str()]),
        None => filter,
    }
}

/// In-scope components, then flows: what retrieval runs over.
pub(crate) fn elements(model: &SystemModel) -> Vec<Element> {
    let mut out: Vec<Element> = model
        .components
        .iter()
        .filter(|c| c.in_scope)
        .map(component_element)
        .collect();
    out.extend(model.flows.iter().map(|f| flow_element(f, model)));
    out
}

fn component_element(c: &Component) -> Element {
    Element {
        target: TargetRef {
            kind: TargetKind::Component,
            id: c.id.clone(),
            name: c.name.clone(),
        },
        kind: Some(c.kind),
        technology: Some(c.technology.as_str().to_string()),
        query: format!(
            "{} {} {} {}",
            c.name,
            c.technology.as_str().replace('-', " "),
            c.kind.as_str().replace('-', " "),
            c.description.as_deref().unwrap_or("")
        ),
    }
}

fn flow_element(f: &Flow, model: &SystemModel) -> Element {
    let name = |id: &str| {
        model
            .component(id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    Element {
        target: TargetRef {
            kind: TargetKind::Flow,
            id: f.id.clone(),
            name: f.display_name(),
        },
        kind: None,
        technology: model
            .component(&f.to)
            .map(|c| c.technology.as_str().to_string()),
        query: format!(
            "{} data flow {} {} {} {}",
            f.display_name(),
            name(&f.from),
            name(&f.to),
            f.protocol.map(|p| p.as_str()).unwrap_or(""),
            f.description.as_deref().unwrap_or("")
        ),
    }
}

fn threat_from_hit(hit: &Hit, el: &Element, stride: Vec<Stride>) -> Threat {
    let c = &hit.chunk;
    let source_id = format!("{}#{}", c.source_name, c.key);
    let system = c
        .meta
        .system
        .clone()
        .unwrap_or_else(|| c.source_name.clone());
    let status = c.meta.status.clone().unwrap_or_else(|| "reviewed".into());
    let level = c
        .meta
        .severity
        .as_deref()
        .and_then(Severity::parse)
        .unwrap_or(Severity::Medium);
    let (likelihood, impact) = match level {
        Severity::Info => (1, 1),
        Severity::Low => (2, 2),
        Severity::Medium => (3, 3),
        Severity::High => (4, 4),
        Severity::Critical => (5, 5),
    };
    let description = c
        .text
        .split("\nTargets:")
        .next()
        .unwrap_or(&c.text)
        .trim()
        .to_string();
    Threat {
        id: format!("KB-{}@{}", short_hash(&source_id), el.target.id),
        title: c.title.clone(),
        description: format!(
            "{description}\n\nFrom the knowledge base: past model \"{system}\", {status} (source {source_id})."
        ),
        stride,
        targets: vec![el.target.clone()],
        references: References {
            cwe: c.meta.cwe.clone(),
            capec: c.meta.capec.clone(),
            ..References::default()
        },
        severity: SeverityAssessment {
            level,
            likelihood,
            impact,
            score: likelihood * impact,
            factors: vec![SeverityFactor {
                applies_to: FactorAxis::Impact,
                name: "past review".into(),
                value: format!("{system}: {}", level.as_str()),
                delta: 0,
            }],
            downgraded_by: None,
        },
        mitigations: c
            .meta
            .mitigations
            .iter()
            .enumerate()
            .map(|(i, m)| Mitigation {
                id: format!("M{}", i + 1),
                text: m.clone(),
                asvs: c.meta.asvs.clone(),
                status: MitigationStatus::Proposed,
                owner: None,
                ticket: None,
                due: None,
            })
            .collect(),
        provenance: Provenance::KnowledgeBase {
            source_ids: vec![source_id],
        },
        status: ThreatStatus::Draft,
        review: None,
    }
}

/// Adds past accepted threats the engine missed, and ASVS references. See the module docs.
pub fn augment_draft(
    kb: &KnowledgeBase,
    model: &SystemModel,
    draft: &mut Draft,
    opts: &AugmentOptions,
) -> Result<AugmentReport, KbError> {
    let mut report = AugmentReport::default();
    let statuses: Vec<&str> = opts.statuses.iter().map(String::as_str).collect();
    let elements = elements(model);
    let mut added: Vec<Threat> = Vec::new();
    for el in &elements {
        let search = SearchOptions {
            k: opts.candidates,
            filter: past_threats(el, &statuses, &opts.exclude_sources),
            mode: None,
        };
        let result = kb.search(&el.query, &search)?;
        report.mode = Some(result.mode.as_str().to_string());
        let allowed = applicable(el.kind);
        let mut n = 0;
        for hit in &result.hits {
            if n >= opts.per_element {
                break;
            }
            let stride: Vec<Stride> = hit
                .chunk
                .meta
                .stride
                .iter()
                .filter(|s| allowed.contains(&s.as_str()))
                .filter_map(|s| Stride::parse(s))
                .collect();
            if stride.is_empty() && !hit.chunk.meta.stride.is_empty() {
                continue;
            }
            let on_element = |t: &Threat| t.targets.iter().any(|x| x.id == el.target.id);
            let duplicate = draft.threats.iter().chain(added.iter()).any(|t| {
                on_element(t)
                    && (similar_titles(&t.title, &hit.chunk.title)
                        || (!hit.chunk.meta.cwe.is_empty()
                            && t.references
                                .cwe
                                .iter()
                                .any(|c| hit.chunk.meta.cwe.contains(c))))
            });
            if duplicate {
                continue;
            }
            added.push(threat_from_hit(hit, el, stride));
            n += 1;
        }
    }
    report.threats_added = added.len();
    report.threats_lowered = lower_rejected(kb, &elements, draft, opts)?;
    draft.threats.extend(added);
    if opts.asvs {
        report.mitigations_enriched = enrich_asvs(kb, draft, opts)?;
    }
    Ok(report)
}

/// Lowers the likelihood of rule threats that reviewers rejected for similar elements (same
/// technology, similar title or a shared CWE with a shared STRIDE category): a rule that keeps
/// raising what people keep rejecting deserves less weight there. The threat stays in the
/// draft — a reviewer still decides — but its severity says why it went down, and it is
/// lowered once however many rejections match.
fn lower_rejected(
    kb: &KnowledgeBase,
    elements: &[Element],
    draft: &mut Draft,
    opts: &AugmentOptions,
) -> Result<usize, KbError> {
    if opts.rejected_statuses.is_empty() {
        return Ok(0);
    }
    let statuses: Vec<&str> = opts.rejected_statuses.iter().map(String::as_str).collect();
    let mut lowered = 0;
    for el in elements {
        let on_element: Vec<usize> = draft
            .threats
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                matches!(t.provenance, Provenance::Rule { .. })
                    && t.targets.iter().any(|x| x.id == el.target.id)
            })
            .map(|(i, _)| i)
            .collect();
        if on_element.is_empty() {
            continue;
        }
        let search = SearchOptions {
            k: opts.candidates,
            filter: past_threats(el, &statuses, &opts.exclude_sources),
            mode: None,
        };
        let hits = kb.search(&el.query, &search)?.hits;
        if hits.is_empty() {
            continue;
        }
        for i in on_element {
            let t = &mut draft.threats[i];
            let Some(hit) = hits.iter().find(|h| rejection_matches(t, h)) else {
                continue;
            };
            let s = &mut t.severity;
            if s.factors.iter().any(|f| f.name == REJECTED_FACTOR) || s.likelihood <= 1 {
                continue;
            }
            let c = &hit.chunk;
            s.likelihood -= 1;
            s.score = s.likelihood * s.impact;
            s.level = Severity::for_score(s.score);
            s.factors.push(SeverityFactor {
                applies_to: FactorAxis::Likelihood,
                name: REJECTED_FACTOR.into(),
                value: format!(
                    "\"{}\" {} in past model \"{}\" (source {}#{})",
                    c.title,
                    c.meta.status.as_deref().unwrap_or("rejected"),
                    c.meta.system.as_deref().unwrap_or(&c.source_name),
                    c.source_name,
                    c.key
                ),
                delta: -1,
            });
            lowered += 1;
        }
    }
    Ok(lowered)
}

/// Name of the severity factor a past rejection adds.
pub const REJECTED_FACTOR: &str = "rejected in past review";

fn rejection_matches(t: &Threat, hit: &Hit) -> bool {
    let m = &hit.chunk.meta;
    if similar_titles(&t.title, &hit.chunk.title) {
        return true;
    }
    let shared_cwe = t.references.cwe.iter().any(|c| m.cwe.contains(c));
    let shared_stride = t
        .stride
        .iter()
        .any(|s| m.stride.iter().any(|x| x.starts_with(s.letter())));
    shared_cwe && shared_stride
}

/// Gives mitigations with no ASVS ids the requirements that ASVS maps to the threat's CWEs,
/// ranked by BM25 against the mitigation text. Threats without CWEs are left alone: a purely
/// textual guess would be noise in a reviewer's checklist.
fn enrich_asvs(
    kb: &KnowledgeBase,
    draft: &mut Draft,
    opts: &AugmentOptions,
) -> Result<usize, KbError> {
    let mut enriched = 0;
    for t in &mut draft.threats {
        if t.references.cwe.is_empty() {
            continue;
        }
        let cwes: Vec<String> = t.references.cwe.iter().map(u32::to_string).collect();
        let cwe_refs: Vec<&str> = cwes.iter().map(String::as_str).collect();
        for m in &mut t.mitigations {
            if !m.asvs.is_empty() {
                continue;
            }
            let search = SearchOptions {
                k: opts.asvs_per_mitigation,
                filter: Filter::default()
                    .with("kind", &["asvs"])
                    .with("cwe", &cwe_refs),
                mode: Some(SearchMode::Lexical),
            };
            let hits = kb.search(&format!("{} {}", t.title, m.text), &search)?.hits;
            let ids: Vec<String> = hits
                .iter()
                .flat_map(|h| h.chunk.meta.asvs.iter().cloned())
                .collect();
            if !ids.is_empty() {
                m.asvs = ids;
                enriched += 1;
            }
        }
    }
    Ok(enriched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_compare_by_word_overlap() {
        assert!(similar_titles(
            "SQL injection in the orders database",
            "SQL injection against orders database"
        ));
        assert!(!similar_titles("SQL injection", "Denial of service"));
        assert!(!similar_titles("", "x"));
    }

    #[test]
    fn stride_per_element() {
        assert_eq!(applicable(Some(ElementKind::ExternalEntity)), &["S", "R"]);
        assert!(!applicable(Some(ElementKind::DataStore)).contains(&"E"));
    }
}
