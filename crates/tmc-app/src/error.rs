//! Errors of the application layer: each says which setting or backend failed.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppError {
    /// A setting is missing or wrong; the message names it and where it is set.
    #[error("{0}")]
    Config(String),
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("knowledge base: {0}")]
    Kb(#[from] tmc_kb::KbError),
    #[error("{0}")]
    Llm(#[from] tmc_llm::LlmError),
    #[error("artifact store: {0}")]
    Artifacts(#[from] tmc_artifacts::ArtifactError),
    /// A mode needs a part that was not given (a knowledge base, a copilot).
    #[error("mode `{mode}` needs {needs}")]
    MissingPart {
        mode: &'static str,
        needs: &'static str,
    },
}
