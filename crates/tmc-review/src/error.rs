//! The one error type of the crate. Every variant names its place: the file and line:column
//! for parse errors, the threat key for decisions, the path for file operations, so a CLI or
//! the server can show it as is.

use std::path::PathBuf;

/// Why a decisions file could not be read, validated, edited or saved.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The file is over [`crate::MAX_REVIEW_BYTES`].
    #[error("{file}: file is {size} bytes; review files are limited to {limit} bytes")]
    TooLarge {
        file: String,
        size: usize,
        limit: usize,
    },
    /// The YAML is malformed, a field is unknown or a value has the wrong type. `line` and
    /// `column` are 1-based, 0 when the parser could not tell.
    #[error("{}{message}", place(file, *line, *column))]
    Parse {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    /// The file parses but a decision breaks a rule (missing justification, bad date, ...).
    #[error("{}{what} `{key}`: {message}", place(file, *line, *column))]
    Invalid {
        file: String,
        line: u64,
        column: u64,
        /// `threat` or `manual threat`.
        what: &'static str,
        /// The threat key (or manual threat id) the problem is in.
        key: String,
        message: String,
    },
    /// An edit (`decide`, `set_severity`, ...) was refused; nothing was changed.
    #[error("threat `{key}`: {message}")]
    Decision { key: String, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another writer holds the lock file.
    #[error(
        "{} exists: another tmc is saving this review; if none is running, a previous one \
         crashed and you can delete the lock file",
        lock.display()
    )]
    Locked { lock: PathBuf },
    /// The file changed on disk after it was read; saving would lose someone's edits.
    #[error(
        "{} changed since it was read (read {expected}, now {found}); reload it and make the \
         change again",
        path.display()
    )]
    ChangedUnderneath {
        path: PathBuf,
        expected: String,
        found: String,
    },
}

fn place(file: &str, line: u64, column: u64) -> String {
    match (file.is_empty(), line) {
        (true, 0) => String::new(),
        (false, 0) => format!("{file}: "),
        (true, _) => format!("{line}:{column}: "),
        (false, _) => format!("{file}:{line}:{column}: "),
    }
}

impl ReviewError {
    pub(crate) fn decision(key: &str, message: impl Into<String>) -> ReviewError {
        ReviewError::Decision {
            key: key.to_string(),
            message: message.into(),
        }
    }
}
