//! Reviewed threat models: our draft JSON (with review status) and anything `tmc-import`
//! reads. One chunk per threat, tagged with the technologies of the elements it targets so
//! drafting can ask "what did past reviews accept for a database like this one?".

use std::collections::BTreeMap;

use serde_json::Value;
use tmc_model::{Draft, SystemModel, TargetKind, Threat, ThreatStatus};

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
    let text = format!(
        "{}\nTargets: {}\nMitigations: {}",
        t.description,
        elements.join(", "),
        mitigations.join(" ")
    );
    Chunk {
        key: t.id.clone(),
        kind: ChunkKind::Threat,
        title: t.title.clone(),
        text: truncate(&text, MAX_CHUNK_BYTES).to_string(),
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
        },
    }
}

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
