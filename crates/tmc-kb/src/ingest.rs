//! Ingest: files and directories → parsed chunks → the index.
//!
//! Idempotent by content hash: a source whose bytes, parser version and embedding model are
//! unchanged is skipped; a changed one is replaced whole (so deleted threats disappear). Each
//! source is written in its own transaction, so an interrupted run leaves a usable index.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::chunk::Chunk;
use crate::embed::Embedder;
use crate::error::KbError;
use crate::index::{Index, SourceRecord, StoredChunk};
use crate::parse::{MAX_SOURCE_BYTES, PARSER_VERSION, parse_file};

/// Directories deeper than this are not walked (symlink loops, runaway trees).
const MAX_DEPTH: usize = 16;

/// Progress reporting; the CLI draws a bar, tests and evaluation pass [`NoProgress`].
pub trait Progress {
    fn start(&self, _files: usize) {}
    fn file(&self, _path: &Path) {}
    fn done(&self) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Added,
    Updated,
    Unchanged,
    Skipped,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    pub path: String,
    pub outcome: Outcome,
    pub format: Option<String>,
    pub chunks: usize,
    /// Why it was skipped, or, for a file that was ingested, what of it was left out (PDF
    /// pages over a size limit).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestSummary {
    pub files: Vec<FileReport>,
    pub chunks_written: usize,
    /// Chunks written per kind.
    pub by_kind: BTreeMap<String, usize>,
    /// The embedding model, or `None` for BM25 only.
    pub embed_model: Option<String>,
    pub seconds: f64,
}

impl IngestSummary {
    pub fn count(&self, o: Outcome) -> usize {
        self.files.iter().filter(|f| f.outcome == o).count()
    }
}

/// Expands directories (recursively, sorted, hidden entries skipped) into files.
pub fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<FileReport>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        walk(p, 0, &mut files, &mut errors);
    }
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(f.clone()));
    (files, errors)
}

fn skipped(path: &Path, reason: String) -> FileReport {
    FileReport {
        path: path.display().to_string(),
        outcome: Outcome::Skipped,
        format: None,
        chunks: 0,
        reason: Some(reason),
    }
}

fn walk(p: &Path, depth: usize, files: &mut Vec<PathBuf>, errors: &mut Vec<FileReport>) {
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) => {
            errors.push(skipped(p, format!("cannot read: {e}")));
            return;
        }
    };
    if meta.is_file() {
        files.push(p.to_path_buf());
        return;
    }
    if !meta.is_dir() {
        errors.push(skipped(p, "not a regular file".into()));
        return;
    }
    if depth >= MAX_DEPTH {
        errors.push(skipped(p, format!("deeper than {MAX_DEPTH} directories")));
        return;
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(p) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            errors.push(skipped(p, format!("cannot list: {e}")));
            return;
        }
    };
    entries.sort();
    for e in entries {
        let hidden = e
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden {
            walk(&e, depth + 1, files, errors);
        }
    }
}

/// The identity of a source: its canonical path when it exists, else the path as given.
pub fn source_id(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn content_hash(bytes: &[u8], embed_model: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(format!("tmc-kb parser {PARSER_VERSION}\0").as_bytes());
    h.update(embed_model.unwrap_or("").as_bytes());
    h.update(b"\0");
    h.update(bytes);
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// Makes chunk keys unique within a source (a model may repeat a threat id).
fn unique_keys(chunks: &mut [Chunk]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for c in chunks.iter_mut() {
        let n = seen.entry(c.key.clone()).or_default();
        *n += 1;
        if *n > 1 {
            c.key = format!("{}#{}", c.key, n);
        }
    }
}

/// Ingests `paths` into `index`. Per-file problems are reported in the summary; only index
/// (database) errors abort, and everything committed before them stays.
pub fn ingest_paths(
    index: &mut dyn Index,
    paths: &[PathBuf],
    embedder: Option<&dyn Embedder>,
    progress: &dyn Progress,
) -> Result<IngestSummary, KbError> {
    let started = Instant::now();
    let (files, errors) = collect_files(paths);
    let embed_model = embedder.map(|e| e.model_id());
    let mut summary = IngestSummary {
        files: errors,
        embed_model: embed_model.clone(),
        ..IngestSummary::default()
    };
    progress.start(files.len());
    for path in &files {
        progress.file(path);
        let report = ingest_file(index, path, embedder, embed_model.as_deref(), &mut summary)?;
        summary.files.push(report);
    }
    progress.done();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn ingest_file(
    index: &mut dyn Index,
    path: &Path,
    embedder: Option<&dyn Embedder>,
    embed_model: Option<&str>,
    summary: &mut IngestSummary,
) -> Result<FileReport, KbError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_SOURCE_BYTES {
        return Ok(skipped(
            path,
            format!("file is {size} bytes; the limit is {MAX_SOURCE_BYTES}"),
        ));
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Ok(skipped(path, format!("cannot read: {e}"))),
    };
    let id = source_id(path);
    let hash = content_hash(&bytes, embed_model);
    let previous = index.source_hash(&id)?;
    if previous.as_deref() == Some(hash.as_str()) {
        return Ok(FileReport {
            path: path.display().to_string(),
            outcome: Outcome::Unchanged,
            format: None,
            chunks: 0,
            reason: None,
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| id.clone());
    let mut parsed = match parse_file(&name, &bytes) {
        Ok(p) => p,
        Err(skip) => return Ok(skipped(path, skip.0)),
    };
    unique_keys(&mut parsed.chunks);
    let embeddings: Vec<Option<Vec<f32>>> = match embedder {
        Some(e) => {
            let texts: Vec<String> = parsed.chunks.iter().map(Chunk::embedding_text).collect();
            match e.embed(&texts) {
                Ok(v) if v.len() == texts.len() => v.into_iter().map(Some).collect(),
                Ok(v) => {
                    return Ok(skipped(
                        path,
                        format!(
                            "embedder returned {} vectors for {} chunks",
                            v.len(),
                            texts.len()
                        ),
                    ));
                }
                Err(err) => return Ok(skipped(path, format!("embedding failed: {err}"))),
            }
        }
        None => vec![None; parsed.chunks.len()],
    };
    let stored: Vec<StoredChunk> = parsed
        .chunks
        .into_iter()
        .zip(embeddings)
        .map(|(chunk, embedding)| StoredChunk { chunk, embedding })
        .collect();
    let record = SourceRecord {
        path: id,
        name,
        format: parsed.format.clone(),
        hash,
        embed_model: embed_model.map(str::to_string),
        chunks: stored.len(),
    };
    index.replace_source(&record, &stored)?;
    for s in &stored {
        *summary
            .by_kind
            .entry(s.chunk.kind.as_str().to_string())
            .or_default() += 1;
    }
    summary.chunks_written += stored.len();
    Ok(FileReport {
        path: path.display().to_string(),
        outcome: if previous.is_some() {
            Outcome::Updated
        } else {
            Outcome::Added
        },
        format: Some(parsed.format),
        chunks: stored.len(),
        reason: parsed.note,
    })
}
