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
    /// Bytes of literal text, to size the rendered string once.
    text_len: usize,
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
        let text_len = parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::Attr(_) => 0,
            })
            .sum();
        Ok(Template { parts, text_len })
    }

    pub fn render(&self, facts: &Facts, subject: Subject) -> String {
        let mut out = String::with_capacity(self.text_len + 32 * self.parts.len());
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Attr(a) => match attrs::value(facts, subject, *a) {
                    // Names and ids are most placeholders: copy them straight in rather than
                    // through a rendered `String` per placeholder per threat.
                    attrs::Value::Str(v) => push_value(&mut out, v),
                    other => push_value(&mut out, &other.render()),
                },
            }
        }
        out
    }
}

fn push_value(out: &mut String, v: &str) {
    if v.contains(['\n', '\r', '\t']) {
        out.push_str(&squash(v));
    } else {
        out.push_str(v);
    }
}

/// Folded YAML and free-text values carry line breaks; reports want one paragraph. Runs of
/// whitespace become one space, but a leading or trailing space is kept so that text around a
/// placeholder stays separated from it.
pub fn squash(text: &str) -> String {
    // Copies runs of non-whitespace as slices; every built-in rule's texts pass through here
    // at start-up, so a character-at-a-time copy showed in `tmc rules list`.
    let mut out = String::with_capacity(text.len());
    let mut run_start = 0;
    let mut in_space = false;
    for (i, ch) in text.char_indices() {
        if ch.is_whitespace() {
            if !in_space {
                out.push_str(&text[run_start..i]);
                out.push(' ');
                in_space = true;
            }
        } else if in_space {
            run_start = i;
            in_space = false;
        }
    }
    if !in_space {
        out.push_str(&text[run_start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::squash;

    #[test]
    fn squash_folds_whitespace_runs_and_keeps_edges() {
        assert_eq!(squash("a  b\n\tc"), "a b c");
        assert_eq!(squash(" lead and trail \n"), " lead and trail ");
        assert_eq!(squash(""), "");
        assert_eq!(squash("\u{2003}é\u{00a0}ü"), " é ü");
        assert_eq!(squash("x"), "x");
    }
}
