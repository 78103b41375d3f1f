//! The shape of `data/keywords.yaml` and the checks it must pass.
//!
//! Shared by `build.rs` (which checks the file and generates the tables the importers match
//! with) and by the unit tests (which parse the file again and compare it with what was
//! generated), through `#[path]`, so the two can never read the file differently.

use serde::Deserialize;
use tmc_model::{Protocol, Technology};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordFile {
    /// Component technologies, in priority order: the first entry that matches decides.
    pub technologies: Vec<TechnologyEntry>,
    /// Flow protocols, in priority order.
    pub protocols: Vec<ProtocolEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TechnologyEntry {
    pub technology: Technology,
    pub keywords: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolEntry {
    pub protocol: Protocol,
    pub keywords: Vec<String>,
    /// Trusted only in a field that states the protocol, never in a name or description.
    #[serde(default)]
    pub protocol_field_only: bool,
}

/// One entry seen the same way whatever its table, for the checks.
struct View<'a> {
    label: String,
    value: String,
    field_only: bool,
    keywords: &'a [String],
}

/// Everything wrong with the file, one message per problem; empty when it is usable.
///
/// Beyond syntax this rejects keywords that can never decide: one listed twice, or one that an
/// earlier keyword matches in every text it matches (`vault*` before `key vault`). With first
/// match wins, such a keyword is dead weight at best and, when its value differs, a priority
/// mistake that would silently give the earlier entry's answer.
pub fn check(file: &KeywordFile) -> Vec<String> {
    let mut problems = Vec::new();
    let tech: Vec<View<'_>> = file
        .technologies
        .iter()
        .enumerate()
        .map(|(i, e)| View {
            label: format!("technologies[{i}] ({})", e.technology.as_str()),
            value: e.technology.as_str().to_string(),
            field_only: false,
            keywords: &e.keywords,
        })
        .collect();
    let proto: Vec<View<'_>> = file
        .protocols
        .iter()
        .enumerate()
        .map(|(i, e)| View {
            label: format!("protocols[{i}] ({})", e.protocol.as_str()),
            value: e.protocol.as_str().to_string(),
            field_only: e.protocol_field_only,
            keywords: &e.keywords,
        })
        .collect();
    if file
        .technologies
        .iter()
        .any(|e| e.technology == Technology::Other)
    {
        problems.push("technology `other` is what importers use when nothing matches; it is not a guess to list".to_string());
    }
    if file.protocols.iter().any(|e| e.protocol == Protocol::Other) {
        problems.push("protocol `other` is not a guess to list".to_string());
    }
    check_table(&tech, &mut problems);
    check_table(&proto, &mut problems);
    problems
}

fn check_table(entries: &[View<'_>], problems: &mut Vec<String>) {
    // Every earlier keyword, with the entry it belongs to, for the shadowing check.
    let mut earlier: Vec<(&View<'_>, &str)> = Vec::new();
    for e in entries {
        if e.keywords.is_empty() {
            problems.push(format!("{}: no keywords", e.label));
        }
        for k in e.keywords {
            if let Err(why) = syntax(k) {
                problems.push(format!("{}: keyword `{k}`: {why}", e.label));
                continue;
            }
            let covered = earlier.iter().find(|(prev, pk)| {
                (!prev.field_only || e.field_only) && subsumes(&words_of(pk), &words_of(k))
            });
            if let Some((prev, pk)) = covered {
                let what = if prev.value == e.value {
                    "is redundant"
                } else {
                    "can never decide"
                };
                problems.push(format!(
                    "{}: keyword `{k}` {what}: `{pk}` in {} matches every text it matches",
                    e.label, prev.label
                ));
            }
            earlier.push((e, k));
        }
    }
}

/// Lower-case letters and digits, words separated by one space, an optional `*` ending a word.
fn syntax(keyword: &str) -> Result<(), &'static str> {
    if keyword.is_empty() {
        return Err("empty");
    }
    for w in keyword.split(' ') {
        let stem = w.strip_suffix('*').unwrap_or(w);
        if stem.is_empty() {
            return Err("words are separated by exactly one space, and `*` must follow letters");
        }
        if !stem
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(
                "use lower-case letters and digits only (texts are split into words at anything else)",
            );
        }
    }
    Ok(())
}

fn words_of(keyword: &str) -> Vec<&str> {
    keyword.split(' ').collect()
}

/// Whether pattern word `a` matches every word that pattern word `b` matches.
fn pattern_covers(a: &str, b: &str) -> bool {
    match (a.strip_suffix('*'), b.strip_suffix('*')) {
        (None, None) => a == b,
        // An exact word never covers a prefix, which also matches longer words.
        (None, Some(_)) => false,
        (Some(pa), None) => b.starts_with(pa),
        (Some(pa), Some(pb)) => pb.starts_with(pa),
    }
}

/// Whether keyword `a` matches every text that keyword `b` matches: `a`'s words cover a run
/// of `b`'s consecutive words.
fn subsumes(a: &[&str], b: &[&str]) -> bool {
    a.len() <= b.len()
        && b.windows(a.len())
            .any(|w| w.iter().zip(a).all(|(bw, aw)| pattern_covers(aw, bw)))
}
