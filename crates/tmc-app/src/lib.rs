//! The application layer of tmc: what every front end (the `tmc` command, `tmc eval`, the team
//! server, a program of your own) needs between the libraries and its own user interface.
//!
//! - [`settings`]: `tmc.toml`, `TMC_*` variables (passed in as a lookup function, never read
//!   here) and flags, merged once into typed settings;
//! - [`mode`]: the generator mode (`rules`, `rules+kb`, `rules+llm`, `rules+kb+llm`, `llm`,
//!   `prompt-only`) as a type that serialises to the strings drafts have always carried;
//! - [`backends`]: opening the configured knowledge-base index, artifact store and copilot;
//! - [`pipeline`]: **the one draft pipeline** — rules, then the knowledge base, then the copilot,
//!   then the review decisions (a reviewer's word is applied last, so it always wins).
//!
//! ```
//! use tmc_app::{mode::GeneratorMode, pipeline};
//! let model = tmc_dsl::load_checked(
//!     include_bytes!("../../../examples/webshop-payments.yaml"),
//!     "webshop-payments.yaml",
//! )
//! .expect("valid example")
//! .0
//! .model;
//! let rules = tmc_engine::RuleSet::builtin().expect("built-in rules load");
//! let out = pipeline::draft(&pipeline::DraftRequest::new(&model, &rules, GeneratorMode::Rules))
//!     .expect("offline drafting needs no backend");
//! assert!(!out.draft.threats.is_empty());
//! assert_eq!(out.draft.generator.mode, "rules");
//! ```

pub mod backends;
pub mod error;
pub mod mode;
pub mod pipeline;
pub mod settings;

pub use error::AppError;
pub use mode::GeneratorMode;
pub use pipeline::{DraftOutcome, DraftRequest, draft};

/// Looks up an environment variable. Front ends pass `&|k| std::env::var(k).ok()`; tests pass
/// a map, so nothing in the libraries depends on the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;
