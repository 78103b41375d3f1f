//! Reading a model file: bytes → checked text → `SystemModel` plus a location index.
//!
//! JSON files are read with serde_json (its errors carry line and column); YAML with
//! serde-saphyr, whose budgets stop alias bombs ("billion laughs") before they expand. Both are
//! bounded by [`MAX_MODEL_BYTES`] before parsing starts, so a 50 MB file costs a `stat`, not 50 MB
//! of parse tree.

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use tmc_model::{DSL_VERSION, SystemModel};

use crate::diagnostic::{Diagnostic, Level, ModelErrors};
use crate::suggest::did_you_mean;

/// Largest model file we read. Real systems are well under 1 MiB; anything larger is almost
/// certainly the wrong file or an attack on the parser.
pub const MAX_MODEL_BYTES: usize = 8 * 1024 * 1024;

/// A model and where each element was written.
#[derive(Debug, Clone)]
pub struct ParsedModel {
    pub model: SystemModel,
    pub file: String,
    pub index: SourceIndex,
}

/// Positions of elements and of their reference fields, for diagnostics and SARIF locations.
#[derive(Debug, Clone, Default)]
pub struct SourceIndex {
    pub components: Vec<ElementPos>,
    pub data: Vec<ElementPos>,
    pub flows: Vec<ElementPos>,
    pub trust_boundaries: Vec<ElementPos>,
    pub version: Pos,
}

/// 1-based line and column; zero means unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// Where one element and its reference-holding fields are.
#[derive(Debug, Clone, Default)]
pub struct ElementPos {
    pub id: Pos,
    /// Field name (e.g. `from`, `members[2]`) → position of its value.
    pub fields: Vec<(String, Pos)>,
}

impl ElementPos {
    pub fn field(&self, name: &str) -> Pos {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
            .unwrap_or(self.id)
    }
}

impl From<Location> for Pos {
    fn from(l: Location) -> Pos {
        Pos {
            line: l.line(),
            column: l.column(),
        }
    }
}

/// Parses a model from raw bytes. `file` is only used in messages.
pub fn parse_model(bytes: &[u8], file: &str) -> Result<ParsedModel, ModelErrors> {
    let err = |line, column, code, message: String, help: Option<String>| {
        ModelErrors(vec![Diagnostic {
            level: Level::Error,
            code,
            message,
            file: file.to_string(),
            line,
            column,
            element: None,
            help,
        }])
    };
    if bytes.len() > MAX_MODEL_BYTES {
        return Err(err(
            0,
            0,
            "file-too-large",
            format!(
                "file is {} bytes; model files are limited to {} bytes",
                bytes.len(),
                MAX_MODEL_BYTES
            ),
            Some(
                "split the system into several models, or check that this is the right file".into(),
            ),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = line_col(bytes, e.valid_up_to());
            return Err(err(
                line,
                column,
                "not-utf8",
                "file is not valid UTF-8".into(),
                Some("save the file as UTF-8".into()),
            ));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(err(1, 1, "empty-file", "file is empty".into(), None));
    }
    let looks_json = text.trim_start().starts_with('{');
    let model: SystemModel = if looks_json {
        serde_json::from_str(text).map_err(|e| {
            let msg = e.to_string();
            let (message, help) = clean_message(&msg);
            err(e.line() as u64, e.column() as u64, "parse", message, help)
        })?
    } else {
        // Strict booleans: `internet_facing: yes` is YAML 1.1 folklore and too easy to misread
        // (`no` as Norway); a model states controls, so only `true`/`false` count.
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            let pos: Pos = e.location().map(Pos::from).unwrap_or_default();
            let raw = e.without_snippet().to_string();
            let (message, help) = clean_message(&raw);
            err(pos.line, pos.column, "parse", message, help)
        })?
    };
    // The location pass reads the same text leniently; it cannot fail where the strict pass
    // succeeded, but if it somehow does we only lose positions, not the model.
    let index = serde_saphyr::from_str::<LocDoc>(text)
        .map(LocDoc::into_index)
        .unwrap_or_default();
    if model.version != DSL_VERSION {
        return Err(err(
            index.version.line,
            index.version.column,
            "unsupported-version",
            format!(
                "model declares version {} but this tmc reads version {DSL_VERSION}",
                model.version
            ),
            Some(format!("set `version: {DSL_VERSION}`")),
        ));
    }
    Ok(ParsedModel {
        model,
        file: file.to_string(),
        index,
    })
}

/// Strips the location suffix the parsers append (we report it separately) and adds a
/// "did you mean" for unknown fields and variants.
fn clean_message(raw: &str) -> (String, Option<String>) {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let message = match first.find(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    };
    let message = message
        .trim_start_matches("error: ")
        .trim_end_matches('.')
        .to_string();
    let help = unknown_name_help(&message);
    // With a suggestion, the full list of expected names is noise.
    let message = match (&help, message.split_once(", expected one of")) {
        (Some(h), Some((head, _))) if h.starts_with("did you mean") => head.to_string(),
        _ => message,
    };
    (message, help)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and "unknown variant"), suggests
/// the closest expected name.
fn unknown_name_help(message: &str) -> Option<String> {
    let kind = if message.contains("unknown field") {
        "field"
    } else if message.contains("unknown variant") {
        "value"
    } else {
        return None;
    };
    let given = message.split('`').nth(1)?;
    let expected: Vec<&str> = match message.split_once("expected one of ") {
        Some((_, list)) => list
            .split(',')
            .map(|s| s.trim().trim_matches('`'))
            .filter(|s| !s.is_empty())
            .collect(),
        None => Vec::new(),
    };
    match did_you_mean(given, expected.iter().copied()) {
        Some(best) => Some(format!("did you mean the {kind} `{best}`?")),
        None if !expected.is_empty() => Some(format!("expected one of: {}", expected.join(", "))),
        None => None,
    }
}

fn line_col(bytes: &[u8], offset: usize) -> (u64, u64) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let col = before.iter().rev().take_while(|b| **b != b'\n').count() as u64 + 1;
    (line, col)
}

// ---- the lenient location pass -------------------------------------------------------------

#[derive(Deserialize, Default)]
struct LocDoc {
    #[serde(default)]
    version: Option<Spanned<serde::de::IgnoredAny>>,
    #[serde(default)]
    components: Vec<LocElement>,
    #[serde(default)]
    data: Vec<LocElement>,
    #[serde(default)]
    flows: Vec<LocElement>,
    #[serde(default)]
    trust_boundaries: Vec<LocElement>,
}

/// Only the fields that hold ids; everything else is ignored in this pass.
#[derive(Deserialize, Default)]
struct LocElement {
    #[serde(default)]
    id: Option<Spanned<serde::de::IgnoredAny>>,
    #[serde(default)]
    from: Option<Spanned<serde::de::IgnoredAny>>,
    #[serde(default)]
    to: Option<Spanned<serde::de::IgnoredAny>>,
    #[serde(default)]
    data: Option<Vec<Spanned<serde::de::IgnoredAny>>>,
    #[serde(default)]
    data_received: Option<Vec<Spanned<serde::de::IgnoredAny>>>,
    #[serde(default)]
    members: Option<Vec<Spanned<serde::de::IgnoredAny>>>,
    #[serde(default)]
    boundaries: Option<Vec<Spanned<serde::de::IgnoredAny>>>,
    #[serde(default)]
    stored_in: Option<Vec<Spanned<serde::de::IgnoredAny>>>,
    #[serde(default)]
    processed_by: Option<Vec<Spanned<serde::de::IgnoredAny>>>,
}

impl LocDoc {
    fn into_index(self) -> SourceIndex {
        let conv = |v: Vec<LocElement>| v.into_iter().map(LocElement::into_pos).collect();
        SourceIndex {
            version: self
                .version
                .map(|s| s.referenced.into())
                .unwrap_or_default(),
            components: conv(self.components),
            data: conv(self.data),
            flows: conv(self.flows),
            trust_boundaries: conv(self.trust_boundaries),
        }
    }
}

impl LocElement {
    fn into_pos(self) -> ElementPos {
        let mut fields = Vec::new();
        for (name, v) in [("from", self.from), ("to", self.to)] {
            if let Some(s) = v {
                fields.push((name.to_string(), s.referenced.into()));
            }
        }
        for (name, list) in [
            ("data", self.data),
            ("data_received", self.data_received),
            ("members", self.members),
            ("boundaries", self.boundaries),
            ("stored_in", self.stored_in),
            ("processed_by", self.processed_by),
        ] {
            for (i, s) in list.into_iter().flatten().enumerate() {
                fields.push((format!("{name}[{i}]"), s.referenced.into()));
            }
        }
        ElementPos {
            id: self.id.map(|s| s.referenced.into()).unwrap_or_default(),
            fields,
        }
    }
}
