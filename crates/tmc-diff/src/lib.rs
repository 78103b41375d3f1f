//! The engine of `tmc diff`: what changed between two versions of a system model and between
//! the drafts made from them, so a reviewer sees why the threat list moved ("the API's
//! authentication was declared, six spoofing threats are gone") instead of re-reading both.
//!
//! Pure functions over [`tmc_model`] values, no I/O: the CLI reads the files, calls
//! [`diff_models`] and [`diff_drafts`] (or [`diff`] for both), and writes [`render_markdown`] or
//! [`render_json`].
//!
//! # JSON shape (`diff_version` 1)
//!
//! Keys are always present unless marked optional; lists may be empty; `old`/`new` values are
//! the elements' serialised DSL values, `null` meaning absent (not declared, empty, default).
//!
//! ```text
//! {
//!   "diff_version": 1,
//!   "model": {
//!     "system": [FieldChange],                 // version, product.*, notes
//!     "components" | "flows" | "trust_boundaries" | "data": {
//!       "added":   [{"id", "name"}],
//!       "removed": [{"id", "name"}],
//!       "changed": [{"id", "name", "fields": [FieldChange]}]
//!     }
//!   },
//!   "threats": {
//!     "ruleset": {"old_digest", "new_digest"},  // optional: only when the digests differ
//!     "new" | "gone": [{"id", "title", "severity", "stride": ["S", ...],
//!                       "targets": ["component:api", ...], "status",
//!                       "suppressed_by"}],     // suppressed_by optional, gone only
//!     "changed": [{"id", "title", "changes": [ThreatChange]}],
//!     "reidentified": [{"old_id", "new_id", "fingerprint", "title", "changes": [ThreatChange]}],
//!     "review": {
//!       "reviewed": bool,
//!       "carried_by_match": {"id", "wildcard", "fingerprint", "similar"},   // counts
//!       "carried": [{"threat_id", "key", "matched_by", "needs_confirmation", "status"}],
//!       "needs_confirmation": [threat id],
//!       "orphaned": [{"key", "status", "reason"}],
//!       "new_unreviewed": [threat id]
//!     }
//!   }
//! }
//! FieldChange  = {"path": "authentication.scheme", "class": "control" | "other", "old", "new"}
//! ThreatChange = {"path": "severity" | "title" | "stride" | "targets" | "status"
//!                        | "mitigations.<id>" | "mitigations.<id>.<field>", "old", "new"}
//! ```
//!
//! Order is deterministic: added/changed follow the new model or draft, removed/gone the old
//! one, field changes the struct's field order. Fields may be added in a later version;
//! existing keys keep their meaning until `diff_version` changes.

mod markdown;
mod model;
mod threats;
mod walk;

use serde::{Deserialize, Serialize};
use tmc_model::{Draft, SystemModel};

pub use markdown::{escape_markdown, render_markdown};
pub use model::{
    COMPONENT_CONTROL_FIELDS, ChangeClass, ChangedElement, ElementChanges, ElementRef, ElementType,
    FLOW_CONTROL_FIELDS, FieldChange, ModelDiff, classify, diff_models,
};
pub use threats::{
    CarriedDecision, ChangedThreat, MatchCounts, Reidentified, ReviewState, RulesetChange,
    ThreatChange, ThreatDiff, ThreatRef, diff_drafts,
};

/// Version of the JSON shape documented at the crate root.
pub const DIFF_VERSION: u32 = 1;

/// A model diff and a threat diff together: what `tmc diff` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub diff_version: u32,
    pub model: ModelDiff,
    pub threats: ThreatDiff,
}

impl Diff {
    pub fn new(model: ModelDiff, threats: ThreatDiff) -> Diff {
        Diff {
            diff_version: DIFF_VERSION,
            model,
            threats,
        }
    }

    /// Nothing changed in the model or the threats. The new draft's review state (orphaned
    /// decisions, confirmations) is not a change and does not count.
    pub fn is_empty(&self) -> bool {
        self.model.is_empty() && self.threats.is_empty()
    }
}

/// Diffs both the models and their drafts.
pub fn diff(
    old_model: &SystemModel,
    new_model: &SystemModel,
    old_draft: &Draft,
    new_draft: &Draft,
) -> Diff {
    Diff::new(
        diff_models(old_model, new_model),
        diff_drafts(old_draft, new_draft),
    )
}

/// The diff as pretty-printed JSON with a trailing newline (the shape documented above).
pub fn render_json(diff: &Diff) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(diff)?;
    s.push('\n');
    Ok(s)
}
