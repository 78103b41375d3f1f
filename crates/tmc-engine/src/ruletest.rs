//! Rule tests: "this model must / must not trigger rule X on target Y", written next to rules so
//! an organisation can pin the behaviour of its own rules. Parsing and checking are here; reading
//! the referenced model files is the caller's job (the engine does no I/O).

use serde::Deserialize;
use tmc_model::{Draft, SystemModel};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTestFile {
    pub tests: Vec<RuleTestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTestCase {
    pub name: String,
    /// Path of a model file, relative to the test file.
    #[serde(default)]
    pub model: Option<String>,
    /// A model written inline.
    #[serde(default)]
    pub inline: Option<SystemModel>,
    #[serde(default)]
    pub must_trigger: Vec<Expectation>,
    #[serde(default)]
    pub must_not_trigger: Vec<Expectation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub rule: String,
    /// Element id the threat must target; any target when absent.
    #[serde(default)]
    pub target: Option<String>,
}

/// Parses a rule test file.
pub fn parse_tests(text: &str) -> Result<RuleTestFile, String> {
    serde_saphyr::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("{}:{}: ", l.line(), l.column()))
            .unwrap_or_default();
        format!(
            "{loc}{}",
            e.without_snippet().to_string().lines().next().unwrap_or("")
        )
    })
}

fn fired(draft: &Draft, e: &Expectation) -> bool {
    draft.threats.iter().any(|t| {
        let rule_matches = match &t.provenance {
            tmc_model::Provenance::Rule {
                rule_id,
                also_raised_by,
                ..
            } => *rule_id == e.rule || also_raised_by.contains(&e.rule),
            _ => false,
        };
        rule_matches
            && e.target
                .as_ref()
                .is_none_or(|id| t.targets.iter().any(|x| &x.id == id))
    })
}

/// Checks a draft against a case; returns one message per unmet expectation.
pub fn check(draft: &Draft, case: &RuleTestCase) -> Vec<String> {
    let mut out = Vec::new();
    let show = |e: &Expectation| {
        format!(
            "{}{}",
            e.rule,
            e.target
                .as_ref()
                .map(|t| format!(" on `{t}`"))
                .unwrap_or_default()
        )
    };
    for e in &case.must_trigger {
        if !fired(draft, e) {
            let why = draft
                .suppressed
                .iter()
                .find(|s| {
                    s.rule_id == e.rule
                        && e.target
                            .as_ref()
                            .is_none_or(|t| s.targets.iter().any(|x| &x.id == t))
                })
                .map(|s| format!(" (it was suppressed: {})", s.reason))
                .unwrap_or_default();
            out.push(format!("{}: expected {} to fire{why}", case.name, show(e)));
        }
    }
    for e in &case.must_not_trigger {
        if fired(draft, e) {
            out.push(format!("{}: expected {} not to fire", case.name, show(e)));
        }
    }
    out
}
