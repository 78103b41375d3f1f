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
pub mod keywords;
pub mod otm;
pub mod threagile;
pub mod threat_composer;
pub mod threat_dragon;
pub mod tml;

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

impl Format {
    /// Short name used in threat ids (`import:<name>:…`), provenance and messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::ThreatDragon => "threat-dragon",
            Format::ThreatComposer => "threat-composer",
            Format::Otm => "otm",
            Format::ThreatModelLibrary => "threat-model-library",
            Format::Threagile => "threagile",
            Format::Drawio => "drawio",
            Format::Mermaid => "mermaid",
            Format::PlantUml => "plantuml",
        }
    }
}

/// Guesses the format from the file name and, more reliably, the content.
///
/// Unambiguous extensions (`.tc.json`, `.otm.json`, `.drawio`, `.puml`, `.mmd`) decide alone;
/// for plain `.json` and `.yaml` the top-level keys do, since every JSON format here uses that
/// extension. Returns `None` rather than guessing when nothing matches.
pub fn detect(bytes: &[u8], file_name: &str) -> Option<Format> {
    let name = file_name.to_ascii_lowercase();
    let by_name = [
        (".tc.json", Format::ThreatComposer),
        (".otm.json", Format::Otm),
        (".otm.yaml", Format::Otm),
        (".otm.yml", Format::Otm),
        (".drawio", Format::Drawio),
        (".drawio.xml", Format::Drawio),
        (".drawio.png", Format::Drawio),
        (".drawio.svg", Format::Drawio),
        (".dio", Format::Drawio),
        (".puml", Format::PlantUml),
        (".plantuml", Format::PlantUml),
        (".pu", Format::PlantUml),
        (".iuml", Format::PlantUml),
        (".mmd", Format::Mermaid),
        (".mermaid", Format::Mermaid),
    ];
    if let Some((_, f)) = by_name.iter().find(|(ext, _)| name.ends_with(ext)) {
        return Some(*f);
    }
    if bytes.len() > MAX_IMPORT_BYTES {
        return None;
    }
    // A PNG or SVG exported by draw.io carries its diagram inside; other PNGs are refused
    // by the draw.io importer with a clear message rather than "unknown format".
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Format::Drawio);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if name.ends_with(".svg") && text.contains("mxfile") {
        return Some(Format::Drawio);
    }
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(trimmed).ok()?;
        let has = |k: &str| v.get(k).is_some();
        return if has("otmVersion") {
            Some(Format::Otm)
        } else if has("summary") && has("detail") {
            Some(Format::ThreatDragon)
        } else if has("applicationInfo") || (has("schema") && has("threats")) {
            Some(Format::ThreatComposer)
        } else if has("scope") && (has("trust_zones") || has("data_flows") || has("components")) {
            Some(Format::ThreatModelLibrary)
        } else {
            None
        };
    }
    if trimmed.starts_with("<mxfile") || trimmed.starts_with("<mxGraphModel") {
        return Some(Format::Drawio);
    }
    if trimmed.starts_with('<') && text.contains("<mxfile") {
        return Some(Format::Drawio);
    }
    if trimmed.starts_with("@start") {
        return Some(Format::PlantUml);
    }
    let has_line = |prefix: &str| text.lines().any(|l| l.starts_with(prefix));
    if has_line("technical_assets:") || has_line("threagile_version:") {
        return Some(Format::Threagile);
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("%%") && *l != "---")?;
    let mermaid_starts = [
        "flowchart",
        "graph ",
        "graph\t",
        "C4Context",
        "C4Container",
        "C4Component",
        "C4Deployment",
        "sequenceDiagram",
        "architecture-beta",
        "config:",
    ];
    if mermaid_starts.iter().any(|m| first.starts_with(m)) || first == "graph" {
        return Some(Format::Mermaid);
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        // An OTM document may be YAML too.
        if has_line("otmVersion:") {
            return Some(Format::Otm);
        }
    }
    None
}

/// Imports `bytes` in the given format, or the detected one when `format` is `None`.
pub fn import(
    bytes: &[u8],
    file_name: &str,
    format: Option<Format>,
) -> Result<ImportResult, ImportError> {
    let format = match format.or_else(|| detect(bytes, file_name)) {
        Some(f) => f,
        None => {
            return Err(ImportError::UnknownFormat(format!(
                "`{file_name}` is not a Threat Dragon, Threat Composer, OTM, Threat Model Library, Threagile, draw.io, Mermaid or PlantUML file that we recognise; name the format explicitly"
            )));
        }
    };
    match format {
        Format::ThreatDragon => threat_dragon::import(bytes),
        Format::ThreatComposer => threat_composer::import(bytes),
        Format::Otm => otm::import(bytes),
        Format::ThreatModelLibrary => tml::import(bytes),
        Format::Threagile => threagile::import(bytes),
        Format::Drawio => drawio::import(bytes),
        Format::Mermaid => mermaid::import(bytes),
        Format::PlantUml => plantuml::import(bytes),
    }
}
