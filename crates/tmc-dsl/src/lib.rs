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
pub use load::{MAX_MODEL_BYTES, ParsedModel, Pos, SourceIndex, parse_model};
pub use validate::validate;

/// Parses and validates; returns the model and its warnings, or every error found.
pub fn load_checked(
    bytes: &[u8],
    file: &str,
) -> Result<(ParsedModel, Vec<Diagnostic>), ModelErrors> {
    let parsed = parse_model(bytes, file)?;
    let diags = validate(&parsed);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(ModelErrors(diags));
    }
    Ok((parsed, diags))
}
