//! The offline threat engine. Rules are data (`rules/*.yaml`), conditions are a small safe
//! language ([`expr`]) over a fixed attribute table ([`attrs`]); the engine derives facts from
//! the model once ([`facts`]), evaluates every rule, applies declared controls, scores severity
//! with its factors shown ([`severity`]) and returns a [`tmc_model::Draft`].
//!
//! The engine does no I/O: callers pass rule-file text and a parsed model. That keeps it usable
//! from the CLI, the server, benchmarks and fuzzers alike.

pub mod attrs;
pub mod engine;
pub mod expr;
pub mod facts;
pub mod lint;
pub mod rules;
pub mod ruletest;
pub mod severity;
pub mod template;
pub mod validity;

pub use engine::{DraftOptions, RuleSet, applicable, draft};
pub use rules::{Rule, RuleError};
pub use validity::{Finding, FindingKind};
