//! Shared machinery for the threat-model importers: id allocation, notes, lenient JSON access
//! with precise error locations, and the guesses (STRIDE, boundary kind, trust zone) every
//! format needs; technology and protocol come from [`crate::keywords`].
//!
//! Kept in one place so that every importer makes the same guess from the same words: a reviewer
//! who learns that "postgres" becomes `database` in one format should not find `other` in the
//! next.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use tmc_model::{
    BoundaryKind, Component, DataAsset, ElementKind, Flow, Mitigation, MitigationStatus, Product,
    Provenance, References, Severity, SeverityAssessment, Stride, SystemModel, TargetKind,
    TargetRef, Technology, Threat, ThreatStatus, TrustBoundary, TrustZone,
};

use crate::keywords::{self, TextKind};
use crate::{ImportError, ImportNote, ImportResult, MAX_IMPORT_BYTES};

/// Longest id we generate; the DSL accepts 128, and we keep room for a uniqueness suffix.
const MAX_ID_LEN: usize = 100;

/// Rejects inputs over [`MAX_IMPORT_BYTES`] before any parsing work is done.
pub(crate) fn check_size(bytes: &[u8], format: &'static str) -> Result<(), ImportError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge {
            format,
            size: bytes.len(),
            limit: MAX_IMPORT_BYTES,
        });
    }
    Ok(())
}

pub(crate) fn malformed(
    format: &'static str,
    location: impl Into<String>,
    message: impl Into<String>,
) -> ImportError {
    ImportError::Malformed {
        format,
        location: location.into(),
        message: message.into(),
    }
}

/// Parses JSON, reporting `line:column` on failure. serde_json's recursion limit (128) turns
/// hostile nesting into an error rather than a stack overflow.
pub(crate) fn parse_json(bytes: &[u8], format: &'static str) -> Result<Value, ImportError> {
    check_size(bytes, format)?;
    serde_json::from_slice::<Value>(bytes).map_err(|e| {
        malformed(
            format,
            format!("{}:{}", e.line(), e.column()),
            format!("not valid JSON: {e}"),
        )
    })
}

/// Appends `key` to a JSON pointer, escaping as RFC 6901 requires.
pub(crate) fn ptr(base: &str, key: impl std::fmt::Display) -> String {
    let key = key.to_string().replace('~', "~0").replace('/', "~1");
    format!("{base}/{key}")
}

/// The value as an object, or a `Malformed` error naming where and what was expected.
pub(crate) fn as_object<'a>(
    v: &'a Value,
    format: &'static str,
    at: &str,
) -> Result<&'a serde_json::Map<String, Value>, ImportError> {
    v.as_object().ok_or_else(|| {
        malformed(
            format,
            loc(at),
            format!("expected an object, found {}", kind_of(v)),
        )
    })
}

/// An optional array field: missing or null is empty; any other non-array is an error, because a
/// list we silently skip is a list of threats or components silently lost.
pub(crate) fn arr<'a>(
    v: &'a Value,
    key: &str,
    format: &'static str,
    at: &str,
) -> Result<&'a [Value], ImportError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(malformed(
            format,
            ptr(at, key),
            format!("expected an array, found {}", kind_of(other)),
        )),
    }
}

/// An optional object field, with the same rules as [`arr`].
pub(crate) fn obj<'a>(
    v: &'a Value,
    key: &str,
    format: &'static str,
    at: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, ImportError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(malformed(
            format,
            ptr(at, key),
            format!("expected an object, found {}", kind_of(other)),
        )),
    }
}

fn loc(at: &str) -> String {
    if at.is_empty() {
        "/".to_string()
    } else {
        at.to_string()
    }
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A trimmed, non-empty string field; scalars of other types are read leniently as text because
/// real files write `"port": 443` and `"port": "443"` alike.
pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    scalar_text(v.get(key)?)
}

pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// A boolean field, accepting `"true"`/`"false"` strings as some exporters write them.
pub(crate) fn flag(v: &Value, key: &str) -> Option<bool> {
    match v.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn number(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Collapses whitespace (diagram labels carry line breaks) so names read on one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lower-case ASCII slug: letters and digits kept, everything else one `-`.
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
        if out.len() >= MAX_ID_LEN {
            break;
        }
    }
    out
}

/// Accumulates one import: the model under construction, threats, notes and the id map.
pub(crate) struct Builder {
    /// Short format name used in threat ids and provenance, e.g. `threat-dragon`.
    pub format: &'static str,
    pub model: SystemModel,
    pub threats: Vec<Threat>,
    pub notes: Vec<ImportNote>,
    pub id_map: BTreeMap<String, String>,
    used: HashSet<String>,
    threat_ids: HashSet<String>,
}

impl Builder {
    pub fn new(format: &'static str) -> Self {
        Builder {
            format,
            model: SystemModel {
                version: tmc_model::DSL_VERSION,
                product: Product::default(),
                components: Vec::new(),
                data: Vec::new(),
                flows: Vec::new(),
                trust_boundaries: Vec::new(),
                notes: None,
            },
            threats: Vec::new(),
            notes: Vec::new(),
            id_map: BTreeMap::new(),
            used: HashSet::new(),
            threat_ids: HashSet::new(),
        }
    }

    /// A fresh element id, unique across components, data, flows and boundaries, derived from
    /// `preferred` (a source id or a name) so it stays recognisable; `fallback` is used when the
    /// preferred text has no usable characters (UUID-only or non-Latin names still get one).
    pub fn alloc_id(&mut self, preferred: &str, fallback: &str) -> String {
        let mut base = slug(preferred);
        if base.is_empty() {
            base = slug(fallback);
        }
        if base.is_empty() {
            base = "element".to_string();
        }
        if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let prefix = slug(fallback);
            let prefix = if prefix.starts_with(|c: char| c.is_ascii_alphabetic()) {
                prefix
            } else {
                "e".to_string()
            };
            base = format!("{prefix}-{base}");
        }
        base.truncate(MAX_ID_LEN);
        let mut id = base.clone();
        let mut n = 2;
        while self.used.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        self.used.insert(id.clone());
        id
    }

    /// Records which source element an id of ours came from.
    pub fn map(&mut self, ours: &str, source: &str) {
        self.id_map.insert(ours.to_string(), source.to_string());
    }

    pub fn note(&mut self, element: Option<&str>, message: impl Into<String>) {
        self.notes.push(ImportNote {
            element: element.map(str::to_string),
            message: message.into(),
        });
    }

    pub fn target(&self, kind: TargetKind, id: &str) -> Option<TargetRef> {
        let m = &self.model;
        let name = match kind {
            TargetKind::Component => m
                .components
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.name.clone()),
            TargetKind::Flow => m.flows.iter().find(|f| f.id == id).map(Flow::display_name),
            TargetKind::Data => m.data.iter().find(|d| d.id == id).map(|d| d.name.clone()),
            TargetKind::Boundary => m
                .trust_boundaries
                .iter()
                .find(|b| b.id == id)
                .map(|b| b.name.clone()),
        }?;
        Some(TargetRef {
            kind,
            id: id.to_string(),
            name,
        })
    }

    /// Adds an imported threat with id `import:<format>:<source id>` and import provenance;
    /// a repeated source id gets `#2`, `#3` so ids stay unique.
    pub fn push_threat(&mut self, source_id: &str, t: ThreatParts) {
        let base = format!("import:{}:{}", self.format, source_id);
        let mut id = base.clone();
        let mut n = 2;
        while self.threat_ids.contains(&id) {
            id = format!("{base}#{n}");
            n += 1;
        }
        self.threat_ids.insert(id.clone());
        self.threats.push(Threat {
            id,
            title: t.title,
            description: t.description,
            stride: t.stride,
            targets: t.targets,
            references: t.references,
            severity: t.severity,
            mitigations: t.mitigations,
            provenance: Provenance::Import {
                format: self.format.to_string(),
                source_id: source_id.to_string(),
            },
            status: t.status,
            review: None,
        });
    }

    /// Appends a paragraph to the model-level notes.
    pub fn add_model_note(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let notes = self.model.notes.get_or_insert_with(String::new);
        if !notes.is_empty() {
            notes.push_str("\n\n");
        }
        notes.push_str(text);
    }

    pub fn finish(self) -> ImportResult {
        ImportResult {
            model: self.model,
            threats: self.threats,
            notes: self.notes,
            id_map: self.id_map,
        }
    }
}

/// Everything of a threat except the parts the builder derives (id, provenance).
pub(crate) struct ThreatParts {
    pub title: String,
    pub description: String,
    pub stride: Vec<Stride>,
    pub targets: Vec<TargetRef>,
    pub references: References,
    pub severity: SeverityAssessment,
    pub mitigations: Vec<Mitigation>,
    pub status: ThreatStatus,
}

/// A severity the source stated only as a level: likelihood, impact and score stay 0 so nobody
/// mistakes them for numbers the source gave.
pub(crate) fn level_only(level: Severity) -> SeverityAssessment {
    SeverityAssessment {
        level,
        likelihood: 0,
        impact: 0,
        score: 0,
        factors: Vec::new(),
        downgraded_by: None,
    }
}

/// A severity from likelihood and impact on 1..=5, with the level banded from their product.
pub(crate) fn scored(likelihood: u8, impact: u8, level: Option<Severity>) -> SeverityAssessment {
    let score = likelihood.saturating_mul(impact);
    SeverityAssessment {
        level: level.unwrap_or_else(|| Severity::for_score(score)),
        likelihood,
        impact,
        score,
        factors: Vec::new(),
        downgraded_by: None,
    }
}

/// Maps a 0..=100 rating (OTM risk values) onto 1..=5.
pub(crate) fn percent_to_five(p: f64) -> u8 {
    let p = if p.is_finite() {
        p.clamp(0.0, 100.0)
    } else {
        0.0
    };
    ((p / 20.0).ceil() as u8).clamp(1, 5)
}

/// STRIDE from a category label; accepts Stride::parse's forms plus the plural and prefixed
/// variants tools emit ("Elevation of Privileges", "Spoofing Identity").
pub(crate) fn parse_stride(label: &str) -> Option<Stride> {
    if let Some(s) = Stride::parse(label) {
        return Some(s);
    }
    let l = label.to_ascii_lowercase();
    let pairs = [
        ("spoof", Stride::Spoofing),
        ("tamper", Stride::Tampering),
        ("repudiat", Stride::Repudiation),
        ("disclos", Stride::InformationDisclosure),
        ("denial", Stride::DenialOfService),
        ("elevation", Stride::ElevationOfPrivilege),
        ("privilege", Stride::ElevationOfPrivilege),
    ];
    pairs.iter().find(|(k, _)| l.contains(k)).map(|(_, s)| *s)
}

/// Pushes a STRIDE category once, keeping the source's order.
pub(crate) fn push_unique(v: &mut Vec<Stride>, s: Stride) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// Boundary kind from its name or type label; `Network` when nothing matches.
pub(crate) fn infer_boundary_kind(text: &str) -> (BoundaryKind, bool) {
    let t = text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    let kind = if has(&["vpc", "vnet", "virtual network"]) {
        BoundaryKind::Vpc
    } else if has(&["subnet", "security group", "dmz"]) {
        BoundaryKind::Subnet
    } else if has(&["account", "subscription", "cloud", "aws", "azure", "gcp"]) {
        BoundaryKind::CloudAccount
    } else if has(&[
        "container",
        "namespace",
        "kubernetes",
        "k8s",
        "pod",
        "sandbox",
    ]) {
        BoundaryKind::Container
    } else if has(&["process", "execution environment", "runtime"]) {
        BoundaryKind::Process
    } else if has(&["tenant"]) {
        BoundaryKind::Tenant
    } else if has(&["device", "physical", "hardware", "premises", "building"]) {
        BoundaryKind::Physical
    } else if has(&[
        "organization",
        "organisation",
        "company",
        "corporate",
        "partner",
        "third party",
    ]) {
        BoundaryKind::Organization
    } else if has(&["network", "internet", "lan", "zone", "public", "private"]) {
        BoundaryKind::Network
    } else {
        return (BoundaryKind::Network, false);
    };
    (kind, true)
}

/// Trust zone from a zone or boundary name; `None` when the words say nothing.
pub(crate) fn infer_trust_zone(text: &str) -> Option<TrustZone> {
    let t = text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    Some(
        if has(&[
            "internet",
            "public network",
            "untrusted",
            "external network",
        ]) {
            TrustZone::Internet
        } else if has(&["dmz", "perimeter", "edge"]) {
            TrustZone::Dmz
        } else if has(&[
            "third party",
            "third-party",
            "partner",
            "vendor",
            "saas",
            "external",
        ]) {
            TrustZone::ThirdParty
        } else if has(&["device", "mobile", "client", "endpoint", "user"]) {
            TrustZone::Device
        } else if has(&["restricted", "secure zone", "vault", "pci", "sensitive"]) {
            TrustZone::Restricted
        } else if has(&[
            "internal",
            "private",
            "cloud",
            "vpc",
            "corporate",
            "intranet",
            "backend",
            "data center",
            "datacenter",
            "on-prem",
            "experimental",
            "dev",
        ]) {
            TrustZone::Internal
        } else {
            return None;
        },
    )
}

/// Adds a component, picking the technology from `hint` text when it can and noting the guess.
pub(crate) struct NewComponent<'a> {
    pub source_id: &'a str,
    /// Preferred text for our id (a readable source id); the name is used when absent.
    pub id_hint: Option<&'a str>,
    pub name: String,
    pub description: Option<String>,
    pub kind: ElementKind,
    /// Text to guess the technology from (name, type label, product...).
    pub hint: &'a str,
    /// Weaker text (a description) consulted only when `hint` says nothing: descriptions
    /// mention neighbours ("reads the ML model") as often as what the element is.
    pub detail_hint: &'a str,
    /// Used when the hint says nothing.
    pub default_tech: Technology,
}

impl Builder {
    pub fn add_component(&mut self, c: NewComponent<'_>) -> String {
        let id = self.alloc_id(c.id_hint.unwrap_or(&c.name), c.kind.as_str());
        self.map(&id, c.source_id);
        // A store's technology must be a storage technology: "Web Application Config" is a
        // file, not a web app.
        let fits = |t: &Technology| {
            c.kind != ElementKind::DataStore || t.default_kind() == ElementKind::DataStore
        };
        let inferred = keywords::technology(c.hint)
            .filter(fits)
            .map(|t| (t, c.hint))
            .or_else(|| {
                keywords::technology(c.detail_hint)
                    .filter(fits)
                    .map(|t| (t, c.detail_hint))
            });
        let technology = match inferred {
            Some((t, from)) => {
                self.note(
                    Some(&id),
                    format!(
                        "technology `{}` inferred from \"{}\"",
                        t.as_str(),
                        one_line(from)
                    ),
                );
                t
            }
            None => {
                self.note(
                    Some(&id),
                    format!(
                        "technology unknown; set to `{}`, please choose one",
                        c.default_tech.as_str()
                    ),
                );
                c.default_tech
            }
        };
        self.push_component(&id, c.name, c.description, c.kind, technology);
        id
    }

    /// Adds a component with a known id and technology, all attributes undeclared.
    pub fn push_component(
        &mut self,
        id: &str,
        name: String,
        description: Option<String>,
        kind: ElementKind,
        technology: Technology,
    ) {
        self.model.components.push(Component {
            description,
            ..Component::new(id.to_string(), name, kind, technology)
        });
    }

    pub fn component_mut(&mut self, id: &str) -> Option<&mut Component> {
        self.model.components.iter_mut().find(|c| c.id == id)
    }

    /// Adds a flow between two existing components; notes a missing protocol.
    pub fn add_flow(
        &mut self,
        source_id: &str,
        name: Option<String>,
        from: &str,
        to: &str,
    ) -> String {
        let preferred = match &name {
            Some(n) => n.clone(),
            None => format!("{from}-to-{to}"),
        };
        let id = self.alloc_id(&preferred, "flow");
        self.map(&id, source_id);
        self.model.flows.push(Flow {
            id: id.clone(),
            name,
            from: from.to_string(),
            to: to.to_string(),
            protocol: None,
            port: None,
            authentication: None,
            encryption: None,
            data: Vec::new(),
            data_received: Vec::new(),
            bidirectional: None,
            description: None,
            notes: None,
        });
        id
    }

    pub fn flow_mut(&mut self, id: &str) -> Option<&mut Flow> {
        self.model.flows.iter_mut().find(|f| f.id == id)
    }

    /// Sets a flow's protocol from text, noting when it had to be inferred or is unknown.
    pub fn set_flow_protocol(&mut self, flow: &str, declared: Option<&str>, fallback_text: &str) {
        let (protocol, note) =
            match declared.and_then(|d| keywords::protocol(d, TextKind::ProtocolField)) {
                Some(p) => (Some(p), None),
                None => match keywords::protocol(fallback_text, TextKind::Prose) {
                    Some(p) => (
                        Some(p),
                        Some(format!(
                            "protocol `{}` inferred from the flow's name or description",
                            p.as_str()
                        )),
                    ),
                    None => (
                        None,
                        Some(match declared {
                            Some(d) => format!("protocol \"{d}\" not recognised; protocol unknown"),
                            None => "protocol unknown".to_string(),
                        }),
                    ),
                },
            };
        if let Some(f) = self.flow_mut(flow) {
            f.protocol = protocol;
        }
        if let Some(n) = note {
            self.note(Some(flow), n);
        }
    }

    pub fn add_boundary(
        &mut self,
        source_id: &str,
        id_hint: Option<&str>,
        name: String,
        kind_hint: &str,
    ) -> String {
        let id = self.alloc_id(id_hint.unwrap_or(&name), "boundary");
        self.map(&id, source_id);
        let (kind, inferred) = infer_boundary_kind(kind_hint);
        if !inferred {
            self.note(Some(&id), "boundary kind unknown; set to `network`");
        }
        self.model.trust_boundaries.push(TrustBoundary {
            id: id.clone(),
            name,
            kind,
            description: None,
            members: Vec::new(),
            boundaries: Vec::new(),
            notes: None,
        });
        id
    }

    pub fn boundary_mut(&mut self, id: &str) -> Option<&mut TrustBoundary> {
        self.model.trust_boundaries.iter_mut().find(|b| b.id == id)
    }

    /// Puts a component directly in a boundary unless it is already directly in another one
    /// (the DSL forbids that); the conflict becomes a note instead.
    pub fn add_member(&mut self, boundary: &str, component: &str) {
        let already = self
            .model
            .trust_boundaries
            .iter()
            .find(|b| b.members.iter().any(|m| m == component))
            .map(|b| b.id.clone());
        match already {
            Some(prev) if prev == boundary => {}
            Some(prev) => self.note(
                Some(component),
                format!("also listed in boundary `{boundary}`; kept only in `{prev}`"),
            ),
            None => {
                if let Some(b) = self.boundary_mut(boundary) {
                    b.members.push(component.to_string());
                }
            }
        }
    }

    /// Nests `child` in `parent` unless that would give it two parents or a cycle.
    pub fn nest_boundary(&mut self, parent: &str, child: &str) {
        if parent == child {
            return;
        }
        let has_parent = self
            .model
            .trust_boundaries
            .iter()
            .any(|b| b.boundaries.iter().any(|c| c == child));
        // Walk up from `parent`; finding `child` means nesting would close a cycle.
        let mut cur = parent.to_string();
        let mut steps = 0;
        let mut cycle = false;
        while steps <= self.model.trust_boundaries.len() {
            if cur == child {
                cycle = true;
                break;
            }
            match self
                .model
                .trust_boundaries
                .iter()
                .find(|b| b.boundaries.contains(&cur))
            {
                Some(p) => cur = p.id.clone(),
                None => break,
            }
            steps += 1;
        }
        if has_parent || cycle {
            self.note(
                Some(child),
                format!("not nested in `{parent}`: it would have two parents or form a cycle"),
            );
            return;
        }
        if let Some(b) = self.boundary_mut(parent) {
            b.boundaries.push(child.to_string());
        }
    }

    pub fn add_data(&mut self, d: DataAsset) {
        self.model.data.push(d);
    }
}

pub(crate) fn mitigation(id: String, text: String, status: MitigationStatus) -> Mitigation {
    Mitigation {
        id,
        text,
        asvs: Vec::new(),
        status,
        owner: None,
        ticket: None,
        due: None,
    }
}

/// Parses a severity label, falling back to medium (with `unknown` set) for "TBA", "" and such.
pub(crate) fn severity_or_medium(label: Option<&str>) -> (Severity, bool) {
    match label.and_then(Severity::parse) {
        Some(s) => (s, false),
        None => (Severity::Medium, true),
    }
}
