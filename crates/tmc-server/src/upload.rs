//! Reading an uploaded model: our DSL (YAML/JSON) or any format `tmc-import` reads, always
//! ending as validated DSL text, with problems tied to a line, a column and an element.

use std::collections::BTreeMap;

use serde::Serialize;
use tmc_dsl::ParsedModel;

/// A problem with an upload, as shown on the page and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based; 0 when unknown.
    pub line: u64,
    pub column: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// A model that loaded and validated.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub parsed: ParsedModel,
    /// The DSL text stored as the version (the upload itself, or the import written as YAML).
    pub dsl_text: String,
    /// The import format's name when the upload was not our DSL.
    pub imported_from: Option<&'static str>,
    pub warnings: Vec<Problem>,
}

fn problems(diags: &[tmc_dsl::Diagnostic]) -> Vec<Problem> {
    diags
        .iter()
        .map(|d| Problem {
            line: d.line,
            column: d.column,
            element: d.element.clone(),
            code: d.code.to_string(),
            message: d.message.clone(),
            help: d.help.clone(),
        })
        .collect()
}

fn one(code: &str, message: String) -> Vec<Problem> {
    vec![Problem {
        line: 0,
        column: 0,
        element: None,
        code: code.into(),
        message,
        help: None,
    }]
}

/// Loads an upload. Our DSL is recognised by its `version` key (or when no importer claims
/// the file); everything else goes through the importer that detects it.
pub fn load(bytes: &[u8], file_name: &str) -> Result<Loaded, Vec<Problem>> {
    if bytes.is_empty() {
        return Err(one("empty", format!("`{file_name}` is empty")));
    }
    match tmc_import::detect(bytes, file_name) {
        None => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                one(
                    "not-utf8",
                    format!("`{file_name}` is not UTF-8 text (byte {})", e.valid_up_to()),
                )
            })?;
            let (parsed, warnings) =
                tmc_dsl::load_checked(bytes, file_name).map_err(|e| problems(&e.0))?;
            Ok(Loaded {
                parsed,
                dsl_text: text.to_string(),
                imported_from: None,
                warnings: problems(&warnings),
            })
        }
        Some(format) => {
            let result = tmc_import::import(bytes, file_name, Some(format))
                .map_err(|e| one("import", e.to_string()))?;
            let yaml = serde_saphyr::to_string(&result.model)
                .map_err(|e| one("import", format!("writing the imported model: {e}")))?;
            let name = format!("{file_name}.tmc.yaml");
            let (parsed, warnings) =
                tmc_dsl::load_checked(yaml.as_bytes(), &name).map_err(|e| problems(&e.0))?;
            let mut warnings = problems(&warnings);
            warnings.extend(result.notes.iter().map(|n| Problem {
                line: 0,
                column: 0,
                element: n.element.clone(),
                code: "import-note".into(),
                message: n.message.clone(),
                help: None,
            }));
            Ok(Loaded {
                parsed,
                dsl_text: yaml,
                imported_from: Some(format.name()),
                warnings,
            })
        }
    }
}

/// Parses stored DSL text again (it validated when stored).
pub fn reload(dsl_text: &str, file_name: &str) -> Result<ParsedModel, Vec<Problem>> {
    tmc_dsl::load_checked(dsl_text.as_bytes(), file_name)
        .map(|(p, _)| p)
        .map_err(|e| problems(&e.0))
}

/// Element id → (line, column) for SARIF locations.
pub fn positions(parsed: &ParsedModel) -> BTreeMap<String, (u64, u64)> {
    let m = &parsed.model;
    let idx = &parsed.index;
    let mut out = BTreeMap::new();
    let mut add = |ids: Vec<&String>, pos: &[tmc_dsl::load::ElementPos]| {
        for (id, p) in ids.into_iter().zip(pos) {
            if p.id.line > 0 {
                out.insert(id.clone(), (p.id.line, p.id.column));
            }
        }
    };
    add(
        m.components.iter().map(|c| &c.id).collect(),
        &idx.components,
    );
    add(m.flows.iter().map(|f| &f.id).collect(), &idx.flows);
    add(m.data.iter().map(|d| &d.id).collect(), &idx.data);
    add(
        m.trust_boundaries.iter().map(|b| &b.id).collect(),
        &idx.trust_boundaries,
    );
    out
}
