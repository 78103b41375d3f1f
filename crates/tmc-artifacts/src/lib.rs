//! Where generated artifacts (reports, exports, drafts) are kept: a local directory by default,
//! or S3-compatible object storage so a team's CI and reviewers share one place.
//!
//! The [`ArtifactStore`] trait is blocking, like the rest of the CLI. The S3 implementation
//! uses `object_store` (async) behind a private current-thread tokio runtime, so no caller has
//! to know about async.
//!
//! Keys are `/`-separated relative paths (`reports/2026-11-27/app.html`). They are validated
//! the same way for both backends so a key that works locally works on S3 and can never escape
//! the local root (`..`, absolute paths, backslashes are refused).

mod local;
mod s3;

pub use local::LocalDirStore;
pub use s3::{S3Config, S3Store};

/// Errors of an artifact store.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact `{0}` not found")]
    NotFound(String),
    #[error("invalid artifact key `{key}`: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("object storage: {0}")]
    Remote(String),
    #[error("artifact store configuration: {0}")]
    Config(String),
}

/// Put, get, list and delete blobs by key.
pub trait ArtifactStore {
    /// Stores `bytes` under `key`, replacing any previous content.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), ArtifactError>;
    /// The content under `key`; [`ArtifactError::NotFound`] if there is none.
    fn get(&self, key: &str) -> Result<Vec<u8>, ArtifactError>;
    /// Keys under `prefix` (whole path segments: `a` lists `a/x`, not `ab`), sorted; all keys
    /// when `prefix` is empty.
    fn list(&self, prefix: &str) -> Result<Vec<String>, ArtifactError>;
    /// Deletes `key`. Deleting a missing key is not an error (as on S3), so retries are safe.
    fn delete(&self, key: &str) -> Result<(), ArtifactError>;
    /// Where the store is, for messages (`s3://bucket/…`, a directory).
    fn location(&self) -> String;
}

/// Longest key accepted (S3's own limit is 1024 bytes).
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks that `key` is a relative `/`-separated path with no empty, `.` or `..` segments.
pub fn validate_key(key: &str) -> Result<(), ArtifactError> {
    let bad = |reason| {
        Err(ArtifactError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return bad("longer than 1024 bytes");
    }
    if key.contains('\\') || key.chars().any(char::is_control) {
        return bad("backslashes and control characters are not allowed");
    }
    if key
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad("use a relative path without empty, `.` or `..` segments");
    }
    Ok(())
}

/// Validates a list prefix: empty (everything) or a valid key, trailing `/` allowed.
pub(crate) fn normalise_prefix(prefix: &str) -> Result<String, ArtifactError> {
    let p = prefix.trim_end_matches('/');
    if !p.is_empty() {
        validate_key(p)?;
    }
    Ok(p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape() {
        assert!(validate_key("reports/a.html").is_ok());
        for bad in ["", "/abs", "a/../b", "a//b", "./a", "a\\b", "a/"] {
            assert!(validate_key(bad).is_err(), "{bad}");
        }
        assert_eq!(
            normalise_prefix("reports/").ok().as_deref(),
            Some("reports")
        );
        assert_eq!(normalise_prefix("").ok().as_deref(), Some(""));
    }
}
