//! The rule-file schema: what a rule looks like as written, and the YAML entry point.
//!
//! This module depends only on `serde`, `serde-saphyr` and `crate::attrs::TargetType`, so that
//! `build.rs` can include it (`#[path]`) and parse the built-in rules with exactly the types and
//! the parser the runtime uses for organisation rules. The build script then embeds the parsed
//! rules as JSON, which loads far faster than YAML at every start.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::attrs::TargetType;

/// Largest rule file read; rule files are hand-written.
pub const MAX_RULE_FILE_BYTES: usize = 2 * 1024 * 1024;

/// One rule file: `rules: [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rules: Vec<Spanned<RuleSpec>>,
}

/// A rule as written. Field docs are in docs/rules.md.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub title: String,
    pub stride: Vec<StrideLetter>,
    pub target: TargetType,
    pub when: String,
    pub description: String,
    /// Base likelihood, 1 (rare) ..= 5 (expected).
    pub likelihood: u8,
    /// Base impact, 1 (negligible) ..= 5 (severe).
    pub impact: u8,
    #[serde(default)]
    pub controls: Vec<ControlSpec>,
    #[serde(default)]
    pub mitigations: Vec<MitigationSpec>,
    #[serde(default)]
    pub references: ReferencesSpec,
    /// For flow rules: merge threats of this rule that share an endpoint.
    #[serde(default)]
    pub group_by: Option<GroupBy>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum StrideLetter {
    S,
    T,
    R,
    I,
    D,
    E,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Source,
    Destination,
}

/// A declared control that removes or weakens the threat.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSpec {
    pub when: String,
    pub effect: ControlEffect,
    /// Why the control matters, shown in the draft.
    pub note: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ControlEffect {
    /// The threat is moved to the draft's `suppressed` list.
    Suppress,
    /// Likelihood drops by two; the draft names the control.
    Downgrade,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MitigationSpec {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub asvs: Vec<String>,
    /// When true for the target, the mitigation is reported as implemented.
    #[serde(default)]
    pub implemented_when: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReferencesSpec {
    #[serde(default)]
    pub cwe: Vec<u32>,
    #[serde(default)]
    pub capec: Vec<u32>,
    #[serde(default)]
    pub owasp_top10_2021: Vec<String>,
    #[serde(default)]
    pub owasp_top10_2025: Vec<String>,
    #[serde(default)]
    pub owasp_api_2023: Vec<String>,
    #[serde(default)]
    pub owasp_llm_2025: Vec<String>,
    /// Why a catalogue has no fitting entry (e.g. no CWE describes missing backups); the linter
    /// accepts a missing mapping only with a reason.
    #[serde(default)]
    pub unmapped_reason: Option<String>,
}

/// A parsed rule with the position of its entry in the file (for `origin` and errors).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PlacedRule {
    pub line: u64,
    pub column: u64,
    pub spec: RuleSpec,
}

/// One built-in rule file as `build.rs` embeds it: the parsed rules, or `None` when the file
/// did not parse (the runtime then parses the YAML itself, so the error a user sees is the same
/// one an organisation rule file would give, with its file:line:column).
#[derive(Debug, Deserialize, Serialize)]
pub struct BuiltinFile {
    pub name: String,
    pub rules: Option<Vec<PlacedRule>>,
}

/// A YAML problem: line, column (0 when unknown) and the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// Parses one rule file's YAML into rules with positions; conditions are not compiled yet.
pub fn parse_yaml(text: &str) -> Result<Vec<PlacedRule>, YamlError> {
    let parsed: RuleFile = serde_saphyr::from_str(text).map_err(|e| {
        let loc = e.location();
        let msg = e.without_snippet().to_string();
        YamlError {
            line: loc.map(|l| l.line()).unwrap_or(0),
            column: loc.map(|l| l.column()).unwrap_or(0),
            message: msg.lines().next().unwrap_or("").to_string(),
        }
    })?;
    Ok(parsed
        .rules
        .into_iter()
        .map(|s| PlacedRule {
            line: s.referenced.line(),
            column: s.referenced.column(),
            spec: s.value,
        })
        .collect())
}
