//! The PostgreSQL + pgvector backend ([`PgIndex`]), for teams that share one knowledge base on a
//! server instead of one SQLite file per reviewer.
//!
//! Same contract as [`crate::SqliteIndex`]: chunks with their metadata (`jsonb`, plus a `text[]`
//! of `key=value` tags with a GIN index so filters are index lookups), the lexical side through
//! PostgreSQL full-text search (`tsvector` generated from title (weight A) and text (weight B),
//! ranked by `ts_rank_cd`), embeddings in a `vector` column searched by cosine distance, and
//! every source replaced in one transaction so an interrupted ingest leaves a usable index.
//!
//! The `vector` column has no fixed dimension because the embedding model (and so the
//! dimension) is only known at ingest. An HNSW index is created per dimension once a source
//! with vectors of that dimension is written: an expression index on `embedding::vector(N)`
//! restricted to rows with `vector_dims(embedding) = N` (the pgvector-documented way to index a
//! column of mixed dimensions). Dense queries use the same expression so the planner can use it.
//!
//! The client is the synchronous `postgres` crate (the CLI is blocking). TLS follows libpq's
//! `sslmode` in the URL (see [`tls`]): `verify-full` for a managed server, `disable` (or no
//! `sslmode`) for a loopback or private-network one.

use std::sync::Mutex;

use postgres::Client;
use postgres::types::ToSql;

use crate::chunk::{ChunkKind, ChunkMeta};
use crate::error::KbError;
use crate::index::{ChunkRow, Filter, Index, SourceRecord, Stats, StoredChunk};

/// Default schema holding the tables, so the knowledge base can share a database with others.
pub const DEFAULT_SCHEMA: &str = "tmc_kb";

/// HNSW candidate list size at query time. pgvector's default (40) would cap a query at 40
/// results, fewer than the 100 candidates fused by RRF, and filters drop more.
const EF_SEARCH: u32 = 200;

/// Full-text configuration: English stemming, like SQLite's porter tokenizer.
const TS_CONFIG: &str = "english";

/// A knowledge base in PostgreSQL with pgvector.
pub struct PgIndex {
    // `Index` reads take `&self` while a `postgres::Client` needs `&mut`; a mutex keeps the
    // index `Send` for callers that move it to another thread.
    client: Mutex<Client>,
    schema: String,
}

/// The server's message with its SQLSTATE, or the error's source chain (`tmc_pg`).
fn pg(e: postgres::Error) -> KbError {
    KbError::Postgres(tmc_pg::db_message(&e))
}

/// A `tmc_pg` error as the knowledge base reports it: a bad connection string or schema name is
/// the user's to fix (`Invalid`), everything else is PostgreSQL's.
fn from_pg(e: tmc_pg::PgError) -> KbError {
    match e {
        tmc_pg::PgError::Invalid(m) => KbError::Invalid(m),
        other => KbError::Postgres(other.to_string()),
    }
}

/// Rejects schema names that would need quoting, so they can be spliced into SQL safely.
fn check_schema(schema: &str) -> Result<(), KbError> {
    tmc_pg::check_identifier(schema, "PostgreSQL schema").map_err(from_pg)
}

/// pgvector's text form `[x,y,…]`; sent as text and cast, so no pgvector client crate is needed.
fn vector_literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// `to_tsquery` input from free text: alphanumeric words only (never tsquery syntax), joined
/// by `|` so any shared word can match, as the SQLite backend's OR query does.
fn ts_query(text: &str) -> Option<String> {
    let q = crate::index::fts_query(text)?;
    let words: Vec<String> = q
        .split(" OR ")
        .map(|w| w.trim_matches('"').to_string())
        .collect();
    Some(words.join(" | "))
}

/// Parameters for a query, boxed so filters of any shape can be appended.
type Params = Vec<Box<dyn ToSql + Sync>>;

fn refs(p: &Params) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|b| b.as_ref()).collect()
}

/// SQL condition for a filter on aliases `c` (chunks) and `s` (sources), appending parameters.
fn filter_sql(filter: &Filter, params: &mut Params) -> String {
    let mut sql = String::new();
    for (key, values) in &filter.must {
        if key == "kind" {
            params.push(Box::new(values.clone()));
            sql.push_str(&format!(" AND c.kind = ANY(${})", params.len()));
        } else if key == "source" {
            params.push(Box::new(values.clone()));
            let n = params.len();
            sql.push_str(&format!(" AND (s.path = ANY(${n}) OR s.name = ANY(${n}))"));
        } else {
            let tags: Vec<String> = values.iter().map(|v| format!("{key}={v}")).collect();
            params.push(Box::new(tags));
            sql.push_str(&format!(" AND c.tags && ${}", params.len()));
        }
    }
    if !filter.exclude_sources.is_empty() {
        params.push(Box::new(filter.exclude_sources.clone()));
        let n = params.len();
        sql.push_str(&format!(
            " AND NOT (s.path = ANY(${n}) OR s.name = ANY(${n}))"
        ));
    }
    sql
}

fn source_record(r: &postgres::Row) -> SourceRecord {
    SourceRecord {
        path: r.get(0),
        name: r.get(1),
        format: r.get(2),
        hash: r.get(3),
        embed_model: r.get(4),
        chunks: r.get::<_, i64>(5).max(0) as usize,
    }
}

impl PgIndex {
    /// Connects and creates the pgvector extension, the schema and the tables if needed.
    ///
    /// `url` is a libpq-style URL or `key=value` string; its `sslmode` and `sslrootcert` decide
    /// how the connection is protected (see [`tmc_pg::TlsSettings`]).
    pub fn connect(url: &str, schema: &str) -> Result<Self, KbError> {
        check_schema(schema)?;
        let mut client = tmc_pg::connect(url).map_err(from_pg)?;
        client
            .batch_execute(&format!(
                "
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS {schema};
SET search_path TO {schema}, public;
SET hnsw.ef_search = {EF_SEARCH};
CREATE TABLE IF NOT EXISTS sources (
    id BIGSERIAL PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    hash TEXT NOT NULL,
    embed_model TEXT,
    chunks BIGINT NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS chunks (
    id BIGSERIAL PRIMARY KEY,
    source_id BIGINT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    meta JSONB NOT NULL,
    tags TEXT[] NOT NULL,
    tsv TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('{TS_CONFIG}', title), 'A') ||
        setweight(to_tsvector('{TS_CONFIG}', text), 'B')) STORED,
    embedding vector,
    UNIQUE (source_id, key)
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks (source_id);
CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX IF NOT EXISTS chunks_tags ON chunks USING gin (tags);
"
            ))
            .map_err(pg)?;
        // Filtered HNSW scans (pgvector ≥ 0.8) keep scanning until enough rows pass the filter;
        // older servers lack the setting, which only costs recall under filters.
        let _ = client.batch_execute("SET hnsw.iterative_scan = relaxed_order");
        Ok(PgIndex {
            client: Mutex::new(client),
            schema: schema.to_string(),
        })
    }

    /// The schema holding this index's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops the whole schema (tests, `reset`): everything this index stored is gone.
    pub fn drop_schema(self) -> Result<(), KbError> {
        let mut client = self
            .client
            .into_inner()
            .map_err(|_| KbError::Postgres("connection lock poisoned".into()))?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .map_err(pg)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Client>, KbError> {
        self.client
            .lock()
            .map_err(|_| KbError::Postgres("connection lock poisoned".into()))
    }
}

impl Index for PgIndex {
    fn source_hash(&self, path: &str) -> Result<Option<String>, KbError> {
        let mut c = self.lock()?;
        let row = c
            .query_opt("SELECT hash FROM sources WHERE path = $1", &[&path])
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn replace_source(
        &mut self,
        source: &SourceRecord,
        chunks: &[StoredChunk],
    ) -> Result<(), KbError> {
        let mut c = self.lock()?;
        let mut tx = c.transaction().map_err(pg)?;
        // Chunks go with the source row (ON DELETE CASCADE).
        tx.execute("DELETE FROM sources WHERE path = $1", &[&source.path])
            .map_err(pg)?;
        let row = tx
            .query_one(
                "INSERT INTO sources (path, name, format, hash, embed_model, chunks) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &source.path,
                    &source.name,
                    &source.format,
                    &source.hash,
                    &source.embed_model,
                    &(chunks.len() as i64),
                ],
            )
            .map_err(pg)?;
        let source_id: i64 = row.get(0);
        let mut dims: Vec<usize> = chunks
            .iter()
            .filter_map(|sc| sc.embedding.as_ref().map(Vec::len))
            .filter(|&d| d > 0)
            .collect();
        dims.sort_unstable();
        dims.dedup();
        for d in dims {
            tx.batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS chunks_hnsw_{d} ON chunks USING hnsw ((embedding::vector({d})) vector_cosine_ops) WHERE vector_dims(embedding) = {d}"
            ))
            .map_err(pg)?;
        }
        let ins = tx
            .prepare(
                "INSERT INTO chunks (source_id, key, kind, title, text, meta, tags, embedding) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8::text::vector)",
            )
            .map_err(pg)?;
        for sc in chunks {
            let ch = &sc.chunk;
            let meta = serde_json::to_string(&ch.meta)
                .map_err(|e| KbError::Invalid(format!("metadata of {}: {e}", ch.key)))?;
            let tags: Vec<String> = ch
                .meta
                .tags()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let embedding = sc
                .embedding
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(vector_literal);
            tx.execute(
                &ins,
                &[
                    &source_id,
                    &ch.key,
                    &ch.kind.as_str(),
                    &ch.title,
                    &ch.text,
                    &meta,
                    &tags,
                    &embedding,
                ],
            )
            .map_err(pg)?;
        }
        tx.commit().map_err(pg)
    }

    fn remove(&mut self, target: &str) -> Result<Vec<SourceRecord>, KbError> {
        let dir_prefix = format!("{}/", target.trim_end_matches('/'));
        let mut c = self.lock()?;
        let rows = c
            .query(
                "DELETE FROM sources WHERE path = $1 OR name = $1 OR left(path, length($2)) = $2 RETURNING path, name, format, hash, embed_model, chunks",
                &[&target, &dir_prefix],
            )
            .map_err(pg)?;
        let mut out: Vec<SourceRecord> = rows.iter().map(source_record).collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn sources(&self) -> Result<Vec<SourceRecord>, KbError> {
        let mut c = self.lock()?;
        let rows = c
            .query(
                "SELECT path, name, format, hash, embed_model, chunks FROM sources ORDER BY path",
                &[],
            )
            .map_err(pg)?;
        Ok(rows.iter().map(source_record).collect())
    }

    fn search_lexical(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, KbError> {
        let Some(q) = ts_query(query) else {
            return Ok(Vec::new());
        };
        let mut params: Params = vec![Box::new(q)];
        let cond = filter_sql(filter, &mut params);
        // Normalisation 1 divides by 1 + log(length), like BM25's length normalisation, so a
        // huge chunk does not win by repeating a word.
        let sql = format!(
            "SELECT c.id, ts_rank_cd(c.tsv, q, 1)::float8 AS score FROM chunks c JOIN sources s ON s.id = c.source_id, to_tsquery('{TS_CONFIG}', $1) q WHERE c.tsv @@ q{cond} ORDER BY score DESC, c.id LIMIT {limit}"
        );
        let mut c = self.lock()?;
        let rows = c.query(&sql, &refs(&params)).map_err(pg)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn search_dense(
        &self,
        vector: &[f32],
        model: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, KbError> {
        let d = vector.len();
        if d == 0 {
            return Ok(Vec::new());
        }
        let mut params: Params = vec![
            Box::new(vector_literal(vector)),
            Box::new(model.to_string()),
        ];
        let cond = filter_sql(filter, &mut params);
        // Same expression and predicate as the per-dimension HNSW index.
        let sql = format!(
            "SELECT c.id, (1 - (c.embedding::vector({d}) <=> $1::text::vector({d})))::float8 FROM chunks c JOIN sources s ON s.id = c.source_id WHERE c.embedding IS NOT NULL AND vector_dims(c.embedding) = {d} AND s.embed_model = $2{cond} ORDER BY c.embedding::vector({d}) <=> $1::text::vector({d}), c.id LIMIT {limit}"
        );
        let mut c = self.lock()?;
        let rows = c.query(&sql, &refs(&params)).map_err(pg)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn chunks(&self, ids: &[i64]) -> Result<Vec<ChunkRow>, KbError> {
        let mut c = self.lock()?;
        let rows = c
            .query(
                "SELECT c.id, s.path, s.name, c.key, c.kind, c.title, c.text, c.meta::text FROM chunks c JOIN sources s ON s.id = c.source_id WHERE c.id = ANY($1)",
                &[&ids],
            )
            .map_err(pg)?;
        let mut by_id: std::collections::BTreeMap<i64, ChunkRow> = rows
            .iter()
            .map(|r| {
                let kind: String = r.get(4);
                let meta: String = r.get(7);
                let row = ChunkRow {
                    id: r.get(0),
                    source: r.get(1),
                    source_name: r.get(2),
                    key: r.get(3),
                    kind: ChunkKind::parse(&kind).unwrap_or(ChunkKind::Doc),
                    title: r.get(5),
                    text: r.get(6),
                    meta: serde_json::from_str::<ChunkMeta>(&meta).unwrap_or_default(),
                };
                (row.id, row)
            })
            .collect();
        // In the order asked, like the SQLite backend.
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    fn stats(&self) -> Result<Stats, KbError> {
        let mut c = self.lock()?;
        let mut count = |sql: &str| -> Result<usize, KbError> {
            let r = c.query_one(sql, &[]).map_err(pg)?;
            Ok(r.get::<_, i64>(0).max(0) as usize)
        };
        let sources = count("SELECT COUNT(*) FROM sources")?;
        let chunks = count("SELECT COUNT(*) FROM chunks")?;
        let embedded_chunks = count("SELECT COUNT(*) FROM chunks WHERE embedding IS NOT NULL")?;
        let by_kind = c
            .query(
                "SELECT kind, COUNT(*) FROM chunks GROUP BY kind ORDER BY kind",
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as usize))
            .collect();
        let embed_models = c
            .query(
                "SELECT DISTINCT embed_model FROM sources WHERE embed_model IS NOT NULL ORDER BY 1",
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(Stats {
            sources,
            chunks,
            embedded_chunks,
            by_kind,
            embed_models,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(check_schema("tmc_kb").is_ok());
        assert!(check_schema("t1_x").is_ok());
        assert!(check_schema("1abc").is_err());
        assert!(check_schema("a;drop").is_err());
        assert!(check_schema("").is_err());
    }

    #[test]
    fn queries_and_vectors_have_no_syntax() {
        assert_eq!(
            ts_query("SQL & injection | !x").as_deref(),
            Some("injection | sql | x")
        );
        assert_eq!(ts_query("the of"), None);
        assert_eq!(vector_literal(&[0.5, -1.0]), "[0.5,-1]");
    }
}
