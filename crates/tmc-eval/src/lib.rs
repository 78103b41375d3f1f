//! Evaluation of drafted threat models against public reference threat models.
//!
//! The crate is deliberately independent of the drafting engine and the importers: it scores
//! any list of [`tmc_model::Threat`]s against [`bench::ReferenceThreat`]s, so the CLI can feed it
//! rule-engine drafts, model drafts or imported tool output alike.
//!
//! * [`text`]: RapidFuzz-compatible string similarity (`ratio`, `token_sort_ratio`,
//!   `token_set_ratio`) and a BM25-style weighted overlap.
//! * [`matching`]: the [`matching::Similarity`] trait, the deterministic lexical matcher, and
//!   many-to-one / one-to-one (Hungarian) matching.
//! * [`score`]: per-system scores, per-dataset and macro aggregates, table and Markdown output.
//! * [`bench`]: the only module that reads files: `references.jsonl`, UAVThreatBench and the
//!   calibration readings.
//! * [`agreement`]: how far a matcher and a validity lint agree with judges' labels.
//! * [`calibrate`]: reproduces the UAVThreatBench paper's figures to check the string matcher.

pub mod agreement;
pub mod bench;
pub mod calibrate;
pub mod error;
pub mod matching;
pub mod score;
pub mod text;

pub use bench::{ReferenceThreat, is_tool_baseline};
pub use calibrate::{UavCalibration, calibrate_uav};
pub use error::EvalError;
pub use matching::{LexicalSimilarity, Similarity};
pub use score::{EvalReport, SystemScore, aggregate, render_markdown, render_table, score_system};
