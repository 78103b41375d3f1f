//! Reading a decisions file: bytes → checked text → [`Decisions`], with every error placed.
//!
//! Two passes over the same text, like the model loader in `tmc-dsl`: the strict pass reads the
//! typed [`Decisions`] (unknown fields and wrong types are errors with line:column); a lenient
//! pass reads only positions (`Spanned`) so that the rules checked afterwards (justification,
//! dates, ...) and the strict pass's own errors can name the threat key and point at the field.
//! Input is capped at [`MAX_REVIEW_BYTES`] before parsing and serde-saphyr's budgets stop alias
//! bombs, so no file can make the parser run long, allocate much, or panic.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::{Location, Spanned};
use tmc_model::ThreatStatus;

use crate::ReviewError;
use crate::decisions::{Decisions, Field, REVIEW_VERSION, is_model_hash, validate_all};

/// Largest decisions file we read. A review of thousands of threats is well under 1 MiB.
pub const MAX_REVIEW_BYTES: usize = 8 * 1024 * 1024;

/// Parses a decisions file. `file_name` is only used in messages. An empty file (or one with
/// only comments) is an empty review.
pub fn parse(bytes: &[u8], file_name: &str) -> Result<Decisions, ReviewError> {
    let file = file_name.to_string();
    if bytes.len() > MAX_REVIEW_BYTES {
        return Err(ReviewError::TooLarge {
            file,
            size: bytes.len(),
            limit: MAX_REVIEW_BYTES,
        });
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = line_col(bytes, e.valid_up_to());
            return Err(ReviewError::Parse {
                file,
                line,
                column,
                message: "file is not valid UTF-8; save it as UTF-8".into(),
            });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Decisions::default());
    }
    // The location pass never decides anything; when it fails (the file's shape is too broken)
    // we only lose the threat names in messages.
    let locs: LocDoc = serde_saphyr::from_str_with_options(text, options()).unwrap_or_default();
    let decisions: Decisions = match serde_saphyr::from_str_with_options(text, options()) {
        Ok(d) => d,
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let raw = e.without_snippet().to_string();
            let message = clean_message(&raw);
            let message = match field_on_line(text, line, column) {
                Some(field) if !message.contains(&format!("`{field}`")) => {
                    format!("field `{field}`: {message}")
                }
                _ => message,
            };
            let message = match locs.owner_at(line, column) {
                Some(owner) => {
                    let message =
                        status_message(&message, &locs, &owner, line, column).unwrap_or(message);
                    format!("{owner}: {message}")
                }
                None => message,
            };
            return Err(ReviewError::Parse {
                file,
                line,
                column,
                message,
            });
        }
    };
    if decisions.review_version != REVIEW_VERSION {
        let (line, column) = pos(locs.review_version.as_ref().map(|s| s.referenced));
        return Err(ReviewError::Parse {
            file,
            line,
            column,
            message: format!(
                "`review_version` is {} but this tmc reads version {REVIEW_VERSION}",
                decisions.review_version
            ),
        });
    }
    if let Some(h) = &decisions.model_hash
        && !is_model_hash(h)
    {
        let (line, column) = pos(locs.model_hash.as_ref().map(|s| s.referenced));
        return Err(ReviewError::Parse {
            file,
            line,
            column,
            message: format!("`model_hash` must be `sha256:` and 64 hex digits, got `{h}`"),
        });
    }
    if let Err((key, (field, message))) = validate_all(&decisions) {
        let (line, column) = locs.field_pos(&key, field);
        let what = if decisions.threats.contains_key(&key) {
            "threat"
        } else {
            "manual threat"
        };
        return Err(ReviewError::Invalid {
            file,
            line,
            column,
            what,
            key,
            message,
        });
    }
    Ok(decisions)
}

fn options() -> serde_saphyr::Options {
    // Strict booleans as in the model loader; tight budgets because a review file is small
    // and hand-written: an alias bomb or a million nodes is an attack, not a review.
    serde_saphyr::options! {
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            max_events: 2_000_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_depth: 32,
            max_documents: 1,
            max_nodes: 500_000,
            max_total_scalar_bytes: MAX_REVIEW_BYTES,
        },
    }
}

fn pos(l: Option<Location>) -> (u64, u64) {
    l.map(|l| (l.line(), l.column())).unwrap_or((0, 0))
}

/// Keeps the first line of a parser message without its " at line" suffix (the position is
/// reported separately) and explains the one YAML trap of this format: a key starting with `*`
/// is read as an alias unless quoted.
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let message = match first.find(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let message = message
        .trim_start_matches("error: ")
        .trim_end_matches('.')
        .to_string();
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        return format!("key `{key}` appears twice");
    }
    let message = message
        .replace("expected sequence start", "expected a list")
        .replace(
            "expected mapping start",
            "expected a mapping (`key: value` entries)",
        );
    if message.contains("alias") || message.contains("anchor") {
        format!(
            "{message} (a key or value starting with `*`, such as `*@legacy-db`, must be quoted: \
             \"*@legacy-db\")"
        )
    } else {
        message
    }
}

/// An unknown status gets the list of statuses (with their accepted spellings) instead of
/// serde's generic "unknown variant".
fn status_message(
    message: &str,
    locs: &LocDoc,
    owner: &str,
    line: u64,
    column: u64,
) -> Option<String> {
    if !message.contains("unknown variant") {
        return None;
    }
    let at_status = locs.entries().any(|e| {
        e.label == owner
            && e.status
                .is_some_and(|l| l.line() == line && (l.column() == column || column == 0))
    });
    if !at_status {
        return None;
    }
    // serde's text is "field `status`: unknown variant `fixed`, expected …": the value is the
    // quoted word right after "unknown variant".
    let given = message
        .split_once("unknown variant")
        .and_then(|(_, rest)| rest.split('`').nth(1))
        .unwrap_or("");
    let allowed: Vec<&str> = ThreatStatus::ALL.iter().map(|s| s.as_str()).collect();
    Some(format!(
        "unknown status `{given}`; allowed: {}",
        allowed.join(", ")
    ))
}

/// The field whose value an error points at, when the error is on a `field: value` line after
/// the colon: serde's type errors ("expected a list") do not name it.
fn field_on_line(text: &str, line: u64, column: u64) -> Option<&str> {
    let l = text
        .lines()
        .nth(usize::try_from(line.checked_sub(1)?).ok()?)?;
    let trimmed = l.trim_start();
    let indent = l.len() - trimmed.len();
    let trimmed = trimmed.strip_prefix("- ").unwrap_or(trimmed);
    let (name, _) = trimmed.split_once(':')?;
    let is_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let colon_col = (indent + name.len() + 1) as u64;
    (is_name && column > colon_col).then_some(name)
}

fn line_col(bytes: &[u8], offset: usize) -> (u64, u64) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let col = before.iter().rev().take_while(|b| **b != b'\n').count() as u64 + 1;
    (line, col)
}

// ---- the lenient location pass -------------------------------------------------------------

type At = Option<Spanned<IgnoredAny>>;

#[derive(Deserialize, Default)]
struct LocDoc {
    #[serde(default)]
    review_version: At,
    #[serde(default)]
    model: At,
    #[serde(default)]
    model_hash: At,
    #[serde(default)]
    threats: BTreeMap<String, Spanned<LocDecision>>,
    #[serde(default)]
    manual_threats: Vec<Spanned<LocDecision>>,
}

/// The positioned fields of a decision or a manual threat (one shape serves both).
#[derive(Deserialize, Default)]
struct LocDecision {
    #[serde(default)]
    id: Option<Spanned<String>>,
    #[serde(default)]
    status: At,
    #[serde(default)]
    expires: At,
    #[serde(default)]
    severity: At,
    #[serde(default)]
    title: At,
    #[serde(default)]
    description: At,
    #[serde(default)]
    reviewed_at: At,
    #[serde(default)]
    mitigations: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    was: At,
    #[serde(default)]
    targets: At,
    #[serde(default)]
    stride: At,
}

/// One entry of the file with the places of its fields, for messages.
struct Entry<'a> {
    /// `threat `KEY`` or `manual threat `ID``.
    label: String,
    key: String,
    start: Location,
    status: Option<Location>,
    d: &'a LocDecision,
}

fn at(a: &At) -> Option<Location> {
    a.as_ref().map(|s| s.referenced)
}

impl LocDoc {
    fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        let threats = self.threats.iter().map(|(k, v)| Entry {
            label: format!("threat `{k}`"),
            key: k.clone(),
            start: v.referenced,
            status: at(&v.value.status),
            d: &v.value,
        });
        let manual = self.manual_threats.iter().enumerate().map(|(i, v)| {
            let key = v
                .value
                .id
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_else(|| format!("manual_threats[{i}]"));
            Entry {
                label: format!("manual threat `{key}`"),
                key,
                start: v.referenced,
                status: at(&v.value.status),
                d: &v.value,
            }
        });
        threats.chain(manual)
    }

    /// The entry an error at `line:column` is inside: the last one starting before it, unless a
    /// top-level field starts in between.
    fn owner_at(&self, line: u64, column: u64) -> Option<String> {
        if line == 0 {
            return None;
        }
        let mut marks: Vec<((u64, u64), Option<String>)> = self
            .entries()
            .map(|e| ((e.start.line(), e.start.column()), Some(e.label)))
            .collect();
        for top in [&self.review_version, &self.model, &self.model_hash] {
            if let Some(l) = at(top) {
                marks.push(((l.line(), l.column()), None));
            }
        }
        marks.sort_by_key(|(p, _)| *p);
        marks
            .into_iter()
            .rev()
            .find(|(p, _)| *p <= (line, column))
            .and_then(|(_, label)| label)
    }

    /// Where a field of an entry is, falling back to the entry itself.
    fn field_pos(&self, key: &str, field: Field) -> (u64, u64) {
        let Some(e) = self.entries().find(|e| e.key == key) else {
            return (0, 0);
        };
        let d = e.d;
        let l = match field {
            Field::Key => None,
            Field::Id => d.id.as_ref().map(|s| s.referenced),
            Field::Status => at(&d.status),
            Field::Expires => at(&d.expires),
            Field::Severity => at(&d.severity),
            Field::Title => at(&d.title),
            Field::Description => at(&d.description),
            Field::ReviewedAt => at(&d.reviewed_at),
            Field::Mitigation(i) => d.mitigations.get(i).map(|s| s.referenced),
            Field::Was => at(&d.was),
            Field::Targets => at(&d.targets),
            Field::Stride => at(&d.stride),
        };
        let l = l.unwrap_or(e.start);
        (l.line(), l.column())
    }
}
