//! Description templates: text with `{attribute.path}` placeholders, resolved when the rule is
//! loaded so a misspelt placeholder fails the rule file rather than printing `{...}` in a report.

use crate::attrs::{self, Attr, Subject, TargetType};
use crate::facts::Facts;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Attr(Attr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn compile(text: &str, target: TargetType) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text.trim();
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(squash(&rest[..open])));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in `{}`", text.trim()))?;
            let path = after[..close].trim();
            let (attr, _) = Attr::resolve(path, target)
                .ok_or_else(|| format!("unknown placeholder `{{{path}}}`"))?;
            parts.push(Part::Attr(attr));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(squash(rest)));
        }
        Ok(Template { parts })
    }

    pub fn render(&self, facts: &Facts, subject: Subject) -> String {
        let mut out = String::with_capacity(256);
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Attr(a) => {
                    let v = attrs::value(facts, subject, *a).render();
                    if v.contains(['\n', '\r', '\t']) {
                        out.push_str(&squash(&v));
                    } else {
                        out.push_str(&v);
                    }
                }
            }
        }
        out
    }
}

/// Folded YAML and free-text values carry line breaks; reports want one paragraph. Runs of
/// whitespace become one space, but a leading or trailing space is kept so that text around a
/// placeholder stays separated from it.
pub fn squash(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for ch in text.chars() {
        if ch.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(ch);
            in_space = false;
        }
    }
    out
}
