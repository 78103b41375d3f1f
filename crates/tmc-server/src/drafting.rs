//! The one place the server drafts a threat model: through `tmc_app::draft`, the pipeline the
//! `tmc` command uses, with the built-in rules, so a model drafts to the same threats on the
//! server and on a laptop. Decisions are applied when a draft is read (`service::current`),
//! not here, so a stored draft stays what the generator said.

use std::sync::OnceLock;

use tmc_app::{DraftRequest, GeneratorMode};
use tmc_engine::RuleSet;
use tmc_model::{Draft, SystemModel};

#[derive(Debug, Clone, thiserror::Error)]
pub enum DraftingError {
    #[error("the built-in rules do not load: {0}")]
    Rules(String),
    #[error("drafting failed: {0}")]
    Pipeline(String),
}

fn rules() -> Result<&'static RuleSet, DraftingError> {
    static RULES: OnceLock<Result<RuleSet, String>> = OnceLock::new();
    RULES
        .get_or_init(|| {
            RuleSet::builtin().map_err(|errs| {
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .as_ref()
        .map_err(|e| DraftingError::Rules(e.clone()))
}

/// Drafts `model` in the offline `rules` mode; `source_file` is recorded in the draft (the
/// uploaded file's name).
pub fn draft(model: &SystemModel, source_file: &str) -> Result<Draft, DraftingError> {
    let mut req = DraftRequest::new(model, rules()?, GeneratorMode::Rules);
    req.source_file = Some(source_file.to_string());
    tmc_app::draft(&req)
        .map(|out| out.draft)
        .map_err(|e| DraftingError::Pipeline(e.to_string()))
}
