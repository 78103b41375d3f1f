//! Reviewed threat models: our draft JSON (with review status) and anything `tmc-import`
//! reads. One chunk per threat, tagged with the technologies of the elements it targets so
//! drafting can ask "what did past reviews accept for a database like this one?". A reviewed
//! threat also keeps what the review decided: its status, the rule that raised it, the
//! justification, and a severity override (drafted level, new level, reason), so the next
//! draft of a similar system can learn from the decision (see [`crate::augment`]).

use std::collections::BTreeMap;

use serde_json::Value;
use tmc_model::{Draft, Provenance, SystemModel, TargetKind, Threat, ThreatStatus};

use super::{Parsed, Skip, skip};
use crate::chunk::{Chunk, ChunkKind, ChunkMeta, MAX_CHUNK_BYTES, truncate};

/// Kebab-case name of a review status, as stored in the `status` tag.
pub fn status_name(s: ThreatStatus) -> &'static str {
    s.as_str()
}

/// Element facts for tagging: target id → (technology, element kind).
type ElementFacts = BTreeMap<String, (String, String)>;

fn facts_of(model: &SystemModel) -> ElementFacts {
    let mut facts = ElementFacts::new();
    for c in &model.components {
        facts.insert(
            c.id.clone(),
            (
                c.technology.as_str().to_string(),
                c.kind.as_str().to_string(),
            ),
        );
    }
    for f in &model.flows {
        // A flow is tagged with the technology of its receiving end, which is what it attacks.
        if let Some(to) = model.component(&f.to) {
            facts.insert(
                f.id.clone(),
                (to.technology.as_str().to_string(), "flow".to_string()),
            );
        }
    }
    facts
}

fn threat_chunk(t: &Threat, system: &str, facts: &ElementFacts) -> Chunk {
    let mut technologies = Vec::new();
    let mut element_kinds = Vec::new();
    for target in &t.targets {
        match facts.get(&target.id) {
            Some((tech, kind)) => {
                technologies.push(tech.clone());
                element_kinds.push(kind.clone());
            }
            None => element_kinds.push(
                match target.kind {
                    TargetKind::Component => "component",
                    TargetKind::Flow => "flow",
                    TargetKind::Data => "data",
                    TargetKind::Boundary => "boundary",
                }
                .to_string(),
            ),
        }
    }
    technologies.sort();
    technologies.dedup();
    element_kinds.sort();
    element_kinds.dedup();
    let mitigations: Vec<String> = t.mitigations.iter().map(|m| m.text.clone()).collect();
    let mut asvs: Vec<String> = t
        .mitigations
        .iter()
        .flat_map(|m| m.asvs.iter().cloned())
        .collect();
    asvs.sort();
    asvs.dedup();
    let elements: Vec<String> = t.targets.iter().map(|x| x.name.clone()).collect();
    let rule = match &t.provenance {
        Provenance::Rule { rule_id, .. } => Some(rule_id.clone()),
        _ => None,
    };
    let review = t.review.as_ref();
    let overridden = review.and_then(|r| r.severity_override.as_ref());
    let justification = review
        .and_then(|r| r.justification.as_deref())
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .map(|j| truncate(j, MAX_REASON_BYTES).to_string());
    let edited = review.is_some_and(|r| r.severity_override.is_some() || r.drafted_title.is_some());
    // The rule id is in the text too, so a search for it finds the rule's past threats with
    // any ranking (a filter alone needs a query that matches something).
    let mut decided = String::new();
    if let Some(rule) = &rule {
        decided.push_str(&format!("\nRule: {rule}"));
    }
    if let Some(j) = &justification {
        decided.push_str(&format!("\nReview: {} because {j}", status_name(t.status)));
    }
    if let Some(o) = overridden {
        decided.push_str(&format!(
            "\nSeverity set from {} to {} because {}",
            o.drafted.as_str(),
            t.severity.level.as_str(),
            truncate(o.reason.trim(), MAX_REASON_BYTES)
        ));
    }
    let body = format!(
        "{}\nTargets: {}\nMitigations: {}",
        t.description,
        elements.join(", "),
        mitigations.join(" ")
    );
    // The decision lines are short and bounded; the body is cut to make room for them.
    let text = format!(
        "{}{decided}",
        truncate(&body, MAX_CHUNK_BYTES.saturating_sub(decided.len()))
    );
    Chunk {
        key: t.id.clone(),
        kind: ChunkKind::Threat,
        title: t.title.clone(),
        text,
        meta: ChunkMeta {
            technologies,
            stride: t.stride.iter().map(|s| s.letter().to_string()).collect(),
            cwe: t.references.cwe.clone(),
            capec: t.references.capec.clone(),
            asvs,
            status: Some(status_name(t.status).to_string()),
            system: Some(system.to_string()).filter(|s| !s.is_empty()),
            elements,
            element_kinds,
            severity: Some(t.severity.level.as_str().to_string()),
            mitigations: mitigations
                .iter()
                .map(|m| truncate(m, 500).to_string())
                .collect(),
            version: None,
            rule,
            justification,
            drafted_severity: overridden.map(|o| o.drafted.as_str().to_string()),
            severity_reason: overridden
                .map(|o| truncate(o.reason.trim(), MAX_REASON_BYTES).to_string()),
            edited,
        },
    }
}

/// Longest justification or override reason kept: a reason is a sentence or two; more would
/// crowd the severity factor that quotes it.
const MAX_REASON_BYTES: usize = 300;

/// Our draft JSON (`tmc draft --format json`, after review). Drafts do not carry the model;
/// their coverage rows name each element's technology (drafts from before that field leave
/// technologies unknown).
pub fn draft_chunks(value: &Value) -> Result<Vec<Chunk>, Skip> {
    let draft: Draft = match serde_json::from_value(value.clone()) {
        Ok(d) => d,
        Err(e) => return skip(format!("tmc draft JSON that does not parse: {e}")),
    };
    let facts: ElementFacts = draft
        .coverage
        .iter()
        .filter_map(|row| {
            let tech = row.technology.clone()?;
            let kind = match row.target.kind {
                TargetKind::Flow => "flow",
                _ => "component",
            };
            Some((row.target.id.clone(), (tech, kind.to_string())))
        })
        .collect();
    Ok(draft
        .threats
        .iter()
        .map(|t| threat_chunk(t, &draft.product.name, &facts))
        .collect())
}

/// Any threat model `tmc-import` reads. Imports with no threats are skipped: a diagram alone
/// tells retrieval nothing that was reviewed.
pub fn import_chunks(name: &str, bytes: &[u8]) -> Result<Parsed, Skip> {
    let format = tmc_import::detect(bytes, name);
    let imported = match tmc_import::import(bytes, name, format) {
        Ok(i) => i,
        Err(e) => return skip(format!("import failed: {e}")),
    };
    if imported.threats.is_empty() {
        return skip("threat model with no threats (nothing reviewed to learn from)");
    }
    let facts = facts_of(&imported.model);
    let system = imported.model.product.name.clone();
    Ok(Parsed {
        format: format!("import:{}", format.map(|f| f.name()).unwrap_or("unknown")),
        chunks: imported
            .threats
            .iter()
            .map(|t| threat_chunk(t, &system, &facts))
            .collect(),
        note: None,
    })
}
