//! The unit of retrieval. One chunk is one thing a reviewer would cite: a threat, a CWE or
//! CAPEC entry, an ASVS requirement, an OWASP Top 10 category, or one heading section of a
//! document. Retrieving whole files would drown the one relevant paragraph.

use serde::{Deserialize, Serialize};

/// Longest chunk text kept, in bytes; longer sections are split (documents) or cut (entries),
/// so one 2 MB CWE description cannot dominate BM25 length normalisation or an embedding call.
pub const MAX_CHUNK_BYTES: usize = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChunkKind {
    /// A threat from a reviewed threat model.
    Threat,
    Cwe,
    Capec,
    /// An OWASP ASVS requirement.
    Asvs,
    /// An OWASP Top 10 (web, API, LLM) category.
    Owasp,
    /// A section of an organisation document.
    Doc,
}

impl ChunkKind {
    pub const ALL: [ChunkKind; 6] = [
        ChunkKind::Threat,
        ChunkKind::Cwe,
        ChunkKind::Capec,
        ChunkKind::Asvs,
        ChunkKind::Owasp,
        ChunkKind::Doc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChunkKind::Threat => "threat",
            ChunkKind::Cwe => "cwe",
            ChunkKind::Capec => "capec",
            ChunkKind::Asvs => "asvs",
            ChunkKind::Owasp => "owasp",
            ChunkKind::Doc => "doc",
        }
    }

    pub fn parse(s: &str) -> Option<ChunkKind> {
        ChunkKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Metadata used for filtering and for building threats from hits. Every list is also stored
/// as `key=value` tags so filters are exact index lookups, not JSON scans.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// Technology names (`database`, `web-app`) of the elements a threat targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub technologies: Vec<String>,
    /// STRIDE letters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stride: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwe: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capec: Vec<u32>,
    /// ASVS requirement ids (on ASVS chunks, and on threats whose mitigations cite them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asvs: Vec<String>,
    /// Review status of a threat (`accepted`, `rejected`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The system (product) a threat was reviewed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Names of the targeted elements, or the heading path of a document section.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elements: Vec<String>,
    /// Element kinds (`component`, `flow`, `process`, `data-store`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub element_kinds: Vec<String>,
    /// Severity level, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Mitigation texts of a threat, kept so a retrieved threat brings its mitigations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitigations: Vec<String>,
    /// Standard version (`4.0.3`, `2021`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The rule that raised a threat (`TMC-DOS-001`), from its provenance: past decisions on
    /// the same rule are what the next draft learns from (tag `rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The reviewer's justification (required for not-applicable, accepted, transferred): a
    /// past rejection lowers the matching rule threat elsewhere and shows this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// The drafted level when a reviewer overrode the severity; `severity` is then the
    /// reviewer's level. Overrides of one rule on one technology accumulate over reviews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drafted_severity: Option<String>,
    /// Why the reviewer overrode the severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_reason: Option<String>,
    /// A reviewer reworded the title or overrode the severity. An edited threat that was not
    /// rejected is an exemplar like a confirmed one, so it is also tagged `status=edited`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
}

/// The extra `status` tag value of an edited threat that was not rejected; see
/// [`ChunkMeta::edited`].
pub const EDITED_STATUS: &str = "edited";

impl ChunkMeta {
    /// `(key, value)` pairs stored for exact filtering; `kind` is added by the index.
    pub fn tags(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        out.extend(self.technologies.iter().map(|t| ("tech", t.clone())));
        out.extend(self.stride.iter().map(|s| ("stride", s.clone())));
        out.extend(self.cwe.iter().map(|c| ("cwe", c.to_string())));
        out.extend(self.capec.iter().map(|c| ("capec", c.to_string())));
        out.extend(self.asvs.iter().map(|a| ("asvs", a.clone())));
        out.extend(self.status.iter().map(|s| ("status", s.clone())));
        if self.edited && self.status.as_deref() != Some("not-applicable") {
            out.push(("status", EDITED_STATUS.to_string()));
        }
        out.extend(self.rule.iter().map(|r| ("rule", r.clone())));
        out.extend(self.system.iter().map(|s| ("system", s.clone())));
        out.extend(self.element_kinds.iter().map(|s| ("element", s.clone())));
        out.extend(self.version.iter().map(|s| ("version", s.clone())));
        out.sort();
        out.dedup();
        out
    }
}

/// One retrievable piece of a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Unique within its source (`CWE-79`, `ASVS-4.0.3-V5.3.4`, a threat id, `§3 Heading`).
    pub key: String,
    pub kind: ChunkKind,
    pub title: String,
    pub text: String,
    pub meta: ChunkMeta,
}

impl Chunk {
    /// What gets embedded and shown: the title then the text.
    pub fn embedding_text(&self) -> String {
        if self.text.is_empty() {
            self.title.clone()
        } else {
            format!("{}\n{}", self.title, self.text)
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn edited_threats_are_also_tagged_edited_unless_rejected() {
        let mut meta = ChunkMeta {
            status: Some("draft".into()),
            rule: Some("TMC-DOS-001".into()),
            edited: true,
            ..ChunkMeta::default()
        };
        let tags = meta.tags();
        assert!(tags.contains(&("status", "draft".to_string())), "{tags:?}");
        assert!(tags.contains(&("status", "edited".to_string())), "{tags:?}");
        assert!(
            tags.contains(&("rule", "TMC-DOS-001".to_string())),
            "{tags:?}"
        );
        meta.status = Some("not-applicable".into());
        assert!(!meta.tags().contains(&("status", "edited".to_string())));
        meta.edited = false;
        meta.status = Some("open".into());
        assert!(!meta.tags().contains(&("status", "edited".to_string())));
    }

    #[test]
    fn kinds_round_trip() {
        for k in ChunkKind::ALL {
            assert_eq!(ChunkKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChunkKind::parse("nope"), None);
    }
}
