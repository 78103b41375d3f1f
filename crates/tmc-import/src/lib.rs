//! Importers: other tools' diagrams and threat models → the tmc system model.
//!
//! Every importer is a pure function from bytes to [`ImportResult`]; none opens files. Each
//! reports what it had to guess as [`ImportNote`]s for a person to confirm, keeps the source's
//! ids in [`ImportResult::id_map`], and returns any threats the source carried as reviewed
//! threats (`Threat` with `Provenance::Import` and the source's status), which the knowledge
//! base and `tmc eval` read.

use std::collections::BTreeMap;

use tmc_model::{SystemModel, Threat};

mod diagram;
pub mod drawio;
pub mod mermaid;
pub mod plantuml;

mod builder;
pub mod otm;
pub mod threat_composer;
pub mod threat_dragon;

/// Largest input any importer reads; checked before parsing.
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

/// What an import produced.
#[derive(Debug, Clone)]
pub struct ImportResult {
    /// The model in our DSL; validates with `tmc_dsl` (importers make ids unique and valid).
    pub model: SystemModel,
    /// Threats found in the source, mapped onto our element ids where possible.
    pub threats: Vec<Threat>,
    /// Things a person should confirm ("kind inferred from shape", "protocol unknown").
    pub notes: Vec<ImportNote>,
    /// Our element id → the source's id.
    pub id_map: BTreeMap<String, String>,
}

/// A guess or loss the importer made, tied to an element where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportNote {
    pub element: Option<String>,
    pub message: String,
}

/// The formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    ThreatDragon,
    ThreatComposer,
    Otm,
    ThreatModelLibrary,
    Threagile,
    Drawio,
    Mermaid,
    PlantUml,
}

/// Why an import failed: the format, where, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{format}: input is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        format: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("{format}: {location}: {message}")]
    Malformed {
        format: &'static str,
        /// A line:column, a JSON pointer or an element path.
        location: String,
        message: String,
    },
    #[error("cannot tell the format of this input: {0}")]
    UnknownFormat(String),
}
