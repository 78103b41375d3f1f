//! Exporters: a tmc draft (and the system model it was made from) → the formats other tools and
//! people read: SARIF for code-scanning dashboards, CSV and XLSX for the spreadsheet a security
//! team hands around, OTM / Threat Dragon / Threagile for other threat-modelling tools, and
//! Mermaid / Graphviz DOT for the data-flow diagram.
//!
//! Every exporter is a pure function from `(&SystemModel, &Draft)` to a `String` or bytes. None
//! opens a file, spawns a program or touches the network: the CLI decides where output goes and
//! whether to pipe DOT through Graphviz, so the library stays testable and safe to embed.
//!
//! Output is deterministic (same input, same bytes) so exports can be committed and diffed.

pub mod csv;
pub mod diagram;
pub mod otm;
pub mod sarif;
pub mod threagile;
pub mod threat_dragon;
pub mod xlsx;

mod nesting;
mod review;
mod table;

pub use table::{COLUMN_COUNT, COLUMNS, ThreatRow, rows};

/// Why an export failed. Exports only fail inside a serialiser, never on model content: odd
/// text is escaped, dangling references are skipped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("JSON serialisation failed: {0}")]
    Json(#[from] serde_json::Error),
    #[error("YAML serialisation failed: {0}")]
    Yaml(String),
    #[error("CSV writing failed: {0}")]
    Csv(String),
    #[error("XLSX writing failed: {0}")]
    Xlsx(String),
}

/// The formats this crate writes, for the CLI's `--to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Sarif,
    Csv,
    Xlsx,
    Otm,
    ThreatDragon,
    Threagile,
    Mermaid,
    Dot,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Sarif,
        Format::Csv,
        Format::Xlsx,
        Format::Otm,
        Format::ThreatDragon,
        Format::Threagile,
        Format::Mermaid,
        Format::Dot,
    ];

    /// Name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Sarif => "sarif",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Otm => "otm",
            Format::ThreatDragon => "threat-dragon",
            Format::Threagile => "threagile",
            Format::Mermaid => "mermaid",
            Format::Dot => "dot",
        }
    }

    /// Conventional file extension, so the CLI can name an output file.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Sarif => "sarif",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Otm => "otm.json",
            Format::ThreatDragon => "json",
            Format::Threagile => "yaml",
            Format::Mermaid => "mmd",
            Format::Dot => "dot",
        }
    }

    /// Parses a `--to` value (case-insensitive; a few common aliases).
    pub fn parse(text: &str) -> Option<Format> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "sarif" => Format::Sarif,
            "csv" => Format::Csv,
            "xlsx" | "excel" => Format::Xlsx,
            "otm" => Format::Otm,
            "threat-dragon" | "threatdragon" | "td" => Format::ThreatDragon,
            "threagile" => Format::Threagile,
            "mermaid" | "mmd" => Format::Mermaid,
            "dot" | "graphviz" => Format::Dot,
            _ => return None,
        })
    }

    /// Whether the output is text (print to stdout) or binary (needs a file).
    pub fn is_binary(self) -> bool {
        matches!(self, Format::Xlsx)
    }
}

/// Options the CLI may pass to [`export`]; SARIF is the only format that uses them.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The model file as given on the command line (absolute or relative). SARIF writes it
    /// relative to [`ExportOptions::repo_root`], never as an absolute path.
    pub model_uri: String,
    /// Element id → (line, column) of its definition in the model file, both 1-based.
    pub positions: std::collections::BTreeMap<String, (u64, u64)>,
    /// The repository root (`git rev-parse --show-toplevel`, else the current directory), so
    /// SARIF artifact URIs are relative to `%SRCROOT%` as code scanning expects. A relative
    /// `model_uri` is taken as already relative to this root; pass an absolute model path when
    /// the current directory is not the root. `None`: the URI is the relative path as given,
    /// or the bare file name for an absolute path.
    pub repo_root: Option<std::path::PathBuf>,
}

/// Runs one exporter; text formats come back as UTF-8 bytes.
pub fn export(
    format: Format,
    model: &tmc_model::SystemModel,
    draft: &tmc_model::Draft,
    options: &ExportOptions,
) -> Result<Vec<u8>, ExportError> {
    Ok(match format {
        Format::Sarif => sarif::to_sarif_with(model, draft, options)?.into_bytes(),
        Format::Csv => csv::to_csv(model, draft)?.into_bytes(),
        Format::Xlsx => xlsx::to_xlsx(model, draft)?,
        Format::Otm => otm::to_otm(model, draft)?.into_bytes(),
        Format::ThreatDragon => threat_dragon::to_threat_dragon(model, draft)?.into_bytes(),
        Format::Threagile => threagile::to_threagile(model, draft)?.into_bytes(),
        Format::Mermaid => diagram::to_mermaid(model).into_bytes(),
        Format::Dot => diagram::to_dot(model).into_bytes(),
    })
}

/// Display strings shared by several exporters, kept here so CSV, XLSX and SARIF agree.
pub(crate) mod text {
    use tmc_model::{MitigationStatus, Provenance, TargetKind, ThreatStatus};

    pub fn mitigation_status(s: MitigationStatus) -> &'static str {
        s.as_str()
    }

    pub fn threat_status(s: ThreatStatus) -> &'static str {
        s.as_str()
    }

    pub fn target_kind(k: TargetKind) -> &'static str {
        match k {
            TargetKind::Component => "component",
            TargetKind::Flow => "flow",
            TargetKind::Data => "data",
            TargetKind::Boundary => "boundary",
        }
    }

    /// One line saying where a threat came from, e.g. `rule TMC-API-001`.
    pub fn provenance(p: &Provenance) -> String {
        match p {
            Provenance::Rule { rule_id, .. } => format!("rule {rule_id}"),
            Provenance::Import { format, source_id } => format!("import {format}:{source_id}"),
            Provenance::Model {
                provider, model, ..
            } => format!("model {provider}/{model}"),
            Provenance::KnowledgeBase { source_ids } => {
                format!("knowledge base {}", source_ids.join(", "))
            }
            Provenance::Manual { author: Some(a) } => format!("manual ({a})"),
            Provenance::Manual { author: None } => "manual".to_string(),
        }
    }
}
