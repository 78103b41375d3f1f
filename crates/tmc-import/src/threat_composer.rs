//! AWS Threat Composer workspaces (`.tc.json`) → system model + threats.
//!
//! Threat Composer describes the system in prose (application, architecture and data-flow
//! text, plus diagrams as images), so there are no components to read. The only structured
//! hint of what is attacked is each threat's `impactedAssets`; we turn each distinct asset into
//! a component so threats have targets, and say loudly that the architecture must be modelled
//! by hand.

use std::collections::HashMap;

use serde_json::Value;
use tmc_model::{ElementKind, MitigationStatus, References, TargetKind, Technology, ThreatStatus};

use crate::builder::{
    Builder, NewComponent, ThreatParts, arr, as_object, level_only, malformed, mitigation, obj,
    parse_json, parse_stride, ptr, push_unique, scalar_text, severity_or_medium, text,
};
use crate::{ImportError, ImportResult};

const FORMAT: &str = "threat-composer";

/// Reads a Threat Composer workspace export.
pub fn import(bytes: &[u8]) -> Result<ImportResult, ImportError> {
    let root = parse_json(bytes, FORMAT)?;
    as_object(&root, FORMAT, "")?;
    if root.get("threats").is_none() && root.get("applicationInfo").is_none() {
        return Err(malformed(
            FORMAT,
            "/",
            "expected a Threat Composer workspace with `applicationInfo` and `threats`",
        ));
    }
    let mut b = Builder::new(FORMAT);

    let app = obj(&root, "applicationInfo", FORMAT, "")?.map(|_| &root["applicationInfo"]);
    b.model.product.name = app
        .and_then(|a| text(a, "name"))
        .unwrap_or_else(|| "Imported Threat Composer workspace".to_string());
    b.model.product.description = app.and_then(|a| text(a, "description"));
    for (key, heading) in [("architecture", "Architecture"), ("dataflow", "Data flow")] {
        if obj(&root, key, FORMAT, "")?.is_some()
            && let Some(d) = text(&root[key], "description")
        {
            b.add_model_note(&format!("{heading}:\n{d}"));
        }
    }
    for (i, a) in arr(&root, "assumptions", FORMAT, "")?.iter().enumerate() {
        as_object(a, FORMAT, &ptr("/assumptions", i))?;
        if let Some(c) = text(a, "content") {
            b.model.product.assumptions.push(c);
        }
    }

    // Mitigations by id, and which threat each is linked to.
    let mut mitigations: HashMap<String, (String, MitigationStatus, String)> = HashMap::new();
    for (i, m) in arr(&root, "mitigations", FORMAT, "")?.iter().enumerate() {
        as_object(m, FORMAT, &ptr("/mitigations", i))?;
        let (Some(id), Some(content)) = (text(m, "id"), text(m, "content")) else {
            continue;
        };
        let status = match text(m, "status").as_deref() {
            Some("mitigationResolved") => MitigationStatus::Implemented,
            Some("mitigationResolvedWillNotAction") => MitigationStatus::NotApplicable,
            _ => MitigationStatus::Proposed,
        };
        let label = text(m, "numericId").map_or_else(|| id.clone(), |n| format!("M-{n}"));
        mitigations.insert(id, (label, status, content));
    }
    let mut links: HashMap<String, Vec<String>> = HashMap::new();
    for (i, l) in arr(&root, "mitigationLinks", FORMAT, "")?
        .iter()
        .enumerate()
    {
        as_object(l, FORMAT, &ptr("/mitigationLinks", i))?;
        if let (Some(m), Some(t)) = (text(l, "mitigationId"), text(l, "linkedId")) {
            links.entry(t).or_default().push(m);
        }
    }

    let threats = arr(&root, "threats", FORMAT, "")?;
    let mut assets: HashMap<String, String> = HashMap::new();
    if !threats.is_empty() {
        b.note(
            None,
            "Threat Composer has no structured components: components were derived from the threats' impacted assets; model the architecture and flows by hand",
        );
    }
    for (i, t) in threats.iter().enumerate() {
        let at = ptr("/threats", i);
        as_object(t, FORMAT, &at)?;
        let source_id = text(t, "id").unwrap_or_else(|| format!("threat-{i}"));

        let mut targets = Vec::new();
        for (ai, a) in arr(t, "impactedAssets", FORMAT, &at)?.iter().enumerate() {
            let Some(name) = scalar_text(a) else {
                if !a.is_null() {
                    return Err(malformed(
                        FORMAT,
                        ptr(&ptr(&at, "impactedAssets"), ai),
                        "expected an asset name (a string)",
                    ));
                }
                continue;
            };
            let id = match assets.get(&name.to_lowercase()) {
                Some(id) => id.clone(),
                None => {
                    let id = asset_component(&mut b, &name);
                    assets.insert(name.to_lowercase(), id.clone());
                    id
                }
            };
            if let Some(tr) = b.target(TargetKind::Component, &id)
                && !targets.contains(&tr)
            {
                targets.push(tr);
            }
        }

        let mut stride = Vec::new();
        let mut priority = None;
        let mut comments = None;
        for (mi, m) in arr(t, "metadata", FORMAT, &at)?.iter().enumerate() {
            as_object(m, FORMAT, &ptr(&ptr(&at, "metadata"), mi))?;
            let key = text(m, "key").unwrap_or_default();
            let value = m.get("value").unwrap_or(&Value::Null);
            match key.as_str() {
                "STRIDE" => {
                    let values: Vec<String> = match value {
                        Value::Array(a) => a.iter().filter_map(scalar_text).collect(),
                        other => scalar_text(other).into_iter().collect(),
                    };
                    for v in values {
                        match parse_stride(&v) {
                            Some(s) => push_unique(&mut stride, s),
                            None => b.note(
                                None,
                                format!("threat {source_id}: STRIDE value \"{v}\" not recognised"),
                            ),
                        }
                    }
                }
                "Priority" => priority = scalar_text(value),
                "Comments" => comments = scalar_text(value),
                _ => {}
            }
        }
        let (level, unknown) = severity_or_medium(priority.as_deref());
        if unknown {
            b.note(
                None,
                format!("threat {source_id}: no priority; severity set to medium"),
            );
        }

        let statement = text(t, "statement");
        let title = text(t, "threatAction")
            .or_else(|| text(t, "threatImpact").map(|i| format!("leads to {i}")))
            .or_else(|| statement.clone())
            .unwrap_or_else(|| "Untitled threat".to_string());
        let mut description = statement.clone().unwrap_or_else(|| compose_statement(t));
        if let Some(c) = comments {
            description.push_str("\n\nComments: ");
            description.push_str(&c);
        }

        let status = match text(t, "status").as_deref() {
            Some("threatResolved") => ThreatStatus::Mitigated,
            Some("threatResolvedNotUseful") => ThreatStatus::NotApplicable,
            _ => ThreatStatus::Open,
        };

        let mut references = References::default();
        for tag in arr(t, "tags", FORMAT, &at)?.iter().filter_map(scalar_text) {
            if let Some(code) = llm_top10(&tag)
                && !references.owasp_llm_2025.contains(&code)
            {
                references.owasp_llm_2025.push(code);
            }
        }

        let mitigation_list = links
            .get(&source_id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|m| mitigations.get(m))
                    .map(|(label, st, content)| mitigation(label.clone(), content.clone(), *st))
                    .collect()
            })
            .unwrap_or_default();

        b.push_threat(
            &source_id,
            ThreatParts {
                title,
                description,
                stride,
                targets,
                references,
                severity: level_only(level),
                mitigations: mitigation_list,
                status,
            },
        );
    }
    Ok(b.finish())
}

/// A component for an impacted asset. Assets name data as often as systems, so the kind comes
/// from the technology when the words give one, and is a data store when they mention data.
fn asset_component(b: &mut Builder, name: &str) -> String {
    let lower = name.to_lowercase();
    let data_words = [
        "data",
        "information",
        "record",
        "document",
        "propert",
        "secret",
        "credential",
    ];
    let (kind, hint) = if data_words.iter().any(|w| lower.contains(w)) {
        (ElementKind::DataStore, "")
    } else {
        match crate::keywords::technology(name) {
            // People are not assets: "user accounts" is not a user.
            Some(Technology::User) | None => (ElementKind::Process, ""),
            Some(t) => (t.default_kind(), name),
        }
    };
    let id = b.add_component(NewComponent {
        source_id: name,
        id_hint: None,
        name: name.to_string(),
        description: None,
        kind,
        hint,
        detail_hint: "",
        default_tech: Technology::Other,
    });
    b.note(
        Some(&id),
        format!(
            "derived from the impacted asset \"{name}\"; kind `{}` guessed",
            kind.as_str()
        ),
    );
    id
}

/// Rebuilds the statement from its parts when the export lacks the rendered one.
fn compose_statement(t: &Value) -> String {
    let parts = [
        text(t, "threatSource").map(|s| format!("A {s}")),
        text(t, "prerequisites"),
        text(t, "threatAction").map(|s| format!("can {s}")),
        text(t, "threatImpact").map(|s| format!("which leads to {s}")),
    ];
    let s: Vec<String> = parts.into_iter().flatten().collect();
    if s.is_empty() {
        "No statement given.".to_string()
    } else {
        s.join(" ")
    }
}

/// "LLM01 Prompt Injection" → "LLM01".
fn llm_top10(tag: &str) -> Option<String> {
    let head: String = tag.trim().chars().take(5).collect();
    let ok = head.len() == 5
        && head[..3].eq_ignore_ascii_case("llm")
        && head[3..].chars().all(|c| c.is_ascii_digit());
    ok.then(|| head.to_ascii_uppercase())
}
