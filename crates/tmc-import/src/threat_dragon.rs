//! OWASP Threat Dragon models (v2 `cells`, and v1 `diagramJson.cells`) → system model + threats.
//!
//! Threat Dragon stores a drawing, not a model: boundaries are shapes, and membership is where a
//! box happens to sit. We recover what geometry can tell (a component whose centre lies in a
//! boundary box is inside it; the smallest such box wins, so nested boxes nest) and say so in
//! notes where it cannot (boundary curves only separate, they enclose nothing).

use std::collections::HashMap;

use serde_json::Value;
use tmc_model::{
    ElementKind, Encryption, MitigationStatus, References, Stride, TargetKind, Technology,
    ThreatStatus,
};

use crate::builder::{
    Builder, NewComponent, ThreatParts, arr, as_object, flag, level_only, malformed, mitigation,
    number, obj, one_line, parse_json, parse_stride, ptr, push_unique, severity_or_medium, text,
};
use crate::{ImportError, ImportResult};

const FORMAT: &str = "threat-dragon";

/// Farthest (in canvas pixels) a dangling flow end may be from a shape to be attached to it.
const SNAP_DISTANCE: f64 = 50.0;

/// Reads a Threat Dragon v1 or v2 JSON model.
pub fn import(bytes: &[u8]) -> Result<ImportResult, ImportError> {
    let root = parse_json(bytes, FORMAT)?;
    as_object(&root, FORMAT, "")?;
    let mut b = Builder::new(FORMAT);

    let summary = obj(&root, "summary", FORMAT, "")?.map(|_| &root["summary"]);
    b.model.product.name = summary
        .and_then(|s| text(s, "title"))
        .unwrap_or_else(|| "Imported Threat Dragon model".to_string());
    b.model.product.description = summary.and_then(|s| text(s, "description"));
    b.model.product.owner = summary.and_then(|s| text(s, "owner"));

    if obj(&root, "detail", FORMAT, "")?.is_none() {
        return Err(malformed(
            FORMAT,
            "/detail",
            "missing `detail`: expected a Threat Dragon model with `detail.diagrams`",
        ));
    }
    let detail = &root["detail"];
    if let Some(r) = text(detail, "reviewer") {
        b.add_model_note(&format!("Reviewer: {r}"));
    }
    let contributors: Vec<String> = arr(detail, "contributors", FORMAT, "/detail")?
        .iter()
        .filter_map(|c| text(c, "name"))
        .collect();
    if !contributors.is_empty() {
        b.add_model_note(&format!("Contributors: {}", contributors.join(", ")));
    }

    let mut cells = Vec::new();
    for (di, d) in arr(detail, "diagrams", FORMAT, "/detail")?
        .iter()
        .enumerate()
    {
        let at = ptr("/detail/diagrams", di);
        as_object(d, FORMAT, &at)?;
        let title = text(d, "title");
        if let Some(t) = &title {
            let desc = text(d, "description")
                .map(|x| format!(": {x}"))
                .unwrap_or_default();
            b.add_model_note(&format!("Diagram \"{t}\"{desc}"));
        }
        let (list, list_at) = if d.get("cells").is_some() {
            (arr(d, "cells", FORMAT, &at)?, ptr(&at, "cells"))
        } else if obj(d, "diagramJson", FORMAT, &at)?.is_some() {
            let dj_at = ptr(&at, "diagramJson");
            (
                arr(&d["diagramJson"], "cells", FORMAT, &dj_at)?,
                ptr(&dj_at, "cells"),
            )
        } else {
            (&[][..], at.clone())
        };
        for (ci, c) in list.iter().enumerate() {
            let cat = ptr(&list_at, ci);
            as_object(c, FORMAT, &cat)?;
            cells.push(read_cell(c, cat, di));
        }
    }

    // Nodes first: flows and boundaries refer to them.
    let mut by_cell: HashMap<String, String> = HashMap::new();
    let mut rects: Vec<(String, Rect)> = Vec::new();
    let mut counters: HashMap<&'static str, usize> = HashMap::new();
    for cell in &cells {
        let CellKind::Node(kind) = cell.kind else {
            continue;
        };
        let n = counters.entry(kind.as_str()).or_insert(0);
        *n += 1;
        let name = cell
            .name
            .clone()
            .unwrap_or_else(|| format!("Unnamed {} {n}", kind.as_str()));
        let description = text(cell.data, "description");
        let detail = description.clone().unwrap_or_default();
        let hint = name.clone();
        let default_tech = match kind {
            ElementKind::ExternalEntity => Technology::ExternalService,
            ElementKind::DataStore
                if name.to_ascii_lowercase().contains("config")
                    || name.to_ascii_lowercase().contains("file") =>
            {
                Technology::FileStorage
            }
            _ => Technology::Other,
        };
        let id = b.add_component(NewComponent {
            source_id: &cell.id,
            id_hint: None,
            name,
            description,
            kind,
            hint: &hint,
            detail_hint: &detail,
            default_tech,
        });
        if flag(cell.data, "outOfScope") == Some(true) {
            let reason = text(cell.data, "reasonOutOfScope");
            if let Some(c) = b.component_mut(&id) {
                c.in_scope = false;
                c.notes = reason.map(|r| format!("Out of scope: {r}"));
            }
        }
        if kind == ElementKind::DataStore
            && flag(cell.data, "isEncrypted") == Some(true)
            && let Some(c) = b.component_mut(&id)
        {
            c.encryption_at_rest = Some(true);
        }
        by_cell.insert(cell.id.clone(), id.clone());
        if let Some(r) = cell.rect {
            rects.push((id, r));
        }
    }

    boundaries(&mut b, &cells, &rects);

    let mut flow_of_cell: HashMap<String, String> = HashMap::new();
    let mut unnamed_flows = 0;
    for cell in &cells {
        if cell.kind != CellKind::Flow {
            continue;
        }
        let label = cell.name.clone().unwrap_or_else(|| {
            unnamed_flows += 1;
            format!("flow {unnamed_flows}")
        });
        let from = endpoint(&mut b, cell.v, "source", &by_cell, &rects, &label);
        let to = endpoint(&mut b, cell.v, "target", &by_cell, &rects, &label);
        let id = b.add_flow(&cell.id, cell.name.clone(), &from, &to);
        let declared = text(cell.data, "protocol");
        let fallback = format!(" {} ", cell.name.clone().unwrap_or_default());
        b.set_flow_protocol(&id, declared.as_deref(), &fallback);
        let mut notes = Vec::new();
        if flag(cell.data, "isEncrypted") == Some(true) {
            if let Some(f) = b.flow_mut(&id) {
                f.encryption = Some(Encryption::Tls12);
            }
            b.note(
                Some(&id),
                "marked encrypted without a version; encryption set to `tls-1.2`",
            );
        }
        if flag(cell.data, "isBidirectional") == Some(true)
            && let Some(f) = b.flow_mut(&id)
        {
            f.bidirectional = Some(true);
        }
        if flag(cell.data, "isPublicNetwork") == Some(true) {
            notes.push("Crosses a public network.".to_string());
        }
        if flag(cell.data, "outOfScope") == Some(true) {
            let reason = text(cell.data, "reasonOutOfScope").unwrap_or_default();
            notes.push(format!("Out of scope in Threat Dragon. {reason}"));
            b.note(
                Some(&id),
                "flow was out of scope in Threat Dragon; our flows have no scope flag",
            );
        }
        let description = text(cell.data, "description");
        if let Some(f) = b.flow_mut(&id) {
            f.description = description;
            if !notes.is_empty() {
                f.notes = Some(notes.join(" ").trim().to_string());
            }
        }
        flow_of_cell.insert(cell.id.clone(), id);
    }

    for cell in &cells {
        let target = match cell.kind {
            CellKind::Node(_) => by_cell
                .get(&cell.id)
                .and_then(|id| b.target(TargetKind::Component, id)),
            CellKind::Flow => flow_of_cell
                .get(&cell.id)
                .and_then(|id| b.target(TargetKind::Flow, id)),
            _ => None,
        };
        let threats_at = if cell.data_is_cell {
            ptr(&cell.at, "threats")
        } else {
            ptr(&ptr(&cell.at, "data"), "threats")
        };
        let list = match cell.data.get("threats") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(malformed(
                    FORMAT,
                    threats_at,
                    "expected an array of threats",
                ));
            }
        };
        for (ti, t) in list.iter().enumerate() {
            let tat = ptr(&threats_at, ti);
            as_object(t, FORMAT, &tat)?;
            let source_id = text(t, "id").unwrap_or_else(|| format!("{}-{ti}", cell.id));
            import_threat(&mut b, t, &source_id, target.clone());
        }
    }

    Ok(b.finish())
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn center(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
    fn contains_point(&self, (px, py): (f64, f64)) -> bool {
        px >= self.x && px <= self.x + self.w && py >= self.y && py <= self.y + self.h
    }
    fn contains(&self, o: &Rect) -> bool {
        o.x >= self.x
            && o.y >= self.y
            && o.x + o.w <= self.x + self.w
            && o.y + o.h <= self.y + self.h
    }
    fn area(&self) -> f64 {
        self.w * self.h
    }
    fn distance(&self, (px, py): (f64, f64)) -> f64 {
        let dx = (self.x - px).max(0.0).max(px - (self.x + self.w));
        let dy = (self.y - py).max(0.0).max(py - (self.y + self.h));
        (dx * dx + dy * dy).sqrt()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CellKind {
    Node(ElementKind),
    Flow,
    BoundaryBox,
    BoundaryCurve,
    Other,
}

struct Cell<'a> {
    v: &'a Value,
    /// Where Threat Dragon keeps the element's properties: `data` in v2, the cell itself in v1.
    data: &'a Value,
    data_is_cell: bool,
    at: String,
    id: String,
    kind: CellKind,
    name: Option<String>,
    rect: Option<Rect>,
}

fn read_cell(c: &Value, at: String, diagram: usize) -> Cell<'_> {
    let (data, data_is_cell) = match c.get("data") {
        Some(d @ Value::Object(_)) => (d, false),
        _ => (c, true),
    };
    let label = text(c, "shape")
        .or_else(|| text(data, "type"))
        .or_else(|| text(c, "type"))
        .unwrap_or_default();
    let kind = match label.as_str() {
        "actor" | "tm.Actor" => CellKind::Node(ElementKind::ExternalEntity),
        "process" | "tm.Process" => CellKind::Node(ElementKind::Process),
        "store" | "tm.Store" => CellKind::Node(ElementKind::DataStore),
        "flow" | "tm.Flow" => CellKind::Flow,
        "trust-boundary-box" | "tm.BoundaryBox" => CellKind::BoundaryBox,
        "trust-boundary-curve" | "trust-broundary-curve" | "tm.Boundary" => CellKind::BoundaryCurve,
        _ => CellKind::Other,
    };
    let name = text(data, "name")
        .or_else(|| {
            c.get("attrs")
                .and_then(|a| a.get("text"))
                .and_then(|t| text(t, "text"))
        })
        .or_else(|| label_text(c))
        .map(|n| one_line(&n))
        .filter(|n| !n.is_empty());
    let rect = match (c.get("position"), c.get("size")) {
        (Some(p), Some(s)) => match (
            number(p, "x"),
            number(p, "y"),
            number(s, "width"),
            number(s, "height"),
        ) {
            (Some(x), Some(y), Some(w), Some(h)) if [x, y, w, h].iter().all(|v| v.is_finite()) => {
                Some(Rect { x, y, w, h })
            }
            _ => None,
        },
        _ => None,
    };
    let id = text(c, "id")
        .unwrap_or_else(|| format!("diagram{diagram}-{}", at.rsplit('/').next().unwrap_or("0")));
    Cell {
        v: c,
        data,
        data_is_cell,
        at,
        id,
        kind,
        name,
        rect,
    }
}

/// The first label's text: v2 keeps it under `labelText`, v1 under `text`.
fn label_text(c: &Value) -> Option<String> {
    let first = c.get("labels")?.as_array()?.first()?;
    let attrs = first.get("attrs")?;
    attrs
        .get("labelText")
        .and_then(|t| text(t, "text"))
        .or_else(|| attrs.get("text").and_then(|t| text(t, "text")))
}

fn boundaries(b: &mut Builder, cells: &[Cell<'_>], rects: &[(String, Rect)]) {
    let mut boxes: Vec<(String, Rect)> = Vec::new();
    let mut unnamed = 0;
    for cell in cells {
        if !matches!(cell.kind, CellKind::BoundaryBox | CellKind::BoundaryCurve) {
            continue;
        }
        let name = cell.name.clone().unwrap_or_else(|| {
            unnamed += 1;
            format!("Trust boundary {unnamed}")
        });
        let id = b.add_boundary(&cell.id, None, name.clone(), &name);
        if let Some(d) = text(cell.data, "description")
            && let Some(bd) = b.boundary_mut(&id)
        {
            bd.description = Some(d);
        }
        match (cell.kind, cell.rect) {
            (CellKind::BoundaryBox, Some(r)) => boxes.push((id, r)),
            (CellKind::BoundaryBox, None) => b.note(
                Some(&id),
                "boundary box has no position or size; add its members by hand",
            ),
            _ => b.note(
                Some(&id),
                "drawn as a boundary curve, which separates rather than encloses; membership cannot be computed, add its members by hand",
            ),
        }
    }
    // Smallest enclosing box wins, so a component in nested boxes lands in the inner one.
    let innermost = |pred: &dyn Fn(&Rect) -> bool, skip: Option<&str>| {
        boxes
            .iter()
            .filter(|(id, r)| Some(id.as_str()) != skip && pred(r))
            .min_by(|a, b| a.1.area().total_cmp(&b.1.area()))
            .map(|(id, _)| id.clone())
    };
    let mut members = Vec::new();
    for (cid, r) in rects {
        let c = r.center();
        if let Some(bid) = innermost(&|br: &Rect| br.contains_point(c), None) {
            members.push((bid, cid.clone()));
        }
    }
    let mut nests = Vec::new();
    for (bid, r) in &boxes {
        let area = r.area();
        if let Some(parent) = innermost(&|br: &Rect| br.contains(r) && br.area() > area, Some(bid))
        {
            nests.push((parent, bid.clone()));
        }
    }
    for (bid, cid) in members {
        b.add_member(&bid, &cid);
        b.note(
            Some(&cid),
            format!("placed in boundary `{bid}` because its shape lies inside the boundary box"),
        );
    }
    for (parent, child) in nests {
        b.nest_boundary(&parent, &child);
    }
}

/// Resolves one end of a flow to a component id: the attached cell, else the nearest shape
/// within [`SNAP_DISTANCE`] of the loose end, else a placeholder external entity.
fn endpoint(
    b: &mut Builder,
    flow: &Value,
    end: &str,
    by_cell: &HashMap<String, String>,
    rects: &[(String, Rect)],
    label: &str,
) -> String {
    let e = flow.get(end);
    let cell_ref = e.and_then(|e| text(e, "cell").or_else(|| text(e, "id")));
    if let Some(id) = cell_ref.as_ref().and_then(|c| by_cell.get(c)) {
        return id.clone();
    }
    let point = e.and_then(|e| Some((number(e, "x")?, number(e, "y")?)));
    if let Some(p) = point {
        let nearest = rects
            .iter()
            .map(|(id, r)| (id, r.distance(p)))
            .filter(|(_, d)| d.is_finite() && *d <= SNAP_DISTANCE)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((id, d)) = nearest {
            let id = id.clone();
            b.note(
                Some(&id),
                format!("the {end} of flow \"{label}\" was not attached; attached to the nearest shape ({d:.0} px away)"),
            );
            return id;
        }
    }
    let name = format!("Unknown {end} of {label}");
    let id = b.add_component(NewComponent {
        source_id: cell_ref.as_deref().unwrap_or(""),
        id_hint: None,
        name,
        description: None,
        kind: ElementKind::ExternalEntity,
        hint: "",
        detail_hint: "",
        default_tech: Technology::ExternalService,
    });
    b.note(
        Some(&id),
        format!("placeholder: the {end} of flow \"{label}\" is not connected to any element"),
    );
    id
}

fn import_threat(
    b: &mut Builder,
    t: &Value,
    source_id: &str,
    target: Option<tmc_model::TargetRef>,
) {
    let title = text(t, "title").unwrap_or_else(|| "Untitled threat".to_string());
    let description = text(t, "description").unwrap_or_else(|| title.clone());
    let category = text(t, "type").unwrap_or_default();
    let mut stride = Vec::new();
    if let Some(s) = parse_stride(&category) {
        push_unique(&mut stride, s);
    } else {
        let c = category.to_ascii_lowercase();
        let cia = if c.contains("confidential") {
            Some(Stride::InformationDisclosure)
        } else if c.contains("integrity") {
            Some(Stride::Tampering)
        } else if c.contains("availab") {
            Some(Stride::DenialOfService)
        } else {
            None
        };
        match cia {
            Some(s) => push_unique(&mut stride, s),
            None => b.note(
                None,
                format!("threat {source_id}: category \"{category}\" has no STRIDE equivalent"),
            ),
        }
    }
    let sev_label = text(t, "severity");
    let (level, unknown) = severity_or_medium(sev_label.as_deref());
    if unknown {
        b.note(
            None,
            format!(
                "threat {source_id}: severity \"{}\" not recognised; set to medium",
                sev_label.unwrap_or_default()
            ),
        );
    }
    let status_label = text(t, "status").unwrap_or_default();
    let status = match status_label
        .to_ascii_lowercase()
        .replace([' ', '_', '-', '/'], "")
        .as_str()
    {
        "mitigated" => ThreatStatus::Mitigated,
        "notapplicable" | "na" => ThreatStatus::NotApplicable,
        "open" | "" => ThreatStatus::Open,
        _ => {
            b.note(
                None,
                format!(
                    "threat {source_id}: status \"{status_label}\" not recognised; taken as open"
                ),
            );
            ThreatStatus::Open
        }
    };
    let mitigations = text(t, "mitigation")
        .map(|m| {
            let st = if status == ThreatStatus::Mitigated {
                MitigationStatus::Implemented
            } else {
                MitigationStatus::Proposed
            };
            vec![mitigation("mitigation-1".to_string(), m, st)]
        })
        .unwrap_or_default();
    if target.is_none() {
        b.note(
            None,
            format!("threat {source_id} is not attached to a component or flow"),
        );
    }
    b.push_threat(
        source_id,
        ThreatParts {
            title,
            description,
            stride,
            targets: target.into_iter().collect(),
            references: References::default(),
            severity: level_only(level),
            mitigations,
            status,
        },
    );
}
