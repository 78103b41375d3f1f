//! The copilot: language-model providers behind one trait, prompts as data files, schema-checked
//! output with one repair round, merge with the rule engine's baseline, and the privacy controls
//! around every call (local-only endpoint policy, redaction, hash-chained audit log).
//!
//! All network access is in [`transport`]; everything else is pure and tested without sockets.
//! The CLI builds a [`client::Client`] from [`config::Settings`] and calls [`copilot::run`],
//! then, unless told not to, [`critic::run_critic`] over the merged draft.

pub mod audit;
pub mod client;
pub mod config;
pub mod copilot;
pub mod critic;
pub mod error;
pub mod eventstream;
pub mod merge;
pub mod output;
pub mod privacy;
pub mod prompt;
pub mod provider;
pub mod redact;
pub mod sse;
pub mod transport;
pub mod vision;

pub use client::Client;
pub use config::{LlmConfig, Overrides, Settings};
pub use copilot::{CopilotInput, CopilotOptions, Outcome, PromptMode, run};
pub use critic::{CriticInput, CriticOptions, CriticOutcome, run_critic};
pub use error::{LlmError, TransportError};
pub use prompt::{Prompts, RetrievedChunk};
pub use provider::{ImageInput, ProviderKind, Usage};

/// Loads CWE ids from MITRE's view CSV (`CWE-ID` first column, e.g. `shared/kb/cwe/1000.csv`),
/// for the invented-CWE check. Kept here as a pure parser over text; the caller reads the file.
pub fn parse_cwe_csv(text: &str) -> std::collections::HashSet<u32> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter_map(|f| {
            f.trim()
                .trim_matches('"')
                .trim_start_matches("CWE-")
                .parse()
                .ok()
        })
        .collect()
}
