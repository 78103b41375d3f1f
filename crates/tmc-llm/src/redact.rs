//! Redaction before any call: secrets, keys, e-mail addresses, IP addresses and host names in
//! the prompt become placeholders such as `[[EMAIL_1]]`, and the answer is mapped back, so the
//! provider never sees them but the reviewer reads the real values.
//!
//! The same value always gets the same placeholder within one redactor, so the model can still
//! tell two hosts apart.

use std::collections::BTreeMap;

use regex::Regex;

use crate::error::LlmError;

/// Built-in patterns, most specific first (a key inside a URL must be found before the host).
const BUILTIN: &[(&str, &str)] = &[
    (
        "PRIVATE_KEY",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    ),
    ("AWS_KEY", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    (
        "API_KEY",
        r"\b(?:sk|pk|rk)-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}",
    ),
    ("GITHUB_TOKEN", r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    (
        "JWT",
        r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    ),
    (
        "SECRET",
        r#"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?key|token|client[_-]?secret)\b\s*[:=]\s*["']?[^\s"',;]{4,}"#,
    ),
    (
        "EMAIL",
        r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b",
    ),
    (
        "IP",
        r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
    ),
    (
        "IP",
        r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b|\b(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}:?){1,6}\b",
    ),
    (
        "HOST",
        r"(?i)\b(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?:com|net|org|io|dev|app|cloud|internal|local|lan|corp|intra|example|co|uk|de|fr|eu|us|ch|nl|info|biz|ai)\b",
    ),
];

/// Redacts text and maps placeholders back.
#[derive(Debug)]
pub struct Redactor {
    patterns: Vec<(String, Regex)>,
    /// value → placeholder
    forward: BTreeMap<String, String>,
    /// placeholder → value
    back: BTreeMap<String, String>,
    counters: BTreeMap<String, usize>,
    /// Number of occurrences replaced so far (for the audit log).
    pub count: usize,
}

impl Redactor {
    /// Built-in patterns plus the organisation's own (`llm.redact_patterns`, regexes).
    pub fn new(extra: &[String]) -> Result<Redactor, LlmError> {
        let mut patterns = Vec::new();
        for p in extra {
            let re = Regex::new(p)
                .map_err(|e| LlmError::Config(format!("redact pattern `{p}`: {e}")))?;
            patterns.push(("CUSTOM".to_string(), re));
        }
        for (label, p) in BUILTIN {
            let re = Regex::new(p)
                .map_err(|e| LlmError::Config(format!("built-in pattern {label}: {e}")))?;
            patterns.push(((*label).to_string(), re));
        }
        Ok(Redactor {
            patterns,
            forward: BTreeMap::new(),
            back: BTreeMap::new(),
            counters: BTreeMap::new(),
            count: 0,
        })
    }

    /// A redactor that changes nothing (redaction switched off).
    pub fn disabled() -> Redactor {
        Redactor {
            patterns: Vec::new(),
            forward: BTreeMap::new(),
            back: BTreeMap::new(),
            counters: BTreeMap::new(),
            count: 0,
        }
    }

    /// Replaces every match with its placeholder; `keep` values (element ids) are never
    /// replaced, because the model must be able to name them.
    pub fn redact(&mut self, text: &str, keep: &[&str]) -> String {
        let mut out = text.to_string();
        for i in 0..self.patterns.len() {
            // Cloned (cheap: Regex is reference-counted) so the replacement closure may borrow
            // `self` mutably for new placeholders.
            let (label, re) = (self.patterns[i].0.clone(), self.patterns[i].1.clone());
            let mut found: Vec<String> = re
                .find_iter(&out)
                .map(|m| m.as_str().to_string())
                .filter(|m| !keep.contains(&m.as_str()) && !m.starts_with("[["))
                .collect();
            if found.is_empty() {
                continue;
            }
            found.sort();
            found.dedup();
            let mut n = 0;
            let replaced = re.replace_all(&out, |c: &regex::Captures<'_>| {
                let m = c.get(0).map(|m| m.as_str()).unwrap_or_default();
                if !found.iter().any(|f| f == m) {
                    return m.to_string();
                }
                n += 1;
                self.placeholder(&label, m)
            });
            out = replaced.into_owned();
            self.count += n;
        }
        out
    }

    fn placeholder(&mut self, label: &str, value: &str) -> String {
        if let Some(p) = self.forward.get(value) {
            return p.clone();
        }
        let c = self.counters.entry(label.to_string()).or_insert(0);
        *c += 1;
        let p = format!("[[{label}_{c}]]");
        self.forward.insert(value.to_string(), p.clone());
        self.back.insert(p.clone(), value.to_string());
        p
    }

    /// Puts the original values back into the model's answer.
    pub fn restore(&self, text: &str) -> String {
        if self.back.is_empty() || !text.contains("[[") {
            return text.to_string();
        }
        let mut out = text.to_string();
        for (p, v) in &self.back {
            out = out.replace(p, v);
        }
        out
    }

    /// Placeholders in use, for tests and diagnostics.
    pub fn mapping(&self) -> &BTreeMap<String, String> {
        &self.back
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_and_restores() {
        let mut r = Redactor::new(&["ACME-\\d{4}".to_string()]).unwrap_or_else(|e| panic!("{e}"));
        let text = "Contact ops@acme.com, db at 10.1.2.3 and db.acme.internal; \
                    key AKIAABCDEFGHIJKLMNOP, password=hunter22, project ACME-1234, again ops@acme.com";
        let red = r.redact(text, &["api"]);
        for secret in [
            "ops@acme.com",
            "10.1.2.3",
            "db.acme.internal",
            "AKIAABCDEFGHIJKLMNOP",
            "hunter22",
            "ACME-1234",
        ] {
            assert!(!red.contains(secret), "{secret} leaked: {red}");
        }
        assert_eq!(red.matches("[[EMAIL_1]]").count(), 2, "{red}");
        assert!(r.count >= 7, "{}", r.count);
        assert_eq!(r.restore(&red), text);
        assert_eq!(
            r.restore("threat about [[EMAIL_1]] and [[IP_1]]"),
            "threat about ops@acme.com and 10.1.2.3"
        );
    }

    #[test]
    fn keeps_element_ids_and_plain_words() {
        let mut r = Redactor::new(&[]).unwrap_or_else(|e| panic!("{e}"));
        let text = "The web-app calls api.example.com; Node.js service; id shop.internal";
        let red = r.redact(text, &["shop.internal"]);
        assert!(red.contains("shop.internal"));
        assert!(red.contains("Node.js"));
        assert!(!red.contains("api.example.com"));
    }
}
