//! Errors of the knowledge base. Parse problems of one file are not errors of the whole ingest:
//! they become a skip reason in the summary (see [`crate::ingest`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("index: {0}")]
    Sql(#[from] rusqlite::Error),
    /// PostgreSQL backend errors, as text so callers need not depend on the `postgres` crate.
    #[error("postgres: {0}")]
    Postgres(String),
    #[error("embeddings: {0}")]
    Embedding(String),
    #[error("{0}")]
    Invalid(String),
}
