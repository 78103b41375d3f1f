//! Open Threat Model (OTM 0.2) JSON, the vendor-neutral exchange format that IriusRisk and
//! other tools read.
//!
//! Mapping decisions:
//! - OTM components need a parent trust zone, so our trust boundaries become trust zones and
//!   components in no boundary are put in a synthetic zone per trust level (`tmc-zone-<zone>`).
//!   A zone's `trustRating` is derived from the least trusted member, since OTM has one number
//!   where we have a level per component.
//! - Threats are defined once and instantiated on every element they target, carrying the
//!   review state; mitigations likewise.
//! - Likelihood and impact (1–5) scale to OTM's 0–100 by ×20, data CIA ratings to 20/60/80/100,
//!   values that readers mapping back with `ceil(p / 20)` recover exactly.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use tmc_model::{
    Draft, MitigationStatus, Rating, SystemModel, TargetKind, Threat, ThreatStatus, TrustZone,
};

use crate::ExportError;
use crate::nesting::Nesting;

pub const OTM_VERSION: &str = "0.2.0";

/// Prefix of synthetic trust-zone ids (for components in no boundary).
pub const ZONE_PREFIX: &str = "tmc-zone-";

/// OTM requires a risk reduction per mitigation; tmc does not estimate one, so every
/// mitigation claims a neutral half rather than pretending to remove the risk.
const RISK_REDUCTION: u32 = 50;

/// Writes the OTM document, pretty-printed.
pub fn to_otm(model: &SystemModel, draft: &Draft) -> Result<String, ExportError> {
    Ok(serde_json::to_string_pretty(&document(model, draft))?)
}

/// The OTM document as a JSON value (for callers that post-process it).
pub fn document(model: &SystemModel, draft: &Draft) -> Value {
    let n = Nesting::new(model);
    let (mitigations, mit_ids) = mitigation_defs(draft);
    let instances = instances(draft, &mit_ids);
    let inst = |kind: TargetKind, id: &str| -> Vec<Value> {
        instances
            .get(&(kind, id.to_string()))
            .cloned()
            .unwrap_or_default()
    };

    // Trust zones: boundaries first, then one synthetic zone per trust level used by loose
    // components.
    let mut zones = Vec::new();
    for (bi, b) in model.trust_boundaries.iter().enumerate() {
        let rating = n.least_trusted(model, bi);
        let mut z = json!({
            "id": b.id,
            "name": b.name,
            "type": b.kind.as_str(),
            "risk": { "trustRating": trust_rating(rating) },
        });
        if let Some(d) = &b.description {
            z["description"] = json!(d);
        }
        if let Some(p) = n.parent[bi] {
            z["parent"] = json!({ "trustZone": model.trust_boundaries[p].id });
        }
        let th = inst(TargetKind::Boundary, &b.id);
        if !th.is_empty() {
            z["threats"] = json!(th);
        }
        zones.push(z);
    }
    let mut loose_zones: Vec<TrustZone> = n
        .loose
        .iter()
        .map(|&ci| model.components[ci].effective_trust_zone())
        .collect();
    loose_zones.sort();
    loose_zones.dedup();
    for tz in &loose_zones {
        zones.push(json!({
            "id": format!("{ZONE_PREFIX}{}", tz.as_str()),
            "name": zone_name(*tz),
            "type": "trust-zone",
            "description": "Components that sit in no trust boundary, grouped by their trust zone.",
            "risk": { "trustRating": trust_rating(*tz) },
        }));
    }

    let components: Vec<Value> = model
        .components
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            let parent = match n.owner[ci] {
                Some(bi) => model.trust_boundaries[bi].id.clone(),
                None => format!("{ZONE_PREFIX}{}", c.effective_trust_zone().as_str()),
            };
            let mut tags = vec![
                c.kind.as_str().to_string(),
                c.technology.as_str().to_string(),
            ];
            tags.extend(c.tags.iter().cloned());
            let mut v = json!({
                "id": c.id,
                "name": c.name,
                "type": c.technology.as_str(),
                "parent": { "trustZone": parent },
                "tags": tags,
                "attributes": {
                    "kind": c.kind.as_str(),
                    "trustZone": c.effective_trust_zone().as_str(),
                    "inScope": c.in_scope,
                },
            });
            if let Some(d) = &c.description {
                v["description"] = json!(d);
            }
            if let Some(f) = c.internet_facing {
                v["attributes"]["internetFacing"] = json!(f);
            }
            let th = inst(TargetKind::Component, &c.id);
            if !th.is_empty() {
                v["threats"] = json!(th);
            }
            v
        })
        .collect();

    let data_assets: Vec<Value> = model
        .data
        .iter()
        .map(|d| {
            let mut v = json!({
                "id": d.id,
                "name": d.name,
                "classification": d.classification.as_str(),
                "risk": {
                    "confidentiality": cia(d.confidentiality, d.classification),
                    "integrity": cia(d.integrity, d.classification),
                    "availability": cia(d.availability, d.classification),
                },
            });
            if let Some(desc) = &d.description {
                v["description"] = json!(desc);
            }
            let th = inst(TargetKind::Data, &d.id);
            if !th.is_empty() {
                v["threats"] = json!(th);
            }
            v
        })
        .collect();

    let dataflows: Vec<Value> = model
        .flows
        .iter()
        .map(|f| {
            let mut tags = Vec::new();
            let mut attrs = serde_json::Map::new();
            if let Some(p) = f.protocol {
                tags.push(p.as_str().to_string());
                attrs.insert("protocol".into(), json!(p.as_str()));
            }
            if let Some(port) = f.port {
                attrs.insert("port".into(), json!(port));
            }
            if let Some(e) = f.encryption {
                tags.push(format!("encryption:{}", e.as_str()));
                attrs.insert("encryption".into(), json!(e.as_str()));
            }
            if let Some(a) = f.authentication {
                attrs.insert("authentication".into(), json!(a.as_str()));
            }
            if !f.data.is_empty() {
                attrs.insert("dataSent".into(), json!(f.data));
            }
            if !f.data_received.is_empty() {
                attrs.insert("dataReceived".into(), json!(f.data_received));
            }
            let mut v = json!({
                "id": f.id,
                "name": f.display_name(),
                "source": f.from,
                "destination": f.to,
                "bidirectional": f.bidirectional.unwrap_or(false),
                "tags": tags,
                "attributes": attrs,
            });
            if let Some(d) = &f.description {
                v["description"] = json!(d);
            }
            let th = inst(TargetKind::Flow, &f.id);
            if !th.is_empty() {
                v["threats"] = json!(th);
            }
            v
        })
        .collect();

    let threats: Vec<Value> = draft.threats.iter().map(threat_def).collect();

    let mut project = json!({
        "name": draft.product.name,
        "id": slug(&draft.product.name),
    });
    if let Some(d) = &draft.product.description {
        project["description"] = json!(d.trim());
    }
    if let Some(o) = &draft.product.owner {
        project["owner"] = json!(o);
    }
    if !draft.product.tags.is_empty() {
        project["tags"] = json!(draft.product.tags);
    }
    if let Some(c) = draft.product.business_criticality {
        project["attributes"] = json!({ "businessCriticality": criticality(c) });
    }

    json!({
        "otmVersion": OTM_VERSION,
        "project": project,
        "representations": [{
            "name": "Data-flow diagram",
            "id": "architecture-diagram",
            "type": "diagram",
        }],
        "trustZones": zones,
        "components": components,
        "dataAssets": data_assets,
        "dataflows": dataflows,
        "threats": threats,
        "mitigations": mitigations,
    })
}

fn criticality(c: tmc_model::Criticality) -> &'static str {
    match c {
        tmc_model::Criticality::Low => "low",
        tmc_model::Criticality::Medium => "medium",
        tmc_model::Criticality::High => "high",
        tmc_model::Criticality::MissionCritical => "mission-critical",
    }
}

/// OTM trust rating (0 = untrusted, 100 = fully trusted) for a trust zone.
pub fn trust_rating(z: TrustZone) -> u32 {
    match z {
        TrustZone::Internet => 10,
        TrustZone::ThirdParty => 25,
        TrustZone::Device => 25,
        TrustZone::Dmz => 50,
        TrustZone::Internal => 80,
        TrustZone::Restricted => 95,
    }
}

fn zone_name(z: TrustZone) -> &'static str {
    match z {
        TrustZone::Internet => "Internet",
        TrustZone::ThirdParty => "Third party",
        TrustZone::Device => "Device",
        TrustZone::Dmz => "DMZ",
        TrustZone::Internal => "Internal",
        TrustZone::Restricted => "Restricted",
    }
}

fn cia(r: Option<Rating>, class: tmc_model::Classification) -> u32 {
    let r = r.unwrap_or(match class {
        tmc_model::Classification::Public => Rating::Low,
        tmc_model::Classification::Internal => Rating::Medium,
        tmc_model::Classification::Confidential => Rating::High,
        tmc_model::Classification::Restricted => Rating::Critical,
    });
    match r {
        Rating::Low => 20,
        Rating::Medium => 60,
        Rating::High => 80,
        Rating::Critical => 100,
    }
}

fn threat_def(t: &Threat) -> Value {
    let r = &t.references;
    let mut attrs = json!({
        "severity": t.severity.level.as_str(),
        "score": t.severity.score,
        "status": crate::text::threat_status(t.status),
        "source": crate::text::provenance(&t.provenance),
    });
    // OTM's instance `state` carries the status; the rest of the decision rides along as
    // attributes, which OTM allows free-form.
    if let Some(rv) = &t.review {
        for (k, v) in [
            ("reviewer", &rv.reviewer),
            ("reviewedAt", &rv.reviewed_at),
            ("justification", &rv.justification),
            ("expires", &rv.expires),
        ] {
            if let Some(v) = v {
                attrs[k] = json!(v);
            }
        }
        if !rv.tickets.is_empty() {
            attrs["tickets"] = json!(rv.tickets);
        }
        if let Some(o) = crate::review::severity_override(t) {
            attrs["severityOverride"] = json!(o);
        }
        if rv.needs_confirmation {
            attrs["needsConfirmation"] = json!(true);
        }
    }
    if !r.capec.is_empty() {
        attrs["capec"] = json!(
            r.capec
                .iter()
                .map(|n| format!("CAPEC-{n}"))
                .collect::<Vec<_>>()
        );
    }
    for (k, v) in [
        ("owaspTop10_2021", &r.owasp_top10_2021),
        ("owaspTop10_2025", &r.owasp_top10_2025),
        ("owaspApi2023", &r.owasp_api_2023),
        ("owaspLlm2025", &r.owasp_llm_2025),
    ] {
        if !v.is_empty() {
            attrs[k] = json!(v);
        }
    }
    json!({
        "id": t.id,
        "name": t.title,
        "description": t.description,
        "categories": t.stride.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "cwes": r.cwe.iter().map(|n| format!("CWE-{n}")).collect::<Vec<_>>(),
        "risk": {
            "likelihood": u32::from(t.severity.likelihood.clamp(1, 5)) * 20,
            "impact": u32::from(t.severity.impact.clamp(1, 5)) * 20,
        },
        "attributes": attrs,
    })
}

/// Mitigation definitions, one per distinct (id, text); an id reused with a different text gets
/// a numbered suffix. Also returns, per threat index and mitigation index, the OTM id used.
fn mitigation_defs(draft: &Draft) -> (Vec<Value>, Vec<Vec<String>>) {
    let mut defs = Vec::new();
    let mut by_key: HashMap<(String, String), String> = HashMap::new();
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut ids = Vec::new();
    for t in &draft.threats {
        let mut per = Vec::new();
        for m in &t.mitigations {
            let key = (m.id.clone(), m.text.clone());
            let id = match by_key.get(&key) {
                Some(id) => id.clone(),
                None => {
                    let n = taken.entry(m.id.clone()).or_insert(0);
                    *n += 1;
                    let id = if *n == 1 {
                        m.id.clone()
                    } else {
                        format!("{}-{}", m.id, n)
                    };
                    let description = if m.asvs.is_empty() {
                        m.text.clone()
                    } else {
                        format!("{} (OWASP ASVS {})", m.text, m.asvs.join(", "))
                    };
                    defs.push(json!({
                        "id": id,
                        "name": m.text,
                        "description": description,
                        "riskReduction": RISK_REDUCTION,
                    }));
                    by_key.insert(key, id.clone());
                    id
                }
            };
            per.push(id);
        }
        ids.push(per);
    }
    (defs, ids)
}

/// Threat instances per element, in draft order.
fn instances(draft: &Draft, mit_ids: &[Vec<String>]) -> BTreeMap<(TargetKind, String), Vec<Value>> {
    let mut out: BTreeMap<(TargetKind, String), Vec<Value>> = BTreeMap::new();
    for (ti, t) in draft.threats.iter().enumerate() {
        let mits: Vec<Value> = t
            .mitigations
            .iter()
            .enumerate()
            .map(|(mi, m)| {
                json!({
                    "mitigation": mit_ids.get(ti).and_then(|v| v.get(mi)).cloned().unwrap_or_else(|| m.id.clone()),
                    "state": mitigation_state(m.status),
                })
            })
            .collect();
        let mut seen = Vec::new();
        for tg in &t.targets {
            let key = (tg.kind, tg.id.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            out.entry(key).or_default().push(json!({
                "threat": t.id,
                "state": threat_state(t.status),
                "mitigations": mits,
            }));
        }
    }
    out
}

/// OTM instance states as IriusRisk writes them; "AUTOGENERATED" marks unreviewed drafts.
/// IriusRisk has no "transferred" or "avoided": a transferred risk is still accepted by this
/// system's owners (someone else carries it), and an avoided one was designed out, which is a
/// treatment (MITIGATED), not a false positive (NOT_APPLICABLE); Threat Dragon and Threagile
/// map them the same way.
pub fn threat_state(s: ThreatStatus) -> &'static str {
    match s {
        ThreatStatus::Draft => "AUTOGENERATED",
        ThreatStatus::Open => "EXPOSED",
        ThreatStatus::Accepted | ThreatStatus::Transferred => "ACCEPTED",
        ThreatStatus::Mitigated | ThreatStatus::Avoided => "MITIGATED",
        ThreatStatus::NotApplicable => "NOT_APPLICABLE",
    }
}

/// OTM countermeasure states: planned and in-progress work is REQUIRED (committed to, not in
/// place), won't-do is REJECTED.
pub fn mitigation_state(s: MitigationStatus) -> &'static str {
    match s {
        MitigationStatus::Proposed => "RECOMMENDED",
        MitigationStatus::Planned | MitigationStatus::InProgress => "REQUIRED",
        MitigationStatus::WontDo => "REJECTED",
        MitigationStatus::Implemented => "IMPLEMENTED",
        MitigationStatus::Verified => "VERIFIED",
        MitigationStatus::NotApplicable => "NOT_APPLICABLE",
    }
}

/// Lower-case, dash-separated project id.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "project".to_string()
    } else {
        out
    }
}
