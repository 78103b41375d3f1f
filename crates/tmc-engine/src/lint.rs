//! The rule lint: mapping checks beyond what compiling a rule enforces (a CWE, an OWASP
//! category in range, both OWASP Top 10 editions or neither, mitigations with well-formed ASVS
//! ids). It lives in the engine, beside the rules it reads, so that `cargo test -p tmc-engine`
//! lints the built-in rules and `tmc rules lint` is only a printer.

use std::fmt;

use crate::RuleSet;

/// One lint problem, located by the rule's origin (`file:line`) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the rule was defined, `rules/web.yaml:12`.
    pub origin: String,
    pub rule: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: rule {}: {}", self.origin, self.rule, self.message)
    }
}

/// `s` is `<prefix><n>` with `n` in `1..=max` (`A01`, `API3`, `LLM10`).
fn in_catalogue(s: &str, prefix: &str, max: u32) -> bool {
    s.strip_prefix(prefix)
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (1..=max).contains(&n))
}

/// An ASVS requirement id: `V` then dot-separated numbers (`V2.1.1`).
fn is_asvs_id(a: &str) -> bool {
    a.strip_prefix('V')
        .is_some_and(|rest| rest.split('.').all(|p| p.parse::<u32>().is_ok()))
}

/// Lints every rule of `set`, in rule order; empty when all is well.
pub fn lint(set: &RuleSet) -> Vec<Problem> {
    let mut out = Vec::new();
    for r in set.rules() {
        let mut problem = |message: String| {
            out.push(Problem {
                origin: r.origin.clone(),
                rule: r.spec.id.clone(),
                message,
            })
        };
        let refs = &r.references;
        let excused = r.spec.references.unmapped_reason.is_some();
        if refs.cwe.is_empty() && !excused {
            problem("no CWE mapping (add one, or `unmapped_reason`)".into());
        }
        if refs.owasp_top10_2021.is_empty()
            && refs.owasp_llm_2025.is_empty()
            && refs.owasp_api_2023.is_empty()
            && !excused
        {
            problem("no OWASP Top 10 (2021, API or LLM) mapping".into());
        }
        if refs.owasp_top10_2021.is_empty() != refs.owasp_top10_2025.is_empty() {
            problem("map both OWASP Top 10 2021 and 2025, or neither".into());
        }
        for c in refs.owasp_top10_2021.iter().chain(&refs.owasp_top10_2025) {
            if !in_catalogue(c, "A", 10) {
                problem(format!("`{c}` is not an OWASP Top 10 category (A01..A10)"));
            }
        }
        for c in &refs.owasp_api_2023 {
            if !in_catalogue(c, "API", 10) {
                problem(format!(
                    "`{c}` is not an OWASP API Top 10 category (API1..API10)"
                ));
            }
        }
        for c in &refs.owasp_llm_2025 {
            if !in_catalogue(c, "LLM", 10) {
                problem(format!(
                    "`{c}` is not an OWASP LLM Top 10 category (LLM01..LLM10)"
                ));
            }
        }
        if r.spec.mitigations.is_empty() {
            problem("no mitigations".into());
        }
        for m in &r.spec.mitigations {
            for a in &m.asvs {
                if !is_asvs_id(a) {
                    problem(format!(
                        "mitigation {}: `{a}` is not an ASVS id like V2.1.1",
                        m.id
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn render(errs: &[crate::RuleError]) -> String {
        errs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The rules shipped in `rules/` lint clean.
    #[test]
    fn builtin_rules_lint_clean() {
        let set = RuleSet::builtin().unwrap_or_else(|e| panic!("{}", render(&e)));
        let problems = lint(&set);
        assert!(
            problems.is_empty(),
            "{}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Each check fires, with the rule's origin and id in the message.
    #[test]
    fn every_check_fires() {
        let text = r#"
rules:
  - id: TEST-LINT-001
    title: Badly mapped
    stride: [S]
    target: component
    when: component.authentication == "none"
    description: Text.
    likelihood: 3
    impact: 3
    references:
      cwe: []
      owasp_top10_2021: [A11]
      owasp_api_2023: [API0]
      owasp_llm_2025: [LLM11]
    mitigations:
      - id: M1
        text: Do it.
        asvs: [V2.x, 2.1.1]
  - id: TEST-LINT-002
    title: No mitigations
    stride: [S]
    target: component
    when: component.authentication == "none"
    description: Text.
    likelihood: 3
    impact: 3
    references:
      cwe: [287]
      owasp_top10_2021: [A07]
      owasp_top10_2025: [A07]
"#;
        let mut set = RuleSet::default();
        set.add_file(text, "lint-test.yaml")
            .unwrap_or_else(|e| panic!("{}", render(&e)));
        let got: Vec<String> = lint(&set).iter().map(ToString::to_string).collect();
        let at1 = format!("{}: rule TEST-LINT-001", set.rules()[0].origin);
        let at2 = format!("{}: rule TEST-LINT-002", set.rules()[1].origin);
        assert_eq!(
            got,
            vec![
                format!("{at1}: no CWE mapping (add one, or `unmapped_reason`)"),
                format!("{at1}: map both OWASP Top 10 2021 and 2025, or neither"),
                format!("{at1}: `A11` is not an OWASP Top 10 category (A01..A10)"),
                format!("{at1}: `API0` is not an OWASP API Top 10 category (API1..API10)"),
                format!("{at1}: `LLM11` is not an OWASP LLM Top 10 category (LLM01..LLM10)"),
                format!("{at1}: mitigation M1: `V2.x` is not an ASVS id like V2.1.1"),
                format!("{at1}: mitigation M1: `2.1.1` is not an ASVS id like V2.1.1"),
                format!("{at2}: no mitigations"),
            ]
        );
    }
}
