//! Report writers: turn a [`tmc_model::Draft`] into text for people (Markdown) and tools.
//! Writers return strings; where they go (file, stdout, HTTP) is the caller's business.

pub mod markdown;

/// Canonical JSON of a draft: pretty, field order fixed by the types, trailing newline.
pub fn to_json(draft: &tmc_model::Draft) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(draft)?;
    s.push('\n');
    Ok(s)
}
