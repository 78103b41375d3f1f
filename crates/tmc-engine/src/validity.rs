//! The validity lint: threats in a draft that cannot be right for *this* model, whatever made
//! them (rules, knowledge base, copilot, import, a person).
//!
//! It is a proxy a machine can run for what reviewers judge as "invalid": a threat that names a
//! product, component or data asset the model does not have (transplanted from another system),
//! a web-only weakness on an element without a web interface, an attack on the wire against a
//! flow that never leaves one host, a claim that a declared control is missing, and two threats
//! that are one. Relevance itself is judged by people (`tmc eval --agreement`); this lint only
//! finds what is wrong on its face, so `tmc draft --strict` can fail on it and `tmc eval` can
//! count it.
//!
//! The word lists live in `crates/tmc-engine/data/validity.txt` (data a security engineer may
//! change), compiled in. Pure: no I/O, deterministic, findings in draft order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tmc_model::identity::{
    SAME_THREAT_SIMILARITY, fingerprint, normalised_title, same_targets, title_similarity,
};
use tmc_model::{
    AuthScheme, Component, ElementKind, Flow, Logging, Protocol, SystemModel, TargetKind,
    TargetRef, Technology, Threat,
};

use crate::facts::Facts;

/// The word lists, compiled in (see the file's header for its format).
pub const LEXICON_TEXT: &str = include_str!("../data/validity.txt");

/// What is wrong with a threat; the five kinds, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Names a product, component or data asset (or targets an element id) not in the model.
    NamesUnknown,
    /// A web-only CWE on a target whose interface is not web or an HTTP API.
    WebCweOnNonWeb,
    /// Eavesdropping, man-in-the-middle or replay on a flow that stays on one host.
    NetworkThreatOnLocalFlow,
    /// Says a control is missing that the model declares.
    ContradictedByControl,
    /// Another threat on the same targets is the same threat.
    Duplicate,
}

impl FindingKind {
    pub const ALL: &'static [FindingKind] = &[
        FindingKind::NamesUnknown,
        FindingKind::WebCweOnNonWeb,
        FindingKind::NetworkThreatOnLocalFlow,
        FindingKind::ContradictedByControl,
        FindingKind::Duplicate,
    ];

    /// The kebab-case name used in JSON, reports and test fixtures.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::NamesUnknown => "names-unknown",
            FindingKind::WebCweOnNonWeb => "web-cwe-on-non-web",
            FindingKind::NetworkThreatOnLocalFlow => "network-threat-on-local-flow",
            FindingKind::ContradictedByControl => "contradicted-by-control",
            FindingKind::Duplicate => "duplicate",
        }
    }

    pub fn parse(text: &str) -> Option<FindingKind> {
        FindingKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == text)
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one threat. `message` names the evidence (the unknown name, the CWE and
/// the interface, the flow and why it is local, the declared control, the other threat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub threat_id: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.threat_id, self.kind, self.message)
    }
}

/// Findings per kind, every kind present (zeros included) so a report shows what was checked.
pub fn counts(findings: &[Finding]) -> BTreeMap<FindingKind, usize> {
    let mut out: BTreeMap<FindingKind, usize> = FindingKind::ALL.iter().map(|k| (*k, 0)).collect();
    for f in findings {
        *out.entry(f.kind).or_default() += 1;
    }
    out
}

/// Checks every threat of `draft` against `model`. Findings come in draft order, and for one
/// threat in [`FindingKind`] order; at most one finding per threat and kind.
pub fn check(model: &SystemModel, draft: &tmc_model::Draft) -> Vec<Finding> {
    let lex = lexicon();
    let ctx = Context::new(model, lex);
    let mut out = Vec::new();
    for (i, t) in draft.threats.iter().enumerate() {
        let mut push = |kind, message: Option<String>| {
            if let Some(message) = message {
                out.push(Finding {
                    kind,
                    threat_id: t.id.clone(),
                    message,
                });
            }
        };
        push(FindingKind::NamesUnknown, ctx.names_unknown(t));
        push(FindingKind::WebCweOnNonWeb, ctx.web_cwe(t));
        push(
            FindingKind::NetworkThreatOnLocalFlow,
            ctx.network_on_local(t),
        );
        push(FindingKind::ContradictedByControl, ctx.contradicted(t));
        push(FindingKind::Duplicate, duplicate_of(&draft.threats[..i], t));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The word lists.

/// A control a threat may claim is missing (`[claim <control>]` sections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    FlowEncryption,
    Authentication,
    Mfa,
    EncryptionAtRest,
    Backups,
    RateLimiting,
    AuditLogging,
    TamperEvidentLogging,
    InputValidation,
}

impl Control {
    const NAMES: &'static [(&'static str, Control)] = &[
        ("flow-encryption", Control::FlowEncryption),
        ("authentication", Control::Authentication),
        ("mfa", Control::Mfa),
        ("encryption-at-rest", Control::EncryptionAtRest),
        ("backups", Control::Backups),
        ("rate-limiting", Control::RateLimiting),
        ("audit-logging", Control::AuditLogging),
        ("tamper-evident-logging", Control::TamperEvidentLogging),
        ("input-validation", Control::InputValidation),
    ];

    fn parse(text: &str) -> Option<Control> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, c)| *c)
    }
}

/// A web-only CWE and where it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebCwe {
    pub cwe: u32,
    pub interfaces: Vec<String>,
    /// Also valid on a target that sends queries to a data store.
    pub datastore_client: bool,
    pub name: String,
}

/// The parsed word lists.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    /// Lowercase words of the generic technical terms.
    pub generic_words: HashSet<String>,
    pub web_cwes: Vec<WebCwe>,
    pub network_cwes: BTreeMap<u32, String>,
    pub network_phrases: Vec<String>,
    pub claims: Vec<(Control, String)>,
}

/// Parses the word-list format; returns what parsed and one message per bad line
/// (`line N: ...`). The compiled-in file must parse without messages (a test checks it).
pub fn parse_lexicon(text: &str) -> (Lexicon, Vec<String>) {
    let mut lex = Lexicon::default();
    let mut errors = Vec::new();
    let mut section: Option<&str> = None;
    let mut claim: Option<Control> = None;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(head) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let head = head.trim();
            claim = None;
            section = match head {
                "generic-terms" | "web-only-cwe" | "network-cwe" | "network-phrase" => Some(head),
                _ => match head.strip_prefix("claim ").map(str::trim) {
                    Some(c) => match Control::parse(c) {
                        Some(ctrl) => {
                            claim = Some(ctrl);
                            Some("claim")
                        }
                        None => {
                            errors.push(format!("line {line_no}: unknown control `{c}`"));
                            None
                        }
                    },
                    None => {
                        errors.push(format!("line {line_no}: unknown section `[{head}]`"));
                        None
                    }
                },
            };
            continue;
        }
        match section {
            Some("generic-terms") => lex.generic_words.extend(text_words(line)),
            Some("web-only-cwe") => match parse_web_cwe(line) {
                Ok(w) => lex.web_cwes.push(w),
                Err(e) => errors.push(format!("line {line_no}: {e}")),
            },
            Some("network-cwe") => match parse_cwe_name(line) {
                Ok((cwe, name)) => {
                    lex.network_cwes.insert(cwe, name);
                }
                Err(e) => errors.push(format!("line {line_no}: {e}")),
            },
            Some("network-phrase") => lex.network_phrases.push(line.to_lowercase()),
            Some(_) => {
                if let Some(c) = claim {
                    lex.claims.push((c, line.to_lowercase()));
                }
            }
            None => errors.push(format!("line {line_no}: entry outside a section")),
        }
    }
    (lex, errors)
}

fn parse_cwe_name(line: &str) -> Result<(u32, String), String> {
    let (head, name) = line
        .split_once(':')
        .ok_or_else(|| format!("expected `<cwe> : <name>`, found `{line}`"))?;
    let cwe = head
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("`{}` is not a CWE number", head.trim()))?;
    Ok((cwe, name.trim().to_string()))
}

fn parse_web_cwe(line: &str) -> Result<WebCwe, String> {
    let (head, name) = line
        .split_once(':')
        .ok_or_else(|| format!("expected `<cwe> <interface>... : <name>`, found `{line}`"))?;
    let mut parts = head.split_whitespace();
    let cwe_text = parts.next().unwrap_or("");
    let cwe = cwe_text
        .parse::<u32>()
        .map_err(|_| format!("`{cwe_text}` is not a CWE number"))?;
    let mut interfaces = Vec::new();
    let mut datastore_client = false;
    for p in parts {
        if p == "datastore-client" {
            datastore_client = true;
        } else if crate::facts::INTERFACES.contains(&p) {
            interfaces.push(p.to_string());
        } else {
            return Err(format!(
                "`{p}` is not an interface ({}) or `datastore-client`",
                crate::facts::INTERFACES.join(", ")
            ));
        }
    }
    if interfaces.is_empty() {
        return Err(format!("CWE-{cwe} lists no interface it is valid on"));
    }
    Ok(WebCwe {
        cwe,
        interfaces,
        datastore_client,
        name: name.trim().to_string(),
    })
}

/// The compiled-in word lists, parsed once. A bad line is skipped here (never a panic) and
/// reported by the `lexicon_parses` test.
pub fn lexicon() -> &'static Lexicon {
    static LEX: OnceLock<Lexicon> = OnceLock::new();
    LEX.get_or_init(|| parse_lexicon(LEXICON_TEXT).0)
}

// ---------------------------------------------------------------------------------------------
// Per-model context.

struct Context<'m> {
    model: &'m SystemModel,
    lex: &'static Lexicon,
    /// Lowercase words of every name, id, description, note and tag in the model, plus the
    /// catalogue's technology and protocol names.
    vocabulary: HashSet<String>,
    components: HashMap<&'m str, (&'m Component, &'static str)>,
    flows: HashMap<&'m str, (&'m Flow, bool)>,
    data: HashMap<&'m str, DataCtl>,
}

/// What the stores and flows of one data asset declare.
struct DataCtl {
    name: String,
    /// Every store declares encryption at rest (and there is one).
    stores_encrypted: bool,
    /// Every store declares backups (and there is one).
    stores_backed_up: bool,
    /// Every flow carrying it declares strong encryption (and there is one).
    flows_encrypted: bool,
}

impl<'m> Context<'m> {
    fn new(model: &'m SystemModel, lex: &'static Lexicon) -> Context<'m> {
        let facts = Facts::new(model);
        let mut vocabulary = HashSet::new();
        let mut add = |s: &str| vocabulary.extend(text_words(s));
        let p = &model.product;
        add(&p.name);
        for s in p
            .description
            .iter()
            .chain(&p.notes)
            .chain(&p.tags)
            .chain(&p.assumptions)
            .chain(&p.out_of_scope)
            .chain(&model.notes)
        {
            add(s);
        }
        for c in &model.components {
            add(&c.id);
            add(&c.name);
            for s in c.description.iter().chain(&c.notes).chain(&c.tags) {
                add(s);
            }
            if let Some(m) = &c.model {
                for t in &m.tools {
                    add(t);
                }
            }
        }
        for d in &model.data {
            add(&d.id);
            add(&d.name);
            for s in d.description.iter().chain(&d.notes) {
                add(s);
            }
        }
        for f in &model.flows {
            add(&f.id);
            for s in f.name.iter().chain(&f.description).chain(&f.notes) {
                add(s);
            }
        }
        for b in &model.trust_boundaries {
            add(&b.id);
            add(&b.name);
            for s in b.description.iter().chain(&b.notes) {
                add(s);
            }
        }
        for t in Technology::ALL {
            add(t.as_str());
        }

        let components = facts
            .components
            .iter()
            .map(|cf| (cf.component.id.as_str(), (cf.component, cf.interface)))
            .collect();
        let mut flows: HashMap<&str, (&Flow, bool)> = facts
            .flows
            .iter()
            .map(|ff| (ff.flow.id.as_str(), (ff.flow, ff.local)))
            .collect();
        // Dangling flows are skipped by the facts; keep them known so they are not "unknown".
        for f in &model.flows {
            flows.entry(f.id.as_str()).or_insert((f, false));
        }
        let comp = |id: &str| model.components.iter().find(|c| c.id == id);
        let data = model
            .data
            .iter()
            .map(|d| {
                let stores: Vec<&Component> = d.stored_in.iter().filter_map(|s| comp(s)).collect();
                let carriers: Vec<&Flow> = model
                    .flows
                    .iter()
                    .filter(|f| f.data.contains(&d.id) || f.data_received.contains(&d.id))
                    .collect();
                let ctl = DataCtl {
                    name: d.name.clone(),
                    stores_encrypted: !stores.is_empty()
                        && stores.iter().all(|c| c.encryption_at_rest == Some(true)),
                    stores_backed_up: !stores.is_empty()
                        && stores.iter().all(|c| c.backups == Some(true)),
                    flows_encrypted: !carriers.is_empty()
                        && carriers.iter().all(|f| flow_encrypted(f)),
                };
                (d.id.as_str(), ctl)
            })
            .collect();
        Context {
            model,
            lex,
            vocabulary,
            components,
            flows,
            data,
        }
    }

    fn known_word(&self, w: &str) -> bool {
        if w.chars().all(|c| c.is_ascii_digit()) {
            return true;
        }
        let singular = w.strip_suffix('s').unwrap_or(w);
        [w, singular]
            .iter()
            .any(|v| self.vocabulary.contains(*v) || self.lex.generic_words.contains(*v))
            || self.vocabulary.contains(&format!("{w}s"))
    }

    fn target_known(&self, t: &TargetRef) -> bool {
        let id = t.id.as_str();
        match t.kind {
            TargetKind::Component => self.components.contains_key(id),
            TargetKind::Flow => self.flows.contains_key(id),
            TargetKind::Data => self.data.contains_key(id),
            TargetKind::Boundary => self.model.trust_boundaries.iter().any(|b| b.id == id),
        }
    }

    // --- kind 1 -------------------------------------------------------------------------------

    fn names_unknown(&self, t: &Threat) -> Option<String> {
        let mut evidence: Vec<String> = t
            .targets
            .iter()
            .filter(|r| !self.target_known(r))
            .map(|r| format!("targets {} `{}`", r.kind.as_str(), r.id))
            .collect();
        let mut names: Vec<String> = Vec::new();
        for (field, text) in [("title", &t.title), ("description", &t.description)] {
            for name in proper_names(text) {
                let unknown = text_words(&name.checked)
                    .iter()
                    .any(|w| !self.known_word(w));
                if unknown && !names.contains(&name.shown) {
                    evidence.push(format!("{field} names `{}`", name.shown));
                    names.push(name.shown);
                }
            }
        }
        (!evidence.is_empty())
            .then(|| format!("{}, which the model does not have", evidence.join("; ")))
    }

    // --- kind 2 -------------------------------------------------------------------------------

    /// The component a target attacks: itself, or a flow's receiving end.
    fn attacked(&self, r: &TargetRef) -> Option<(&'m Component, &'static str, Option<&'m Flow>)> {
        match r.kind {
            TargetKind::Component => self
                .components
                .get(r.id.as_str())
                .map(|(c, i)| (*c, *i, None)),
            TargetKind::Flow => {
                let (f, _) = self.flows.get(r.id.as_str())?;
                let (c, i) = self.components.get(f.to.as_str())?;
                Some((*c, *i, Some(*f)))
            }
            _ => None,
        }
    }

    fn queries_datastore(&self, c: &Component, via: Option<&Flow>) -> bool {
        let is_store = |f: &Flow| {
            matches!(f.protocol, Some(Protocol::Sql | Protocol::Nosql))
                || self
                    .components
                    .get(f.to.as_str())
                    .is_some_and(|(d, _)| d.kind == ElementKind::DataStore)
        };
        match via {
            Some(f) => is_store(f),
            None => self
                .model
                .flows
                .iter()
                .any(|f| f.from == c.id && is_store(f)),
        }
    }

    fn web_cwe(&self, t: &Threat) -> Option<String> {
        let mut evidence = Vec::new();
        for w in &self.lex.web_cwes {
            if !t.references.cwe.contains(&w.cwe) {
                continue;
            }
            for r in &t.targets {
                let Some((c, interface, via)) = self.attacked(r) else {
                    continue;
                };
                if w.interfaces.iter().any(|i| i == interface)
                    || (w.datastore_client && self.queries_datastore(c, via))
                {
                    continue;
                }
                let on = match via {
                    Some(f) => format!("flow `{}` to {}", f.id, c.name),
                    None => c.name.clone(),
                };
                evidence.push(format!(
                    "CWE-{} ({}) on {on}, whose interface is `{interface}` (valid on {}{})",
                    w.cwe,
                    w.name,
                    w.interfaces.join(", "),
                    if w.datastore_client {
                        ", or a data-store client"
                    } else {
                        ""
                    }
                ));
            }
        }
        (!evidence.is_empty()).then(|| evidence.join("; "))
    }

    // --- kind 3 -------------------------------------------------------------------------------

    fn network_on_local(&self, t: &Threat) -> Option<String> {
        let why = self.network_evidence(t)?;
        let local: Vec<String> = t
            .targets
            .iter()
            .filter(|r| r.kind == TargetKind::Flow)
            .filter_map(|r| self.flows.get(r.id.as_str()))
            .filter(|(_, local)| *local)
            .map(|(f, _)| format!("flow `{}` ({})", f.id, self.local_reason(f)))
            .collect();
        (!local.is_empty()).then(|| {
            format!(
                "network threat ({why}) on {}, which stays on one host",
                local.join(", ")
            )
        })
    }

    fn network_evidence(&self, t: &Threat) -> Option<String> {
        if let Some((cwe, name)) = self
            .lex
            .network_cwes
            .iter()
            .find(|(c, _)| t.references.cwe.contains(c))
        {
            return Some(format!("CWE-{cwe} {name}"));
        }
        let text = format!("{} {}", t.title, t.description).to_lowercase();
        self.lex
            .network_phrases
            .iter()
            .find(|p| text.contains(p.as_str()))
            .map(|p| format!("\"{p}\""))
    }

    fn local_reason(&self, f: &Flow) -> String {
        if f.from == f.to {
            "a component talking to itself".into()
        } else if let Some(p @ (Protocol::Ipc | Protocol::File)) = f.protocol {
            format!("protocol {}", p.as_str())
        } else {
            "both ends inside one process or container boundary".into()
        }
    }

    // --- kind 4 -------------------------------------------------------------------------------

    fn contradicted(&self, t: &Threat) -> Option<String> {
        let text = format!("{} {}", t.title, t.description).to_lowercase();
        let mut evidence = Vec::new();
        let mut seen = BTreeSet::new();
        for (control, phrase) in &self.lex.claims {
            if !text.contains(phrase.as_str()) {
                continue;
            }
            for r in &t.targets {
                if let Some(declared) = self.declares(*control, r, &text) {
                    let e = format!("says \"{phrase}\" but {declared}");
                    if seen.insert(e.clone()) {
                        evidence.push(e);
                    }
                }
            }
        }
        (!evidence.is_empty()).then(|| evidence.join("; "))
    }

    /// What the model declares against the claim that `control` is missing on `r`, if it does.
    fn declares(&self, control: Control, r: &TargetRef, text: &str) -> Option<String> {
        let id = r.id.as_str();
        let comp = self.components.get(id).map(|(c, _)| *c);
        let flow = self.flows.get(id).map(|(f, _)| *f);
        let data = self.data.get(id);
        let flow_dest = flow.and_then(|f| self.components.get(f.to.as_str()).map(|(c, _)| *c));
        match (control, r.kind) {
            (Control::FlowEncryption, TargetKind::Flow) => {
                let f = flow?;
                flow_encrypted(f)
                    .then(|| format!("flow `{}` declares {}", f.id, describe_flow_protection(f)))
            }
            (Control::FlowEncryption, TargetKind::Data) => {
                let d = data?;
                d.flows_encrypted
                    .then(|| format!("every flow carrying {} declares strong encryption", d.name))
            }
            (Control::Authentication, TargetKind::Component) => {
                let c = comp?;
                let scheme = c.authentication.as_ref()?.scheme;
                declared_auth(scheme, text)
                    .then(|| format!("{} declares authentication {}", c.name, scheme.as_str()))
            }
            (Control::Authentication, TargetKind::Flow) => {
                let f = flow?;
                let scheme = f.authentication?;
                declared_auth(scheme, text).then(|| {
                    format!(
                        "flow `{}` declares authentication {}",
                        f.id,
                        scheme.as_str()
                    )
                })
            }
            (Control::Mfa, TargetKind::Component) => {
                let c = comp?;
                (c.authentication.as_ref()?.mfa == Some(true))
                    .then(|| format!("{} declares MFA", c.name))
            }
            (Control::EncryptionAtRest, TargetKind::Component) => {
                let c = comp?;
                (c.encryption_at_rest == Some(true))
                    .then(|| format!("{} declares encryption at rest", c.name))
            }
            (Control::EncryptionAtRest, TargetKind::Data) => {
                let d = data?;
                d.stores_encrypted
                    .then(|| format!("every store of {} declares encryption at rest", d.name))
            }
            (Control::Backups, TargetKind::Component) => {
                let c = comp?;
                (c.backups == Some(true)).then(|| format!("{} declares backups", c.name))
            }
            (Control::Backups, TargetKind::Data) => {
                let d = data?;
                d.stores_backed_up
                    .then(|| format!("every store of {} declares backups", d.name))
            }
            (Control::RateLimiting, TargetKind::Component | TargetKind::Flow) => {
                let c = comp.or(flow_dest)?;
                (c.rate_limiting == Some(true))
                    .then(|| format!("{} declares rate limiting", c.name))
            }
            (Control::AuditLogging, TargetKind::Component) => {
                let c = comp?;
                let l = c.logging?;
                (l >= Logging::Audit).then(|| format!("{} declares logging {}", c.name, l.as_str()))
            }
            (Control::TamperEvidentLogging, TargetKind::Component) => {
                let c = comp?;
                (c.logging? == Logging::TamperEvident)
                    .then(|| format!("{} declares logging tamper-evident", c.name))
            }
            (Control::InputValidation, TargetKind::Component | TargetKind::Flow) => {
                let c = comp.or(flow_dest)?;
                (c.input_validation == Some(true))
                    .then(|| format!("{} declares input validation", c.name))
            }
            _ => None,
        }
    }
}

/// A declared scheme contradicts "unauthenticated" unless it is `none`, or the text names the
/// scheme itself ("unauthenticated or shared-secret access" is right about a shared secret).
fn declared_auth(scheme: AuthScheme, text: &str) -> bool {
    if scheme == AuthScheme::None {
        return false;
    }
    let name = scheme.as_str();
    !(text.contains(name) || text.contains(&name.replace('-', " ")))
}

/// Strong transport protection, or mutual TLS (which is TLS whatever the encryption field says).
fn flow_encrypted(f: &Flow) -> bool {
    f.encryption.is_some_and(|e| e.is_strong()) || f.authentication == Some(AuthScheme::Mtls)
}

fn describe_flow_protection(f: &Flow) -> String {
    match f.encryption {
        Some(e) if e.is_strong() => format!("encryption {}", e.as_str()),
        _ => "authentication mtls".into(),
    }
}

// --- kind 5 -----------------------------------------------------------------------------------

/// The title without the targets' names, lowercase: what the threat says, not where.
fn bare_title(t: &Threat) -> String {
    let mut title = t.title.to_lowercase();
    let mut names: Vec<String> = t.targets.iter().map(|r| r.name.to_lowercase()).collect();
    // Longest first, so a name containing another is taken out whole.
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for n in names.iter().filter(|n| !n.is_empty()) {
        title = title.replace(n.as_str(), " ");
    }
    title.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An earlier threat that is the same as `t`: same targets, a shared STRIDE letter, and equal
/// fingerprints, equal normalised titles, or similar titles once the targets' names are taken
/// out. `same_threat` compares whole titles, where a long shared element name makes any two
/// templates on it look alike ("Poisoned messages on Order events queue (SQS)" and "Replayed
/// or duplicated financial messages on Order events queue (SQS)"), so the lint compares what
/// is left.
fn duplicate_of(earlier: &[Threat], t: &Threat) -> Option<String> {
    let norm = normalised_title(&t.title, &t.targets);
    let bare = bare_title(t);
    earlier
        .iter()
        .find(|e| {
            same_targets(e, t)
                && e.stride.iter().any(|s| t.stride.contains(s))
                && (fingerprint(e) == fingerprint(t)
                    || (!norm.is_empty() && normalised_title(&e.title, &e.targets) == norm)
                    || title_similarity(&bare_title(e), &bare) >= SAME_THREAT_SIMILARITY)
        })
        .map(|e| {
            let shared: String = e
                .stride
                .iter()
                .filter(|s| t.stride.contains(s))
                .map(|s| s.letter())
                .collect();
            format!(
                "same targets and STRIDE {shared} as `{}` (\"{}\" vs \"{}\")",
                e.id, e.title, t.title
            )
        })
}

// ---------------------------------------------------------------------------------------------
// Text.

/// Lowercase alphanumeric runs of a text (all lengths, digits kept): `S3` is a word.
fn text_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A proper-name-shaped stretch of text: `shown` as written, `checked` the part whose words
/// must all be known (a sentence's first word is capitalised by grammar, so it is not checked).
#[derive(Debug, PartialEq, Eq)]
struct ProperName {
    shown: String,
    checked: String,
}

/// Proper-name-shaped stretches: runs of two or more capitalised words, CamelCase words
/// (`ElastiCache`, `gRPC`) and words mixing letters and digits (`S3`, `Log4j`). A text written
/// in Title Case (headline style from other tools) gets only the last two checks.
fn proper_names(text: &str) -> Vec<ProperName> {
    struct Tok<'a> {
        word: &'a str,
        sentence_start: bool,
        /// Punctuation before or after it ends a run of capitalised words.
        breaks_before: bool,
        breaks_after: bool,
    }
    let mut toks = Vec::new();
    let mut sentence_start = true;
    for raw in text.split_whitespace() {
        let lead = raw
            .char_indices()
            .find(|(_, c)| c.is_alphanumeric())
            .map(|(i, _)| i);
        let Some(lead) = lead else {
            sentence_start |= raw.ends_with(['.', '!', '?', ':']);
            continue;
        };
        let end = raw
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_alphanumeric())
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(raw.len());
        let mut word = &raw[lead..end];
        for suffix in ["'s", "’s"] {
            if let Some(w) = word.strip_suffix(suffix) {
                word = w;
            }
        }
        let trail = &raw[end..];
        toks.push(Tok {
            word,
            sentence_start,
            breaks_before: lead > 0,
            breaks_after: !trail.is_empty() && !trail.starts_with(['\'', '’']),
        });
        sentence_start = trail.ends_with(['.', '!', '?', ':']);
    }

    let capitalised = |w: &str| w.chars().next().is_some_and(char::is_uppercase);
    // Headline style: every longer word capitalised (acronyms say nothing about the style).
    let long: Vec<&Tok> = toks
        .iter()
        .filter(|t| t.word.chars().count() > 3 && t.word.chars().any(char::is_lowercase))
        .collect();
    let title_case = long.len() >= 4 && long.iter().all(|t| capitalised(t.word));

    let mut out = Vec::new();
    if !title_case {
        let mut i = 0;
        while i < toks.len() {
            if !capitalised(toks[i].word) {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < toks.len()
                && capitalised(toks[j].word)
                && !toks[j - 1].breaks_after
                && !toks[j].breaks_before
            {
                j += 1;
            }
            if j - i >= 2 {
                let run = &toks[i..j];
                let skip = usize::from(run[0].sentence_start);
                out.push(ProperName {
                    shown: run.iter().map(|t| t.word).collect::<Vec<_>>().join(" "),
                    checked: run[skip..]
                        .iter()
                        .map(|t| t.word)
                        .collect::<Vec<_>>()
                        .join(" "),
                });
            }
            i = j;
        }
    }
    for t in &toks {
        if is_camel_case(t.word) || has_letters_and_digits(t.word) {
            let name = ProperName {
                shown: t.word.to_string(),
                checked: t.word.to_string(),
            };
            if !out.iter().any(|o| o.shown.split(' ').any(|w| w == t.word)) {
                out.push(name);
            }
        }
    }
    out
}

/// A lowercase letter followed by an uppercase one (`ElastiCache`, `gRPC`), or capitals
/// followed by lowercase other than a plural `s` (`OAuth`, but not `APIs`).
fn is_camel_case(w: &str) -> bool {
    let chars: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
    if chars
        .windows(2)
        .any(|p| p[0].is_lowercase() && p[1].is_uppercase())
    {
        return true;
    }
    let caps = chars.iter().take_while(|c| c.is_uppercase()).count();
    let rest: String = chars[caps..].iter().collect();
    caps >= 2 && !rest.is_empty() && rest != "s" && rest.chars().all(char::is_lowercase)
}

/// Letters and digits in one word (`S3`, `EC2`, `Log4j`), but not ordinals (`1st`, `2nd`).
fn has_letters_and_digits(w: &str) -> bool {
    let letters = w.chars().any(char::is_alphabetic);
    let digits = w.chars().any(|c| c.is_ascii_digit());
    if !(letters && digits) {
        return false;
    }
    let lower = w.to_lowercase();
    let ordinal = ["st", "nd", "rd", "th"].iter().any(|s| {
        lower
            .strip_suffix(s)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    });
    !ordinal
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lexicon_parses() {
        let (lex, errors) = parse_lexicon(LEXICON_TEXT);
        assert!(
            errors.is_empty(),
            "data/validity.txt: {}",
            errors.join("\n")
        );
        assert!(lex.web_cwes.iter().any(|w| w.cwe == 79));
        assert!(lex.network_cwes.contains_key(&319));
        assert!(lex.generic_words.contains("tls"));
        for (name, control) in Control::NAMES {
            assert!(
                lex.claims.iter().any(|(c, _)| c == control),
                "no phrases for control `{name}`"
            );
        }
    }

    #[test]
    fn bad_lexicon_lines_are_reported_with_their_line() {
        let (_, errors) = parse_lexicon(
            "[web-only-cwe]\nxss web : x\n79 desktop : y\n[claim nonsense]\nz\n[network-cwe]\n12\n",
        );
        assert_eq!(
            errors,
            vec![
                "line 2: `xss` is not a CWE number".to_string(),
                format!(
                    "line 3: `desktop` is not an interface ({}) or `datastore-client`",
                    crate::facts::INTERFACES.join(", ")
                ),
                "line 4: unknown control `nonsense`".to_string(),
                "line 5: entry outside a section".to_string(),
                "line 7: expected `<cwe> : <name>`, found `12`".to_string(),
            ]
        );
    }

    fn shown(text: &str) -> Vec<String> {
        proper_names(text).into_iter().map(|n| n.shown).collect()
    }

    #[test]
    fn proper_name_shapes() {
        assert_eq!(
            shown(
                "Abuse of the Atlassian Forge app's API gateway via ElastiCache and S3 on the 2nd try"
            ),
            vec!["Atlassian Forge", "ElastiCache", "S3"]
        );
        // A sentence's first word is not part of the checked name.
        let n = proper_names("An Electrum wallet server is reached.");
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].shown, "An Electrum");
        assert_eq!(n[0].checked, "Electrum");
        // Punctuation ends a run; plural acronyms are not CamelCase.
        assert_eq!(
            shown("Storefront (Next.js SSR), its APIs and IDs"),
            vec!["Next.js SSR"]
        );
        // Title Case headlines only get the CamelCase and digit checks.
        assert_eq!(
            shown("Sql Injection In The Login Form Of GitHub"),
            vec!["GitHub"]
        );
    }
}
