//! Review decisions for drafted threat models, kept in git beside the model as
//! `threatmodel.review.yaml` and reviewed in pull requests.
//!
//! - [`decisions`]: the file's types, [`model_hash`], [`schema`], stable YAML
//!   ([`Decisions::to_yaml`]).
//! - [`parse()`]: bytes → decisions, every error with file:line:column and the threat key.
//! - [`apply()`]: decisions → a reviewed [`tmc_model::Draft`] (ids, wildcards, carry-over by
//!   fingerprint and similarity, orphans with reasons, manual threats).
//! - [`tally()`]: the one counting function every report, export and the gate use.
//! - [`check()`]: the CI gate.
//! - [`edit`]: validated edits for `tmc review` and the server.
//! - [`file`]: the only module that touches the filesystem (locked, atomic saves).
//!
//! Format and rules: `docs/review.md`.

pub mod apply;
pub mod dates;
pub mod decisions;
pub mod edit;
mod error;
pub mod file;
pub mod gate;
mod parse;
pub mod pattern;
pub mod tally;

pub use apply::{ApplyContext, ApplyIssue, ApplyReport, apply, decisions_from_statuses};
pub use dates::{is_date, is_rfc3339};
pub use decisions::{
    Decisions, MANUAL_PREFIX, ManualThreat, MitigationDecision, REVIEW_VERSION, SeverityChange,
    ThreatDecision, WasSnapshot, is_manual_id, model_hash, schema,
};
pub use edit::{MitigationUpdate, Removed};
pub use error::ReviewError;
pub use file::ReviewFile;
pub use gate::{GateFailure, GateOptions, Verdict, check};
pub use parse::{MAX_REVIEW_BYTES, parse};
pub use tally::{Tally, tally};
