//! The threat table as CSV (RFC 4180), for spreadsheets and ticket-system bulk imports.
//!
//! Cells that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, and tab or carriage
//! return, which some programs strip before looking) get a leading apostrophe: threat text is
//! derived from a model file that anyone with repository access can edit, and a title such as
//! `=HYPERLINK(...)` must not run when a reviewer opens the export.

use tmc_model::{Draft, SystemModel};

use crate::ExportError;
use crate::table::{COLUMNS, rows};

/// Writes the threat table: a header row, then one row per threat; CRLF line ends as RFC 4180
/// asks, every field quoted only when it must be.
pub fn to_csv(_model: &SystemModel, draft: &Draft) -> Result<String, ExportError> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    w.write_record(COLUMNS)
        .map_err(|e| ExportError::Csv(e.to_string()))?;
    for r in rows(draft) {
        w.write_record(r.cells.iter().map(|c| neutralise_formula(c).into_owned()))
            .map_err(|e| ExportError::Csv(e.to_string()))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ExportError::Csv(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ExportError::Csv(e.to_string()))
}

/// Prefixes an apostrophe to text a spreadsheet would evaluate as a formula.
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}
