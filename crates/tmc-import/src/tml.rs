//! OWASP Threat Model Library JSON (the `threat-model.schema.json` format) → system model +
//! threats.
//!
//! The library names every object by a symbolic name and keeps actors, components and data
//! stores in separate lists; all three are components for us. Its trust zones are places (our
//! boundaries, and the components' `trust_zone`), while its trust boundaries are lines between
//! two zones with access-control facts, which we keep as boundary notes. Threats carry CWE and
//! CAPEC but no STRIDE; their severity comes from the risks that cite them.

use std::collections::HashMap;

use serde_json::Value;
use tmc_model::{
    Classification, Criticality, DataAsset, ElementKind, Encryption, MitigationStatus, References,
    Severity, TargetKind, TargetRef, Technology, ThreatStatus,
};

use crate::builder::{
    Builder, NewComponent, ThreatParts, arr, as_object, flag, infer_trust_zone, level_only,
    malformed, mitigation, parse_json, ptr, scalar_text, scored, text,
};
use crate::{ImportError, ImportResult};

const FORMAT: &str = "threat-model-library";

/// Reads a Threat Model Library JSON document.
pub fn import(bytes: &[u8]) -> Result<ImportResult, ImportError> {
    let root = parse_json(bytes, FORMAT)?;
    as_object(&root, FORMAT, "")?;
    let Some(scope) = root.get("scope").filter(|s| s.is_object()) else {
        return Err(malformed(
            FORMAT,
            "/scope",
            "expected a Threat Model Library document with a `scope` object",
        ));
    };
    let mut b = Builder::new(FORMAT);
    let p = &mut b.model.product;
    p.name = text(scope, "title").unwrap_or_else(|| "Imported threat model".to_string());
    p.description = text(scope, "description").or_else(|| text(&root, "description"));
    p.business_criticality = text(scope, "business_criticality").and_then(|c| match c.as_str() {
        "minimal" | "low" => Some(Criticality::Low),
        "moderate" => Some(Criticality::Medium),
        "high" => Some(Criticality::High),
        "maximal" => Some(Criticality::MissionCritical),
        _ => None,
    });
    for key in ["exposure", "tier"] {
        if let Some(v) = text(scope, key) {
            p.tags.push(format!("{key}:{v}"));
        }
    }
    for s in scope
        .get("data_sensitivity")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = scalar_text(s) {
            p.tags.push(format!("data:{s}"));
        }
    }
    for key in ["repo_link", "release_docs_link"] {
        if let Some(l) = text(&root, key)
            && !p.links.contains(&l)
        {
            p.links.push(l);
        }
    }
    for (i, a) in arr(&root, "assumptions", FORMAT, "")?.iter().enumerate() {
        as_object(a, FORMAT, &ptr("/assumptions", i))?;
        if let Some(d) = text(a, "description") {
            let validity = text(a, "validity").unwrap_or_else(|| "unconfirmed".to_string());
            b.model
                .product
                .assumptions
                .push(format!("{d} ({validity})"));
        }
    }

    // Trust zones → boundaries.
    let mut zones: HashMap<String, (String, Option<tmc_model::TrustZone>)> = HashMap::new();
    for (i, z) in arr(&root, "trust_zones", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/trust_zones", i);
        as_object(z, FORMAT, &at)?;
        let sid = symbolic(z, &at)?;
        let title = text(z, "title").unwrap_or_else(|| sid.clone());
        let description = text(z, "description");
        let hint = format!("{title} {}", description.clone().unwrap_or_default());
        let id = b.add_boundary(&sid, Some(&sid), title.clone(), &hint);
        if let Some(bd) = b.boundary_mut(&id) {
            bd.description = description;
        }
        let tz = infer_trust_zone(&title).or_else(|| infer_trust_zone(&hint));
        zones.insert(sid, (id, tz));
    }
    for (i, tb) in arr(&root, "trust_boundaries", FORMAT, "")?
        .iter()
        .enumerate()
    {
        let at = ptr("/trust_boundaries", i);
        as_object(tb, FORMAT, &at)?;
        let (Some(a), Some(z)) = (text(tb, "trust_zone_a"), text(tb, "trust_zone_b")) else {
            return Err(malformed(
                FORMAT,
                at,
                "expected `trust_zone_a` and `trust_zone_b`",
            ));
        };
        let list = |k: &str| -> String {
            let v: Vec<String> = tb
                .get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(scalar_text)
                .collect();
            if v.is_empty() {
                "unspecified".to_string()
            } else {
                v.join(", ")
            }
        };
        let line = format!(
            "Boundary between `{a}` and `{z}`: access control {}; authentication {}.",
            list("access_control_methods"),
            list("authentication_methods")
        );
        for zone in [&a, &z] {
            match zones.get(zone) {
                Some((bid, _)) => {
                    let bid = bid.clone();
                    if let Some(bd) = b.boundary_mut(&bid) {
                        let n = bd.notes.get_or_insert_with(String::new);
                        if !n.is_empty() {
                            n.push('\n');
                        }
                        n.push_str(&line);
                    }
                }
                None => b.note(
                    None,
                    format!("trust boundary {at} refers to undefined trust zone `{zone}`"),
                ),
            }
        }
    }

    // Actors, components and data stores all become components.
    let mut elements: HashMap<String, TargetRef> = HashMap::new();
    let mut comp_of: HashMap<String, String> = HashMap::new();
    let sections: [(&str, ElementKind); 3] = [
        ("actors", ElementKind::ExternalEntity),
        ("components", ElementKind::Process),
        ("data_stores", ElementKind::DataStore),
    ];
    for (section, kind) in sections {
        for (i, e) in arr(&root, section, FORMAT, "")?.iter().enumerate() {
            let at = ptr(&ptr("", section), i);
            as_object(e, FORMAT, &at)?;
            let sid = symbolic(e, &at)?;
            let title = text(e, "title").unwrap_or_else(|| sid.clone());
            let description = text(e, "description");
            let ty = text(e, "type").unwrap_or_default();
            let product = [text(e, "vendor"), text(e, "product")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let detail = description.clone().unwrap_or_default();
            let (hint, default_tech) = match kind {
                ElementKind::ExternalEntity => (
                    title.clone(),
                    match ty.as_str() {
                        "user" | "power_user" | "administrator" | "engineer" => Technology::User,
                        "third_party" => Technology::ExternalService,
                        _ => Technology::ExternalService,
                    },
                ),
                ElementKind::DataStore => (
                    format!("{title} {product}"),
                    match ty.as_str() {
                        "sql" | "time_series" => Technology::Database,
                        "key_value" | "document" | "graph" => Technology::NosqlDatabase,
                        "object" => Technology::ObjectStorage,
                        _ => Technology::Other,
                    },
                ),
                ElementKind::Process => (title.clone(), Technology::Other),
            };
            // Actor types and store types are firmer than word guesses.
            let typed = (kind == ElementKind::ExternalEntity && !ty.is_empty())
                || (kind == ElementKind::DataStore
                    && crate::keywords::technology(&hint)
                        .is_none_or(|t| t.default_kind() != ElementKind::DataStore));
            let id = if typed {
                let id = b.alloc_id(&sid, section);
                b.map(&id, &sid);
                b.push_component(&id, title, description, kind, default_tech);
                b.note(
                    Some(&id),
                    format!(
                        "technology `{}` from {section} type \"{ty}\"",
                        default_tech.as_str()
                    ),
                );
                id
            } else {
                b.add_component(NewComponent {
                    source_id: &sid,
                    id_hint: Some(&sid),
                    name: title,
                    description,
                    kind,
                    hint: &hint,
                    detail_hint: &detail,
                    default_tech,
                })
            };
            if let Some(pc) = text(e, "parent_component") {
                b.note(
                    Some(&id),
                    format!("part of component `{pc}` in the source; nesting is not modelled"),
                );
            }
            match text(e, "trust_zone").and_then(|z| zones.get(&z).cloned().map(|v| (z, v))) {
                Some((_, (bid, tz))) => {
                    b.add_member(&bid, &id);
                    if let Some(c) = b.component_mut(&id) {
                        c.trust_zone = tz;
                    }
                    if tz.is_none() {
                        b.note(
                            Some(&id),
                            "trust zone could not be inferred from the source zone's name",
                        );
                    }
                }
                None => b.note(Some(&id), "no known trust zone"),
            }
            if let Some(t) = b.target(TargetKind::Component, &id) {
                elements.insert(sid.clone(), t);
            }
            comp_of.insert(sid, id);
        }
    }

    // Data sets → data assets.
    let mut data_of: HashMap<String, String> = HashMap::new();
    for (i, d) in arr(&root, "data_sets", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/data_sets", i);
        as_object(d, FORMAT, &at)?;
        let sid = symbolic(d, &at)?;
        let id = b.alloc_id(&sid, "data");
        b.map(&id, &sid);
        let sens: Vec<String> = arr(d, "data_sensitivity", FORMAT, &at)?
            .iter()
            .filter_map(scalar_text)
            .collect();
        let has = |k: &[&str]| sens.iter().any(|s| k.contains(&s.as_str()));
        let classification = if has(&["cred", "pci", "phi"]) {
            Classification::Restricted
        } else if has(&["pii", "fin", "gov", "ip"]) {
            Classification::Confidential
        } else if sens.is_empty() {
            b.note(
                Some(&id),
                "no data sensitivity; classification set to `internal`",
            );
            Classification::Internal
        } else {
            Classification::Internal
        };
        let mut stored_in = Vec::new();
        for (pi, pl) in arr(d, "placements", FORMAT, &at)?.iter().enumerate() {
            as_object(pl, FORMAT, &ptr(&ptr(&at, "placements"), pi))?;
            let Some(store) = text(pl, "data_store") else {
                continue;
            };
            match comp_of.get(&store).cloned() {
                Some(cid) => {
                    if !stored_in.contains(&cid) {
                        stored_in.push(cid.clone());
                    }
                    if let (Some(enc), Some(c)) = (flag(pl, "encrypted"), b.component_mut(&cid)) {
                        // Any unencrypted placement makes the store's data at rest unencrypted.
                        c.encryption_at_rest = Some(c.encryption_at_rest.unwrap_or(true) && enc);
                    }
                }
                None => b.note(
                    Some(&id),
                    format!("placed on data store `{store}`, which is not defined"),
                ),
            }
        }
        b.add_data(DataAsset {
            id: id.clone(),
            name: text(d, "title").unwrap_or_else(|| sid.clone()),
            description: text(d, "description"),
            classification,
            pii: has(&["pii", "phi"]).then_some(true),
            credentials: has(&["cred"]).then_some(true),
            financial: has(&["fin", "pci"]).then_some(true),
            confidentiality: None,
            integrity: None,
            availability: None,
            stored_in,
            processed_by: Vec::new(),
            notes: None,
        });
        if let Some(t) = b.target(TargetKind::Data, &id) {
            elements.insert(sid.clone(), t);
        }
        data_of.insert(sid, id);
    }

    // Data flows.
    for (i, f) in arr(&root, "data_flows", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/data_flows", i);
        as_object(f, FORMAT, &at)?;
        let sid = symbolic(f, &at)?;
        let end = |k: &str| -> Result<String, ImportError> {
            let e = f.get(k);
            e.and_then(|e| text(e, "object").or_else(|| scalar_text(e)))
                .ok_or_else(|| {
                    malformed(
                        FORMAT,
                        ptr(&at, k),
                        "expected `{type, object}` naming an element",
                    )
                })
        };
        let (src, dst) = (end("source")?, end("destination")?);
        let (Some(from), Some(to)) = (comp_of.get(&src).cloned(), comp_of.get(&dst).cloned())
        else {
            b.note(
                None,
                format!("data flow `{sid}` skipped: `{src}` or `{dst}` is not a defined element"),
            );
            continue;
        };
        let title = text(f, "title");
        let description = text(f, "description");
        let id = b.alloc_id(&sid, "flow");
        b.map(&id, &sid);
        b.model.flows.push(tmc_model::Flow {
            id: id.clone(),
            name: title.clone(),
            from,
            to,
            protocol: None,
            port: None,
            authentication: None,
            encryption: None,
            data: Vec::new(),
            data_received: Vec::new(),
            bidirectional: None,
            description: description.clone(),
            notes: (flag(f, "has_sensitive_data") == Some(true))
                .then(|| "Carries sensitive data.".to_string()),
        });
        let fallback = format!(
            " {} {} ",
            title.unwrap_or_default(),
            description.unwrap_or_default()
        );
        b.set_flow_protocol(&id, None, &fallback);
        match flag(f, "encrypted") {
            Some(true) => {
                if let Some(fl) = b.flow_mut(&id) {
                    fl.encryption = Some(Encryption::Tls12);
                }
                b.note(
                    Some(&id),
                    "marked encrypted without a version; encryption set to `tls-1.2`",
                );
            }
            Some(false) => {
                if let Some(fl) = b.flow_mut(&id) {
                    fl.encryption = Some(Encryption::None);
                }
            }
            None => {}
        }
        if let Some(t) = b.target(TargetKind::Flow, &id) {
            elements.insert(sid, t);
        }
    }

    // Controls (mitigations) and risks (severity) by threat.
    let mut controls: HashMap<String, Vec<tmc_model::Mitigation>> = HashMap::new();
    for (i, c) in arr(&root, "controls", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/controls", i);
        as_object(c, FORMAT, &at)?;
        let sid = symbolic(c, &at)?;
        let title = text(c, "title").unwrap_or_else(|| sid.clone());
        let text_ = match text(c, "description") {
            Some(d) => format!("{title}: {d}"),
            None => title,
        };
        let status = match text(c, "status").as_deref() {
            Some("active" | "assumed") => MitigationStatus::Implemented,
            Some("retired" | "wont_do") => MitigationStatus::NotApplicable,
            _ => MitigationStatus::Proposed,
        };
        for t in arr(c, "threats", FORMAT, &at)?
            .iter()
            .filter_map(scalar_text)
        {
            controls
                .entry(t)
                .or_default()
                .push(mitigation(sid.clone(), text_.clone(), status));
        }
    }
    let mut risks: HashMap<String, (u8, u8, u8, Option<Severity>)> = HashMap::new();
    for (i, r) in arr(&root, "risks", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/risks", i);
        as_object(r, FORMAT, &at)?;
        let l = match text(r, "likelihood").as_deref() {
            Some("rare") => 1,
            Some("unlikely") => 2,
            Some("possible") => 3,
            Some("likely") => 4,
            Some("certain") => 5,
            _ => 0,
        };
        let im = match text(r, "impact").as_deref() {
            Some("negligible") => 1,
            Some("minor") => 2,
            Some("moderate") => 3,
            Some("major") => 4,
            Some("severe") => 5,
            _ => 0,
        };
        let level = text(r, "level").and_then(|l| match l.as_str() {
            "very_low" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "very_high" | "critical" => Some(Severity::Critical),
            _ => None,
        });
        let score = crate::builder::number(r, "score")
            .filter(|s| s.is_finite())
            .map_or(l * im, |s| s.clamp(0.0, 25.0) as u8);
        for t in arr(r, "threats", FORMAT, &at)?
            .iter()
            .filter_map(scalar_text)
        {
            let entry = risks.entry(t).or_insert((l, im, score, level));
            // The gravest risk citing a threat sets its severity.
            if level > entry.3 || (level == entry.3 && score > entry.2) {
                *entry = (l, im, score, level);
            }
        }
    }

    for (i, t) in arr(&root, "threats", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/threats", i);
        as_object(t, FORMAT, &at)?;
        let sid = symbolic(t, &at)?;
        let title = text(t, "title").unwrap_or_else(|| sid.clone());
        let mut description = text(t, "description").unwrap_or_else(|| title.clone());
        if let Some(e) = text(t, "event") {
            description.push_str(&format!("\n\nEvent: {e}"));
        }
        if let Some(p) = text(t, "threat_persona") {
            description.push_str(&format!("\nThreat persona: {p}"));
        }
        let mut references = References::default();
        for (k, field, list) in [
            ("weaknesses", "cwe_id", &mut references.cwe),
            ("attack_mechanisms", "capec_id", &mut references.capec),
        ] {
            for (wi, w) in arr(t, k, FORMAT, &at)?.iter().enumerate() {
                let id = crate::builder::number(w, field)
                    .filter(|n| n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX))
                    .ok_or_else(|| {
                        malformed(
                            FORMAT,
                            ptr(&ptr(&ptr(&at, k), wi), field),
                            "expected a numeric id",
                        )
                    })?;
                let id = id as u32;
                if !list.contains(&id) {
                    list.push(id);
                }
            }
        }
        let mut targets = Vec::new();
        for a in arr(t, "components_affected", FORMAT, &at)?
            .iter()
            .filter_map(scalar_text)
        {
            match elements
                .get(&a)
                .or_else(|| data_of.get(&a).and_then(|d| elements.get(d)))
            {
                Some(tr) if !targets.contains(tr) => targets.push(tr.clone()),
                Some(_) => {}
                None => b.note(
                    None,
                    format!("threat {sid}: affected element `{a}` is not defined"),
                ),
            }
        }
        if targets.is_empty() {
            b.note(None, format!("threat {sid} names no affected element"));
        }
        let severity = match risks.get(&sid) {
            Some(&(l, im, score, level)) if l > 0 && im > 0 => {
                let mut s = scored(l, im, level);
                s.score = score;
                s
            }
            Some(&(_, _, _, Some(level))) => level_only(level),
            _ => {
                b.note(
                    None,
                    format!("threat {sid}: no risk cites it; severity set to medium"),
                );
                level_only(Severity::Medium)
            }
        };
        b.push_threat(
            &sid,
            ThreatParts {
                title,
                description,
                stride: Vec::new(),
                targets,
                references,
                severity,
                mitigations: controls.remove(&sid).unwrap_or_default(),
                status: ThreatStatus::Open,
            },
        );
    }
    if !b.threats.is_empty() {
        b.note(
            None,
            "Threat Model Library threats carry no STRIDE categories; add them when reviewing",
        );
    }
    Ok(b.finish())
}

fn symbolic(v: &Value, at: &str) -> Result<String, ImportError> {
    text(v, "symbolic_name")
        .ok_or_else(|| malformed(FORMAT, ptr(at, "symbolic_name"), "expected a symbolic name"))
}
