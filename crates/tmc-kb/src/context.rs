//! Retrieved context for the copilot's prompt (`tmc draft --kb --provider …`, eval mode
//! `rules+kb+llm`).
//!
//! [`crate::augment`] adds past threats to the draft directly; this module instead hands the
//! model what the knowledge base knows about each element — threats accepted in past reviews,
//! the organisation's documents, CWE/CAPEC entries — as short, source-labelled passages, so the
//! model can reason from them and cite their ids. The budget is shared fairly: elements take
//! turns (first hit of every element, then second hits…) until the chunk cap is reached, so a
//! large system does not spend the whole context on its first component.

use std::collections::BTreeSet;

use tmc_model::SystemModel;

use crate::augment::{CONFIRMED_STATUSES, Element, elements, past_threats};
use crate::chunk::{ChunkKind, truncate};
use crate::error::KbError;
use crate::index::{ChunkRow, Filter};
use crate::search::{KnowledgeBase, SearchOptions};

#[derive(Debug, Clone, PartialEq)]
pub struct ContextOptions {
    /// Past-review threats retrieved per element.
    pub threats_per_element: usize,
    /// Organisation-document sections retrieved per element.
    pub docs_per_element: usize,
    /// CWE / CAPEC entries retrieved per element.
    pub standards_per_element: usize,
    /// Most passages in the prompt, whatever the system's size.
    pub max_chunks: usize,
    /// Longest passage, in bytes (cut at a character boundary).
    pub max_chars: usize,
    /// Review statuses that make a past threat worth showing.
    pub statuses: Vec<String>,
    /// Sources never used (leave-one-system-out evaluation).
    pub exclude_sources: Vec<String>,
}

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            threats_per_element: 2,
            docs_per_element: 1,
            standards_per_element: 1,
            max_chunks: 16,
            max_chars: 700,
            // Every status a reviewer gives a real threat (confirmed, treated, consciously
            // carried) and edited threats: see `augment::CONFIRMED_STATUSES`.
            statuses: CONFIRMED_STATUSES.map(String::from).to_vec(),
            exclude_sources: Vec::new(),
        }
    }
}

/// One passage for the prompt. `id` is what the model cites (`source_name#key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextChunk {
    pub id: String,
    pub text: String,
    /// Element ids this passage was retrieved for.
    pub elements: Vec<String>,
}

/// Retrieves passages for every in-scope component and every flow; see the module docs.
pub fn retrieve_context(
    kb: &KnowledgeBase,
    model: &SystemModel,
    opts: &ContextOptions,
) -> Result<Vec<ContextChunk>, KbError> {
    let statuses: Vec<&str> = opts.statuses.iter().map(String::as_str).collect();
    let mut per_element: Vec<(String, Vec<ChunkRow>)> = Vec::new();
    for el in elements(model) {
        let mut rows = Vec::new();
        // Past threats only for an element of the same technology and role (see
        // `augment::past_threats`): the model is told what was accepted for elements like
        // this one, never for unrelated ones it might then transplant.
        if let Some(threats) = past_threats(&el, &statuses, &opts.exclude_sources) {
            rows.extend(search(kb, &el, threats, opts.threats_per_element)?);
        }
        let docs = base_filter(opts).with("kind", &[ChunkKind::Doc.as_str()]);
        rows.extend(search(kb, &el, docs, opts.docs_per_element)?);
        let standards = base_filter(opts).with(
            "kind",
            &[ChunkKind::Cwe.as_str(), ChunkKind::Capec.as_str()],
        );
        rows.extend(search(kb, &el, standards, opts.standards_per_element)?);
        per_element.push((el.target.id.clone(), rows));
    }

    let mut out: Vec<ContextChunk> = Vec::new();
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    let deepest = per_element.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
    'turns: for turn in 0..deepest {
        for (element, rows) in &per_element {
            let Some(row) = rows.get(turn) else { continue };
            if !seen.insert(row.id) {
                let id = source_id(row);
                if let Some(c) = out.iter_mut().find(|c| c.id == id)
                    && !c.elements.contains(element)
                {
                    c.elements.push(element.clone());
                }
                continue;
            }
            if out.len() >= opts.max_chunks {
                break 'turns;
            }
            out.push(ContextChunk {
                id: source_id(row),
                text: passage(row, opts.max_chars),
                elements: vec![element.clone()],
            });
        }
    }
    Ok(out)
}

fn base_filter(opts: &ContextOptions) -> Filter {
    Filter {
        exclude_sources: opts.exclude_sources.clone(),
        ..Filter::default()
    }
}

fn search(
    kb: &KnowledgeBase,
    el: &Element,
    filter: Filter,
    k: usize,
) -> Result<Vec<ChunkRow>, KbError> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let opts = SearchOptions {
        k,
        filter,
        mode: None,
    };
    Ok(kb
        .search(&el.query, &opts)?
        .hits
        .into_iter()
        .map(|h| h.chunk)
        .collect())
}

fn source_id(row: &ChunkRow) -> String {
    format!("{}#{}", row.source_name, row.key)
}

/// A labelled passage: what it is (past threat and its review status, document, CWE), then the
/// text, cut to `max_chars`. A past threat's text ends with what its review decided (rule,
/// reason, severity override; see `parse::threats`), which a cut could lose, so those lines go
/// right under the title and the cut leaves room for them.
fn passage(row: &ChunkRow, max_chars: usize) -> String {
    let label = match row.kind {
        ChunkKind::Threat => format!(
            "Past threat model \"{}\", review status {}",
            row.meta.system.as_deref().unwrap_or(&row.source_name),
            row.meta.status.as_deref().unwrap_or("unknown")
        ),
        ChunkKind::Doc => format!("Organisation document {}", row.source_name),
        other => other.as_str().to_ascii_uppercase(),
    };
    let (text, decided) = match row.kind {
        ChunkKind::Threat => split_decision(&row.text),
        _ => (row.text.as_str(), ""),
    };
    let body = truncate(text, max_chars.saturating_sub(decided.len()));
    let cut = if body.len() < text.len() { " …" } else { "" };
    format!("{label}: {}{decided}\n{body}{cut}", row.title)
}

/// A past threat's text and its trailing decision lines (`Rule:`, `Review:`, `Severity set`).
fn split_decision(text: &str) -> (&str, &str) {
    let at = ["\nRule: ", "\nReview: ", "\nSeverity set from "]
        .iter()
        .filter_map(|m| text.find(m))
        .min();
    match at {
        Some(i) => text.split_at(i),
        None => (text, ""),
    }
}
