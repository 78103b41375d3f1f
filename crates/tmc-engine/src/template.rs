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
                parts.push(Part::Text(rest[..open].to_string()));
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
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    pub fn render(&self, facts: &Facts, subject: Subject) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Attr(a) => out.push_str(&attrs::value(facts, subject, *a).render()),
            }
        }
        // Folded YAML leaves single newlines; reports want one paragraph.
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}
