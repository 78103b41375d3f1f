//! Open Threat Model (OTM 0.1/0.2 JSON) → system model + threats.
//!
//! OTM is the closest format to ours: trust zones, components with a parent, data flows and
//! threats defined once and instantiated on elements. Differences we bridge: a trust zone is
//! both a place (our boundary) and a trust level (our `trust_zone`); components may nest in
//! components (we place them in the ancestor's zone); a threat instance carries the state, so a
//! threat on several elements becomes one threat with several targets.

use std::collections::HashMap;

use tmc_model::{
    Classification, DataAsset, ElementKind, MitigationStatus, Rating, References, Severity,
    TargetKind, TargetRef, Technology, ThreatStatus,
};

use crate::builder::{
    Builder, NewComponent, ThreatParts, arr, as_object, flag, infer_trust_zone, level_only,
    malformed, mitigation, number, obj, parse_json, parse_stride, percent_to_five, ptr,
    push_unique, scored, text,
};
use crate::{ImportError, ImportResult};

const FORMAT: &str = "otm";

/// Deepest component-in-component chain we follow when looking for a trust zone.
const MAX_PARENT_DEPTH: usize = 64;

/// Reads an OTM document (JSON, or the YAML form the OTM specification also allows).
pub fn import(bytes: &[u8]) -> Result<ImportResult, ImportError> {
    let root = if bytes.trim_ascii_start().starts_with(b"{") {
        parse_json(bytes, FORMAT)?
    } else {
        crate::builder::check_size(bytes, FORMAT)?;
        serde_saphyr::from_slice::<serde_json::Value>(bytes).map_err(|e| {
            let at = e.location().map_or_else(
                || "/".to_string(),
                |l| format!("{}:{}", l.line(), l.column()),
            );
            malformed(FORMAT, at, format!("neither JSON nor valid YAML: {e}"))
        })?
    };
    as_object(&root, FORMAT, "")?;
    if root.get("otmVersion").is_none() && root.get("project").is_none() {
        return Err(malformed(
            FORMAT,
            "/otmVersion",
            "expected an OTM document with `otmVersion` and `project`",
        ));
    }
    let mut b = Builder::new(FORMAT);
    let project = obj(&root, "project", FORMAT, "")?.map(|_| &root["project"]);
    b.model.product.name = project
        .and_then(|p| text(p, "name"))
        .unwrap_or_else(|| "Imported OTM project".to_string());
    b.model.product.description = project.and_then(|p| text(p, "description"));
    b.model.product.owner = project.and_then(|p| text(p, "owner"));
    if let Some(p) = project {
        b.model.product.tags = arr(p, "tags", FORMAT, "/project")?
            .iter()
            .filter_map(crate::builder::scalar_text)
            .collect();
    }

    // Trust zones → boundaries.
    let mut zones: HashMap<String, String> = HashMap::new();
    let mut zone_trust: HashMap<String, Option<tmc_model::TrustZone>> = HashMap::new();
    let mut zone_parent = Vec::new();
    let mut elements: HashMap<String, TargetRef> = HashMap::new();
    for (i, z) in arr(&root, "trustZones", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/trustZones", i);
        as_object(z, FORMAT, &at)?;
        let Some(sid) = text(z, "id") else {
            return Err(malformed(
                FORMAT,
                ptr(&at, "id"),
                "expected a trust zone id",
            ));
        };
        let name = text(z, "name").unwrap_or_else(|| sid.clone());
        let id = b.add_boundary(&sid, None, name.clone(), &name);
        let rating = z.get("risk").and_then(|r| number(r, "trustRating"));
        let tz = infer_trust_zone(&name).or_else(|| {
            rating.map(|r| {
                if r < 30.0 {
                    tmc_model::TrustZone::Internet
                } else if r < 70.0 {
                    tmc_model::TrustZone::Dmz
                } else {
                    tmc_model::TrustZone::Internal
                }
            })
        });
        let mut desc = text(z, "description");
        if let Some(r) = rating {
            let line = format!("OTM trust rating {r}.");
            desc = Some(desc.map_or(line.clone(), |d| format!("{d} {line}")));
        }
        if let Some(bd) = b.boundary_mut(&id) {
            bd.description = desc;
        }
        if let Some(p) = z.get("parent").and_then(|p| text(p, "trustZone")) {
            zone_parent.push((p, id.clone()));
        }
        if let Some(t) = b.target(TargetKind::Boundary, &id) {
            elements.insert(sid.clone(), t);
        }
        zones.insert(sid.clone(), id);
        zone_trust.insert(sid, tz);
    }
    for (parent, child) in zone_parent {
        match zones.get(&parent) {
            Some(p) => {
                let p = p.clone();
                b.nest_boundary(&p, &child);
            }
            None => b.note(
                Some(&child),
                format!("parent trust zone `{parent}` is not defined"),
            ),
        }
    }

    // Components; parents resolved after all are known.
    let comps = arr(&root, "components", FORMAT, "")?;
    let mut by_source: HashMap<String, String> = HashMap::new();
    let mut parents: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    for (i, c) in comps.iter().enumerate() {
        let at = ptr("/components", i);
        as_object(c, FORMAT, &at)?;
        let Some(sid) = text(c, "id") else {
            return Err(malformed(FORMAT, ptr(&at, "id"), "expected a component id"));
        };
        let name = text(c, "name").unwrap_or_else(|| sid.clone());
        let ty = text(c, "type").unwrap_or_default();
        let hint = format!("{ty} {name}");
        let tech = crate::keywords::technology(&hint);
        let kind = tech.map_or(ElementKind::Process, Technology::default_kind);
        let id = b.add_component(NewComponent {
            source_id: &sid,
            id_hint: None,
            name,
            description: text(c, "description"),
            kind,
            hint: &hint,
            detail_hint: "",
            default_tech: Technology::Other,
        });
        if tech.is_none() {
            b.note(
                Some(&id),
                format!("kind `process` assumed for OTM type \"{ty}\""),
            );
        }
        let tags: Vec<String> = arr(c, "tags", FORMAT, &at)?
            .iter()
            .filter_map(crate::builder::scalar_text)
            .collect();
        let out_of_scope = c
            .get("properties")
            .and_then(|p| flag(p, "Out Of Scope"))
            .unwrap_or(false);
        if let Some(comp) = b.component_mut(&id) {
            comp.tags = tags;
            if out_of_scope {
                comp.in_scope = false;
            }
        }
        let parent = c.get("parent");
        parents.insert(
            id.clone(),
            (
                parent.and_then(|p| text(p, "trustZone")),
                parent.and_then(|p| text(p, "component")),
            ),
        );
        if let Some(t) = b.target(TargetKind::Component, &id) {
            elements.insert(sid.clone(), t);
        }
        by_source.insert(sid, id);
    }
    let ids: Vec<String> = b.model.components.iter().map(|c| c.id.clone()).collect();
    for id in ids {
        // Follow component parents up to a trust zone.
        let mut cur = id.clone();
        let mut zone = None;
        for _ in 0..MAX_PARENT_DEPTH {
            match parents.get(&cur) {
                Some((Some(z), _)) => {
                    zone = Some(z.clone());
                    break;
                }
                Some((None, Some(pc))) => match by_source.get(pc) {
                    Some(next) => cur = next.clone(),
                    None => break,
                },
                _ => break,
            }
        }
        if cur != id {
            let parent_src = parents
                .get(&id)
                .and_then(|p| p.1.clone())
                .unwrap_or_default();
            b.note(Some(&id), format!("nested in component `{parent_src}` in OTM; placed in that component's trust zone"));
        }
        match zone {
            Some(z) => match zones.get(&z) {
                Some(bid) => {
                    let bid = bid.clone();
                    b.add_member(&bid, &id);
                    let tz = zone_trust.get(&z).copied().flatten();
                    if let Some(c) = b.component_mut(&id) {
                        c.trust_zone = tz;
                    }
                    if tz.is_none() {
                        b.note(
                            Some(&id),
                            "trust zone could not be inferred from the OTM trust zone",
                        );
                    }
                }
                None => b.note(Some(&id), format!("trust zone `{z}` is not defined")),
            },
            None => b.note(Some(&id), "no trust zone in OTM"),
        }
    }

    // Data assets.
    let mut data_ids: HashMap<String, String> = HashMap::new();
    for (i, d) in arr(&root, "dataAssets", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/dataAssets", i);
        as_object(d, FORMAT, &at)?;
        let Some(sid) = text(d, "id") else {
            return Err(malformed(
                FORMAT,
                ptr(&at, "id"),
                "expected a data asset id",
            ));
        };
        let name = text(d, "name").unwrap_or_else(|| sid.clone());
        let id = b.alloc_id(&name, "data");
        b.map(&id, &sid);
        let risk = d.get("risk");
        let rate = |k: &str| risk.and_then(|r| number(r, k)).map(percent_rating);
        let confidentiality = rate("confidentiality");
        let classification = match confidentiality {
            Some(Rating::Critical) => Classification::Restricted,
            Some(Rating::High) => Classification::Confidential,
            Some(Rating::Medium) => Classification::Internal,
            Some(Rating::Low) => Classification::Public,
            None => {
                b.note(Some(&id), "classification unknown; set to `internal`");
                Classification::Internal
            }
        };
        b.add_data(DataAsset {
            id: id.clone(),
            name,
            description: text(d, "description"),
            classification,
            pii: None,
            credentials: None,
            financial: None,
            confidentiality,
            integrity: rate("integrity"),
            availability: rate("availability"),
            stored_in: Vec::new(),
            processed_by: Vec::new(),
            notes: None,
        });
        if let Some(t) = b.target(TargetKind::Data, &id) {
            elements.insert(sid.clone(), t);
        }
        data_ids.insert(sid, id);
    }

    // Data flows.
    for (i, f) in arr(&root, "dataflows", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/dataflows", i);
        as_object(f, FORMAT, &at)?;
        let sid = text(f, "id").unwrap_or_else(|| format!("dataflow-{i}"));
        let (Some(src), Some(dst)) = (text(f, "source"), text(f, "destination")) else {
            return Err(malformed(FORMAT, at, "expected `source` and `destination`"));
        };
        let (Some(from), Some(to)) = (by_source.get(&src).cloned(), by_source.get(&dst).cloned())
        else {
            b.note(
                None,
                format!("data flow `{sid}` skipped: its source or destination is not a component"),
            );
            continue;
        };
        let name = text(f, "name");
        let id = b.add_flow(&sid, name.clone(), &from, &to);
        let attrs = f.get("attributes");
        let declared = attrs
            .and_then(|a| text(a, "protocol"))
            .or_else(|| f.get("protocol").and_then(crate::builder::scalar_text));
        let tags: Vec<String> = arr(f, "tags", FORMAT, &at)?
            .iter()
            .filter_map(crate::builder::scalar_text)
            .collect();
        let fallback = format!(" {} {} ", name.clone().unwrap_or_default(), tags.join(" "));
        b.set_flow_protocol(&id, declared.as_deref(), &fallback);
        let description = text(f, "description");
        let bidirectional = flag(f, "bidirectional");
        if let Some(fl) = b.flow_mut(&id) {
            fl.description = description;
            if bidirectional == Some(true) {
                fl.bidirectional = Some(true);
            }
        }
        if let Some(t) = b.target(TargetKind::Flow, &id) {
            elements.insert(sid, t);
        }
    }

    // Threat and mitigation definitions.
    let mut mit_defs: HashMap<String, String> = HashMap::new();
    for (i, m) in arr(&root, "mitigations", FORMAT, "")?.iter().enumerate() {
        as_object(m, FORMAT, &ptr("/mitigations", i))?;
        if let Some(id) = text(m, "id") {
            let t = text(m, "name")
                .or_else(|| text(m, "description"))
                .unwrap_or_else(|| id.clone());
            mit_defs.insert(id, t);
        }
    }

    // Instances on elements: threat id → (targets, states, mitigations).
    #[derive(Default)]
    struct Uses {
        targets: Vec<TargetRef>,
        states: Vec<String>,
        mitigations: Vec<(String, String)>,
    }
    let mut uses: HashMap<String, Uses> = HashMap::new();
    for (section, list) in [
        ("trustZones", arr(&root, "trustZones", FORMAT, "")?),
        ("components", comps),
        ("dataflows", arr(&root, "dataflows", FORMAT, "")?),
        ("dataAssets", arr(&root, "dataAssets", FORMAT, "")?),
    ] {
        for (i, e) in list.iter().enumerate() {
            let at = ptr(&ptr("", section), i);
            let target = text(e, "id").and_then(|id| elements.get(&id).cloned());
            for (ti, inst) in arr(e, "threats", FORMAT, &at)?.iter().enumerate() {
                let iat = ptr(&ptr(&at, "threats"), ti);
                as_object(inst, FORMAT, &iat)?;
                let Some(tid) = text(inst, "threat") else {
                    return Err(malformed(
                        FORMAT,
                        ptr(&iat, "threat"),
                        "expected the id of a threat",
                    ));
                };
                let u = uses.entry(tid).or_default();
                if let Some(t) = &target
                    && !u.targets.contains(t)
                {
                    u.targets.push(t.clone());
                }
                if let Some(s) = text(inst, "state") {
                    u.states.push(s);
                }
                for (mi, m) in arr(inst, "mitigations", FORMAT, &iat)?.iter().enumerate() {
                    as_object(m, FORMAT, &ptr(&ptr(&iat, "mitigations"), mi))?;
                    if let Some(mid) = text(m, "mitigation") {
                        u.mitigations
                            .push((mid, text(m, "state").unwrap_or_default()));
                    }
                }
            }
        }
    }

    for (i, t) in arr(&root, "threats", FORMAT, "")?.iter().enumerate() {
        let at = ptr("/threats", i);
        as_object(t, FORMAT, &at)?;
        let Some(sid) = text(t, "id") else {
            return Err(malformed(FORMAT, ptr(&at, "id"), "expected a threat id"));
        };
        let title = text(t, "name").unwrap_or_else(|| sid.clone());
        let description = text(t, "description").unwrap_or_else(|| title.clone());
        let mut stride = Vec::new();
        for c in arr(t, "categories", FORMAT, &at)?
            .iter()
            .filter_map(crate::builder::scalar_text)
        {
            match parse_stride(&c) {
                Some(s) => push_unique(&mut stride, s),
                None => b.note(
                    None,
                    format!("threat {sid}: category \"{c}\" is not a STRIDE category"),
                ),
            }
        }
        let mut references = References::default();
        for c in arr(t, "cwes", FORMAT, &at)?
            .iter()
            .filter_map(crate::builder::scalar_text)
        {
            if let Ok(n) = c.trim_start_matches("CWE-").parse::<u32>() {
                references.cwe.push(n);
            }
        }
        let risk = t.get("risk");
        let severity = match (
            risk.and_then(|r| number(r, "likelihood")),
            risk.and_then(|r| number(r, "impact")),
        ) {
            (Some(l), Some(im)) => scored(percent_to_five(l), percent_to_five(im), None),
            _ => {
                b.note(
                    None,
                    format!("threat {sid}: no risk values; severity set to medium"),
                );
                level_only(Severity::Medium)
            }
        };
        let u = uses.remove(&sid).unwrap_or_default();
        if u.targets.is_empty() {
            b.note(
                None,
                format!("threat {sid} is not instantiated on any element"),
            );
        }
        let status = threat_status(&u.states);
        if u.states
            .iter()
            .any(|s| s.eq_ignore_ascii_case("autogenerated"))
        {
            b.note(
                None,
                format!("threat {sid} was generated by a tool (state AutoGenerated) and not reviewed; status left as draft"),
            );
        }
        let mut mitigations = Vec::new();
        for (mid, state) in &u.mitigations {
            let Some(text) = mit_defs.get(mid) else {
                b.note(
                    None,
                    format!("threat {sid}: mitigation `{mid}` is not defined"),
                );
                continue;
            };
            let st = match state.to_ascii_uppercase().as_str() {
                "IMPLEMENTED" => MitigationStatus::Implemented,
                "VERIFIED" => MitigationStatus::Verified,
                "NOT_APPLICABLE" | "REJECTED" => MitigationStatus::NotApplicable,
                _ => MitigationStatus::Proposed,
            };
            mitigations.push(mitigation(mid.clone(), text.clone(), st));
        }
        b.push_threat(
            &sid,
            ThreatParts {
                title,
                description,
                stride,
                targets: u.targets,
                references,
                severity,
                mitigations,
                status,
            },
        );
    }
    for tid in uses.keys() {
        b.note(
            None,
            format!("an element refers to threat `{tid}`, which is not defined"),
        );
    }
    Ok(b.finish())
}

/// One status from the states of a threat's instances: any open instance keeps it open.
fn threat_status(states: &[String]) -> ThreatStatus {
    let norm: Vec<String> = states
        .iter()
        .map(|s| s.to_ascii_uppercase().replace(['-', ' '], "_"))
        .collect();
    let all = |pred: &dyn Fn(&str) -> bool| !norm.is_empty() && norm.iter().all(|s| pred(s));
    if all(&|s| s == "AUTOGENERATED") {
        ThreatStatus::Draft
    } else if all(&|s| s == "MITIGATED") {
        ThreatStatus::Mitigated
    } else if all(&|s| s == "NOT_APPLICABLE" || s == "REJECTED" || s == "FALSE_POSITIVE") {
        ThreatStatus::NotApplicable
    } else if all(&|s| s == "ACCEPTED") {
        ThreatStatus::Accepted
    } else {
        // EXPOSED, REQUIRED, RECOMMENDED… or a mix: the threat is real and not treated.
        ThreatStatus::Open
    }
}

/// OTM 0..=100 CIA value → our rating.
fn percent_rating(p: f64) -> Rating {
    match percent_to_five(p) {
        1 => Rating::Low,
        2 | 3 => Rating::Medium,
        4 => Rating::High,
        _ => Rating::Critical,
    }
}
