//! Storage and first-stage retrieval behind the [`Index`] trait, so the embedded SQLite index
//! (the default: one file, no server) and a server backend (pgvector, OpenSearch) are
//! interchangeable for ingest, search and drafting.
//!
//! [`SqliteIndex`] keeps chunks in a table, their text in an FTS5 table (BM25 via `bm25()`),
//! their `key=value` metadata in a tag table for exact filters, and embeddings as little-endian
//! f32 BLOBs. Dense search is exact cosine over those vectors held in memory after the first
//! search (`DenseMatrix`): ~20 ms at 100 k chunks of 384 dimensions on 2 cores, so no
//! approximate index is needed at knowledge-base sizes (the shared standards are ~3.4 k). Every
//! source is replaced in one transaction, so an interrupted ingest leaves the previous state of
//! that source and the completed state of every source before it.

use std::cell::RefCell;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde::Serialize;

use crate::chunk::{Chunk, ChunkKind, ChunkMeta};
use crate::error::KbError;

/// A chunk with its embedding (if an embedder was configured at ingest).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    pub chunk: Chunk,
    pub embedding: Option<Vec<f32>>,
}

/// One source (file) as recorded in the index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceRecord {
    /// Canonical path or other stable locator; the identity of the source.
    pub path: String,
    /// File name, for display and for leave-one-out exclusion.
    pub name: String,
    pub format: String,
    /// Content hash (with parser version and embedding model), for idempotent ingest.
    pub hash: String,
    /// Embedding model the chunks were embedded with, if any.
    pub embed_model: Option<String>,
    pub chunks: usize,
}

/// A chunk read back from the index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChunkRow {
    pub id: i64,
    pub source: String,
    pub source_name: String,
    pub key: String,
    pub kind: ChunkKind,
    pub title: String,
    pub text: String,
    pub meta: ChunkMeta,
}

/// Metadata filters: every `(key, values)` must match one of its values; sources in
/// `exclude_sources` (by path or file name) are left out (leave-one-system-out evaluation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub must: Vec<(String, Vec<String>)>,
    pub exclude_sources: Vec<String>,
}

impl Filter {
    pub fn with(mut self, key: &str, values: &[&str]) -> Self {
        self.must.push((
            key.to_string(),
            values.iter().map(|v| v.to_string()).collect(),
        ));
        self
    }

    /// Parses `key=value[,value…]` as given on the command line.
    pub fn parse_clause(clause: &str) -> Result<(String, Vec<String>), KbError> {
        let (k, v) = clause.split_once('=').ok_or_else(|| {
            KbError::Invalid(format!(
                "filter `{clause}` is not key=value (keys: kind, tech, stride, cwe, capec, asvs, status, system, element, version)"
            ))
        })?;
        let values: Vec<String> = v
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if k.trim().is_empty() || values.is_empty() {
            return Err(KbError::Invalid(format!("filter `{clause}` is empty")));
        }
        Ok((k.trim().to_ascii_lowercase(), values))
    }
}

/// Counts for `tmc kb stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub sources: usize,
    pub chunks: usize,
    pub embedded_chunks: usize,
    pub by_kind: Vec<(String, usize)>,
    pub embed_models: Vec<String>,
}

/// A storage backend. Scores are "higher is better" and only comparable within one call.
pub trait Index {
    /// The recorded hash of a source, if it was ingested.
    fn source_hash(&self, path: &str) -> Result<Option<String>, KbError>;
    /// Replaces everything stored for `source` with `chunks`, atomically.
    fn replace_source(
        &mut self,
        source: &SourceRecord,
        chunks: &[StoredChunk],
    ) -> Result<(), KbError>;
    /// Removes sources whose path equals `target` or lies under it (a directory), or whose
    /// file name equals it. Returns the removed sources.
    fn remove(&mut self, target: &str) -> Result<Vec<SourceRecord>, KbError>;
    fn sources(&self) -> Result<Vec<SourceRecord>, KbError>;
    /// Lexical (BM25) search.
    fn search_lexical(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, KbError>;
    /// Exact cosine search over chunks embedded with `model`.
    fn search_dense(
        &self,
        vector: &[f32],
        model: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, KbError>;
    fn chunks(&self, ids: &[i64]) -> Result<Vec<ChunkRow>, KbError>;
    fn stats(&self) -> Result<Stats, KbError>;
}

/// The embedded default.
pub struct SqliteIndex {
    conn: Connection,
    /// Vectors of the model last searched, loaded on the first dense search (see
    /// [`DenseMatrix`]). A `RefCell` because searches take `&self`; `Connection` is not `Sync`
    /// either, so nothing is lost.
    dense: RefCell<Option<DenseMatrix>>,
}

/// The vectors of one embedding model, held in memory for exact search: read from the table
/// once, normalised, in one contiguous row-major matrix, so a query is a pass of dot products
/// over memory instead of a scan that decodes every BLOB again. 100 k × 384 dims is 154 MB.
struct DenseMatrix {
    model: String,
    /// `PRAGMA data_version` when loaded: it changes when another connection commits, which
    /// makes the matrix stale (this connection's own writes drop it directly).
    data_version: i64,
    dim: usize,
    /// Chunk ids, ascending; row `i` of `data` belongs to `ids[i]`.
    ids: Vec<i64>,
    /// Kind and source of each row, so the common filters (`kind`, `source`, excluded
    /// sources) are checked in memory instead of by reading every chunk row again.
    kinds: Vec<String>,
    source_ids: Vec<i64>,
    data: Vec<f32>,
}

impl DenseMatrix {
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Dot product in eight lanes, which the compiler turns into SIMD.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `v / |v|`; zero stays zero (its cosine with anything is 0, as [`cosine`] says).
fn normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter().map(|x| x / n).collect()
    } else {
        vec![0.0; v.len()]
    }
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    hash TEXT NOT NULL,
    embed_model TEXT,
    chunks INTEGER NOT NULL,
    ingested_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    meta TEXT NOT NULL,
    embedding BLOB,
    UNIQUE (source_id, key)
);
CREATE TABLE IF NOT EXISTS tags (
    chunk_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tags_kv ON tags (key, value, chunk_id);
CREATE INDEX IF NOT EXISTS tags_chunk ON tags (chunk_id);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks (source_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(title, text, tokenize = 'porter unicode61');
";

/// BM25 column weights: a title hit counts double, since titles name the weakness.
const BM25_ARGS: &str = "bm25(chunks_fts, 2.0, 1.0)";

impl SqliteIndex {
    /// Opens (creating if needed) the index file.
    pub fn open(path: &Path) -> Result<Self, KbError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| KbError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteIndex {
            conn,
            dense: RefCell::new(None),
        })
    }

    /// An index that lives only in memory (evaluation, tests).
    pub fn in_memory() -> Result<Self, KbError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteIndex {
            conn,
            dense: RefCell::new(None),
        })
    }

    /// SQL condition and parameters for a filter, on table alias `c` (chunks) and `s` (sources).
    fn filter_sql(filter: &Filter) -> (String, Vec<String>) {
        let mut sql = String::new();
        let mut params = Vec::new();
        for (key, values) in &filter.must {
            let marks = vec!["?"; values.len()].join(",");
            if key == "kind" {
                sql.push_str(&format!(" AND c.kind IN ({marks})"));
            } else if key == "source" {
                sql.push_str(&format!(
                    " AND (s.path IN ({marks}) OR s.name IN ({marks}))"
                ));
                params.extend(values.iter().cloned());
            } else {
                sql.push_str(&format!(
                    " AND c.id IN (SELECT chunk_id FROM tags WHERE key = ? AND value IN ({marks}))"
                ));
                params.push(key.clone());
            }
            params.extend(values.iter().cloned());
        }
        if !filter.exclude_sources.is_empty() {
            let marks = vec!["?"; filter.exclude_sources.len()].join(",");
            sql.push_str(&format!(
                " AND s.path NOT IN ({marks}) AND s.name NOT IN ({marks})"
            ));
            params.extend(filter.exclude_sources.iter().cloned());
            params.extend(filter.exclude_sources.iter().cloned());
        }
        (sql, params)
    }

    fn source_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SourceRecord> {
        Ok(SourceRecord {
            path: row.get(0)?,
            name: row.get(1)?,
            format: row.get(2)?,
            hash: row.get(3)?,
            embed_model: row.get(4)?,
            chunks: row.get::<_, i64>(5)? as usize,
        })
    }

    fn delete_source(tx: &rusqlite::Transaction<'_>, source_id: i64) -> Result<(), KbError> {
        tx.execute(
            "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE source_id = ?1)",
            [source_id],
        )?;
        tx.execute(
            "DELETE FROM tags WHERE chunk_id IN (SELECT id FROM chunks WHERE source_id = ?1)",
            [source_id],
        )?;
        tx.execute("DELETE FROM chunks WHERE source_id = ?1", [source_id])?;
        tx.execute("DELETE FROM sources WHERE id = ?1", [source_id])?;
        Ok(())
    }

    /// Reads every vector of `model` into a [`DenseMatrix`]. Rows whose length differs from
    /// the first are left out: their cosine with any query would be undefined.
    fn load_dense(&self, model: &str, data_version: i64) -> Result<DenseMatrix, KbError> {
        let mut st = self.conn.prepare(
            "SELECT c.id, c.embedding, c.kind, c.source_id FROM chunks c JOIN sources s ON s.id = c.source_id WHERE c.embedding IS NOT NULL AND s.embed_model = ?1 ORDER BY c.id",
        )?;
        let mut rows = st.query([model])?;
        let mut m = DenseMatrix {
            model: model.to_string(),
            data_version,
            dim: 0,
            ids: Vec::new(),
            kinds: Vec::new(),
            source_ids: Vec::new(),
            data: Vec::new(),
        };
        let mut row = Vec::new();
        while let Some(r) = rows.next()? {
            let blob = r
                .get_ref(1)?
                .as_blob()
                .map_err(|e| KbError::Invalid(format!("stored embedding: {e}")))?;
            if m.ids.is_empty() {
                m.dim = blob.len() / 4;
            }
            if m.dim == 0 || blob.len() != m.dim * 4 {
                continue;
            }
            row.clear();
            row.extend(
                blob.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            m.ids.push(r.get(0)?);
            m.kinds.push(r.get(2)?);
            m.source_ids.push(r.get(3)?);
            m.data.extend(normalised(&row));
        }
        Ok(m)
    }

    /// Row numbers in `m` of the chunks that pass `filter`, with the meaning of
    /// [`SqliteIndex::filter_sql`]: `kind` and sources are checked against the matrix, other
    /// keys through the tag index, so no chunk row (text and vector) is read again.
    fn dense_rows(&self, m: &DenseMatrix, filter: &Filter) -> Result<Vec<usize>, KbError> {
        let mut keep = vec![true; m.ids.len()];
        let source_ids = |names: &[String]| -> Result<Vec<i64>, KbError> {
            let marks = vec!["?"; names.len()].join(",");
            let mut st = self.conn.prepare(&format!(
                "SELECT id FROM sources WHERE path IN ({marks}) OR name IN ({marks})"
            ))?;
            let ids = st.query_map(params_from_iter(names.iter().chain(names)), |r| {
                r.get::<_, i64>(0)
            })?;
            Ok(ids.collect::<Result<Vec<_>, _>>()?)
        };
        for (key, values) in &filter.must {
            match key.as_str() {
                "kind" => {
                    for (k, kind) in keep.iter_mut().zip(&m.kinds) {
                        *k = *k && values.contains(kind);
                    }
                }
                "source" => {
                    let allowed = source_ids(values)?;
                    for (k, s) in keep.iter_mut().zip(&m.source_ids) {
                        *k = *k && allowed.contains(s);
                    }
                }
                _ => {
                    let marks = vec!["?"; values.len()].join(",");
                    let mut st = self.conn.prepare(&format!(
                        "SELECT chunk_id FROM tags WHERE key = ? AND value IN ({marks})"
                    ))?;
                    let ids = st
                        .query_map(params_from_iter(std::iter::once(key).chain(values)), |r| {
                            r.get::<_, i64>(0)
                        })?;
                    let mut tagged = vec![false; m.ids.len()];
                    for id in ids {
                        if let Ok(i) = m.ids.binary_search(&id?) {
                            tagged[i] = true;
                        }
                    }
                    for (k, t) in keep.iter_mut().zip(tagged) {
                        *k = *k && t;
                    }
                }
            }
        }
        if !filter.exclude_sources.is_empty() {
            let excluded = source_ids(&filter.exclude_sources)?;
            for (k, s) in keep.iter_mut().zip(&m.source_ids) {
                *k = *k && !excluded.contains(s);
            }
        }
        Ok(keep
            .iter()
            .enumerate()
            .filter_map(|(i, &k)| k.then_some(i))
            .collect())
    }
}

/// FTS5 query from free text: words (letters/digits) as quoted terms joined by OR, so user
/// punctuation can never be FTS5 syntax and any shared word can match (BM25 ranks them).
pub fn fts_query(text: &str) -> Option<String> {
    let mut terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(&w.to_lowercase().as_str()))
        .map(|w| format!("\"{}\"", w.to_lowercase()))
        .collect();
    terms.sort();
    terms.dedup();
    terms.truncate(64);
    if terms.is_empty() {
        None
    } else {
        Some(terms.join(" OR "))
    }
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "by", "with", "is", "are", "be",
    "as", "at", "it", "its", "this", "that", "from", "can", "may", "not", "no", "if", "into",
];

fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[cfg(test)]
fn blob_to_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Cosine similarity; 0 for mismatched or zero vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        dot += f64::from(x) * f64::from(y);
        na += f64::from(x) * f64::from(x);
        nb += f64::from(y) * f64::from(y);
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    let c = dot / (na.sqrt() * nb.sqrt());
    if c.is_finite() { c } else { 0.0 }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Index for SqliteIndex {
    fn source_hash(&self, path: &str) -> Result<Option<String>, KbError> {
        Ok(self
            .conn
            .query_row("SELECT hash FROM sources WHERE path = ?1", [path], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn replace_source(
        &mut self,
        source: &SourceRecord,
        chunks: &[StoredChunk],
    ) -> Result<(), KbError> {
        self.dense.get_mut().take();
        let tx = self.conn.transaction()?;
        let old: Option<i64> = tx
            .query_row(
                "SELECT id FROM sources WHERE path = ?1",
                [&source.path],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = old {
            Self::delete_source(&tx, id)?;
        }
        tx.execute(
            "INSERT INTO sources (path, name, format, hash, embed_model, chunks, ingested_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                source.path,
                source.name,
                source.format,
                source.hash,
                source.embed_model,
                chunks.len() as i64,
                now_secs()
            ],
        )?;
        let source_id = tx.last_insert_rowid();
        {
            let mut ins = tx.prepare(
                "INSERT INTO chunks (source_id, key, kind, title, text, meta, embedding) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut fts =
                tx.prepare("INSERT INTO chunks_fts (rowid, title, text) VALUES (?1, ?2, ?3)")?;
            let mut tag =
                tx.prepare("INSERT INTO tags (chunk_id, key, value) VALUES (?1, ?2, ?3)")?;
            for sc in chunks {
                let c = &sc.chunk;
                let meta = serde_json::to_string(&c.meta)
                    .map_err(|e| KbError::Invalid(format!("metadata of {}: {e}", c.key)))?;
                ins.execute(params![
                    source_id,
                    c.key,
                    c.kind.as_str(),
                    c.title,
                    c.text,
                    meta,
                    sc.embedding.as_deref().map(vector_to_blob)
                ])?;
                let id = tx.last_insert_rowid();
                fts.execute(params![id, c.title, c.text])?;
                for (k, v) in c.meta.tags() {
                    tag.execute(params![id, k, v])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn remove(&mut self, target: &str) -> Result<Vec<SourceRecord>, KbError> {
        self.dense.get_mut().take();
        let tx = self.conn.transaction()?;
        let dir_prefix = format!("{}/", target.trim_end_matches('/'));
        let mut found: Vec<(i64, SourceRecord)> = Vec::new();
        {
            let mut st = tx.prepare(
                "SELECT path, name, format, hash, embed_model, chunks, id FROM sources WHERE path = ?1 OR name = ?1 OR substr(path, 1, length(?2)) = ?2",
            )?;
            let rows = st.query_map(params![target, dir_prefix], |r| {
                Ok((r.get::<_, i64>(6)?, Self::source_row(r)?))
            })?;
            for row in rows {
                found.push(row?);
            }
        }
        for (id, _) in &found {
            Self::delete_source(&tx, *id)?;
        }
        tx.commit()?;
        Ok(found.into_iter().map(|(_, s)| s).collect())
    }

    fn sources(&self) -> Result<Vec<SourceRecord>, KbError> {
        let mut st = self.conn.prepare(
            "SELECT path, name, format, hash, embed_model, chunks FROM sources ORDER BY path",
        )?;
        let rows = st.query_map([], Self::source_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn search_lexical(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, KbError> {
        let Some(q) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let (cond, fparams) = Self::filter_sql(filter);
        let sql = format!(
            "SELECT c.id, -{BM25_ARGS} FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid JOIN sources s ON s.id = c.source_id WHERE chunks_fts MATCH ?{cond} ORDER BY {BM25_ARGS} LIMIT {limit}"
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut all = vec![q];
        all.extend(fparams);
        let rows = st.query_map(params_from_iter(all.iter()), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Exact search over the in-memory `DenseMatrix` (loaded on first use, reloaded when
    /// the model changes or another connection has written): one dot product per chunk, then a
    /// partial sort for the top `limit`. Ties go to the lower id, so results are deterministic.
    fn search_dense(
        &self,
        vector: &[f32],
        model: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, KbError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let fresh = self
            .dense
            .borrow()
            .as_ref()
            .is_some_and(|m| m.model == model && m.data_version == version);
        if !fresh {
            let m = self.load_dense(model, version)?;
            *self.dense.borrow_mut() = Some(m);
        }
        let guard = self.dense.borrow();
        let Some(m) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        if limit == 0 || m.ids.is_empty() || vector.len() != m.dim {
            return Ok(Vec::new());
        }
        let q = normalised(vector);
        let mut scored: Vec<(f32, usize)> =
            if filter.must.is_empty() && filter.exclude_sources.is_empty() {
                (0..m.ids.len()).map(|i| (dot(&q, m.row(i)), i)).collect()
            } else {
                self.dense_rows(m, filter)?
                    .into_iter()
                    .map(|i| (dot(&q, m.row(i)), i))
                    .collect()
            };
        // Rows are in id order, so the row number breaks ties as the id would.
        let order = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if scored.len() > limit {
            scored.select_nth_unstable_by(limit, order);
            scored.truncate(limit);
        }
        scored.sort_unstable_by(order);
        Ok(scored
            .into_iter()
            .map(|(score, i)| (m.ids[i], f64::from(score)))
            .collect())
    }

    fn chunks(&self, ids: &[i64]) -> Result<Vec<ChunkRow>, KbError> {
        let mut st = self.conn.prepare(
            "SELECT c.id, s.path, s.name, c.key, c.kind, c.title, c.text, c.meta FROM chunks c JOIN sources s ON s.id = c.source_id WHERE c.id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = st
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                })
                .optional()?;
            if let Some((id, source, source_name, key, kind, title, text, meta)) = row {
                out.push(ChunkRow {
                    id,
                    source,
                    source_name,
                    key,
                    kind: ChunkKind::parse(&kind).unwrap_or(ChunkKind::Doc),
                    title,
                    text,
                    meta: serde_json::from_str(&meta).unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    fn stats(&self) -> Result<Stats, KbError> {
        let count = |sql: &str| -> Result<usize, KbError> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as usize)
        };
        let mut st = self
            .conn
            .prepare("SELECT kind, COUNT(*) FROM chunks GROUP BY kind ORDER BY kind")?;
        let by_kind = st
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut st = self.conn.prepare(
            "SELECT DISTINCT embed_model FROM sources WHERE embed_model IS NOT NULL ORDER BY 1",
        )?;
        let embed_models = st
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Stats {
            sources: count("SELECT COUNT(*) FROM sources")?,
            chunks: count("SELECT COUNT(*) FROM chunks")?,
            embedded_chunks: count("SELECT COUNT(*) FROM chunks WHERE embedding IS NOT NULL")?,
            by_kind,
            embed_models,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_query_neutralises_syntax() {
        assert_eq!(
            fts_query("SQL \"injection\" OR NEAR(x)*").as_deref(),
            Some("\"injection\" OR \"near\" OR \"sql\" OR \"x\"")
        );
        assert_eq!(fts_query("the of ..."), None);
    }

    #[test]
    fn vectors_round_trip_through_blobs() {
        let v = vec![0.5f32, -1.25, 3.0];
        assert_eq!(blob_to_vector(&vector_to_blob(&v)), v);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-9);
        assert_eq!(cosine(&v, &[1.0]), 0.0);
    }

    fn stored(key: &str, kind: ChunkKind, v: Vec<f32>) -> StoredChunk {
        StoredChunk {
            chunk: Chunk {
                key: key.into(),
                kind,
                title: key.into(),
                text: format!("text of {key}"),
                meta: ChunkMeta::default(),
            },
            embedding: Some(v),
        }
    }

    fn source(path: &str, n: usize, model: &str) -> SourceRecord {
        SourceRecord {
            path: path.into(),
            name: path.into(),
            format: "test".into(),
            hash: path.into(),
            embed_model: Some(model.into()),
            chunks: n,
        }
    }

    fn keys(index: &SqliteIndex, hits: &[(i64, f64)]) -> Vec<String> {
        let ids: Vec<i64> = hits.iter().map(|h| h.0).collect();
        index
            .chunks(&ids)
            .expect("rows")
            .into_iter()
            .map(|r| r.key)
            .collect()
    }

    #[test]
    fn dense_search_ranks_by_cosine_and_follows_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("i.sqlite3");
        let mut a = SqliteIndex::open(&path).expect("open");
        let chunks = vec![
            stored("x", ChunkKind::Cwe, vec![1.0, 0.0, 0.0]),
            // Not unit length: cosine, not the raw dot product, must rank it.
            stored("xy", ChunkKind::Doc, vec![10.0, 10.0, 0.0]),
            stored("y", ChunkKind::Cwe, vec![0.0, 1.0, 0.0]),
            stored("zero", ChunkKind::Doc, vec![0.0, 0.0, 0.0]),
            stored("short", ChunkKind::Doc, vec![1.0, 0.0]),
        ];
        a.replace_source(&source("s1", 5, "m"), &chunks)
            .expect("write");
        let q = [2.0f32, 0.5, 0.0];
        let hits = a
            .search_dense(&q, "m", &Filter::default(), 10)
            .expect("search");
        assert_eq!(keys(&a, &hits), ["x", "xy", "y", "zero"], "{hits:?}");
        let expected = cosine(&q, &[10.0, 10.0, 0.0]);
        assert!((hits[1].1 - expected).abs() < 1e-6, "{hits:?}");
        assert_eq!(hits[3].1, 0.0);
        // Partial sort keeps the best; filters; other models and wrong sizes give nothing.
        let top = a
            .search_dense(&q, "m", &Filter::default(), 2)
            .expect("search");
        assert_eq!(keys(&a, &top), ["x", "xy"]);
        let cwe = Filter::default().with("kind", &["cwe"]);
        let hits = a
            .search_dense(&[0.0, 1.0, 0.0], "m", &cwe, 10)
            .expect("search");
        assert_eq!(keys(&a, &hits), ["y", "x"]);
        assert!(
            a.search_dense(&q, "other", &Filter::default(), 10)
                .expect("search")
                .is_empty()
        );
        assert!(
            a.search_dense(&[1.0], "m", &Filter::default(), 10)
                .expect("search")
                .is_empty()
        );

        // A write through this index drops the in-memory vectors.
        a.replace_source(
            &source("s1", 1, "m"),
            &[stored("only", ChunkKind::Doc, vec![0.0, 0.0, 1.0])],
        )
        .expect("write");
        let hits = a
            .search_dense(&q, "m", &Filter::default(), 10)
            .expect("search");
        assert_eq!(keys(&a, &hits), ["only"]);
        // So does a write through another connection to the same file.
        let mut b = SqliteIndex::open(&path).expect("open");
        b.replace_source(
            &source("s2", 1, "m"),
            &[stored("new", ChunkKind::Doc, vec![1.0, 0.1, 0.0])],
        )
        .expect("write");
        let hits = a
            .search_dense(&q, "m", &Filter::default(), 10)
            .expect("search");
        assert_eq!(keys(&a, &hits), ["new", "only"]);
        b.remove("s2").expect("remove");
        let hits = a
            .search_dense(&q, "m", &Filter::default(), 10)
            .expect("search");
        assert_eq!(keys(&a, &hits), ["only"]);
    }

    /// The in-memory filter of dense search keeps exactly the chunks the SQL filter of
    /// lexical search keeps.
    #[test]
    fn dense_filters_mean_what_sql_filters_mean() {
        let mut idx = SqliteIndex::in_memory().expect("index");
        for (src, model) in [("/k/a.csv", "m"), ("/k/b.csv", "m"), ("/k/c.csv", "other")] {
            let chunks: Vec<StoredChunk> = (0..6)
                .map(|i| {
                    let mut c = stored(
                        &format!("{src}-{i}"),
                        if i % 2 == 0 {
                            ChunkKind::Cwe
                        } else {
                            ChunkKind::Doc
                        },
                        vec![1.0, i as f32, 0.5],
                    );
                    c.chunk.meta.cwe = vec![79 + (i % 3) as u32];
                    c
                })
                .collect();
            idx.replace_source(&source(src, 6, model), &chunks)
                .expect("write");
        }
        let filters = [
            Filter::default(),
            Filter::default().with("kind", &["cwe"]),
            Filter::default().with("kind", &["cwe", "doc"]),
            Filter::default().with("cwe", &["79"]),
            Filter::default()
                .with("cwe", &["80", "81"])
                .with("kind", &["doc"]),
            Filter::default().with("source", &["b.csv"]),
            Filter::default().with("source", &["/k/a.csv", "c.csv"]),
            Filter {
                exclude_sources: vec!["a.csv".into()],
                ..Filter::default()
            },
            Filter {
                exclude_sources: vec!["/k/b.csv".into()],
                ..Filter::default().with("cwe", &["79"])
            },
            Filter::default().with("cwe", &["999"]),
        ];
        for f in &filters {
            let mut dense: Vec<i64> = idx
                .search_dense(&[1.0, 1.0, 1.0], "m", f, 100)
                .expect("search")
                .into_iter()
                .map(|h| h.0)
                .collect();
            dense.sort();
            let (cond, params) = SqliteIndex::filter_sql(f);
            let mut st = idx
                .conn
                .prepare(&format!(
                    "SELECT c.id FROM chunks c JOIN sources s ON s.id = c.source_id WHERE s.embed_model = 'm'{cond} ORDER BY c.id"
                ))
                .expect("sql");
            let sql: Vec<i64> = st
                .query_map(params_from_iter(params.iter()), |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert_eq!(dense, sql, "{f:?}");
        }
    }

    #[test]
    fn dot_matches_cosine_on_unit_vectors() {
        let a: Vec<f32> = (0..21).map(|i| (i as f32 * 0.7).sin()).collect();
        let b: Vec<f32> = (0..21).map(|i| (i as f32 * 0.3).cos()).collect();
        let d = f64::from(dot(&normalised(&a), &normalised(&b)));
        assert!((d - cosine(&a, &b)).abs() < 1e-6);
        assert_eq!(normalised(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn filter_clauses_parse() {
        assert_eq!(
            Filter::parse_clause("kind=cwe,capec").expect("valid"),
            (
                "kind".to_string(),
                vec!["cwe".to_string(), "capec".to_string()]
            )
        );
        assert!(Filter::parse_clause("kind").is_err());
        assert!(Filter::parse_clause("kind=").is_err());
    }
}
