//! Reads the tmc system-model DSL (`threatmodel.yaml`, or JSON) into [`tmc_model::SystemModel`],
//! remembers where each element was written, and validates it.
//!
//! This crate reads bytes it is given; opening files is the caller's job, so the same code
//! serves the CLI, the server and the fuzzer.

pub mod diagnostic;
pub mod load;
pub mod schema;
pub mod suggest;
pub mod validate;

pub use diagnostic::{Diagnostic, Level, ModelErrors};
pub use load::{
    LoadOptions, MAX_ALIAS_EVENTS, MAX_MODEL_BYTES, MAX_YAML_NODES, ParsedModel, Pos, SourceIndex,
    parse_model, parse_model_with,
};
pub use validate::validate;

/// Parses and validates with the default [`LoadOptions`]; returns the model and its warnings, or
/// every error found.
pub fn load_checked(
    bytes: &[u8],
    file: &str,
) -> Result<(ParsedModel, Vec<Diagnostic>), ModelErrors> {
    load_checked_with(bytes, file, &LoadOptions::default())
}

/// [`load_checked`] within the given limits (a user who raised `--max-yaml-nodes`).
pub fn load_checked_with(
    bytes: &[u8],
    file: &str,
    options: &LoadOptions,
) -> Result<(ParsedModel, Vec<Diagnostic>), ModelErrors> {
    let parsed = parse_model_with(bytes, file, options)?;
    let diags = validate(&parsed);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(ModelErrors(diags));
    }
    Ok((parsed, diags))
}
