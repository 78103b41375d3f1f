//! SARIF 2.1.0, so threats show up where developers already look: GitHub code scanning, Azure
//! DevOps, IDE SARIF viewers. Each threat is a result located at the model-file line that
//! defines the element it is about, so "fix the model" is one click away.
//!
//! Rules are the tmc rules that fired (taken from the threats' provenance, since the library
//! has no rule catalogue); threats from an import, a language model or the knowledge base get a
//! pseudo-rule each so every result has a valid `ruleIndex`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};
use tmc_model::{Draft, Provenance, Severity, SuppressedThreat, SystemModel, TargetRef, Threat};

use crate::{ExportError, ExportOptions, review};

pub const SARIF_VERSION: &str = "2.1.0";
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Key under `partialFingerprints`; versioned so a future change of id scheme can coexist.
pub const FINGERPRINT_KEY: &str = "tmcThreatId/v1";

/// The `uriBaseId` every artifact location is relative to: the repository root, under the
/// name GitHub code scanning and the SARIF SDK use for it.
pub const SRCROOT: &str = "%SRCROOT%";

/// The tool's home page (`tool.driver.informationUri`, which the SARIF validator asks for).
/// The crate's `homepage` or `repository` from Cargo when one is set, else the project's
/// documentation address.
pub const INFORMATION_URI: &str = match option_env!("CARGO_PKG_HOMEPAGE") {
    Some(h) if !h.is_empty() => h,
    _ => match option_env!("CARGO_PKG_REPOSITORY") {
        Some(r) if !r.is_empty() => r,
        _ => "https://github.com/threat-model-copilot/tmc",
    },
};

/// Rule id of results whose threat came from an import.
pub const IMPORT_RULE: &str = "tmc-import";
/// Rule id of results suggested by a language model.
pub const MODEL_RULE: &str = "tmc-model";
/// Rule id of results suggested from the knowledge base.
pub const KB_RULE: &str = "tmc-knowledge-base";
/// Rule id of results a reviewer added by hand.
pub const MANUAL_RULE: &str = "tmc-manual";

/// Writes the SARIF log with no repository root: see [`to_sarif_with`].
///
/// `model_uri` is the model file (a relative path is kept, an absolute one is reduced to its
/// file name). `positions` maps element ids to 1-based (line, column) in that file; targets
/// without a position point at line 1, because a result without a location is dropped by most
/// viewers.
pub fn to_sarif(
    model: &SystemModel,
    draft: &Draft,
    model_uri: &str,
    positions: &BTreeMap<String, (u64, u64)>,
) -> Result<String, ExportError> {
    let options = ExportOptions {
        model_uri: model_uri.to_string(),
        positions: positions.clone(),
        repo_root: None,
    };
    to_sarif_with(model, draft, &options)
}

/// Writes the SARIF log.
///
/// Artifact URIs are relative to [`SRCROOT`] (the repository root, declared in the run's
/// `originalUriBaseIds`): an absolute URI would name a path on the machine that drafted, which
/// code scanning cannot match to a file and the SARIF validator rejects. Threats a review
/// closed (mitigated, accepted, transferred, avoided, not applicable) carry an external
/// suppression with the reviewer's justification, so dashboards show them as dismissed.
pub fn to_sarif_with(
    _model: &SystemModel,
    draft: &Draft,
    options: &ExportOptions,
) -> Result<String, ExportError> {
    let uri = artifact_uri(&options.model_uri, options.repo_root.as_deref());
    let positions = &options.positions;
    let rules = collect_rules(draft);
    let index: BTreeMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut results = Vec::new();
    for t in &draft.threats {
        let rid = rule_id(&t.provenance);
        results.push(result(t, rid, index.get(rid).copied(), &uri, positions));
    }
    for s in &draft.suppressed {
        results.push(suppressed_result(
            s,
            index.get(s.rule_id.as_str()).copied(),
            &uri,
            positions,
        ));
    }
    let version = if draft.generator.version.is_empty() {
        env!("CARGO_PKG_VERSION")
    } else {
        draft.generator.version.as_str()
    };
    let mut properties = json!({
        "product": draft.product.name,
        "rulesetDigest": draft.generator.ruleset_digest,
        "rulesLoaded": draft.generator.rules_loaded,
    });
    if let Some(r) = &draft.review {
        properties["review"] = review_summary(draft, r);
    }
    let mut driver = json!({
        "name": "tmc",
        "fullName": "Threat Model Copilot",
        "informationUri": INFORMATION_URI,
        "version": version,
        "rules": rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
    });
    if is_semver(version) {
        driver["semanticVersion"] = json!(version);
    }
    let log = json!({
        "version": SARIF_VERSION,
        "$schema": SARIF_SCHEMA,
        "runs": [{
            "tool": { "driver": driver },
            "automationDetails": { "id": format!("tmc/{}/", draft.generator.mode) },
            "originalUriBaseIds": { SRCROOT: src_root(options.repo_root.as_deref()) },
            "properties": properties,
            "results": results,
        }]
    });
    Ok(serde_json::to_string_pretty(&log)?)
}

/// The model file's URI relative to the repository root, percent-encoded, `/`-separated.
///
/// An absolute path inside `repo_root` loses the root; an absolute path outside it (or with no
/// root) becomes its bare file name, never an absolute path. A relative path is taken as
/// relative to the root already; one that climbs out of it (`../x.yaml`) also becomes its file
/// name. The comparison is lexical (`.` and `..` resolved, no file-system access).
pub fn artifact_uri(model_uri: &str, repo_root: Option<&Path>) -> String {
    let path = Path::new(model_uri);
    let file_name = || {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "model.yaml".to_string())
    };
    let relative: Option<Vec<String>> = if path.has_root() {
        repo_root.and_then(|root| {
            let (p, r) = (normalise(path)?, normalise(root)?);
            let rest = p.strip_prefix(&r).ok()?;
            segments(rest)
        })
    } else {
        normalise(path).and_then(|p| segments(&p))
    };
    let segs = match relative {
        Some(s) if !s.is_empty() => s,
        _ => vec![file_name()],
    };
    segs.iter()
        .map(|s| percent_encode(s))
        .collect::<Vec<_>>()
        .join("/")
}

/// Resolves `.` and `..` lexically; `None` when `..` climbs above the start of a relative path
/// (it would leave the root) or the path has a Windows prefix we cannot reason about.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for c in path.components() {
        match c {
            Component::Prefix(_) => return None,
            Component::RootDir => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    if path.has_root() {
                        continue; // `/..` is `/`
                    }
                    return None;
                }
                out.pop();
                depth -= 1;
            }
            Component::Normal(n) => {
                out.push(n);
                depth += 1;
            }
        }
    }
    Some(out)
}

/// The named segments of a normalised path (the root itself has none); `None` if a `..` or a
/// drive prefix is left.
fn segments(path: &Path) -> Option<Vec<String>> {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// RFC 3986 percent-encoding of one path segment: unreserved characters and the sub-delims
/// that are safe in a path stay, everything else (space, `%`, `#`, `?`, non-ASCII) is encoded.
fn percent_encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `originalUriBaseIds` entry for [`SRCROOT`]: the root as an absolute `file:` URI ending
/// in `/` when it is known and absolute, else a description only (consumers such as code
/// scanning supply the checkout themselves).
fn src_root(repo_root: Option<&Path>) -> Value {
    let description = json!({ "text": "The root of the repository that holds the model file." });
    let Some(root) = repo_root
        .filter(|r| r.has_root())
        .and_then(normalise)
        .and_then(|r| segments(&r))
    else {
        return json!({ "description": description });
    };
    let mut uri = "file:///".to_string();
    for s in &root {
        uri.push_str(&percent_encode(s));
        uri.push('/');
    }
    json!({ "uri": uri, "description": description })
}

/// `MAJOR.MINOR.PATCH` with an optional pre-release or build suffix: what SARIF's
/// `semanticVersion` must hold.
fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// The run-level review record: which decisions file applied, status counts, orphans.
fn review_summary(draft: &Draft, r: &tmc_model::ReviewSummary) -> Value {
    let c = review::counts(draft);
    let mut by_status = Map::new();
    for (st, n) in &c.by_status {
        by_status.insert(st.as_str().to_string(), json!(n));
    }
    let mut v = json!({
        "threatsByStatus": by_status,
        "mitigations": c.mitigations,
        "mitigationsDone": c.mitigations_done,
        "orphanedDecisions": r.orphaned.iter().map(|o| json!({
            "key": o.key,
            "status": o.status.as_str(),
            "reason": o.reason,
        })).collect::<Vec<_>>(),
    });
    for (k, val) in [
        ("file", &r.file),
        ("modelHash", &r.model_hash),
        ("reviewedModelHash", &r.reviewed_model_hash),
    ] {
        if let Some(x) = val {
            v[k] = json!(x);
        }
    }
    v
}

/// The SARIF `level` for a severity: what code scanning uses to decide what blocks a merge.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` (0.0–10.0): the band matches our level (critical ≥ 9.0, high
/// ≥ 7.0, medium ≥ 4.0, low ≥ 0.1) and the likelihood × impact score (1–25) places it inside
/// the band, so sorting by it agrees with both our level and our score.
pub fn security_severity(level: Severity, score: u8) -> f64 {
    let (lo, hi) = match level {
        Severity::Critical => (9.0, 10.0),
        Severity::High => (7.0, 8.9),
        Severity::Medium => (4.0, 6.9),
        Severity::Low => (0.1, 3.9),
        Severity::Info => (0.0, 0.0),
    };
    let frac = f64::from(score.clamp(1, 25) - 1) / 24.0;
    ((lo + (hi - lo) * frac) * 10.0).round() / 10.0
}

fn rule_id(p: &Provenance) -> &str {
    match p {
        Provenance::Rule { rule_id, .. } => rule_id,
        Provenance::Import { .. } => IMPORT_RULE,
        Provenance::Model { .. } => MODEL_RULE,
        Provenance::KnowledgeBase { .. } => KB_RULE,
        Provenance::Manual { .. } => MANUAL_RULE,
    }
}

struct Rule {
    id: String,
    /// PascalCase, distinct from the id and from every other rule's name (SARIF1001 wants
    /// `name` to differ from `id`; viewers show it as the rule's readable identifier).
    name: String,
    short: String,
    full: String,
    help: Vec<String>,
    tags: Vec<String>,
    severity: Option<f64>,
    level: &'static str,
}

impl Rule {
    fn to_json(&self) -> Value {
        let help_text = if self.help.is_empty() {
            "No mitigation recorded; see the threat description.".to_string()
        } else {
            self.help
                .iter()
                .map(|m| format!("- {m}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut props = json!({ "tags": self.tags });
        if let Some(s) = self.severity {
            props["security-severity"] = json!(format!("{s:.1}"));
        }
        let help_markdown = if self.help.is_empty() {
            help_text.clone()
        } else {
            self.help
                .iter()
                .map(|m| format!("- {}", markdown_text(m)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        json!({
            "id": self.id,
            "name": self.name,
            "shortDescription": { "text": sentence(&self.short) },
            "fullDescription": { "text": sentence(&self.full) },
            "help": {
                "text": format!("Mitigations:\n{help_text}"),
                "markdown": format!("**Mitigations**\n\n{help_markdown}"),
            },
            "defaultConfiguration": { "level": self.level },
            "properties": props,
        })
    }
}

/// One descriptor per distinct rule id, in first-seen order (threats, then suppressed ones).
fn collect_rules(draft: &Draft) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for t in &draft.threats {
        let id = rule_id(&t.provenance);
        let sev = security_severity(t.severity.level, t.severity.score);
        if let Some(r) = rules.iter_mut().find(|r| r.id == id) {
            // Aggregate over every threat of the rule: tags and mitigations union, the highest
            // severity, since a rule's descriptor speaks for all its results.
            for tag in tags(t) {
                if !r.tags.contains(&tag) {
                    r.tags.push(tag);
                }
            }
            for m in &t.mitigations {
                if !r.help.contains(&m.text) {
                    r.help.push(m.text.clone());
                }
            }
            if r.severity.is_none_or(|s| s < sev) {
                r.severity = Some(sev);
                r.level = level(t.severity.level);
            }
            continue;
        }
        let (short, full) = match &t.provenance {
            Provenance::Rule { .. } => (generic_title(t), t.description.clone()),
            Provenance::Import { .. } => (
                "Threat imported from another threat-modelling tool".to_string(),
                "A threat carried over from an imported threat model; each result has its own description.".to_string(),
            ),
            Provenance::Model { .. } => (
                "Threat suggested by a language model".to_string(),
                "A threat a language model suggested for this system; each result has its own description. Review before acting.".to_string(),
            ),
            Provenance::KnowledgeBase { .. } => (
                "Threat suggested from past reviewed threat models".to_string(),
                "A threat suggested because similar systems had it; each result has its own description.".to_string(),
            ),
            Provenance::Manual { .. } => (
                "Threat added by a reviewer".to_string(),
                "A threat a reviewer added by hand; each result has its own description.".to_string(),
            ),
        };
        rules.push(Rule {
            id: id.to_string(),
            name: String::new(),
            short,
            full,
            help: t.mitigations.iter().map(|m| m.text.clone()).collect(),
            tags: tags(t),
            severity: Some(sev),
            level: level(t.severity.level),
        });
    }
    for s in &draft.suppressed {
        if rules.iter().any(|r| r.id == s.rule_id) {
            continue;
        }
        let short = s
            .targets
            .first()
            .map_or(s.title.clone(), |tg| strip_target(&s.title, tg));
        rules.push(Rule {
            id: s.rule_id.clone(),
            name: String::new(),
            short: short.clone(),
            full: short,
            help: Vec::new(),
            tags: vec!["security".to_string()],
            severity: None,
            level: "note",
        });
    }
    let mut used: Vec<String> = Vec::new();
    for r in &mut rules {
        let base = match r.id.as_str() {
            IMPORT_RULE => "ImportedThreat".to_string(),
            MODEL_RULE => "ModelSuggestedThreat".to_string(),
            KB_RULE => "KnowledgeBaseThreat".to_string(),
            MANUAL_RULE => "ManuallyAddedThreat".to_string(),
            _ => pascal_case(&r.short),
        };
        let mut name = if base == r.id {
            format!("{base}Threat")
        } else {
            base
        };
        let mut k = 2;
        while used.contains(&name) {
            name = format!("{}{k}", name.trim_end_matches(|c: char| c.is_ascii_digit()));
            k += 1;
        }
        used.push(name.clone());
        r.name = name;
    }
    rules
}

/// `PascalCase` of a title, in the form the SARIF validator checks (SARIF2012: words of one
/// upper-case letter followed by lower-case letters or digits): "Cross-site scripting, IDOR"
/// → `CrossSiteScriptingIdor`. A one-letter word is dropped ("A", "X" cannot form such a
/// word), a word starting with a digit joins the word before it (`Rule` if none), and a title
/// with no ASCII word at all gives `Threat`.
pub fn pascal_case(title: &str) -> String {
    let mut out = String::new();
    for word in title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let lower = word.to_ascii_lowercase();
        if lower.starts_with(|c: char| c.is_ascii_digit()) {
            if out.is_empty() {
                out.push_str("Rule");
            }
            out.push_str(&lower);
            continue;
        }
        if lower.len() < 2 {
            continue;
        }
        let mut chars = lower.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() {
        return "Threat".to_string();
    }
    out
}

/// Text as a SARIF plain-text message wants it: trimmed, ending in a full stop (SARIF2001), so
/// viewers that join messages do not run sentences together.
fn sentence(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "No description.".to_string();
    }
    if t.ends_with(['.', '!', '?']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

/// Model text inside Markdown help: HTML and link syntax must not render, since the text
/// comes from a model file anyone with repository access can edit.
fn markdown_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// The title without the target's name ("IDOR in Back office" → "IDOR"), so one rule's
/// short description fits all its results.
fn generic_title(t: &Threat) -> String {
    match t.targets.first() {
        Some(tg) => strip_target(&t.title, tg),
        None => t.title.clone(),
    }
}

fn strip_target(title: &str, target: &TargetRef) -> String {
    let Some(head) = title.strip_suffix(target.name.as_str()) else {
        return title.to_string();
    };
    let head = head.trim_end();
    for prep in [
        " in", " on", " of", " to", " for", " via", " from", " at", " by", ":", " -",
    ] {
        if let Some(h) = head.strip_suffix(prep) {
            let h = h.trim_end();
            if !h.is_empty() {
                return h.to_string();
            }
        }
    }
    title.to_string()
}

/// Code-scanning tags: "security" (GitHub files results with it under security), STRIDE
/// names, and catalogue ids in the spelling those catalogues use.
fn tags(t: &Threat) -> Vec<String> {
    let r = &t.references;
    let mut out = vec!["security".to_string()];
    out.extend(t.stride.iter().map(|s| s.name().to_string()));
    out.extend(r.cwe.iter().map(|n| format!("CWE-{n}")));
    out.extend(r.capec.iter().map(|n| format!("CAPEC-{n}")));
    out.extend(r.owasp_top10_2021.iter().map(|a| format!("OWASP-{a}:2021")));
    out.extend(r.owasp_top10_2025.iter().map(|a| format!("OWASP-{a}:2025")));
    out.extend(r.owasp_api_2023.iter().map(|a| format!("OWASP-{a}:2023")));
    out.extend(r.owasp_llm_2025.iter().map(|a| format!("OWASP-{a}:2025")));
    let mut seen = Vec::new();
    out.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(x.clone());
            true
        }
    });
    out
}

fn locations(
    targets: &[TargetRef],
    uri: &str,
    positions: &BTreeMap<String, (u64, u64)>,
) -> Vec<Value> {
    let mut out: Vec<Value> = targets
        .iter()
        .map(|tg| {
            let (line, col) = positions.get(&tg.id).copied().unwrap_or((1, 1));
            json!({
                "physicalLocation": {
                    "artifactLocation": { "uri": uri, "uriBaseId": SRCROOT },
                    "region": { "startLine": line.max(1), "startColumn": col.max(1) },
                },
                "logicalLocations": [{
                    "name": tg.name,
                    "fullyQualifiedName": format!("{}:{}", crate::text::target_kind(tg.kind), tg.id),
                    "kind": "element",
                }],
            })
        })
        .collect();
    if out.is_empty() {
        out.push(json!({
            "physicalLocation": {
                "artifactLocation": { "uri": uri, "uriBaseId": SRCROOT },
                "region": { "startLine": 1, "startColumn": 1 },
            }
        }));
    }
    out
}

/// Title and description as one message that ends in a full stop (SARIF2001).
fn message(title: &str, description: &str) -> String {
    let title = title.trim();
    let description = description.trim();
    if description.is_empty() || description == title {
        return sentence(title);
    }
    let sep = if title.ends_with(['.', '!', '?', ':']) {
        " "
    } else {
        ". "
    };
    sentence(&format!("{title}{sep}{description}"))
}

fn result(
    t: &Threat,
    rule_id: &str,
    rule_index: Option<usize>,
    uri: &str,
    positions: &BTreeMap<String, (u64, u64)>,
) -> Value {
    let mut r = json!({
        "ruleId": rule_id,
        "level": level(t.severity.level),
        "message": { "text": message(&t.title, &t.description) },
        "locations": locations(&t.targets, uri, positions),
        "partialFingerprints": { FINGERPRINT_KEY: t.id },
        "properties": {
            "threatId": t.id,
            "title": t.title,
            "stride": t.stride.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "severity": t.severity.level.as_str(),
            "likelihood": t.severity.likelihood,
            "impact": t.severity.impact,
            "score": t.severity.score,
            "status": crate::text::threat_status(t.status),
            "source": crate::text::provenance(&t.provenance),
            "security-severity": format!("{:.1}", security_severity(t.severity.level, t.severity.score)),
        },
    });
    if !t.mitigations.is_empty() {
        r["properties"]["mitigations"] = t
            .mitigations
            .iter()
            .map(|m| {
                let mut v = json!({ "id": m.id, "text": m.text, "status": m.status.as_str() });
                for (k, val) in [("owner", &m.owner), ("ticket", &m.ticket), ("due", &m.due)] {
                    if let Some(x) = val {
                        v[k] = json!(x);
                    }
                }
                v
            })
            .collect();
    }
    if let Some(rv) = &t.review {
        let mut v = json!({
            "key": rv.key,
            "matchedBy": match rv.matched_by {
                tmc_model::DecisionMatch::Id => "id",
                tmc_model::DecisionMatch::Wildcard => "wildcard",
                tmc_model::DecisionMatch::Fingerprint => "fingerprint",
                tmc_model::DecisionMatch::Similar => "similar",
            },
            "needsConfirmation": rv.needs_confirmation,
        });
        for (k, val) in [
            ("justification", &rv.justification),
            ("expires", &rv.expires),
            ("reviewer", &rv.reviewer),
            ("reviewedAt", &rv.reviewed_at),
            ("draftedTitle", &rv.drafted_title),
        ] {
            if let Some(x) = val {
                v[k] = json!(x);
            }
        }
        if !rv.tickets.is_empty() {
            v["tickets"] = json!(rv.tickets);
        }
        if let Some(o) = &rv.severity_override {
            v["severityOverride"] = json!({
                "drafted": o.drafted.as_str(),
                "reviewed": t.severity.level.as_str(),
                "reason": o.reason,
            });
        }
        r["properties"]["review"] = v;
    }
    if let Some(why) = review::closed_because(t) {
        // "external": the decision lives outside the analysed file (the review), and
        // "accepted": the suppression is in force, so code scanning lists it as dismissed.
        r["suppressions"] = json!([{
            "kind": "external",
            "status": "accepted",
            "justification": why,
        }]);
    }
    if let Some(i) = rule_index {
        r["ruleIndex"] = json!(i);
    }
    r
}

/// A threat a declared control removed: reported with an in-source suppression (the control is
/// declared in the model file), so dashboards show it as closed with the reason.
fn suppressed_result(
    s: &SuppressedThreat,
    rule_index: Option<usize>,
    uri: &str,
    positions: &BTreeMap<String, (u64, u64)>,
) -> Value {
    let mut r = json!({
        "ruleId": s.rule_id,
        "level": "note",
        "message": { "text": message(&s.title, &format!("Suppressed: {}", s.reason)) },
        "locations": locations(&s.targets, uri, positions),
        "partialFingerprints": { FINGERPRINT_KEY: s.id },
        "suppressions": [{ "kind": "inSource", "status": "accepted", "justification": s.reason }],
    });
    if let Some(i) = rule_index {
        r["ruleIndex"] = json!(i);
    }
    r
}
