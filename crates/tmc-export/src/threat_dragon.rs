//! OWASP Threat Dragon v2 JSON, so a team can keep reviewing a tmc draft in Threat Dragon.
//!
//! Threat Dragon stores a drawing, and trust-boundary membership is only geometry (a shape
//! inside a boundary box), so this exporter lays the diagram out itself, simply: columns by
//! trust zone from least to most trusted, rows in model order, each boundary box sized to hold
//! its members (in a column on its left) and its nested boxes (stacked on the right). That is
//! enough for membership to survive a round trip; a person can tidy the picture in the editor.
//!
//! Threat Dragon hangs threats on shapes (components and flows) only. Threats about a data
//! asset go on a component that stores or processes it, threats about a boundary on one of its
//! members, each with a note in the description, so no threat is lost.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use tmc_model::{
    Component, Draft, ElementKind, Encryption, MitigationStatus, Severity, SystemModel, TargetKind,
    Threat, ThreatStatus, TrustZone,
};

use crate::ExportError;
use crate::nesting::Nesting;

/// The Threat Dragon model version we write.
pub const TD_VERSION: &str = "2.2.0";

const GAP: f64 = 40.0;
const PAD: f64 = 30.0;
/// Room at the top of a boundary box for its label.
const LABEL: f64 = 30.0;
/// Every node gets a slot this big, so columns line up whatever the shape.
const SLOT_W: f64 = 160.0;
const SLOT_H: f64 = 100.0;

/// Writes the Threat Dragon model, pretty-printed.
pub fn to_threat_dragon(model: &SystemModel, draft: &Draft) -> Result<String, ExportError> {
    Ok(serde_json::to_string_pretty(&document(model, draft))?)
}

/// The Threat Dragon model as a JSON value.
pub fn document(model: &SystemModel, draft: &Draft) -> Value {
    let n = Nesting::new(model);
    let layout = Layout::new(model, &n);
    let threats = hosted_threats(model, &n, draft);
    let mut number = 0u32;
    let mut cell_threats = |id: &str| -> Vec<Value> {
        threats
            .get(id)
            .map(|list| {
                list.iter()
                    .map(|h| {
                        number += 1;
                        td_threat(h, number)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };

    let mut cells = Vec::new();
    let mut z = 0i64;
    for bi in n.preorder() {
        let b = &model.trust_boundaries[bi];
        let Some(r) = layout.boundaries.get(&bi) else {
            continue;
        };
        z += 1;
        cells.push(json!({
            "position": { "x": r.x, "y": r.y },
            "size": { "width": r.w, "height": r.h },
            "attrs": {
                "label": { "text": b.name },
                "body": { "stroke": "#cc3333", "strokeWidth": 3, "strokeDasharray": "10 5", "fill": "none" },
            },
            "visible": true,
            "shape": "trust-boundary-box",
            "id": b.id,
            "zIndex": z - 1000,
            "data": {
                "type": "tm.BoundaryBox",
                "name": b.name,
                "description": b.description.clone().unwrap_or_default(),
                "isTrustBoundary": true,
                "hasOpenThreats": false,
            },
        }));
    }
    for (ci, c) in model.components.iter().enumerate() {
        let Some(r) = layout.components.get(&ci) else {
            continue;
        };
        z += 1;
        let list = cell_threats(&c.id);
        cells.push(node_cell(c, *r, z, list));
    }
    let zones: HashMap<&str, TrustZone> = model
        .components
        .iter()
        .map(|c| (c.id.as_str(), c.effective_trust_zone()))
        .collect();
    for f in &model.flows {
        if !zones.contains_key(f.from.as_str()) || !zones.contains_key(f.to.as_str()) {
            continue;
        }
        z += 1;
        let list = cell_threats(&f.id);
        let open = has_open(&list);
        let public = zones.get(f.from.as_str()) == Some(&TrustZone::Internet)
            || zones.get(f.to.as_str()) == Some(&TrustZone::Internet);
        let name = f.display_name();
        cells.push(json!({
            "shape": "flow",
            "attrs": {
                "line": {
                    "stroke": if open { "#ff0000" } else { "#333333" },
                    "targetMarker": { "name": "block" },
                    "sourceMarker": { "name": if f.bidirectional == Some(true) { "block" } else { "" } },
                    "strokeDasharray": null,
                },
            },
            "width": 200,
            "height": 100,
            "zIndex": z,
            "connector": "smooth",
            "data": {
                "type": "tm.Flow",
                "name": name,
                "description": f.description.clone().unwrap_or_default(),
                "outOfScope": false,
                "reasonOutOfScope": "",
                "protocol": f.protocol.map(|p| p.as_str()).unwrap_or(""),
                "isEncrypted": f.encryption.is_some_and(|e| e != Encryption::None),
                "isPublicNetwork": public,
                "isBidirectional": f.bidirectional == Some(true),
                "hasOpenThreats": open,
                "threats": list,
            },
            "id": f.id,
            "labels": [{ "position": 0.5, "attrs": { "labelText": { "text": name } } }],
            "source": { "cell": f.from },
            "target": { "cell": f.to },
            "vertices": [],
        }));
    }

    json!({
        "version": TD_VERSION,
        "summary": {
            "title": draft.product.name,
            "owner": draft.product.owner.clone().unwrap_or_default(),
            "description": draft.product.description.clone().unwrap_or_default().trim(),
            "id": 0,
        },
        "detail": {
            "contributors": [],
            "diagrams": [{
                "id": 0,
                "title": "Data-flow diagram",
                "diagramType": "STRIDE",
                "placeholder": "New STRIDE diagram description",
                "thumbnail": "./public/content/images/thumbnail.stride.jpg",
                "version": TD_VERSION,
                "cells": cells,
            }],
            "diagramTop": 1,
            "reviewer": "",
            "threatTop": number,
        },
    })
}

fn node_cell(c: &Component, r: Rect, z: i64, threats: Vec<Value>) -> Value {
    let (shape, ty, w, h) = match c.kind {
        ElementKind::ExternalEntity => ("actor", "tm.Actor", 160.0, 80.0),
        ElementKind::Process => ("process", "tm.Process", 100.0, 100.0),
        ElementKind::DataStore => ("store", "tm.Store", 160.0, 80.0),
    };
    // Centre the shape in its slot.
    let x = r.x + (r.w - w) / 2.0;
    let y = r.y + (r.h - h) / 2.0;
    let open = has_open(&threats);
    let mut data = json!({
        "type": ty,
        "name": c.name,
        "description": c.description.clone().unwrap_or_default(),
        "outOfScope": !c.in_scope,
        "reasonOutOfScope": if c.in_scope { "" } else { "Out of scope in the tmc model." },
        "hasOpenThreats": open,
        "threats": threats,
    });
    match c.kind {
        ElementKind::ExternalEntity => {
            data["providesAuthentication"] =
                json!(c.technology == tmc_model::Technology::IdentityProvider);
        }
        ElementKind::Process => {
            data["handlesCardPayment"] = json!(false);
            data["handlesGoodsOrServices"] = json!(false);
            data["isWebApplication"] = json!(c.technology == tmc_model::Technology::WebApp);
            data["privilegeLevel"] = json!("");
        }
        ElementKind::DataStore => {
            data["isALog"] = json!(false);
            data["storesCredentials"] = json!(c.technology == tmc_model::Technology::SecretsVault);
            data["isEncrypted"] = json!(c.encryption_at_rest == Some(true));
            data["isSigned"] = json!(false);
        }
    }
    json!({
        "position": { "x": x, "y": y },
        "size": { "width": w, "height": h },
        "attrs": {
            "text": { "text": c.name },
            "body": { "stroke": if open { "#ff0000" } else { "#333333" }, "strokeWidth": 1.5, "strokeDasharray": null },
        },
        "visible": true,
        "shape": shape,
        "id": c.id,
        "zIndex": z,
        "data": data,
    })
}

fn has_open(threats: &[Value]) -> bool {
    threats
        .iter()
        .any(|t| t.get("status").and_then(Value::as_str) == Some("Open"))
}

/// A threat placed on one cell, with a note when the cell stands in for a data asset or a
/// boundary.
struct Hosted<'a> {
    threat: &'a Threat,
    id: String,
    note: Option<String>,
}

/// Cell id → threats hosted there, in draft order.
fn hosted_threats<'a>(
    model: &SystemModel,
    n: &Nesting,
    draft: &'a Draft,
) -> BTreeMap<String, Vec<Hosted<'a>>> {
    let mut out: BTreeMap<String, Vec<Hosted<'a>>> = BTreeMap::new();
    let is_component = |id: &str| model.components.iter().any(|c| c.id == id);
    let is_flow = |id: &str| {
        model
            .flows
            .iter()
            .any(|f| f.id == id && is_component(&f.from) && is_component(&f.to))
    };
    let fallback = model.components.first().map(|c| c.id.clone());
    for t in &draft.threats {
        let mut hosts: Vec<(String, Option<String>)> = Vec::new();
        for tg in &t.targets {
            let host = match tg.kind {
                TargetKind::Component if is_component(&tg.id) => Some((tg.id.clone(), None)),
                TargetKind::Flow if is_flow(&tg.id) => Some((tg.id.clone(), None)),
                TargetKind::Data => model
                    .data_asset(&tg.id)
                    .and_then(|d| {
                        d.stored_in
                            .iter()
                            .chain(&d.processed_by)
                            .find(|c| is_component(c))
                            .cloned()
                    })
                    .or_else(|| fallback.clone())
                    .map(|h| (h, Some(format!("About data asset \"{}\".", tg.name)))),
                TargetKind::Boundary => model
                    .trust_boundaries
                    .iter()
                    .position(|b| b.id == tg.id)
                    .and_then(|bi| first_member(model, n, bi))
                    .or_else(|| fallback.clone())
                    .map(|h| (h, Some(format!("About trust boundary \"{}\".", tg.name)))),
                _ => None,
            };
            if let Some(h) = host
                && !hosts.iter().any(|(x, _)| *x == h.0)
            {
                hosts.push(h);
            }
        }
        if hosts.is_empty()
            && let Some(f) = &fallback
        {
            hosts.push((
                f.clone(),
                Some("Not attached to any element in tmc.".to_string()),
            ));
        }
        for (i, (cell, note)) in hosts.into_iter().enumerate() {
            let id = if i == 0 {
                t.id.clone()
            } else {
                format!("{}#{}", t.id, i + 1)
            };
            out.entry(cell).or_default().push(Hosted {
                threat: t,
                id,
                note,
            });
        }
    }
    out
}

fn first_member(model: &SystemModel, n: &Nesting, bi: usize) -> Option<String> {
    let mut stack = vec![bi];
    let mut steps = 0;
    while let Some(b) = stack.pop() {
        steps += 1;
        if steps > model.trust_boundaries.len() {
            break;
        }
        if let Some(&ci) = n.members[b].first() {
            return Some(model.components[ci].id.clone());
        }
        stack.extend(n.children[b].iter().rev().copied());
    }
    None
}

fn td_threat(h: &Hosted<'_>, number: u32) -> Value {
    let t = h.threat;
    let status = match t.status {
        ThreatStatus::Mitigated | ThreatStatus::Avoided => "Mitigated",
        ThreatStatus::NotApplicable => "NA",
        ThreatStatus::Draft
        | ThreatStatus::Open
        | ThreatStatus::Accepted
        | ThreatStatus::Transferred => "Open",
    };
    let severity = match t.severity.level {
        Severity::Critical | Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low | Severity::Info => "Low",
    };
    let mut description = match &h.note {
        Some(n) => format!("{n} {}", t.description),
        None => t.description.clone(),
    };
    // Threat Dragon has three statuses and no review fields: an accepted or transferred
    // threat stays Open there, so the decision and its reason go into the description.
    if let Some(d) = crate::review::decision_sentence(t) {
        description = format!("{}\n\n{d}", description.trim_end());
    }
    let mitigation = t
        .mitigations
        .iter()
        .map(|m| {
            let mut parts: Vec<String> = match m.status {
                MitigationStatus::Proposed => Vec::new(),
                MitigationStatus::Planned => vec!["planned".into()],
                MitigationStatus::InProgress => vec!["in progress".into()],
                MitigationStatus::Implemented => vec!["implemented".into()],
                MitigationStatus::Verified => vec!["verified".into()],
                MitigationStatus::WontDo => vec!["won't do".into()],
                MitigationStatus::NotApplicable => vec!["not applicable".into()],
            };
            parts.extend(m.owner.iter().map(|o| format!("owner {o}")));
            parts.extend(m.ticket.iter().cloned());
            parts.extend(m.due.iter().map(|d| format!("due {d}")));
            if parts.is_empty() {
                m.text.clone()
            } else {
                format!("{} ({})", m.text, parts.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    json!({
        "id": h.id,
        "title": t.title,
        "status": status,
        "severity": severity,
        "type": t.stride.first().map(|s| s.name()).unwrap_or("Tampering"),
        "description": description,
        "mitigation": mitigation,
        "modelType": "STRIDE",
        "new": false,
        "number": number,
        "score": t.severity.score.to_string(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// Absolute slots for components and boxes for boundaries.
struct Layout {
    components: HashMap<usize, Rect>,
    boundaries: HashMap<usize, Rect>,
}

#[derive(Clone, Copy)]
enum Item {
    Component(usize),
    Boundary(usize),
}

impl Layout {
    fn new(model: &SystemModel, n: &Nesting) -> Layout {
        let mut sizes: HashMap<usize, (f64, f64)> = HashMap::new();
        for &b in &n.roots {
            size_of(n, b, &mut sizes);
        }
        // Columns by trust zone, least trusted on the left.
        let mut columns: BTreeMap<(u8, TrustZone), Vec<Item>> = BTreeMap::new();
        let rank = tmc_model::topology::trust_rank;
        for &ci in &n.loose {
            let z = model.components[ci].effective_trust_zone();
            columns
                .entry((rank(z), z))
                .or_default()
                .push(Item::Component(ci));
        }
        for &bi in &n.roots {
            let z = n.least_trusted(model, bi);
            columns
                .entry((rank(z), z))
                .or_default()
                .push(Item::Boundary(bi));
        }
        let mut layout = Layout {
            components: HashMap::new(),
            boundaries: HashMap::new(),
        };
        let mut x = GAP;
        for items in columns.values() {
            let mut y = GAP;
            let mut width: f64 = 0.0;
            for item in items {
                let (w, h) = match *item {
                    Item::Component(ci) => {
                        layout.components.insert(
                            ci,
                            Rect {
                                x,
                                y,
                                w: SLOT_W,
                                h: SLOT_H,
                            },
                        );
                        (SLOT_W, SLOT_H)
                    }
                    Item::Boundary(bi) => {
                        layout.place(n, bi, x, y, &sizes);
                        sizes.get(&bi).copied().unwrap_or((SLOT_W, SLOT_H))
                    }
                };
                width = width.max(w);
                y += h + GAP;
            }
            x += width + 2.0 * GAP;
        }
        layout
    }

    fn place(
        &mut self,
        n: &Nesting,
        bi: usize,
        x: f64,
        y: f64,
        sizes: &HashMap<usize, (f64, f64)>,
    ) {
        let (w, h) = sizes.get(&bi).copied().unwrap_or((SLOT_W, SLOT_H));
        self.boundaries.insert(bi, Rect { x, y, w, h });
        let top = y + LABEL + PAD;
        let mut cy = top;
        for &ci in &n.members[bi] {
            self.components.insert(
                ci,
                Rect {
                    x: x + PAD,
                    y: cy,
                    w: SLOT_W,
                    h: SLOT_H,
                },
            );
            cy += SLOT_H + GAP;
        }
        let cx = if n.members[bi].is_empty() {
            x + PAD
        } else {
            x + PAD + SLOT_W + GAP
        };
        let mut cy = top;
        for &child in &n.children[bi] {
            self.place(n, child, cx, cy, sizes);
            let (_, ch) = sizes.get(&child).copied().unwrap_or((SLOT_W, SLOT_H));
            cy += ch + GAP;
        }
    }
}

/// Size of a boundary box: members in one column, nested boxes stacked to its right.
fn size_of(n: &Nesting, bi: usize, sizes: &mut HashMap<usize, (f64, f64)>) -> (f64, f64) {
    if let Some(s) = sizes.get(&bi) {
        return *s;
    }
    let members = n.members[bi].len() as f64;
    let member_h = if members > 0.0 {
        members * SLOT_H + (members - 1.0) * GAP
    } else {
        0.0
    };
    let mut child_w: f64 = 0.0;
    let mut child_h: f64 = 0.0;
    for (i, &c) in n.children[bi].iter().enumerate() {
        let (w, h) = size_of(n, c, sizes);
        child_w = child_w.max(w);
        child_h += h + if i > 0 { GAP } else { 0.0 };
    }
    let mut w = PAD;
    if members > 0.0 {
        w += SLOT_W;
    }
    if members > 0.0 && child_w > 0.0 {
        w += GAP;
    }
    w += child_w + PAD;
    let w = w.max(SLOT_W + 2.0 * PAD);
    let h = (LABEL + PAD + member_h.max(child_h) + PAD).max(LABEL + SLOT_H / 2.0 + 2.0 * PAD);
    sizes.insert(bi, (w, h));
    (w, h)
}
