//! The flat threat table behind CSV and XLSX: one row per threat, one text cell per column.
//!
//! Both formats share these rows so a spreadsheet opened from either says the same thing.

use tmc_model::{Draft, Stride, Threat, ThreatReview};

use crate::{review, text};

/// Number of columns.
pub const COLUMN_COUNT: usize = 23;

/// Column headers, in output order. Review columns come last so the positions of the drafted
/// columns did not move when they were added.
pub const COLUMNS: [&str; COLUMN_COUNT] = [
    "ID",
    "Title",
    "Description",
    "STRIDE",
    "Severity",
    "Likelihood",
    "Impact",
    "Score",
    "Targets",
    "CWE",
    "CAPEC",
    "OWASP Top 10 2021",
    "OWASP Top 10 2025",
    "Mitigations",
    "Status",
    "Source",
    "Reviewer",
    "Reviewed at",
    "Justification",
    "Expires",
    "Tickets",
    "Severity override",
    "Needs confirmation",
];

/// One threat as spreadsheet cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreatRow {
    pub cells: [String; COLUMN_COUNT],
    /// Numeric columns kept as numbers so XLSX can write them as numbers (sortable).
    pub likelihood: u8,
    pub impact: u8,
    pub score: u8,
}

/// The table rows of a draft, in draft order.
pub fn rows(draft: &Draft) -> Vec<ThreatRow> {
    draft.threats.iter().map(row).collect()
}

fn row(t: &Threat) -> ThreatRow {
    let s = &t.severity;
    let r = t.review.as_ref();
    let opt =
        |f: fn(&ThreatReview) -> &Option<String>| r.and_then(|r| f(r).clone()).unwrap_or_default();
    ThreatRow {
        cells: [
            t.id.clone(),
            t.title.clone(),
            t.description.clone(),
            stride_names(&t.stride),
            s.level.as_str().to_string(),
            s.likelihood.to_string(),
            s.impact.to_string(),
            s.score.to_string(),
            t.targets
                .iter()
                .map(|r| format!("{} {} ({})", text::target_kind(r.kind), r.name, r.id))
                .collect::<Vec<_>>()
                .join("\n"),
            numbered("CWE-", &t.references.cwe),
            numbered("CAPEC-", &t.references.capec),
            t.references.owasp_top10_2021.join(", "),
            t.references.owasp_top10_2025.join(", "),
            t.mitigations
                .iter()
                .map(review::mitigation_line)
                .collect::<Vec<_>>()
                .join("\n"),
            text::threat_status(t.status).to_string(),
            text::provenance(&t.provenance),
            opt(|r| &r.reviewer),
            opt(|r| &r.reviewed_at),
            opt(|r| &r.justification),
            opt(|r| &r.expires),
            r.map(|r| r.tickets.join(", ")).unwrap_or_default(),
            review::severity_override(t).unwrap_or_default(),
            if r.is_some_and(|r| r.needs_confirmation) {
                "yes".to_string()
            } else {
                String::new()
            },
        ],
        likelihood: s.likelihood,
        impact: s.impact,
        score: s.score,
    }
}

pub(crate) fn stride_names(stride: &[Stride]) -> String {
    stride
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn numbered(prefix: &str, ids: &[u32]) -> String {
    ids.iter()
        .map(|n| format!("{prefix}{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
