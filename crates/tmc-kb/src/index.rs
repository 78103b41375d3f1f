//! Storage and first-stage retrieval behind the [`Index`] trait, so the embedded SQLite index
//! (the default: one file, no server) and a server backend (pgvector, OpenSearch) are
//! interchangeable for ingest, search and drafting.
//!
//! [`SqliteIndex`] keeps chunks in a table, their text in an FTS5 table (BM25 via `bm25()`),
//! their `key=value` metadata in a tag table for exact filters, and embeddings as little-endian
//! f32 BLOBs searched by exact cosine (fine below ~50 k chunks; our corpus is ~2 k). Every
//! source is replaced in one transaction, so an interrupted ingest leaves the previous state of
//! that source and the completed state of every source before it.

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
        Ok(SqliteIndex { conn })
    }

    /// An index that lives only in memory (evaluation, tests).
    pub fn in_memory() -> Result<Self, KbError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteIndex { conn })
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

    fn search_dense(
        &self,
        vector: &[f32],
        model: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, KbError> {
        let (cond, fparams) = Self::filter_sql(filter);
        let sql = format!(
            "SELECT c.id, c.embedding FROM chunks c JOIN sources s ON s.id = c.source_id WHERE c.embedding IS NOT NULL AND s.embed_model = ?{cond}"
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut all = vec![model.to_string()];
        all.extend(fparams);
        let mut scored: Vec<(i64, f64)> = Vec::new();
        let mut rows = st.query(params_from_iter(all.iter()))?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let blob: Vec<u8> = r.get(1)?;
            scored.push((id, cosine(vector, &blob_to_vector(&blob))));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(limit);
        Ok(scored)
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
