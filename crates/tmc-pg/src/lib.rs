//! PostgreSQL plumbing shared by every tmc crate that talks to PostgreSQL (the knowledge base's
//! `PgIndex`, the team server's `PgStore`):
//!
//! - [`connect`]: one connection, protected as libpq's `sslmode` / `sslrootcert` in the URL say
//!   ([`tls`]; rustls on the `ring` provider, so no OpenSSL and no C build);
//! - [`Pool`]: a small blocking pool of such connections, for servers whose requests run on
//!   several threads at once; each new connection runs a setup callback (`search_path`,
//!   `synchronous_commit`, …) and a connection that broke is replaced, not handed out again;
//! - [`db_message`] and [`error_chain`]: what went wrong in words (the `postgres` crate's own
//!   `Display` is only "db error"), and [`check_identifier`] for names spliced into SQL.
//!
//! Errors name the server (`host:port`) and the TLS mode, never the connection string, which
//! may hold a password.
//!
//! The client is the synchronous `postgres` crate, re-exported as [`postgres`] so dependents use
//! the same version without naming it themselves.

pub mod pool;
pub mod tls;

pub use pool::{Pool, PooledClient};
pub use postgres;
pub use tls::{Roots, SslMode, TlsSettings, connect};

/// What can go wrong connecting.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The connection string (or a file it names) is unusable; nothing was sent.
    #[error("{0}")]
    Invalid(String),
    /// Connecting, the TLS handshake, or authentication failed; the text says what to change.
    #[error("{0}")]
    Connect(String),
    /// A statement failed (server message and SQLSTATE).
    #[error("PostgreSQL: {0}")]
    Query(String),
    /// The pool's lock was poisoned by a panic in another thread.
    #[error("the PostgreSQL connection pool's lock was poisoned by a panic in another thread")]
    Poisoned,
}

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> Self {
        PgError::Query(db_message(&e))
    }
}

/// The server's message with its SQLSTATE when there is one (`relation "x" does not exist
/// (42P01)`), else the error and its sources.
pub fn db_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error_chain(e),
    }
}

/// An error and its sources, joined with ": " (a source already at the end is not repeated).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Accepts only names that need no quoting (lowercase ASCII letters, digits, `_`, not starting
/// with a digit, at most 63 bytes), so a schema or table name can be spliced into SQL safely.
/// `what` names the setting in the error (`"schema"`).
pub fn check_identifier(name: &str, what: &str) -> Result<(), PgError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PgError::Invalid(format!(
            "PostgreSQL {what} `{name}`: use lowercase letters, digits and _ (at most 63, not starting with a digit)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain() {
        for good in ["tmc_kb", "t1_x", "_x"] {
            assert!(check_identifier(good, "schema").is_ok(), "{good}");
        }
        for bad in ["1abc", "a;drop", "", "Upper", "a-b", &"x".repeat(64)] {
            let err = check_identifier(bad, "schema").unwrap_err().to_string();
            assert!(err.contains("PostgreSQL schema"), "{bad}: {err}");
        }
    }
}
