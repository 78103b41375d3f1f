//! SARIF 2.1.0, so threats show up where developers already look: GitHub code scanning, Azure
//! DevOps, IDE SARIF viewers. Each threat is a result located at the model-file line that
//! defines the element it is about, so "fix the model" is one click away.
//!
//! Rules are the tmc rules that fired (taken from the threats' provenance, since the library
//! has no rule catalogue); threats from an import, a language model or the knowledge base get a
//! pseudo-rule each so every result has a valid `ruleIndex`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tmc_model::{Draft, Provenance, Severity, SuppressedThreat, SystemModel, TargetRef, Threat};

use crate::ExportError;

pub const SARIF_VERSION: &str = "2.1.0";
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Key under `partialFingerprints`; versioned so a future change of id scheme can coexist.
pub const FINGERPRINT_KEY: &str = "tmcThreatId/v1";

/// Rule id of results whose threat came from an import.
pub const IMPORT_RULE: &str = "tmc-import";
/// Rule id of results suggested by a language model.
pub const MODEL_RULE: &str = "tmc-model";
/// Rule id of results suggested from the knowledge base.
pub const KB_RULE: &str = "tmc-knowledge-base";

/// Writes the SARIF log.
///
/// `model_uri` is the model file as consumers should resolve it (repository-relative for code
/// scanning). `positions` maps element ids to 1-based (line, column) in that file; targets
/// without a position point at line 1, because a result without a location is dropped by most
/// viewers.
pub fn to_sarif(
    _model: &SystemModel,
    draft: &Draft,
    model_uri: &str,
    positions: &BTreeMap<String, (u64, u64)>,
) -> Result<String, ExportError> {
    let rules = collect_rules(draft);
    let index: BTreeMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut results = Vec::new();
    for t in &draft.threats {
        let rid = rule_id(&t.provenance);
        results.push(result(
            t,
            rid,
            index.get(rid).copied(),
            model_uri,
            positions,
        ));
    }
    for s in &draft.suppressed {
        results.push(suppressed_result(
            s,
            index.get(s.rule_id.as_str()).copied(),
            model_uri,
            positions,
        ));
    }
    let version = if draft.generator.version.is_empty() {
        env!("CARGO_PKG_VERSION")
    } else {
        draft.generator.version.as_str()
    };
    let log = json!({
        "version": SARIF_VERSION,
        "$schema": SARIF_SCHEMA,
        "runs": [{
            "tool": {
                "driver": {
                    "name": "tmc",
                    "fullName": "Threat Model Copilot",
                    "version": version,
                    "semanticVersion": version,
                    "rules": rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
                }
            },
            "automationDetails": { "id": format!("tmc/{}/", draft.generator.mode) },
            "properties": {
                "product": draft.product.name,
                "rulesetDigest": draft.generator.ruleset_digest,
                "rulesLoaded": draft.generator.rules_loaded,
            },
            "results": results,
        }]
    });
    Ok(serde_json::to_string_pretty(&log)?)
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
    }
}

struct Rule {
    id: String,
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
        json!({
            "id": self.id,
            "name": self.id,
            "shortDescription": { "text": self.short },
            "fullDescription": { "text": self.full },
            "help": { "text": format!("Mitigations:\n{help_text}"), "markdown": format!("**Mitigations**\n\n{help_text}") },
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
        };
        rules.push(Rule {
            id: id.to_string(),
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
            short: short.clone(),
            full: short,
            help: Vec::new(),
            tags: vec!["security".to_string()],
            severity: None,
            level: "note",
        });
    }
    rules
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
                    "artifactLocation": { "uri": uri },
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
                "artifactLocation": { "uri": uri },
                "region": { "startLine": 1, "startColumn": 1 },
            }
        }));
    }
    out
}

fn message(title: &str, description: &str) -> String {
    let title = title.trim();
    let description = description.trim();
    if description.is_empty() || description == title {
        return title.to_string();
    }
    let sep = if title.ends_with(['.', '!', '?', ':']) {
        " "
    } else {
        ". "
    };
    format!("{title}{sep}{description}")
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
        "suppressions": [{ "kind": "inSource", "justification": s.reason }],
    });
    if let Some(i) = rule_index {
        r["ruleIndex"] = json!(i);
    }
    r
}
