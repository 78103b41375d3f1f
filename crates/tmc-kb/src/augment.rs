//! Drafting with the knowledge base (`tmc draft --kb`, eval mode `rules+kb`).
//!
//! **Adapt, never transplant.** A past threat was written for another system: its text names
//! that system's products, components and data. Copied onto our elements it was judged invalid
//! nine times out of ten, so a past threat is never added as a threat of its own. Instead, per
//! in-scope component and per flow, past accepted threats for an element of the same
//! technology *and* role (element kind) are retrieved, and each one that names the same threat
//! as a threat the rules raised there (a shared STRIDE category applicable to the element, and a
//! shared CWE or a similar title once the elements' own names are taken out) becomes
//! **evidence** on that threat: a severity factor "similar threat accepted in past review …"
//! with its source, and its mitigations merged only when they name nothing outside this model
//! ([`Vocabulary::foreign_names`]). A past threat that matches nothing is left out.
//!
//! **Reviews teach the next draft.** A reviewed model ingested into the knowledge base (`tmc kb
//! ingest X.yaml` with `X.review.yaml` beside it) keeps each threat's decision in its chunk: the
//! status, the rule, the justification and any severity override. The next draft of a similar
//! system (an element of the same technology and kind) then gets, on its rule threats:
//!
//! - **evidence**: a threat confirmed (open, mitigated, accepted, transferred, avoided) or
//!   edited in a past review is the factor "accepted in past review" (delta 0) naming that
//!   review and its source;
//! - **a past rejection**: a not-applicable decision lowers the likelihood of the same rule's
//!   threat (or a similar one) by one, once, with a factor naming the past review and quoting
//!   its reason;
//! - **past severity overrides**: when reviewers overrode the severity of the same rule on the
//!   same technology, the factor "severity set in past reviews" says "past reviews set <rule>
//!   on <technology> to <level> (n of m reviews)". It moves the level one step toward the
//!   reviewers' level only when a majority of at least two reviews agree (a single review is
//!   one person's call about one system; a split vote is no lesson); otherwise it shows the
//!   vote with delta 0, so the reviewer still sees it.
//!
//! In the same product nothing of this is needed: the decisions file follows its threats by id
//! and fingerprint. Mitigations without ASVS references get the requirements mapped to the
//! threat's CWEs.

use std::collections::BTreeSet;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tmc_model::identity::{
    SIMILAR_TITLE_JACCARD, normalised_title, title_similarity, word_jaccard,
};
use tmc_model::{
    Component, Draft, ElementKind, FactorAxis, Flow, Mitigation, MitigationStatus, Provenance,
    Severity, SeverityFactor, Stride, SystemModel, TargetKind, TargetRef, Threat,
};

use crate::chunk::EDITED_STATUS;
use crate::error::KbError;
use crate::index::Filter;
use crate::search::{Hit, KnowledgeBase, SearchMode, SearchOptions};

#[derive(Debug, Clone, PartialEq)]
pub struct AugmentOptions {
    /// Most past threats used as evidence per element, so retrieval cannot flood a draft.
    pub per_element: usize,
    /// Candidates retrieved per element before filtering.
    pub candidates: usize,
    /// Review statuses that count as "accepted in a past review".
    pub statuses: Vec<String>,
    /// Sources never used (leave-one-system-out evaluation).
    pub exclude_sources: Vec<String>,
    /// Add ASVS requirement ids to mitigations.
    pub asvs: bool,
    /// Most ASVS requirements added per mitigation.
    pub asvs_per_mitigation: usize,
    /// Review statuses that count as "rejected in a past review": a rule threat matching one
    /// on a similar element gets its likelihood lowered by one, with the reason shown.
    pub rejected_statuses: Vec<String>,
}

impl Default for AugmentOptions {
    fn default() -> Self {
        AugmentOptions {
            per_element: 3,
            candidates: 12,
            // Every status a reviewer gives a real threat: confirmed (open), treated, or
            // consciously carried.
            statuses: CONFIRMED_STATUSES.map(String::from).to_vec(),
            exclude_sources: Vec::new(),
            asvs: true,
            asvs_per_mitigation: 2,
            rejected_statuses: vec!["rejected".into(), "not-applicable".into()],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AugmentReport {
    /// New threats added from the knowledge base: always 0, past threats are evidence only
    /// (see the module docs); kept so callers that print it keep working.
    pub threats_added: usize,
    /// Rule threats that got a "similar threat accepted in past review" factor.
    pub threats_corroborated: usize,
    /// Past mitigations merged into corroborated threats.
    pub mitigations_merged: usize,
    /// Past mitigations left out because they name something that is not in this model.
    pub mitigations_refused: usize,
    /// Retrieved past threats that matched no threat on their element and were left out.
    pub past_threats_unmatched: usize,
    /// Rule threats whose likelihood a past rejection lowered.
    pub threats_lowered: usize,
    /// Rule threats whose level past severity overrides moved one step (a majority of ≥ 2
    /// reviews agreed).
    pub severity_moved: usize,
    /// Rule threats that show past severity overrides with delta 0 (one review, no majority,
    /// or already at the reviewers' level).
    pub severity_noted: usize,
    pub mitigations_enriched: usize,
    pub mode: Option<String>,
}

fn short_hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every status a reviewer gives a real threat (confirmed, treated, or consciously carried),
/// plus [`EDITED_STATUS`]: a threat whose title or severity a reviewer changed was judged real
/// enough to be worth editing.
pub const CONFIRMED_STATUSES: [&str; 6] = [
    "open",
    "accepted",
    "mitigated",
    "transferred",
    "avoided",
    EDITED_STATUS,
];

/// The rule that raised a threat, if a rule did.
fn rule_of(t: &Threat) -> Option<&str> {
    match &t.provenance {
        Provenance::Rule { rule_id, .. } => Some(rule_id),
        _ => None,
    }
}

/// What to search for to find past threats of the same kind as `t`: its rule id (in every
/// reviewed rule threat's text) and its title without the element's names.
fn threat_query(t: &Threat) -> String {
    let title = normalised_title(&t.title, &t.targets);
    match rule_of(t) {
        Some(rule) => format!("{rule} {title}"),
        None => title,
    }
}

/// Indexes of the rule threats that target `el`.
fn rule_threats_on(draft: &Draft, el: &Element) -> Vec<usize> {
    draft
        .threats
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            matches!(t.provenance, Provenance::Rule { .. })
                && t.targets.iter().any(|x| x.id == el.target.id)
        })
        .map(|(i, _)| i)
        .collect()
}

/// An element of the model as the knowledge base queries it.
pub(crate) struct Element {
    pub(crate) target: TargetRef,
    pub(crate) kind: Option<ElementKind>,
    pub(crate) technology: Option<String>,
    pub(crate) query: String,
}

/// Technology names that say nothing about what an element is: two `other` elements of two
/// systems have nothing in common, so their past threats are never matched across them.
const UNSPECIFIC_TECHNOLOGIES: &[&str] = &["other"];

impl Element {
    /// The element kinds a past threat's `element` tag may carry to be about an element in
    /// the same role as this one. Reviewed drafts only know "component" (their coverage rows
    /// carry the technology, not the kind), so that tag counts for every component kind.
    fn roles(&self) -> &'static [&'static str] {
        match self.kind {
            Some(ElementKind::Process) => &["process", "component"],
            Some(ElementKind::DataStore) => &["data-store", "component"],
            Some(ElementKind::ExternalEntity) => &["external-entity", "component"],
            None => &["flow"],
        }
    }
}

/// Past-review threats with one of `statuses`, for elements of `el`'s technology and role
/// (element kind), minus the excluded sources. `None` when the element's technology is
/// missing or unspecific (`other`): a past threat is only evidence for an element like the one
/// it was written for.
pub(crate) fn past_threats(
    el: &Element,
    statuses: &[&str],
    exclude_sources: &[String],
) -> Option<Filter> {
    let tech = el.technology.as_deref()?;
    if UNSPECIFIC_TECHNOLOGIES.contains(&tech) {
        return None;
    }
    Some(
        Filter {
            exclude_sources: exclude_sources.to_vec(),
            ..Filter::default()
        }
        .with("kind", &["threat"])
        .with("status", statuses)
        .with("tech", &[tech])
        .with("element", el.roles()),
    )
}

/// In-scope components, then flows: what retrieval runs over.
pub(crate) fn elements(model: &SystemModel) -> Vec<Element> {
    let mut out: Vec<Element> = model
        .components
        .iter()
        .filter(|c| c.in_scope)
        .map(component_element)
        .collect();
    out.extend(model.flows.iter().map(|f| flow_element(f, model)));
    out
}

fn component_element(c: &Component) -> Element {
    Element {
        target: TargetRef {
            kind: TargetKind::Component,
            id: c.id.clone(),
            name: c.name.clone(),
        },
        kind: Some(c.kind),
        technology: Some(c.technology.as_str().to_string()),
        query: format!(
            "{} {} {} {}",
            c.name,
            c.technology.as_str().replace('-', " "),
            c.kind.as_str().replace('-', " "),
            c.description.as_deref().unwrap_or("")
        ),
    }
}

fn flow_element(f: &Flow, model: &SystemModel) -> Element {
    let name = |id: &str| {
        model
            .component(id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    Element {
        target: TargetRef {
            kind: TargetKind::Flow,
            id: f.id.clone(),
            name: f.display_name(),
        },
        kind: None,
        technology: model
            .component(&f.to)
            .map(|c| c.technology.as_str().to_string()),
        query: format!(
            "{} data flow {} {} {} {}",
            f.display_name(),
            name(&f.from),
            name(&f.to),
            f.protocol.map(|p| p.as_str()).unwrap_or(""),
            f.description.as_deref().unwrap_or("")
        ),
    }
}

/// Attaches past accepted threats as evidence to the rule threats they corroborate, lowers
/// rule threats that past reviews rejected, and adds ASVS references. Never adds a threat.
/// See the module docs.
pub fn augment_draft(
    kb: &KnowledgeBase,
    model: &SystemModel,
    draft: &mut Draft,
    opts: &AugmentOptions,
) -> Result<AugmentReport, KbError> {
    let mut report = AugmentReport::default();
    let statuses: Vec<&str> = opts.statuses.iter().map(String::as_str).collect();
    let vocabulary = Vocabulary::of(model);
    let elements = elements(model);
    for el in &elements {
        let Some(filter) = past_threats(el, &statuses, &opts.exclude_sources) else {
            continue;
        };
        // One query per rule threat on the element, by what the threat is (its title without
        // the element's name): retrieval by the element alone finds what was said about
        // elements with similar names, not about this threat.
        let on_element = rule_threats_on(draft, el);
        let mut seen: BTreeSet<i64> = BTreeSet::new();
        let mut matched: BTreeSet<i64> = BTreeSet::new();
        let mut used = 0;
        for i in on_element {
            if used >= opts.per_element {
                break;
            }
            let t = &draft.threats[i];
            let query = normalised_title(&t.title, &t.targets);
            if query.is_empty() {
                continue;
            }
            let search_text = threat_query(t);
            let search = SearchOptions {
                k: opts.candidates,
                filter: filter.clone(),
                mode: None,
            };
            let result = kb.search(&search_text, &search)?;
            report.mode = Some(result.mode.as_str().to_string());
            seen.extend(result.hits.iter().map(|h| h.chunk.id));
            // Most similar first (what a reviewer would call the same threat), then by rank.
            let mut best: Vec<(f64, &Hit)> = result
                .hits
                .iter()
                .filter(|h| {
                    let stride = applicable_stride(el, h);
                    (!stride.is_empty() || h.chunk.meta.stride.is_empty())
                        && same_threat_as_past(t, h, &stride)
                })
                .map(|h| (title_similarity(&query, &past_title(h)), h))
                .collect();
            best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.rank.cmp(&b.1.rank)));
            let best: Vec<&Hit> = best
                .into_iter()
                .take(MAX_EVIDENCE_SOURCES)
                .map(|(_, h)| h)
                .collect();
            if best.is_empty() {
                continue;
            }
            used += 1;
            let t = &mut draft.threats[i];
            let mut corroborated = false;
            for hit in best {
                matched.insert(hit.chunk.id);
                corroborated |= add_evidence(t, hit);
                let (merged, refused) = merge_mitigations(t, hit, &vocabulary);
                report.mitigations_merged += merged;
                report.mitigations_refused += refused;
            }
            if corroborated {
                report.threats_corroborated += 1;
            }
        }
        report.past_threats_unmatched += seen.difference(&matched).count();
    }
    report.threats_lowered = lower_rejected(kb, &elements, draft, opts)?;
    let (moved, noted) = past_severity(kb, &elements, draft, opts)?;
    report.severity_moved = moved;
    report.severity_noted = noted;
    if opts.asvs {
        report.mitigations_enriched = enrich_asvs(kb, draft, opts)?;
    }
    Ok(report)
}

/// Name of the severity factor that records past acceptances of the same threat.
pub const ACCEPTED_FACTOR: &str = "accepted in past review";

/// Most past sources named in one threat's evidence factor.
const MAX_EVIDENCE_SOURCES: usize = 3;

/// Most past mitigations merged into one threat.
const MAX_MERGED_MITIGATIONS: usize = 2;

/// The past threat's STRIDE letters that apply to the element (STRIDE per element).
fn applicable_stride(el: &Element, hit: &Hit) -> Vec<Stride> {
    let allowed = Stride::per_element(el.kind);
    hit.chunk
        .meta
        .stride
        .iter()
        .filter_map(|s| Stride::parse(s))
        .filter(|s| allowed.contains(s))
        .collect()
}

/// A past threat's title without its elements' names: "what", not "where".
fn past_title(hit: &Hit) -> String {
    let names: Vec<TargetRef> = hit
        .chunk
        .meta
        .elements
        .iter()
        .map(|n| TargetRef::component(String::new(), n.clone()))
        .collect();
    normalised_title(&hit.chunk.title, &names)
}

/// Whether a threat of this draft and a past threat name the same threat: a shared STRIDE
/// category (the past one's, restricted to the element's applicable categories) and a shared
/// CWE or similar titles once both elements' names are taken out. A past threat without
/// STRIDE letters needs a shared CWE. `past_stride` is [`applicable_stride`].
fn same_threat_as_past(t: &Threat, hit: &Hit, past_stride: &[Stride]) -> bool {
    let m = &hit.chunk.meta;
    // The same rule on an element of the same technology and kind raised the same threat.
    if rule_of(t).is_some() && m.rule.as_deref() == rule_of(t) {
        return true;
    }
    let shared_cwe = t.references.cwe.iter().any(|c| m.cwe.contains(c));
    if m.stride.is_empty() {
        return shared_cwe;
    }
    if !t.stride.iter().any(|s| past_stride.contains(s)) {
        return false;
    }
    let ours = normalised_title(&t.title, &t.targets);
    shared_cwe || word_jaccard(&ours, &past_title(hit)) >= SIMILAR_TITLE_JACCARD
}

/// Adds (or extends) the evidence factor; false when this source was already recorded.
fn add_evidence(t: &mut Threat, hit: &Hit) -> bool {
    let c = &hit.chunk;
    let source_id = format!("{}#{}", c.source_name, c.key);
    let system = c.meta.system.as_deref().unwrap_or(&c.source_name);
    let status = past_status(&c.meta);
    let note = format!("similar threat {status} in past review {system} ({source_id})");
    let factors = &mut t.severity.factors;
    match factors.iter_mut().find(|f| f.name == ACCEPTED_FACTOR) {
        Some(f) if f.value.contains(&source_id) => false,
        Some(f) if f.value.matches("; ").count() + 1 >= MAX_EVIDENCE_SOURCES => false,
        Some(f) => {
            f.value = format!("{}; {note}", f.value);
            true
        }
        None => {
            // Evidence, not weight: a past acceptance says the threat is real for elements
            // like this one, which the rule's base likelihood already assumes.
            factors.push(SeverityFactor {
                applies_to: FactorAxis::Likelihood,
                name: ACCEPTED_FACTOR.into(),
                value: note,
                delta: 0,
            });
            true
        }
    }
}

/// A past threat's decision in words: its status, "edited" for a reworded or re-rated threat
/// nobody gave a status, or both.
fn past_status(m: &crate::chunk::ChunkMeta) -> String {
    let status = m.status.as_deref().unwrap_or("accepted");
    match (status, m.edited) {
        ("draft", true) => EDITED_STATUS.to_string(),
        (s, true) => format!("{s} ({EDITED_STATUS})"),
        (s, false) => s.to_string(),
    }
}

/// Merges the past threat's mitigations that name nothing outside this model and say
/// something the threat's mitigations do not; returns (merged, refused for foreign names).
fn merge_mitigations(t: &mut Threat, hit: &Hit, vocabulary: &Vocabulary) -> (usize, usize) {
    let (mut merged, mut refused) = (0, 0);
    let already = t
        .mitigations
        .iter()
        .filter(|m| m.id.starts_with("M-KB-"))
        .count();
    let past_names = past_names(hit);
    for text in &hit.chunk.meta.mitigations {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if !vocabulary.foreign_names(text, &past_names).is_empty() {
            refused += 1;
            continue;
        }
        let id = format!("M-KB-{}", short_hash(text));
        let known = t
            .mitigations
            .iter()
            .any(|m| m.id == id || word_jaccard(&m.text, text) >= SIMILAR_TITLE_JACCARD);
        if known || already + merged >= MAX_MERGED_MITIGATIONS {
            continue;
        }
        t.mitigations.push(Mitigation {
            id,
            text: text.to_string(),
            asvs: Vec::new(),
            status: MitigationStatus::Proposed,
            owner: None,
            ticket: None,
            due: None,
        });
        merged += 1;
    }
    (merged, refused)
}

/// The names a past threat's own system used: its product and its elements.
fn past_names(hit: &Hit) -> Vec<String> {
    let m = &hit.chunk.meta;
    m.system.iter().chain(&m.elements).cloned().collect()
}

/// Generic technical terms that name no product: acronyms and protocol or standard names a
/// text may use about any system. Compared case-insensitively.
const GENERIC_TERMS: &[&str] = &[
    "abac", "acl", "acls", "aes", "ai", "api", "apis", "asvs", "capec", "ca", "cd", "cdn", "ci",
    "cis", "cli", "cors", "cpu", "csp", "csrf", "cve", "cwe", "ddos", "dns", "dos", "dss", "edr",
    "fido", "ftp", "gdpr", "gpu", "graphql", "grpc", "hmac", "hsm", "hsts", "html", "http",
    "https", "iam", "id", "ids", "ip", "ips", "iso", "json", "jwt", "jwts", "kms", "ldap", "llm",
    "llms", "mfa", "ml", "mqtt", "mtls", "nist", "oauth", "oauth2", "oidc", "os", "otp", "owasp",
    "pci", "pii", "pki", "rag", "ram", "rbac", "rest", "rsa", "saml", "sbom", "sdk", "sftp", "sha",
    "siem", "slsa", "smtp", "soc", "sql", "ssh", "sso", "ssl", "stride", "tcp", "tls", "totp",
    "ttl", "udp", "ui", "uri", "url", "urls", "vm", "vpn", "waf", "webauthn", "xml", "xss", "yaml",
    "amqp", "csv", "pdf", "usb", "uart", "jtag", "ota", "tpm", "vlan",
];

/// The words of one model: every name, id, description, technology, protocol and tag in it.
/// A text may use a proper name only if this model uses it too.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    words: BTreeSet<String>,
}

impl Vocabulary {
    pub fn of(model: &SystemModel) -> Vocabulary {
        let mut texts: Vec<&str> = vec![&model.product.name];
        texts.extend(model.product.description.as_deref());
        texts.extend(model.product.notes.as_deref());
        let p = &model.product;
        texts.extend(
            p.tags
                .iter()
                .chain(&p.assumptions)
                .chain(&p.out_of_scope)
                .map(String::as_str),
        );
        for c in &model.components {
            texts.extend([c.id.as_str(), c.name.as_str(), c.technology.as_str()]);
            texts.extend(c.description.as_deref());
            texts.extend(c.tags.iter().map(String::as_str));
        }
        for f in &model.flows {
            texts.push(&f.id);
            texts.extend(f.name.as_deref());
            texts.extend(f.description.as_deref());
            texts.extend(f.protocol.map(|p| p.as_str()));
        }
        for d in &model.data {
            texts.extend([d.id.as_str(), d.name.as_str()]);
            texts.extend(d.description.as_deref());
        }
        for b in &model.trust_boundaries {
            texts.extend([b.id.as_str(), b.name.as_str()]);
        }
        let words = texts.iter().flat_map(|t| name_words(t)).collect();
        Vocabulary { words }
    }

    fn knows(&self, word: &str) -> bool {
        let w = word.to_lowercase();
        self.words.contains(&w) || GENERIC_TERMS.contains(&w.as_str())
    }

    /// Names in `text` that this model does not have: any of `other_names` (the past system's
    /// product and element names) that the text mentions and this model does not use, and any
    /// proper name — a capitalised word inside a sentence, a CamelCase or letters-and-digits
    /// word like `ElectrumX` or `S3` — that is neither in the model nor a generic technical
    /// term. Conservative on purpose: a refused mitigation costs a reviewer nothing, a foreign
    /// product name in a draft costs its credibility.
    pub fn foreign_names(&self, text: &str, other_names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let lower = text.to_lowercase();
        for name in other_names {
            let words = name_words(name);
            if !words.is_empty()
                && lower.contains(&name.to_lowercase())
                && words.iter().any(|w| !self.knows(w))
            {
                out.push(name.clone());
            }
        }
        for sentence in text.split(['.', '!', '?', ':', ';', '\n', '(', ')', '"']) {
            let mut first = true;
            for token in sentence.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')) {
                let token = token.trim_matches(['-', '_']);
                if token.is_empty() || !token.chars().any(char::is_alphabetic) {
                    continue;
                }
                let sentence_start = std::mem::replace(&mut first, false);
                if !looks_like_a_name(token, sentence_start) {
                    continue;
                }
                let unknown = token
                    .split(['-', '_'])
                    .filter(|p| !p.is_empty())
                    .any(|p| !self.knows(p));
                if unknown && !out.iter().any(|o| o == token) {
                    out.push(token.to_string());
                }
            }
        }
        out
    }
}

/// Lowercase alphanumeric runs of a name (`Time-series DB` → `time`, `series`, `db`).
fn name_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A proper name rather than an ordinary word: capitals after the first letter (`CloudFront`,
/// `API`), letters mixed with digits (`S3`, `EC2`), or a capitalised word that does not start
/// its sentence (`the Forge app`).
fn looks_like_a_name(token: &str, sentence_start: bool) -> bool {
    let mut chars = token.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let inner_upper = chars.clone().any(char::is_uppercase);
    let letters_and_digits =
        token.chars().any(char::is_alphabetic) && token.chars().any(|c| c.is_ascii_digit());
    inner_upper || letters_and_digits || (first.is_uppercase() && !sentence_start)
}

/// Lowers the likelihood of rule threats that reviewers rejected for similar elements (same
/// technology and kind, and the same rule, a similar title or a shared CWE with a shared STRIDE
/// category): a rule that keeps raising what people keep rejecting deserves less weight there.
/// The threat stays in the draft — a reviewer still decides — but its severity says why it went
/// down (the past review, its source and the reviewer's reason), and it is lowered once however
/// many rejections match.
fn lower_rejected(
    kb: &KnowledgeBase,
    elements: &[Element],
    draft: &mut Draft,
    opts: &AugmentOptions,
) -> Result<usize, KbError> {
    if opts.rejected_statuses.is_empty() {
        return Ok(0);
    }
    let statuses: Vec<&str> = opts.rejected_statuses.iter().map(String::as_str).collect();
    let mut lowered = 0;
    for el in elements {
        let Some(filter) = past_threats(el, &statuses, &opts.exclude_sources) else {
            continue;
        };
        for i in rule_threats_on(draft, el) {
            let t = &draft.threats[i];
            if t.severity.factors.iter().any(|f| f.name == REJECTED_FACTOR)
                || t.severity.likelihood <= 1
            {
                continue;
            }
            let search = SearchOptions {
                k: opts.candidates,
                filter: filter.clone(),
                mode: None,
            };
            let hits = kb.search(&threat_query(t), &search)?.hits;
            // A rejection of the same rule first, then the best-ranked similar one.
            let same_rule =
                |h: &&Hit| rule_of(t).is_some() && h.chunk.meta.rule.as_deref() == rule_of(t);
            let Some(hit) = hits
                .iter()
                .find(same_rule)
                .or_else(|| hits.iter().find(|h| rejection_matches(t, el, h)))
            else {
                continue;
            };
            let value = rejection_note(t, hit);
            let s = &mut draft.threats[i].severity;
            s.likelihood -= 1;
            s.score = s.likelihood * s.impact;
            s.level = Severity::for_score(s.score);
            s.factors.push(SeverityFactor {
                applies_to: FactorAxis::Likelihood,
                name: REJECTED_FACTOR.into(),
                value,
                delta: -1,
            });
            lowered += 1;
        }
    }
    Ok(lowered)
}

/// `TMC-API-002 not-applicable in past review "Shop" (source#key): "reason"`. The past threat
/// is named by its rule, or by its title without its elements' names, never by the other
/// system's element names; the reason is the reviewer's, quoted.
fn rejection_note(t: &Threat, hit: &Hit) -> String {
    let c = &hit.chunk;
    let what = match c.meta.rule.as_deref() {
        Some(rule) if Some(rule) == rule_of(t) => rule.to_string(),
        _ => format!("\"{}\"", past_title(hit)),
    };
    let reason = match c.meta.justification.as_deref() {
        Some(j) => format!(": \"{j}\""),
        None => " (no reason recorded)".to_string(),
    };
    format!(
        "{what} {} in past review \"{}\" ({}#{}){reason}",
        c.meta.status.as_deref().unwrap_or("rejected"),
        c.meta.system.as_deref().unwrap_or(&c.source_name),
        c.source_name,
        c.key
    )
}

/// Name of the severity factor a past rejection adds.
pub const REJECTED_FACTOR: &str = "rejected in past review";

/// A past rejection is about this rule threat: similar titles once the elements' names are
/// taken out, or a shared CWE with a shared STRIDE category that applies to the element.
fn rejection_matches(t: &Threat, el: &Element, hit: &Hit) -> bool {
    let ours = normalised_title(&t.title, &t.targets);
    if word_jaccard(&ours, &past_title(hit)) >= SIMILAR_TITLE_JACCARD {
        return true;
    }
    let stride = applicable_stride(el, hit);
    let shared_cwe = t
        .references
        .cwe
        .iter()
        .any(|c| hit.chunk.meta.cwe.contains(c));
    shared_cwe && t.stride.iter().any(|s| stride.contains(s))
}

/// Name of the severity factor that past severity overrides add.
pub const PAST_SEVERITY_FACTOR: &str = "severity set in past reviews";

/// Statuses of past threats whose review may have judged the severity: every reviewed status
/// but not-applicable (a rejection says nothing about how bad the threat is), plus edited
/// threats that got no status.
const SEVERITY_JUDGED: [&str; 7] = [
    "open",
    "accepted",
    "mitigated",
    "transferred",
    "avoided",
    "not-applicable",
    EDITED_STATUS,
];

/// Most past threats read per rule threat when counting the reviews of its rule.
const MAX_PAST_REVIEWS: usize = 50;

/// Most past reviews quoted in one severity factor.
const MAX_QUOTED_REVIEWS: usize = 3;

/// What one past review (one source) said about a rule's severity on a technology.
struct Vote {
    /// The level the reviewer set, or `None` when the drafted level was kept.
    level: Option<Severity>,
    /// `"System" (source#key) because "reason"`.
    quote: String,
}

/// One vote per past review (source) of the rule on the element's technology: the level its
/// reviewers set (the most common one if they set several; ties to the lower level), or "kept"
/// when they confirmed the threat without changing its severity. Rejections do not vote.
fn votes(hits: &[Hit], rule: &str, tech: &str) -> Vec<Vote> {
    let mut by_source: std::collections::BTreeMap<&str, Vec<&Hit>> = Default::default();
    for h in hits {
        let m = &h.chunk.meta;
        if m.rule.as_deref() != Some(rule) || !m.technologies.iter().any(|t| t == tech) {
            continue;
        }
        by_source
            .entry(h.chunk.source.as_str())
            .or_default()
            .push(h);
    }
    let mut out = Vec::new();
    for hits in by_source.values() {
        let mut levels: Vec<(Severity, &Hit)> = hits
            .iter()
            .filter(|h| h.chunk.meta.drafted_severity.is_some())
            .filter_map(|h| Some((Severity::parse(h.chunk.meta.severity.as_deref()?)?, *h)))
            .collect();
        let confirmed = hits
            .iter()
            .any(|h| CONFIRMED_STATUSES.contains(&h.chunk.meta.status.as_deref().unwrap_or("")));
        let Some(first) = hits.first() else { continue };
        if levels.is_empty() {
            if confirmed {
                out.push(Vote {
                    level: None,
                    quote: review_name(first),
                });
            }
            continue;
        }
        levels.sort_by_key(|(l, _)| *l);
        let count = |l: Severity| levels.iter().filter(|(x, _)| *x == l).count();
        let Some(&(level, hit)) = levels.iter().max_by(|a, b| {
            // Most common; on a tie the lower level (max_by keeps the last maximum, so the
            // comparison reverses the level).
            count(a.0).cmp(&count(b.0)).then(b.0.cmp(&a.0))
        }) else {
            continue;
        };
        let reason = hit.chunk.meta.severity_reason.as_deref().unwrap_or("");
        out.push(Vote {
            level: Some(level),
            quote: format!("{} because \"{reason}\"", review_name(hit)),
        });
    }
    out
}

/// `"System" (source#key)`: which past review, and where to read it.
fn review_name(hit: &Hit) -> String {
    let c = &hit.chunk;
    format!(
        "\"{}\" ({}#{})",
        c.meta.system.as_deref().unwrap_or(&c.source_name),
        c.source_name,
        c.key
    )
}

/// The level one step from `from` toward `to` (`from` itself when they are equal).
fn one_step(from: Severity, to: Severity) -> Severity {
    const LEVELS: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    let i = LEVELS.iter().position(|l| *l == from).unwrap_or(0);
    let j = match to.cmp(&from) {
        std::cmp::Ordering::Greater => (i + 1).min(LEVELS.len() - 1),
        std::cmp::Ordering::Less => i.saturating_sub(1),
        std::cmp::Ordering::Equal => i,
    };
    LEVELS[j]
}

/// The smallest change of likelihood or impact (impact on a tie: an override says how bad the
/// outcome is more often than how likely), each kept within 1–5, that puts the score in the
/// band of `next`; `None` when neither can.
fn delta_for(s: &tmc_model::SeverityAssessment, next: Severity) -> Option<(FactorAxis, i32)> {
    let up = next > s.level;
    let mut best: Option<(FactorAxis, i32)> = None;
    for axis in [FactorAxis::Impact, FactorAxis::Likelihood] {
        let (moving, other) = match axis {
            FactorAxis::Impact => (i32::from(s.impact), i32::from(s.likelihood)),
            FactorAxis::Likelihood => (i32::from(s.likelihood), i32::from(s.impact)),
        };
        for d in 1..=4 {
            let d = if up { d } else { -d };
            let v = moving + d;
            if !(1..=5).contains(&v) {
                break;
            }
            let level = Severity::for_score(u8::try_from(v * other).unwrap_or(0));
            if level == next {
                if best.is_none_or(|(_, b)| d.abs() < b.abs()) {
                    best = Some((axis, d));
                }
                break;
            }
            if (up && level > next) || (!up && level < next) {
                break;
            }
        }
    }
    best
}

/// Adds the "severity set in past reviews" factor to rule threats whose rule past reviewers
/// overrode on an element of the same technology and kind, and moves the level one step toward
/// theirs when a majority of at least two reviews agree; see the module docs. Returns (moved,
/// shown with delta 0). Applied once per threat.
fn past_severity(
    kb: &KnowledgeBase,
    elements: &[Element],
    draft: &mut Draft,
    opts: &AugmentOptions,
) -> Result<(usize, usize), KbError> {
    let (mut moved, mut noted) = (0, 0);
    for el in elements {
        let Some(filter) = past_threats(el, &SEVERITY_JUDGED, &opts.exclude_sources) else {
            continue;
        };
        let Some(tech) = el.technology.as_deref() else {
            continue;
        };
        for i in rule_threats_on(draft, el) {
            let t = &draft.threats[i];
            let Some(rule) = rule_of(t) else { continue };
            if t.severity
                .factors
                .iter()
                .any(|f| f.name == PAST_SEVERITY_FACTOR)
            {
                continue;
            }
            let search = SearchOptions {
                k: MAX_PAST_REVIEWS,
                filter: filter.clone().with("rule", &[rule]),
                mode: None,
            };
            let hits = kb.search(&threat_query(t), &search)?.hits;
            let votes = votes(&hits, rule, tech);
            let overrides: Vec<Severity> = votes.iter().filter_map(|v| v.level).collect();
            // The most common level the reviewers set; on a tie the lower one.
            let Some(level) = overrides.iter().copied().max_by_key(|l| {
                (
                    overrides.iter().filter(|x| *x == l).count(),
                    std::cmp::Reverse(*l),
                )
            }) else {
                continue;
            };
            let n = overrides.iter().filter(|l| **l == level).count();
            let m = votes.len();
            let quotes: Vec<&str> = votes
                .iter()
                .filter(|v| v.level == Some(level))
                .take(MAX_QUOTED_REVIEWS)
                .map(|v| v.quote.as_str())
                .collect();
            let mut value = format!(
                "past reviews set {rule} on {tech} to {} ({n} of {m} reviews): {}",
                level.as_str(),
                quotes.join("; ")
            );
            let s = &draft.threats[i].severity;
            let step = one_step(s.level, level);
            let change = if n < 2 {
                value.push_str("; one review is not a pattern, level kept");
                None
            } else if 2 * n <= m {
                value.push_str("; no majority, level kept");
                None
            } else if step == s.level {
                value.push_str(&format!("; already {}", level.as_str()));
                None
            } else {
                let change = delta_for(s, step);
                if change.is_none() {
                    value.push_str("; likelihood and impact at their limits, level kept");
                }
                change
            };
            let s = &mut draft.threats[i].severity;
            let (axis, delta) = match change {
                Some((axis, d)) => {
                    match axis {
                        FactorAxis::Impact => {
                            s.impact = (i32::from(s.impact) + d).clamp(1, 5) as u8
                        }
                        FactorAxis::Likelihood => {
                            s.likelihood = (i32::from(s.likelihood) + d).clamp(1, 5) as u8
                        }
                    }
                    s.score = s.likelihood * s.impact;
                    s.level = Severity::for_score(s.score);
                    moved += 1;
                    (axis, d)
                }
                None => {
                    noted += 1;
                    (FactorAxis::Impact, 0)
                }
            };
            s.factors.push(SeverityFactor {
                applies_to: axis,
                name: PAST_SEVERITY_FACTOR.into(),
                value,
                delta,
            });
        }
    }
    Ok((moved, noted))
}

/// Gives mitigations with no ASVS ids the requirements that ASVS maps to the threat's CWEs,
/// ranked by BM25 against the mitigation text. Threats without CWEs are left alone: a purely
/// textual guess would be noise in a reviewer's checklist.
fn enrich_asvs(
    kb: &KnowledgeBase,
    draft: &mut Draft,
    opts: &AugmentOptions,
) -> Result<usize, KbError> {
    let mut enriched = 0;
    for t in &mut draft.threats {
        if t.references.cwe.is_empty() {
            continue;
        }
        let cwes: Vec<String> = t.references.cwe.iter().map(u32::to_string).collect();
        let cwe_refs: Vec<&str> = cwes.iter().map(String::as_str).collect();
        for m in &mut t.mitigations {
            if !m.asvs.is_empty() {
                continue;
            }
            let search = SearchOptions {
                k: opts.asvs_per_mitigation,
                filter: Filter::default()
                    .with("kind", &["asvs"])
                    .with("cwe", &cwe_refs),
                mode: Some(SearchMode::Lexical),
            };
            let hits = kb.search(&format!("{} {}", t.title, m.text), &search)?.hits;
            let ids: Vec<String> = hits
                .iter()
                .flat_map(|h| h.chunk.meta.asvs.iter().cloned())
                .collect();
            if !ids.is_empty() {
                m.asvs = ids;
                enriched += 1;
            }
        }
    }
    Ok(enriched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vocabulary {
        let yaml = r#"
version: 1
product: { name: Smart thermostat, description: Thermostats report to a cloud backend. }
components:
  - { id: api, name: Device API, kind: process, technology: api-service }
  - { id: db, name: Telemetry store, kind: data-store, technology: database }
flows:
  - { id: f1, from: api, to: db, protocol: sql }
"#;
        let model = tmc_dsl::load_checked(yaml.as_bytes(), "t.yaml")
            .map(|(m, _)| m.model)
            .unwrap_or_else(|e| panic!("{e:?}"));
        Vocabulary::of(&model)
    }

    #[test]
    fn foreign_products_are_found_and_this_models_names_are_not() {
        let v = vocabulary();
        let past = vec!["DevArmor-Forge App Integration".to_string()];
        let found = v.foreign_names(
            "Validate every Forge event against the Atlassian Forge schema.",
            &past,
        );
        assert!(found.contains(&"Forge".to_string()), "{found:?}");
        assert!(found.contains(&"Atlassian".to_string()), "{found:?}");
        let found = v.foreign_names("Pin the certificate of the ElectrumX server.", &[]);
        assert_eq!(found, vec!["ElectrumX".to_string()]);
        assert_eq!(
            v.foreign_names("Store objects in S3 with versioning.", &[]),
            vec!["S3".to_string()]
        );
        // Names of this model, generic terms and sentence-initial words are fine.
        assert!(
            v.foreign_names(
                "Require mTLS between the Device API and the Telemetry store. Rotate TLS keys.",
                &[]
            )
            .is_empty()
        );
        assert!(
            v.foreign_names("Validate input against a strict JSON schema.", &past)
                .is_empty()
        );
    }

    #[test]
    fn past_element_names_mentioned_in_a_text_are_foreign() {
        let v = vocabulary();
        let past = vec!["wallet server".to_string(), "Device API".to_string()];
        let found = v.foreign_names("rate-limit the wallet server and the device api", &past);
        assert_eq!(found, vec!["wallet server".to_string()]);
    }

    #[test]
    fn names_are_capitals_inside_words_digits_or_capitals_mid_sentence() {
        assert!(looks_like_a_name("CloudFront", true));
        assert!(looks_like_a_name("EC2", true));
        assert!(looks_like_a_name("Forge", false));
        assert!(!looks_like_a_name("Validate", true));
        assert!(!looks_like_a_name("schema", false));
    }
}
