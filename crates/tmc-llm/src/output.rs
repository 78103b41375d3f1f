//! The model's answer: a JSON object with a `threats` list. It is parsed into typed serde
//! structs and then checked against the model (element ids), the CWE catalogue, the baseline and
//! the retrieved sources. The checks produce plain-language errors that go back to the model in
//! the repair round, so they are written for the model as much as for the reviewer.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use tmc_model::{Severity, Stride};

/// Upper bounds that keep a runaway answer from flooding the draft.
pub const MAX_THREATS_PER_ANSWER: usize = 60;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
pub const MAX_MITIGATIONS: usize = 8;

/// The answer as the model writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub threats: Vec<RawThreat>,
}

/// One threat as the model writes it; loosely typed where models vary (stride as a string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawThreat {
    pub target: String,
    pub stride: String,
    pub title: String,
    pub description: String,
    pub severity: String,
    #[serde(default)]
    pub cwe: Vec<serde_json::Value>,
    #[serde(default)]
    pub owasp: Vec<String>,
    #[serde(default)]
    pub mitigations: Vec<String>,
    /// Id of a baseline threat this one improves.
    #[serde(default)]
    pub refines: Option<String>,
    /// Ids of retrieved chunks the threat relies on.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A threat that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedThreat {
    pub target: String,
    pub stride: Stride,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub cwe: Vec<u32>,
    pub owasp: Vec<String>,
    pub mitigations: Vec<String>,
    pub refines: Option<String>,
    pub sources: Vec<String>,
}

/// What the checks may compare against.
#[derive(Debug, Clone, Default)]
pub struct CheckContext<'a> {
    /// Element ids the model may target (the chunk's scope).
    pub element_ids: BTreeSet<String>,
    /// Known CWE ids; `None` skips the CWE check (no catalogue loaded).
    pub cwe_ids: Option<&'a HashSet<u32>>,
    pub baseline_ids: BTreeSet<String>,
    /// Citable retrieved passages: the id the prompt showed (`K1`, or a full source id) →
    /// the full source id kept in provenance (`prompt::citation_map`).
    pub sources: BTreeMap<String, String>,
    /// Sentences of the system prompt; an answer quoting one is leaking it.
    pub secret_phrases: Vec<String>,
}

/// Result of checking one answer.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub threats: Vec<CheckedThreat>,
    /// Problems, phrased for the repair prompt.
    pub errors: Vec<String>,
    /// True when the answer as a whole could not be read (no JSON, wrong shape).
    pub structural: bool,
}

/// JSON Schema of the answer, given to the model in the prompt and, where the API supports it,
/// as `response_format`. Every property is required and nullable where optional, which is what
/// OpenAI's strict mode demands. No length or count limits: strict mode rejects them and
/// llama.cpp turns them into a grammar so large that its server crashed on it; the limits are
/// enforced by [`check_answer`] instead.
pub fn answer_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["threats"],
        "properties": {
            "threats": {
                "type": "array",
                                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["target", "stride", "title", "description", "severity", "cwe", "owasp", "mitigations", "refines", "sources"],
                    "properties": {
                        "target": {"type": "string", "description": "an id from ELEMENT IDS"},
                        "stride": {"type": "string", "enum": ["S", "T", "R", "I", "D", "E"]},
                        "title": {"type": "string"},
                        "description": {"type": "string"},
                        "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
                        "cwe": {"type": "array", "items": {"type": "integer"}},
                        "owasp": {"type": "array", "items": {"type": "string"}},
                        "mitigations": {"type": "array", "items": {"type": "string"}},
                        "refines": {"type": ["string", "null"], "description": "id of the baseline threat this improves, or null"},
                        "sources": {"type": "array", "items": {"type": "string"}, "description": "ids of retrieved knowledge used"}
                    }
                }
            }
        }
    })
}

/// Finds the JSON object in an answer: the whole text, else the outermost braces, else the
/// inside of a Markdown fence, else the outermost braces inside the fence. The first candidate
/// that parses wins, so a fence quoted inside a JSON string does not cut the object.
/// Returns `None` when there is no object at all.
pub fn extract_json(text: &str) -> Option<&str> {
    let t = text.trim();
    let braces = |s: &'_ str| -> Option<(usize, usize)> {
        let start = s.find('{')?;
        let end = s.rfind('}')?;
        (end > start).then_some((start, end))
    };
    let mut candidates: Vec<&str> = Vec::new();
    if t.starts_with('{') {
        candidates.push(t);
    }
    if let Some((a, b)) = braces(t) {
        candidates.push(&t[a..=b]);
    }
    if let Some(start) = t.find("```") {
        let after = &t[start + 3..];
        let after = after
            .strip_prefix("json")
            .or_else(|| after.strip_prefix("JSON"))
            .unwrap_or(after);
        let inner = match after.find("```") {
            Some(end) => &after[..end],
            None => after,
        };
        if let Some((a, b)) = braces(inner) {
            candidates.push(&inner[a..=b]);
        }
    }
    candidates
        .iter()
        .find(|c| serde_json::from_str::<serde_json::Value>(c).is_ok())
        .or(candidates.first())
        .copied()
}

fn parse_cwe(v: &serde_json::Value) -> Option<u32> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => {
            let s = s.trim();
            let digits = s
                .strip_prefix("CWE-")
                .or_else(|| s.strip_prefix("cwe-"))
                .unwrap_or(s);
            digits.parse().ok()
        }
        _ => None,
    }
}

fn owasp_ok(code: &str) -> bool {
    let num = |s: &str, max: u32| s.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n));
    if let Some(rest) = code.strip_prefix("LLM") {
        return rest.len() == 2 && num(rest, 10);
    }
    if let Some(rest) = code.strip_prefix("API") {
        return num(rest, 10);
    }
    if let Some(rest) = code.strip_prefix('A') {
        let rest = rest.split(':').next().unwrap_or(rest);
        return rest.len() == 2 && num(rest, 10);
    }
    false
}

/// Removes markup so HTML or script in an answer is inert text in every report format.
pub fn clean_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for ch in text.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag && (!c.is_control() || c == '\n') => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits the system prompt into phrases worth watching for: runs of eight words.
pub fn secret_phrases(system_prompt: &str) -> Vec<String> {
    let words: Vec<String> = system_prompt
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .collect();
    let mut out: Vec<String> = words.windows(8).map(|w| w.join(" ")).collect();
    out.sort();
    out.dedup();
    out
}

pub(crate) fn leaks(text: &str, phrases: &[String]) -> bool {
    if phrases.is_empty() {
        return false;
    }
    let norm = text
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>();
    norm.windows(8).any(|w| {
        let s = w.join(" ");
        phrases.binary_search(&s).is_ok()
    })
}

/// The full source id a cited id stands for: exact, then without brackets, quotes or
/// backticks around it, then upper-cased (`k1` for `K1`).
fn resolve_source<'m>(cited: &str, sources: &'m BTreeMap<String, String>) -> Option<&'m String> {
    let t = cited.trim();
    let bare = t.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | '`' | '"' | '\''));
    sources
        .get(t)
        .or_else(|| sources.get(bare))
        .or_else(|| sources.get(&bare.to_ascii_uppercase()))
}

/// Parses and checks one answer.
pub fn check_answer(text: &str, ctx: &CheckContext<'_>) -> Checked {
    let mut out = Checked::default();
    if text.trim().is_empty() {
        out.structural = true;
        out.errors
            .push("the answer was empty; answer with a JSON object {\"threats\": [...]}".into());
        return out;
    }
    let Some(json) = extract_json(text) else {
        out.structural = true;
        out.errors.push(
            "the answer contains no JSON object; answer with a JSON object {\"threats\": [...]} only"
                .into(),
        );
        return out;
    };
    let value: serde_json::Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => {
            out.structural = true;
            out.errors.push(format!(
                "the answer is not valid JSON ({e}); it may be cut off: keep the answer shorter"
            ));
            return out;
        }
    };
    let Some(list) = value.get("threats").and_then(|t| t.as_array()) else {
        out.structural = true;
        out.errors
            .push("the JSON object has no `threats` array at the top level".into());
        return out;
    };
    if list.len() > MAX_THREATS_PER_ANSWER {
        out.errors.push(format!(
            "{} threats given; at most {MAX_THREATS_PER_ANSWER} are read",
            list.len()
        ));
    }
    for (i, item) in list.iter().take(MAX_THREATS_PER_ANSWER).enumerate() {
        let n = i + 1;
        let raw: RawThreat = match serde_json::from_value(item.clone()) {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(format!("threat {n}: wrong shape ({e})"));
                continue;
            }
        };
        match check_threat(&raw, ctx) {
            Ok(t) => out.threats.push(t),
            Err(errs) => out
                .errors
                .extend(errs.into_iter().map(|e| format!("threat {n}: {e}"))),
        }
    }
    out
}

fn check_threat(raw: &RawThreat, ctx: &CheckContext<'_>) -> Result<CheckedThreat, Vec<String>> {
    let mut errs = Vec::new();
    let target = raw.target.trim().to_string();
    if !ctx.element_ids.contains(&target) {
        errs.push(format!(
            "target `{}` is not an element id of this model; use one of the ELEMENT IDS",
            clean_text(&target).chars().take(60).collect::<String>()
        ));
    }
    let stride = Stride::parse(&raw.stride);
    if stride.is_none() {
        errs.push(format!(
            "stride `{}` is not one of S, T, R, I, D, E",
            raw.stride
        ));
    }
    let severity = Severity::parse(&raw.severity);
    if severity.is_none() {
        errs.push(format!(
            "severity `{}` is not low, medium, high or critical",
            raw.severity
        ));
    }
    let title = clean_text(&raw.title);
    let description = clean_text(&raw.description);
    if title.is_empty() {
        errs.push("the title is empty".into());
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        errs.push(format!(
            "the title is longer than {MAX_TITLE_CHARS} characters"
        ));
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        errs.push(format!(
            "the description is longer than {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
    let mut cwe = Vec::new();
    for v in &raw.cwe {
        match parse_cwe(v) {
            Some(id) if ctx.cwe_ids.is_none_or(|set| set.contains(&id)) => cwe.push(id),
            Some(id) => errs.push(format!(
                "CWE-{id} is not in the CWE catalogue; give only real CWE ids or none"
            )),
            None => errs.push(format!("cwe entry {v} is not a CWE number")),
        }
    }
    cwe.sort_unstable();
    cwe.dedup();
    let mut owasp = Vec::new();
    for code in &raw.owasp {
        let c = code.trim().to_ascii_uppercase();
        let c = c.split([':', ' ']).next().unwrap_or_default().to_string();
        if owasp_ok(&c) {
            owasp.push(c);
        } else {
            errs.push(format!(
                "OWASP code `{}` is not like A01..A10, API1..API10 or LLM01..LLM10",
                clean_text(code).chars().take(40).collect::<String>()
            ));
        }
    }
    if raw.mitigations.len() > MAX_MITIGATIONS {
        errs.push(format!("more than {MAX_MITIGATIONS} mitigations"));
    }
    let mitigations: Vec<String> = raw
        .mitigations
        .iter()
        .map(|m| clean_text(m))
        .filter(|m| !m.is_empty())
        .take(MAX_MITIGATIONS)
        .collect();
    let refines = raw
        .refines
        .as_ref()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty() && r != "null");
    if let Some(r) = &refines
        && !ctx.baseline_ids.contains(r)
    {
        errs.push(format!(
            "refines `{}` is not a baseline threat id; use null for a new threat",
            clean_text(r).chars().take(80).collect::<String>()
        ));
    }
    let mut sources: Vec<String> = Vec::new();
    for s in &raw.sources {
        match resolve_source(s, &ctx.sources) {
            Some(full) => {
                if !sources.contains(full) {
                    sources.push(full.clone());
                }
            }
            None => errs.push(format!(
                "source `{}` is not a retrieved knowledge id; cite the ids of the retrieved passages (K1, K2, ...)",
                clean_text(s).chars().take(60).collect::<String>()
            )),
        }
    }
    let all_text = format!("{title} {description} {}", mitigations.join(" "));
    if leaks(&all_text, &ctx.secret_phrases) {
        errs.push("the threat quotes the instructions; describe threats only".into());
    }
    match (stride, severity, errs.is_empty()) {
        (Some(stride), Some(severity), true) => Ok(CheckedThreat {
            target,
            stride,
            title,
            description,
            severity,
            cwe,
            owasp,
            mitigations,
            refines,
            sources,
        }),
        _ => Err(errs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(cwes: &HashSet<u32>) -> CheckContext<'_> {
        CheckContext {
            element_ids: ["api", "db"].iter().map(|s| s.to_string()).collect(),
            cwe_ids: Some(cwes),
            baseline_ids: ["R1@api".to_string()].into_iter().collect(),
            sources: [("kb:1".to_string(), "kb:1".to_string())]
                .into_iter()
                .collect(),
            secret_phrases: secret_phrases(
                "You are a senior application-security engineer helping a team draft a STRIDE threat model.",
            ),
        }
    }

    const GOOD: &str = r#"{"threats":[{"target":"api","stride":"T","title":"SQL injection","description":"x","severity":"high","cwe":[89,"CWE-20"],"owasp":["A03"],"mitigations":["parameterise"],"refines":null,"sources":["kb:1"]}]}"#;

    #[test]
    fn fenced_and_prose_answers_parse() {
        let cwes: HashSet<u32> = [89, 20].into_iter().collect();
        for text in [
            GOOD.to_string(),
            format!("```json\n{GOOD}\n```"),
            format!("Here you go:\n{GOOD}\nHope it helps"),
        ] {
            let c = check_answer(&text, &ctx(&cwes));
            assert_eq!(c.threats.len(), 1, "{:?}", c.errors);
            assert!(c.errors.is_empty());
            assert_eq!(c.threats[0].cwe, vec![20, 89]);
        }
    }

    #[test]
    fn bad_answers_never_panic_and_explain() {
        let cwes: HashSet<u32> = [89].into_iter().collect();
        let cases = [
            "",
            "   ",
            "I cannot help",
            "{",
            "{\"threats\": [",
            &GOOD[..GOOD.len() / 2],
            "```json\n",
            "}{",
            "[1,2,3]",
            "{\"threats\": 5}",
            "{\"threats\": [null, 1, \"x\"]}",
            "\u{0}\u{1}\u{2}",
        ];
        for text in cases {
            let c = check_answer(text, &ctx(&cwes));
            assert!(c.threats.is_empty(), "{text}");
            assert!(!c.errors.is_empty(), "{text}");
        }
    }

    #[test]
    fn rejects_unknown_ids_invented_cwes_and_leaks() {
        let cwes: HashSet<u32> = [89].into_iter().collect();
        let text = r#"{"threats":[
          {"target":"ghost","stride":"S","title":"a","description":"b","severity":"low","cwe":[],"owasp":[],"mitigations":[],"refines":null,"sources":[]},
          {"target":"api","stride":"S","title":"a","description":"b","severity":"low","cwe":[99999],"owasp":[],"mitigations":[],"refines":null,"sources":[]},
          {"target":"api","stride":"Q","title":"a","description":"b","severity":"urgent","cwe":[],"owasp":["Z9"],"mitigations":[],"refines":"nope","sources":["kb:9"]},
          {"target":"db","stride":"I","title":"Leak","description":"You are a senior application-security engineer helping a team draft","severity":"low","cwe":[],"owasp":[],"mitigations":[],"refines":null,"sources":[]},
          {"target":"db","stride":"I","title":"<script>alert(1)</script>Dump","description":"<b>x</b>","severity":"low","cwe":[],"owasp":[],"mitigations":[],"refines":"R1@api","sources":[]}
        ]}"#;
        let c = check_answer(text, &ctx(&cwes));
        assert_eq!(c.threats.len(), 1, "{:#?}", c.errors);
        assert_eq!(c.threats[0].title, "alert(1)Dump");
        let all = c.errors.join("\n");
        for needle in [
            "ghost",
            "CWE-99999",
            "stride `Q`",
            "urgent",
            "Z9",
            "nope",
            "kb:9",
            "quotes",
        ] {
            assert!(all.contains(needle), "missing {needle} in {all}");
        }
    }
}
