//! Diagnostics: one type for parse errors, validation errors and lints so that the CLI prints
//! (and `--format json` emits) them all the same way.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

/// A problem found in a model file, with where it is and which element it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub level: Level,
    /// Stable machine-readable code, e.g. `dangling-reference`; documented in docs/dsl.md.
    pub code: &'static str,
    pub message: String,
    pub file: String,
    /// 1-based; 0 when the position is unknown (e.g. an element added by an importer).
    pub line: u64,
    pub column: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Warning => "warning",
            Level::Error => "error",
        };
        write!(
            f,
            "{}:{}:{}: {level}[{}]",
            self.file, self.line, self.column, self.code
        )?;
        if let Some(el) = &self.element {
            write!(f, " ({el})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Parsing or validation failed; carries every error found, not just the first.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.0))]
pub struct ModelErrors(pub Vec<Diagnostic>);

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
