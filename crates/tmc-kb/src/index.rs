//! Storage and first-stage retrieval behind the [`Index`] trait, so the embedded SQLite index
//! (the default: one file, no server) and a server backend (pgvector, OpenSearch) are
//! interchangeable for ingest, search and drafting.
//!
//! [`SqliteIndex`] keeps chunks in a table, their text in an FTS5 table, their `key=value`
//! metadata in a tag table for exact filters, and embeddings as little-endian f32 BLOBs. BM25
//! is FTS5's `bm25()`, computed top-k from an inverted index held in memory after the first
//! search (`LexicalIndex`, see "BM25 top-k in memory" below): FTS5 itself scores every
//! matching row, which is nearly every row for a natural-language query (~750 ms at 100 k). Dense search is exact cosine over those vectors held in memory after the first
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
                "filter `{clause}` is not key=value (keys: kind, tech, stride, cwe, capec, asvs, status, rule, system, element, version)"
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
    /// The BM25 inverted index, built on the first lexical search (see [`LexicalIndex`]).
    lexical: RefCell<Option<LexicalIndex>>,
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
            lexical: RefCell::new(None),
        })
    }

    /// An index that lives only in memory (evaluation, tests).
    pub fn in_memory() -> Result<Self, KbError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteIndex {
            conn,
            dense: RefCell::new(None),
            lexical: RefCell::new(None),
        })
    }

    /// BM25 ranked by FTS5 itself (`ORDER BY bm25(...) LIMIT`), which scores every matching
    /// row. [`Index::search_lexical`] returns the same ranking from memory; this stays as the
    /// reference the tests and the bench compare it with.
    pub fn search_lexical_fts5(
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
            "SELECT c.id, -{BM25_ARGS} FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid JOIN sources s ON s.id = c.source_id WHERE chunks_fts MATCH ?{cond} ORDER BY {BM25_ARGS}, c.id LIMIT {limit}"
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut all = vec![q];
        all.extend(fparams);
        let rows = st.query_map(params_from_iter(all.iter()), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
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

    /// Row numbers in `m` of the chunks that pass `filter` (see [`SqliteIndex::filter_mask`]).
    fn dense_rows(&self, m: &DenseMatrix, filter: &Filter) -> Result<Vec<usize>, KbError> {
        let keep = self.filter_mask(&m.ids, &m.kinds, &m.source_ids, filter)?;
        Ok(keep
            .iter()
            .enumerate()
            .filter_map(|(i, &k)| k.then_some(i))
            .collect())
    }

    /// Which rows (chunk `ids` ascending, with their `kinds` and `source_ids`) pass `filter`,
    /// with the meaning of [`SqliteIndex::filter_sql`]: `kind` and sources are checked in
    /// memory, other keys through the tag index, so no chunk row is read again.
    fn filter_mask(
        &self,
        ids: &[i64],
        kinds: &[String],
        source_ids: &[i64],
        filter: &Filter,
    ) -> Result<Vec<bool>, KbError> {
        let mut keep = vec![true; ids.len()];
        let sources_named = |names: &[String]| -> Result<Vec<i64>, KbError> {
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
                    for (k, kind) in keep.iter_mut().zip(kinds) {
                        *k = *k && values.contains(kind);
                    }
                }
                "source" => {
                    let allowed = sources_named(values)?;
                    for (k, s) in keep.iter_mut().zip(source_ids) {
                        *k = *k && allowed.contains(s);
                    }
                }
                _ => {
                    let marks = vec!["?"; values.len()].join(",");
                    let mut st = self.conn.prepare(&format!(
                        "SELECT chunk_id FROM tags WHERE key = ? AND value IN ({marks})"
                    ))?;
                    let tagged_ids = st
                        .query_map(params_from_iter(std::iter::once(key).chain(values)), |r| {
                            r.get::<_, i64>(0)
                        })?;
                    let mut tagged = vec![false; ids.len()];
                    for id in tagged_ids {
                        if let Ok(i) = ids.binary_search(&id?) {
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
            let excluded = sources_named(&filter.exclude_sources)?;
            for (k, s) in keep.iter_mut().zip(source_ids) {
                *k = *k && !excluded.contains(s);
            }
        }
        Ok(keep)
    }
}

/// FTS5 query from free text: words (letters/digits) as quoted terms joined by OR, so user
/// punctuation can never be FTS5 syntax and any shared word can match (BM25 ranks them).
pub fn fts_query(text: &str) -> Option<String> {
    let terms = query_words(text);
    if terms.is_empty() {
        None
    } else {
        Some(
            terms
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" OR "),
        )
    }
}

/// The words of [`fts_query`], in its order: lower-case, stop words out, sorted, unique, at
/// most 64. The in-memory BM25 ranks these, so both rank the same terms.
pub fn query_words(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(&w.to_lowercase().as_str()))
        .map(|w| w.to_lowercase())
        .collect();
    terms.sort();
    terms.dedup();
    terms.truncate(64);
    terms
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
        self.lexical.get_mut().take();
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
        self.lexical.get_mut().take();
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

    /// BM25 top `limit` from the in-memory [`LexicalIndex`] (built on first use, rebuilt when
    /// another connection has written); scores equal FTS5's `-bm25(chunks_fts, 2.0, 1.0)`.
    fn search_lexical(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, KbError> {
        let words = query_words(query);
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let fresh = self
            .lexical
            .borrow()
            .as_ref()
            .is_some_and(|ix| ix.data_version == version);
        if !fresh {
            let ix = LexicalIndex::load(&self.conn, version)?;
            *self.lexical.borrow_mut() = Some(ix);
        }
        let guard = self.lexical.borrow();
        let Some(ix) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        let keep = if filter.must.is_empty() && filter.exclude_sources.is_empty() {
            None
        } else {
            Some(self.filter_mask(&ix.ids, &ix.kinds, &ix.source_ids, filter)?)
        };
        Ok(ix.search(&words, keep.as_deref(), limit))
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

// ---- BM25 top-k in memory ------------------------------------------------------------------
//
// FTS5 answers `MATCH 'a OR b OR …' ORDER BY bm25(…) LIMIT k` by computing bm25 for every row
// that matches any term: with query terms as common as "data" or "input", that is nearly every
// chunk, and 100 k chunks took ~750 ms a query. FTS5 has no early termination for bm25 (its
// `ORDER BY rank` sorts inside the virtual table but still scores every match), and a bounded
// candidate set (only the rarest terms) agreed with the exact top 10 on under 10 % of results
// on the bench corpus. So the ranking is computed here, exactly as FTS5's bm25 does it, from an
// inverted index held in memory after the first search (like `DenseMatrix`): term-at-a-time
// accumulation over the query terms' postings is a few million additions at worst, ~2–5 ms at
// 100 k chunks. The FTS5 table stays the stored form of the text (and the reference the tests
// compare against); tokens come from a port of FTS5's `porter unicode61` tokenizer, so the terms,
// document lengths, IDF and scores are FTS5's own.

/// FTS5's bm25 constants.
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;
/// Column weights, as in [`BM25_ARGS`]: a title hit counts double.
const TITLE_WEIGHT: f32 = 2.0;
const TEXT_WEIGHT: f32 = 1.0;

/// The inverted index of every chunk: FTS5's tokens, so a score here equals `-bm25(chunks_fts,
/// 2.0, 1.0)` for the same query. 100 k chunks of ~85 words are ~6 M postings, ~50 MB.
struct LexicalIndex {
    /// `PRAGMA data_version` when built (see [`DenseMatrix::data_version`]).
    data_version: i64,
    /// Chunk ids, ascending; row `i` belongs to `ids[i]`.
    ids: Vec<i64>,
    kinds: Vec<String>,
    source_ids: Vec<i64>,
    /// Tokens in title + text of each row (FTS5's `D`).
    lens: Vec<u32>,
    /// Average tokens per row over the whole table (FTS5's `avgdl`).
    avgdl: f64,
    /// Stem → term number; `postings[term]` lists `(row, weighted frequency)`, rows ascending.
    terms: std::collections::HashMap<Vec<u8>, u32>,
    postings: Vec<Vec<(u32, f32)>>,
}

impl LexicalIndex {
    /// Reads every chunk's title and text and tokenizes them.
    fn load(conn: &Connection, data_version: i64) -> Result<LexicalIndex, KbError> {
        let mut st =
            conn.prepare("SELECT id, kind, source_id, title, text FROM chunks ORDER BY id")?;
        let mut rows = st.query([])?;
        let mut ix = LexicalIndex {
            data_version,
            ids: Vec::new(),
            kinds: Vec::new(),
            source_ids: Vec::new(),
            lens: Vec::new(),
            avgdl: 0.0,
            terms: std::collections::HashMap::new(),
            postings: Vec::new(),
        };
        let mut total_tokens: u64 = 0;
        let mut doc: Vec<(u32, f32)> = Vec::new();
        let mut stems = Stemmer::default();
        while let Some(r) = rows.next()? {
            let row = ix.ids.len() as u32;
            ix.ids.push(r.get(0)?);
            ix.kinds.push(r.get(1)?);
            ix.source_ids.push(r.get(2)?);
            doc.clear();
            let mut len: u32 = 0;
            for (col, weight) in [(3, TITLE_WEIGHT), (4, TEXT_WEIGHT)] {
                let text = r.get_ref(col)?.as_str().unwrap_or_default();
                let (terms, postings) = (&mut ix.terms, &mut ix.postings);
                stems.tokens(text, |stem| {
                    len += 1;
                    // Look up by slice first: `entry` would allocate a key for every token.
                    let t = match terms.get(stem) {
                        Some(&t) => t,
                        None => {
                            let t = terms.len() as u32;
                            terms.insert(stem.to_vec(), t);
                            postings.push(Vec::new());
                            t
                        }
                    };
                    doc.push((t, weight));
                });
            }
            doc.sort_unstable_by_key(|&(t, _)| t);
            let mut i = 0;
            while i < doc.len() {
                let t = doc[i].0;
                let mut f = 0.0f32;
                while i < doc.len() && doc[i].0 == t {
                    f += doc[i].1;
                    i += 1;
                }
                ix.postings[t as usize].push((row, f));
            }
            ix.lens.push(len);
            total_tokens += u64::from(len);
        }
        if !ix.ids.is_empty() {
            ix.avgdl = total_tokens as f64 / ix.ids.len() as f64;
        }
        Ok(ix)
    }

    /// The `limit` best rows for the FTS5 query `words` (as [`fts_query`] builds it: each word
    /// a phrase, OR-ed) among rows with `keep[row]` (all rows when `None`), as `(id, score)`,
    /// best first, ties by id.
    fn search(&self, words: &[String], keep: Option<&[bool]>, limit: usize) -> Vec<(i64, f64)> {
        let n = self.ids.len();
        if n == 0 || limit == 0 || self.avgdl <= 0.0 {
            return Vec::new();
        }
        let mut scores = vec![0.0f64; n];
        let mut seen = vec![false; n];
        let mut touched: Vec<u32> = Vec::new();
        let mut stems = Stemmer::default();
        for word in words {
            // Each quoted word is one FTS5 phrase; a word the tokenizer splits (rare: the query
            // side splits on the same characters) is matched on its first token only.
            let mut stem: Option<Vec<u8>> = None;
            stems.tokens(word, |s| {
                if stem.is_none() {
                    stem = Some(s.to_vec());
                }
            });
            let Some(list) = stem
                .and_then(|s| self.terms.get(&s))
                .map(|&t| &self.postings[t as usize])
            else {
                continue;
            };
            let hits = list.len() as f64;
            let mut idf = ((n as f64 - hits + 0.5) / (hits + 0.5)).ln();
            if idf <= 0.0 {
                idf = 1e-6;
            }
            for &(row, f) in list {
                let (r, f) = (row as usize, f64::from(f));
                let d = f64::from(self.lens[r]);
                scores[r] += idf
                    * ((f * (BM25_K1 + 1.0))
                        / (f + BM25_K1 * (1.0 - BM25_B + BM25_B * d / self.avgdl)));
                if !seen[r] {
                    seen[r] = true;
                    touched.push(row);
                }
            }
        }
        let mut scored: Vec<(f64, u32)> = touched
            .into_iter()
            .filter(|&r| keep.is_none_or(|k| k[r as usize]))
            .map(|r| (scores[r as usize], r))
            .collect();
        // Rows are in id order, so the row number breaks ties as the id would.
        let order = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if scored.len() > limit {
            scored.select_nth_unstable_by(limit, order);
            scored.truncate(limit);
        }
        scored.sort_unstable_by(order);
        scored
            .into_iter()
            .map(|(s, r)| (self.ids[r as usize], s))
            .collect()
    }
}

/// FTS5's `porter unicode61` tokenizer: `unicode61` splits on every character that is not a
/// letter or digit and folds case; `porter` stems tokens of 3 to 64 bytes with FTS5's rules
/// (ported from `fts5_porter.c`, steps 1a to 5b). Diacritics are not removed (unicode61 does):
/// the knowledge base is English, and an accented word then only fails to meet its unaccented
/// spelling.
#[derive(Default)]
struct Stemmer {
    buf: Vec<u8>,
}

impl Stemmer {
    /// Calls `each` with every stemmed token of `text`, in order.
    fn tokens(&mut self, text: &str, mut each: impl FnMut(&[u8])) {
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            if word.is_empty() {
                continue;
            }
            self.buf.clear();
            if word.is_ascii() {
                self.buf
                    .extend(word.bytes().map(|b| b.to_ascii_lowercase()));
            } else {
                for c in word.chars().flat_map(char::to_lowercase) {
                    let mut tmp = [0u8; 4];
                    self.buf
                        .extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
            }
            if (3..=64).contains(&self.buf.len()) {
                porter::stem(&mut self.buf);
            }
            each(&self.buf);
        }
    }
}

/// A line-by-line port of SQLite's `fts5_porter.c` (the classic Porter algorithm with FTS5's
/// own quirks, e.g. step 1a's "es" handling), so stems equal the ones FTS5 stores.
mod porter {
    fn is_vowel(c: u8, y_is_vowel: bool) -> bool {
        matches!(c, b'a' | b'e' | b'i' | b'o' | b'u') || (y_is_vowel && c == b'y')
    }

    /// Length up to and including the first consonant after the first vowel, or 0.
    fn gobble_vc(stem: &[u8], prev_cons: bool) -> usize {
        let mut cons = prev_cons;
        let mut i = 0;
        while i < stem.len() {
            cons = !is_vowel(stem[i], cons);
            if !cons {
                break;
            }
            i += 1;
        }
        i += 1;
        while i < stem.len() {
            cons = !is_vowel(stem[i], cons);
            if cons {
                return i + 1;
            }
            i += 1;
        }
        0
    }

    fn m_gt0(stem: &[u8]) -> bool {
        gobble_vc(stem, false) != 0
    }

    fn m_gt1(stem: &[u8]) -> bool {
        let n = gobble_vc(stem, false);
        n != 0 && gobble_vc(&stem[n..], true) != 0
    }

    fn m_eq1(stem: &[u8]) -> bool {
        let n = gobble_vc(stem, false);
        n != 0 && gobble_vc(&stem[n..], true) == 0
    }

    /// `*o`: ends consonant-vowel-consonant, the last not w, x or y.
    fn ostar(stem: &[u8]) -> bool {
        match stem.last() {
            None | Some(b'w' | b'x' | b'y') => false,
            Some(_) => {
                let mut mask = 0u8;
                let mut cons = false;
                for &c in stem {
                    cons = !is_vowel(c, cons);
                    mask = ((mask << 1) + u8::from(cons)) & 0x07;
                }
                mask == 0x05
            }
        }
    }

    fn m_gt1_and_s_or_t(stem: &[u8]) -> bool {
        matches!(stem.last(), Some(b's' | b't')) && m_gt1(stem)
    }

    /// `*v*`: the stem contains a vowel.
    fn has_vowel(stem: &[u8]) -> bool {
        stem.iter().enumerate().any(|(i, &c)| is_vowel(c, i > 0))
    }

    type Cond = fn(&[u8]) -> bool;

    /// First rule whose suffix ends `buf` (and is shorter than it) decides: if its condition
    /// holds on the stem, the suffix becomes `output`. Returns whether a rule's suffix matched
    /// and its condition held.
    fn apply(buf: &mut Vec<u8>, rules: &[(&[u8], &[u8], Cond)]) -> bool {
        for &(suffix, output, cond) in rules {
            if buf.len() > suffix.len() && buf.ends_with(suffix) {
                let stem = buf.len() - suffix.len();
                if cond(&buf[..stem]) {
                    buf.truncate(stem);
                    buf.extend_from_slice(output);
                    return true;
                }
                return false;
            }
        }
        false
    }

    fn second_last(buf: &[u8]) -> u8 {
        if buf.len() >= 2 {
            buf[buf.len() - 2]
        } else {
            0
        }
    }

    fn step1a(buf: &mut Vec<u8>) {
        let n = buf.len();
        if n >= 2 && buf[n - 1] == b's' {
            if buf[n - 2] == b'e' {
                if (n > 4 && buf[n - 4] == b's' && buf[n - 3] == b's')
                    || (n > 3 && buf[n - 3] == b'i')
                {
                    buf.truncate(n - 2);
                } else {
                    buf.truncate(n - 1);
                }
            } else if buf[n - 2] != b's' {
                buf.truncate(n - 1);
            }
        }
    }

    /// Step 1b's first part; true when "ed" or "ing" was removed.
    fn step1b(buf: &mut Vec<u8>) -> bool {
        match second_last(buf) {
            b'e' => {
                if buf.len() > 3 && buf.ends_with(b"eed") {
                    if m_gt0(&buf[..buf.len() - 3]) {
                        buf.truncate(buf.len() - 1);
                    }
                    false
                } else if buf.len() > 2 && buf.ends_with(b"ed") && has_vowel(&buf[..buf.len() - 2])
                {
                    buf.truncate(buf.len() - 2);
                    true
                } else {
                    false
                }
            }
            b'n' if buf.len() > 3 && buf.ends_with(b"ing") && has_vowel(&buf[..buf.len() - 3]) => {
                buf.truncate(buf.len() - 3);
                true
            }
            _ => false,
        }
    }

    fn always(_: &[u8]) -> bool {
        true
    }

    fn step1b2(buf: &mut Vec<u8>) -> bool {
        let rules: &[(&[u8], &[u8], Cond)] = match second_last(buf) {
            b'a' => &[(b"at", b"ate", always)],
            b'b' => &[(b"bl", b"ble", always)],
            b'i' => &[(b"iz", b"ize", always)],
            _ => return false,
        };
        apply(buf, rules)
    }

    fn step2(buf: &mut Vec<u8>) {
        let rules: &[(&[u8], &[u8], Cond)] = match second_last(buf) {
            b'a' => &[(b"ational", b"ate", m_gt0), (b"tional", b"tion", m_gt0)],
            b'c' => &[(b"enci", b"ence", m_gt0), (b"anci", b"ance", m_gt0)],
            b'e' => &[(b"izer", b"ize", m_gt0)],
            b'g' => &[(b"logi", b"log", m_gt0)],
            b'l' => &[
                (b"bli", b"ble", m_gt0),
                (b"alli", b"al", m_gt0),
                (b"entli", b"ent", m_gt0),
                (b"eli", b"e", m_gt0),
                (b"ousli", b"ous", m_gt0),
            ],
            b'o' => &[
                (b"ization", b"ize", m_gt0),
                (b"ation", b"ate", m_gt0),
                (b"ator", b"ate", m_gt0),
            ],
            b's' => &[
                (b"alism", b"al", m_gt0),
                (b"iveness", b"ive", m_gt0),
                (b"fulness", b"ful", m_gt0),
                (b"ousness", b"ous", m_gt0),
            ],
            b't' => &[
                (b"aliti", b"al", m_gt0),
                (b"iviti", b"ive", m_gt0),
                (b"biliti", b"ble", m_gt0),
            ],
            _ => return,
        };
        apply(buf, rules);
    }

    fn step3(buf: &mut Vec<u8>) {
        let rules: &[(&[u8], &[u8], Cond)] = match second_last(buf) {
            b'a' => &[(b"ical", b"ic", m_gt0)],
            b's' => &[(b"ness", b"", m_gt0)],
            b't' => &[(b"icate", b"ic", m_gt0), (b"iciti", b"ic", m_gt0)],
            b'u' => &[(b"ful", b"", m_gt0)],
            b'v' => &[(b"ative", b"", m_gt0)],
            b'z' => &[(b"alize", b"al", m_gt0)],
            _ => return,
        };
        apply(buf, rules);
    }

    fn step4(buf: &mut Vec<u8>) {
        let rules: &[(&[u8], &[u8], Cond)] = match second_last(buf) {
            b'a' => &[(b"al", b"", m_gt1)],
            b'c' => &[(b"ance", b"", m_gt1), (b"ence", b"", m_gt1)],
            b'e' => &[(b"er", b"", m_gt1)],
            b'i' => &[(b"ic", b"", m_gt1)],
            b'l' => &[(b"able", b"", m_gt1), (b"ible", b"", m_gt1)],
            b'n' => &[
                (b"ant", b"", m_gt1),
                (b"ement", b"", m_gt1),
                (b"ment", b"", m_gt1),
                (b"ent", b"", m_gt1),
            ],
            b'o' => &[(b"ion", b"", m_gt1_and_s_or_t), (b"ou", b"", m_gt1)],
            b's' => &[(b"ism", b"", m_gt1)],
            b't' => &[(b"ate", b"", m_gt1), (b"iti", b"", m_gt1)],
            b'u' => &[(b"ous", b"", m_gt1)],
            b'v' => &[(b"ive", b"", m_gt1)],
            b'z' => &[(b"ize", b"", m_gt1)],
            _ => return,
        };
        apply(buf, rules);
    }

    /// Stems `buf` (lower-case, 3 to 64 bytes) in place.
    pub(super) fn stem(buf: &mut Vec<u8>) {
        step1a(buf);
        if buf.is_empty() {
            return;
        }
        if step1b(buf) && !step1b2(buf) && !buf.is_empty() {
            let n = buf.len();
            let c = buf[n - 1];
            if !is_vowel(c, false)
                && c != b'l'
                && c != b's'
                && c != b'z'
                && n >= 2
                && c == buf[n - 2]
            {
                buf.truncate(n - 1);
            } else if m_eq1(buf) && ostar(buf) {
                buf.push(b'e');
            }
        }
        if buf.is_empty() {
            return;
        }
        let n = buf.len();
        if buf[n - 1] == b'y' && has_vowel(&buf[..n - 1]) {
            buf[n - 1] = b'i';
        }
        step2(buf);
        step3(buf);
        step4(buf);
        if buf.is_empty() {
            return;
        }
        let n = buf.len();
        if buf[n - 1] == b'e'
            && (m_gt1(&buf[..n - 1]) || (m_eq1(&buf[..n - 1]) && !ostar(&buf[..n - 1])))
        {
            buf.truncate(n - 1);
        }
        let n = buf.len();
        if n > 1 && buf[n - 1] == b'l' && buf[n - 2] == b'l' && m_gt1(&buf[..n - 1]) {
            buf.truncate(n - 1);
        }
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

    /// Classic Porter test words, FTS5's quirks (step 1a's "es", short and long tokens, digits,
    /// y as a vowel) and a security paragraph: every stem must be the one FTS5 stores.
    const STEM_TEXT: &str = "caresses ponies ties caress cats feed agreed plastered bled \
        motoring sing conflated troubled sized hopping tanned falling hissing fizzed failing \
        filing happy sky relational conditional rational valenci hesitanci digitizer \
        conformabli radicalli differentli vileli analogousli vietnamization predication \
        operator feudalism decisiveness hopefulness callousness formaliti sensitiviti \
        sensibiliti triplicate formative formalize electriciti electrical hopeful goodness \
        revival allowance inference airliner gyroscopic adjustable defensible irritant \
        replacement adjustment dependent adoption homologou communism activate angulariti \
        homologous effective bowdlerize probate rate cease controll roll generalizations \
        oscillators uses does goes eed ies sses yes ay is as a ab abc 42 x509 CVE-2021-44228 \
        Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection'): \
        the product constructs all or part of an SQL command using externally-influenced \
        input from an upstream component, but it does not neutralize or incorrectly \
        neutralizes special elements that could modify the intended SQL command when it is \
        sent to a downstream component. Cross-site scripting, deserialization, \
        authentication, authorization, cryptographic, vulnerabilities, easily, \
        supercalifragilisticexpialidocioussupercalifragilisticexpialidocious";

    #[test]
    fn porter_stems_equal_fts5s() {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'porter unicode61');
             CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance');",
        )
        .expect("schema");
        conn.execute("INSERT INTO t (x) VALUES (?1)", [STEM_TEXT])
            .expect("insert");
        let mut st = conn
            .prepare("SELECT term FROM v ORDER BY offset")
            .expect("prepare");
        let theirs: Vec<String> = st
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let mut ours = Vec::new();
        Stemmer::default().tokens(STEM_TEXT, |s| {
            ours.push(String::from_utf8_lossy(s).into_owned())
        });
        assert!(theirs.len() > 150, "{}", theirs.len());
        let diffs: Vec<String> = theirs
            .iter()
            .zip(&ours)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("fts5 {a} / ours {b}"))
            .collect();
        assert!(diffs.is_empty(), "{diffs:?}");
        assert_eq!(ours.len(), theirs.len());
    }

    /// A small corpus with a skewed vocabulary (some words in most chunks, most in few), like
    /// real text, in two sources and two kinds.
    fn bm25_corpus(index: &mut SqliteIndex) {
        let words: Vec<&str> = STEM_TEXT.split_whitespace().collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut pick = || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let u = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            words[((u * u * u) * words.len() as f64) as usize % words.len()]
        };
        for s in 0..2 {
            let chunks: Vec<StoredChunk> = (0..60)
                .map(|i| StoredChunk {
                    chunk: Chunk {
                        key: format!("s{s}-{i}"),
                        kind: if i % 3 == 0 {
                            ChunkKind::Cwe
                        } else {
                            ChunkKind::Doc
                        },
                        title: (0..3).map(|_| pick()).collect::<Vec<_>>().join(" "),
                        text: (0..(10 + i % 30))
                            .map(|_| pick())
                            .collect::<Vec<_>>()
                            .join(" "),
                        meta: ChunkMeta::default(),
                    },
                    embedding: None,
                })
                .collect();
            let mut rec = source(&format!("src{s}"), chunks.len(), "m");
            rec.embed_model = None;
            index.replace_source(&rec, &chunks).expect("write");
        }
    }

    #[test]
    fn lexical_search_equals_fts5_bm25() {
        let mut index = SqliteIndex::in_memory().expect("index");
        bm25_corpus(&mut index);
        let queries = [
            "SQL injection in an upstream component",
            "the product does not neutralize special elements",
            "cross-site scripting and deserialization vulnerabilities",
            "caresses ponies happy sky",
            "nothing matches zzzz",
            "authentication authorization cryptographic",
        ];
        let filters = [
            Filter::default(),
            Filter::default().with("kind", &["cwe"]),
            Filter {
                exclude_sources: vec!["src0".into()],
                ..Filter::default()
            },
        ];
        let mut compared = 0;
        for q in queries {
            for f in &filters {
                for limit in [1, 10, 200] {
                    let ours = index.search_lexical(q, f, limit).expect("ours");
                    let fts5 = index.search_lexical_fts5(q, f, limit).expect("fts5");
                    let ids = |v: &[(i64, f64)]| v.iter().map(|h| h.0).collect::<Vec<_>>();
                    assert_eq!(ids(&ours), ids(&fts5), "{q:?} {f:?} {limit}");
                    for (a, b) in ours.iter().zip(&fts5) {
                        assert!((a.1 - b.1).abs() < 1e-9, "{q:?}: {} vs {}", a.1, b.1);
                    }
                    compared += ours.len();
                }
            }
        }
        assert!(compared > 500, "too few hits compared: {compared}");
    }

    #[test]
    fn lexical_index_follows_writes_from_this_and_other_connections() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("i.sqlite3");
        let mut a = SqliteIndex::open(&path).expect("open");
        bm25_corpus(&mut a);
        assert!(
            a.search_lexical("zebra", &Filter::default(), 10)
                .expect("search")
                .is_empty()
        );
        let mut b = SqliteIndex::open(&path).expect("open b");
        let mut rec = source("zoo", 1, "m");
        rec.embed_model = None;
        let zebra = StoredChunk {
            chunk: Chunk {
                key: "zebra".into(),
                kind: ChunkKind::Doc,
                title: "Zebras".into(),
                text: "a striped zebra".into(),
                meta: ChunkMeta::default(),
            },
            embedding: None,
        };
        b.replace_source(&rec, &[zebra]).expect("write b");
        let hits = a
            .search_lexical("zebra", &Filter::default(), 10)
            .expect("search");
        assert_eq!(keys(&a, &hits), ["zebra"]);
        a.remove("zoo").expect("remove");
        assert!(
            a.search_lexical("zebra", &Filter::default(), 10)
                .expect("search")
                .is_empty()
        );
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
