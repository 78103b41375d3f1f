//! Merging model threats into the rule baseline. The baseline is never removed or rewritten by
//! the model: a model threat that duplicates a baseline threat (same target, overlapping STRIDE,
//! similar text) or says it `refines` one only adds mitigations and references to it, keeping
//! the rule's provenance; everything else is added with `Provenance::Model`.

use sha2::{Digest, Sha256};
use tmc_model::{
    CoverageRow, Draft, FactorAxis, Mitigation, MitigationStatus, Provenance, Severity,
    SeverityAssessment, SeverityFactor, Stride, SystemModel, TargetKind, TargetRef, Threat,
    ThreatStatus,
};

use crate::audit::hex;
use crate::output::CheckedThreat;

/// Text similarity above which two threats on the same target and STRIDE letter are one:
/// the shared "same threat?" threshold of `tmc_model::identity`.
pub const DUPLICATE_SIMILARITY: f64 = tmc_model::identity::SAME_THREAT_SIMILARITY;

/// Who produced the model threats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOrigin {
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
}

/// Similarity of two titles (`tmc_model::identity::title_similarity`).
pub fn similarity(a: &str, b: &str) -> f64 {
    tmc_model::identity::title_similarity(a, b)
}

fn target_ref(model: &SystemModel, id: &str) -> TargetRef {
    if let Some(c) = model.component(id) {
        return TargetRef {
            kind: TargetKind::Component,
            id: id.into(),
            name: c.name.clone(),
        };
    }
    if let Some(f) = model.flows.iter().find(|f| f.id == id) {
        return TargetRef {
            kind: TargetKind::Flow,
            id: id.into(),
            name: f.display_name(),
        };
    }
    if let Some(d) = model.data_asset(id) {
        return TargetRef {
            kind: TargetKind::Data,
            id: id.into(),
            name: d.name.clone(),
        };
    }
    let name = model
        .trust_boundaries
        .iter()
        .find(|b| b.id == id)
        .map(|b| b.name.clone())
        .unwrap_or_else(|| id.to_string());
    TargetRef {
        kind: TargetKind::Boundary,
        id: id.into(),
        name,
    }
}

/// Likelihood and impact that reproduce the model's level on the engine's 1..=5 scales.
fn assessment(level: Severity) -> SeverityAssessment {
    let (l, i) = match level {
        Severity::Info => (1, 1),
        Severity::Low => (2, 2),
        Severity::Medium => (3, 3),
        Severity::High => (4, 4),
        Severity::Critical => (5, 5),
    };
    SeverityAssessment {
        level,
        likelihood: l,
        impact: i,
        score: l * i,
        factors: vec![SeverityFactor {
            applies_to: FactorAxis::Likelihood,
            name: "model-assessed".into(),
            value: level.as_str().into(),
            delta: 0,
        }],
        downgraded_by: None,
    }
}

fn add_mitigations(threat: &mut Threat, new: &[String], prefix: &str) -> usize {
    let mut added = 0;
    for m in new {
        if threat
            .mitigations
            .iter()
            .any(|x| similarity(&x.text, m) >= DUPLICATE_SIMILARITY)
        {
            continue;
        }
        let n = threat.mitigations.len() + 1;
        threat.mitigations.push(Mitigation {
            id: format!("{prefix}-M{n}"),
            text: m.clone(),
            asvs: Vec::new(),
            status: MitigationStatus::Proposed,
            owner: None,
            ticket: None,
            due: None,
        });
        added += 1;
    }
    added
}

fn add_refs(threat: &mut Threat, t: &CheckedThreat) {
    for c in &t.cwe {
        if !threat.references.cwe.contains(c) {
            threat.references.cwe.push(*c);
        }
    }
    for code in &t.owasp {
        let list = if code.starts_with("LLM") {
            &mut threat.references.owasp_llm_2025
        } else if code.starts_with("API") {
            &mut threat.references.owasp_api_2023
        } else {
            &mut threat.references.owasp_top10_2021
        };
        if !list.contains(code) {
            list.push(code.clone());
        }
    }
}

/// Counts of what the merge did, for the CLI summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    pub added: usize,
    pub refined: usize,
    pub duplicates: usize,
}

/// Merges checked model threats into `draft` (the baseline, possibly empty).
pub fn merge(
    draft: &mut Draft,
    model: &SystemModel,
    threats: &[CheckedThreat],
    origin: &ModelOrigin,
    mode: &str,
) -> MergeStats {
    let mut stats = MergeStats::default();
    let baseline_len = draft.threats.len();
    for t in threats {
        // 1. An explicit refinement of a baseline threat.
        let explicit = t.refines.as_ref().and_then(|id| {
            draft.threats[..baseline_len]
                .iter()
                .position(|b| &b.id == id)
        });
        // 2. A duplicate by target, STRIDE and text (baseline or earlier model threats).
        let dup = explicit.or_else(|| {
            draft.threats.iter().position(|b| {
                b.targets.iter().any(|x| x.id == t.target)
                    && b.stride.contains(&t.stride)
                    && similarity(&b.title, &t.title)
                        .max(similarity(&b.description, &t.description))
                        >= DUPLICATE_SIMILARITY
            })
        });
        if let Some(i) = dup {
            let existing = &mut draft.threats[i];
            let prefix = existing.id.clone();
            let added = add_mitigations(existing, &t.mitigations, &prefix);
            add_refs(existing, t);
            if explicit.is_some() {
                stats.refined += 1;
                if !t.description.is_empty() && !existing.description.contains(&t.description) {
                    existing.description = format!(
                        "{}\n\nModel note ({}): {}",
                        existing.description, origin.model, t.description
                    );
                }
            } else if added == 0 {
                stats.duplicates += 1;
            } else {
                stats.refined += 1;
            }
            continue;
        }
        let digest = hex(&Sha256::digest(t.title.to_lowercase().as_bytes()));
        let id = format!("LLM-{}@{}#{}", t.stride.letter(), t.target, &digest[..8]);
        let mut threat = Threat {
            id: id.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            stride: vec![t.stride],
            targets: vec![target_ref(model, &t.target)],
            references: Default::default(),
            severity: assessment(t.severity),
            mitigations: Vec::new(),
            provenance: Provenance::Model {
                provider: origin.provider.clone(),
                model: origin.model.clone(),
                prompt_version: origin.prompt_version.clone(),
                retrieved: t.sources.clone(),
            },
            status: ThreatStatus::Draft,
            review: None,
        };
        add_refs(&mut threat, t);
        add_mitigations(&mut threat, &t.mitigations, &id);
        bump_coverage(&mut draft.coverage, &threat.targets[0], t.stride);
        draft.threats.push(threat);
        stats.added += 1;
    }
    draft.generator.mode = mode.to_string();
    stats
}

fn bump_coverage(rows: &mut Vec<CoverageRow>, target: &TargetRef, stride: Stride) {
    let key = stride.letter().to_string();
    if let Some(row) = rows.iter_mut().find(|r| r.target.id == target.id) {
        *row.counts.entry(key).or_insert(0) += 1;
    } else {
        let mut counts = std::collections::BTreeMap::new();
        counts.insert(key, 1);
        rows.push(CoverageRow {
            target: target.clone(),
            technology: None,
            counts,
        });
    }
}
