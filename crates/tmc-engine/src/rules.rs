//! Rule files: their YAML shape, loading with file/line/rule-id errors, and compilation of
//! conditions and templates against the attribute table.

use tmc_model::{References, Stride};

use crate::attrs::{Attr, AttrType, TargetType};
use crate::expr::{self, CmpOp, Expr};
use crate::template::Template;

mod spec;

pub use spec::{
    BuiltinFile, ControlEffect, ControlSpec, GroupBy, MAX_RULE_FILE_BYTES, MitigationSpec,
    PlacedRule, ReferencesSpec, RuleSpec, StrideLetter, YamlError, parse_yaml,
};

impl From<StrideLetter> for Stride {
    fn from(s: StrideLetter) -> Stride {
        match s {
            StrideLetter::S => Stride::Spoofing,
            StrideLetter::T => Stride::Tampering,
            StrideLetter::R => Stride::Repudiation,
            StrideLetter::I => Stride::InformationDisclosure,
            StrideLetter::D => Stride::DenialOfService,
            StrideLetter::E => Stride::ElevationOfPrivilege,
        }
    }
}

/// A rule ready to run: conditions resolved to attributes.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    /// Where it was defined, e.g. `rules/authentication.yaml:12`.
    pub origin: String,
    pub when: Expr<Attr>,
    pub controls: Vec<(Expr<Attr>, ControlSpec)>,
    pub mitigations: Vec<(Option<Expr<Attr>>, MitigationSpec)>,
    pub title: Template,
    pub description: Template,
    pub stride: Vec<Stride>,
    pub references: References,
    /// The attributes `when` reads, with their names, for provenance ("why did it fire").
    pub when_attrs: Vec<(String, Attr)>,
}

/// A rule that could not be loaded: file, line, rule id and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {}{message}", rule.as_ref().map(|r| format!("rule {r}: ")).unwrap_or_default())]
pub struct RuleError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub rule: Option<String>,
    pub message: String,
}

/// Parses and compiles every rule in one file's text.
pub fn load_rule_file(text: &str, file: &str) -> Result<Vec<Rule>, Vec<RuleError>> {
    compile_placed(parse_rule_file(text, file)?, file)
}

/// Parses one file's YAML (size-checked) without compiling its conditions.
pub fn parse_rule_file(text: &str, file: &str) -> Result<Vec<PlacedRule>, Vec<RuleError>> {
    let err = |line, column, message: String| RuleError {
        file: file.to_string(),
        line,
        column,
        rule: None,
        message,
    };
    if text.len() > MAX_RULE_FILE_BYTES {
        return Err(vec![err(
            0,
            0,
            format!("rule file exceeds {MAX_RULE_FILE_BYTES} bytes"),
        )]);
    }
    parse_yaml(text).map_err(|e| vec![err(e.line, e.column, e.message)])
}

/// Compiles parsed rules of one file; returns every problem of every rule, each with the
/// rule's file:line:column and id.
pub fn compile_placed(placed: Vec<PlacedRule>, file: &str) -> Result<Vec<Rule>, Vec<RuleError>> {
    let mut rules = Vec::with_capacity(placed.len());
    let mut errors = Vec::new();
    for PlacedRule { line, column, spec } in placed {
        let id = spec.id.clone();
        match compile(spec, &format!("{file}:{line}")) {
            Ok(r) => rules.push(r),
            Err(msgs) => errors.extend(msgs.into_iter().map(|message| RuleError {
                file: file.to_string(),
                line,
                column,
                rule: Some(id.clone()),
                message,
            })),
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// Compiles one rule; returns every problem found, not just the first.
pub fn compile(spec: RuleSpec, origin: &str) -> Result<Rule, Vec<String>> {
    let mut problems = Vec::new();
    let target = spec.target;
    // Parsed once: the provenance attribute list and the compiled condition both come from it.
    let mut when_attrs: Vec<(String, Attr)> = Vec::new();
    let when = match expr::parse(&spec.when) {
        Ok(parsed) => {
            for p in parsed.paths() {
                if let Some((a, _)) = Attr::resolve(p, target)
                    && !when_attrs.iter().any(|(n, _)| n == p)
                {
                    when_attrs.push((p.clone(), a));
                }
            }
            match compile_parsed(parsed, target) {
                Ok(e) => Some(e),
                Err(m) => {
                    problems.push(format!("when: {m}"));
                    None
                }
            }
        }
        Err(e) => {
            problems.push(format!("when: {e} in `{}`", spec.when.trim()));
            None
        }
    };
    let mut cond = |what: &str, text: &str| -> Option<Expr<Attr>> {
        match compile_condition(text, target) {
            Ok(e) => Some(e),
            Err(m) => {
                problems.push(format!("{what}: {m}"));
                None
            }
        }
    };
    let controls: Vec<_> = spec
        .controls
        .iter()
        .enumerate()
        .filter_map(|(i, c)| cond(&format!("controls[{i}].when"), &c.when).map(|e| (e, c.clone())))
        .collect();
    let mut mitigations = Vec::new();
    for (i, m) in spec.mitigations.iter().enumerate() {
        let e = match &m.implemented_when {
            Some(t) => cond(&format!("mitigations[{i}].implemented_when"), t).map(Some),
            None => Some(None),
        };
        if let Some(e) = e {
            let mut m = m.clone();
            m.text = crate::template::squash(m.text.trim());
            mitigations.push((e, m));
        }
    }
    let title = Template::compile(&spec.title, target).map_err(|m| format!("title: {m}"));
    let description =
        Template::compile(&spec.description, target).map_err(|m| format!("description: {m}"));
    if !valid_rule_id(&spec.id) {
        problems.push("id must be letters, digits and `-` (e.g. TMC-AUTH-001)".into());
    }
    if !(1..=5).contains(&spec.likelihood) || !(1..=5).contains(&spec.impact) {
        problems.push("likelihood and impact must be between 1 and 5".into());
    }
    if spec.stride.is_empty() {
        problems.push("stride must name at least one category".into());
    }
    if spec.group_by.is_some() && target != TargetType::Flow {
        problems.push("group_by only applies to flow rules".into());
    }
    let mut ids = std::collections::HashSet::new();
    for m in &spec.mitigations {
        if !ids.insert(&m.id) {
            problems.push(format!("mitigation id `{}` appears twice", m.id));
        }
    }
    let (title, description) = match (title, description) {
        (Ok(t), Ok(d)) => (Some(t), Some(d)),
        (t, d) => {
            if let Err(m) = &t {
                problems.push(m.clone());
            }
            if let Err(m) = &d {
                problems.push(m.clone());
            }
            (None, None)
        }
    };
    match (when, title, description) {
        (Some(when), Some(title), Some(description)) if problems.is_empty() => {
            let r = &spec.references;
            let references = References {
                cwe: r.cwe.clone(),
                capec: r.capec.clone(),
                owasp_top10_2021: r.owasp_top10_2021.clone(),
                owasp_top10_2025: r.owasp_top10_2025.clone(),
                owasp_api_2023: r.owasp_api_2023.clone(),
                owasp_llm_2025: r.owasp_llm_2025.clone(),
            };
            let stride = spec.stride.iter().map(|s| Stride::from(*s)).collect();
            Ok(Rule {
                when_attrs,
                origin: origin.to_string(),
                when,
                controls,
                mitigations,
                title,
                description,
                stride,
                references,
                spec,
            })
        }
        _ => Err(problems),
    }
}

fn valid_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

/// Parses a condition and resolves its paths; checks literal values against enum attributes
/// so that `component.technology == "databse"` is an error, not a rule that never fires.
pub fn compile_condition(text: &str, target: TargetType) -> Result<Expr<Attr>, String> {
    let parsed = expr::parse(text).map_err(|e| format!("{e} in `{}`", text.trim()))?;
    compile_parsed(parsed, target)
}

/// [`compile_condition`] after parsing: literal checks, then path resolution.
fn compile_parsed(parsed: Expr<String>, target: TargetType) -> Result<Expr<Attr>, String> {
    check_literals(&parsed, target)?;
    parsed.map_paths(&mut |p: String| {
        Attr::resolve(&p, target)
            .map(|(a, _)| a)
            .ok_or_else(|| unknown_attr(&p, target))
    })
}

fn unknown_attr(path: &str, target: TargetType) -> String {
    let all = Attr::all_paths(target);
    let best = all
        .iter()
        .map(|c| (strsim::jaro_winkler(path, c), c))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(s, _)| *s > 0.8)
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default();
    format!(
        "unknown attribute `{path}` for a {} rule{best}",
        match target {
            TargetType::Component => "component",
            TargetType::Flow => "flow",
            TargetType::Data => "data",
        }
    )
}

fn check_literals(e: &Expr<String>, target: TargetType) -> Result<(), String> {
    match e {
        Expr::Or(v) | Expr::And(v) | Expr::List(v) => {
            v.iter().try_for_each(|x| check_literals(x, target))
        }
        Expr::Not(x) => check_literals(x, target),
        Expr::Compare(a, op, b) => {
            check_literals(a, target)?;
            check_literals(b, target)?;
            let (path, lit) = match (&**a, &**b) {
                (Expr::Path(p), other) => (p, other),
                (other, Expr::Path(p)) if *op != CmpOp::Contains => (p, other),
                _ => return Ok(()),
            };
            let Some((_, ty)) = Attr::resolve(path, target) else {
                return Ok(()); // reported as unknown attribute later
            };
            let lits: Vec<&str> = match lit {
                Expr::Str(s) => vec![s.as_str()],
                Expr::List(items) => items
                    .iter()
                    .filter_map(|i| match i {
                        Expr::Str(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let allowed: &[&str] = match ty {
                AttrType::Choice(c) => c,
                AttrType::Level(d) => d.names(),
                _ => return Ok(()),
            };
            for l in lits {
                if !allowed.contains(&l) {
                    return Err(format!(
                        "`{l}` is not a value of `{path}` (expected one of: {})",
                        allowed.join(", ")
                    ));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
