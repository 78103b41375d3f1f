//! Errors of the evaluation crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading benchmark data; scoring itself cannot fail.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Benchmark files are small; a huge file means a wrong path, so refuse instead of
    /// exhausting memory.
    #[error("{path} is larger than the {limit}-byte limit for benchmark files")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}:{line}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        /// 1-based line for JSONL files, 0 for whole-file JSON.
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("cannot serialise the report: {0}")]
    Serialize(#[source] serde_json::Error),
}
