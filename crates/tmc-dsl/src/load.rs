//! Reading a model file: bytes → checked text → `SystemModel` plus a location index.
//!
//! JSON files are read with serde_json (its errors carry line and column); YAML with
//! serde-saphyr, whose budgets stop alias bombs ("billion laughs") before they expand. Both are
//! bounded by [`LoadOptions::max_model_bytes`] before parsing starts, so a 500 MB file costs a
//! `stat`, not 500 MB of parse tree.
//!
//! ## Budgets
//!
//! Two different things are bounded, on purpose separately:
//!
//! * **Size written** ([`LoadOptions::max_model_bytes`], [`LoadOptions::max_yaml_nodes`]): what
//!   is in the file. Cost is linear in it, so the defaults are set high enough for a 50 000
//!   component model (about 36 MiB and 4.3 million YAML nodes when written one field per line)
//!   and a team with a bigger system raises them.
//! * **Size expanded** ([`LoadOptions::max_alias_events`] plus serde-saphyr's fixed alias caps):
//!   what aliases (`*name`) add on top of the text. This is where a bomb lives (a 1 KiB file
//!   that expands to a billion nodes), and no honest model needs more than a few thousand
//!   replayed events, so this stays small whatever the model size.
//!
//! A breach is an error with code `yaml-budget` at the position the parser had reached, naming
//! the limit, the count reached and the option that raises it.

use serde::Deserialize;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Location, Spanned};
use tmc_model::{DSL_VERSION, SystemModel};

use crate::diagnostic::{Diagnostic, Level, ModelErrors};
use crate::suggest::did_you_mean;

/// Default for [`LoadOptions::max_model_bytes`]: 64 MiB. A 50 000-component model written one
/// field per line is about 36 MiB; parsing costs roughly ten times the file size in memory, so
/// this keeps a hostile upload under about 1 GB while leaving honest models room to grow.
pub const MAX_MODEL_BYTES: usize = 64 * 1024 * 1024;

/// Default for [`LoadOptions::max_yaml_nodes`]: 10 million mappings, sequences and scalars as
/// written (aliases not expanded). A 50 000-component model has about 4.3 million.
pub const MAX_YAML_NODES: usize = 10_000_000;

/// Default for [`LoadOptions::max_alias_events`]: events that aliases may replay in total. Shared
/// attribute blocks (`<<: *defaults`) replay a handful of events each; 100 000 is thousands of
/// them, and an alias bomb reaches it after expanding a few hundred kilobytes.
pub const MAX_ALIAS_EVENTS: usize = 100_000;

/// Limits for reading one model. `LoadOptions::default()` is what every front end uses unless the
/// user raises a limit (the CLI's `--max-yaml-nodes`, a setting); build a custom one with
/// struct-update syntax: `LoadOptions { max_yaml_nodes: 20_000_000, ..LoadOptions::default() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Largest file accepted, in bytes (YAML and JSON). Checked before anything is parsed;
    /// callers that read files should read at most this many bytes plus one.
    pub max_model_bytes: usize,
    /// Most YAML nodes (mappings, sequences, scalars) as written in the file. The parser's event
    /// budget is derived from it (each node is at most two events). Does not apply to JSON, whose
    /// cost is bounded by the byte limit alone (JSON has no aliases).
    pub max_yaml_nodes: usize,
    /// Most events that YAML aliases may replay in total: the alias-bomb guard. Independent of
    /// the model's size.
    pub max_alias_events: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_model_bytes: MAX_MODEL_BYTES,
            max_yaml_nodes: MAX_YAML_NODES,
            max_alias_events: MAX_ALIAS_EVENTS,
        }
    }
}

impl LoadOptions {
    /// The serde-saphyr options for these limits. Everything not named here keeps
    /// serde-saphyr's defaults (depth 64, 50 000 aliases and anchors, ...), which no honest
    /// model approaches and which do not grow with model size.
    fn yaml_options(&self, strict_booleans: bool) -> serde_saphyr::Options {
        serde_saphyr::options! {
            strict_booleans: strict_booleans,
            budget: serde_saphyr::budget! {
                max_nodes: self.max_yaml_nodes,
                // Every node is one event, plus one end event per container and a few for the
                // stream and document: at most two per node.
                max_events: self.max_yaml_nodes.saturating_mul(2).saturating_add(16),
                max_total_scalar_bytes: self.max_model_bytes,
                max_reader_input_bytes: Some(self.max_model_bytes),
                // "More than ten aliases per anchor" refuses an honest model that shares one
                // `&defaults` block across many components; the replay budget below bounds
                // what aliases cost directly, so the heuristic adds only false alarms.
                enforce_alias_anchor_ratio: false,
            },
            alias_limits: serde_saphyr::alias_limits! {
                max_total_replayed_events: self.max_alias_events,
            },
        }
    }
}

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

/// Parses a model from raw bytes with the default [`LoadOptions`]. `file` is only used in
/// messages.
pub fn parse_model(bytes: &[u8], file: &str) -> Result<ParsedModel, ModelErrors> {
    parse_model_with(bytes, file, &LoadOptions::default())
}

/// Parses a model from raw bytes within `options`' limits. `file` is only used in messages.
pub fn parse_model_with(
    bytes: &[u8],
    file: &str,
    options: &LoadOptions,
) -> Result<ParsedModel, ModelErrors> {
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
    if bytes.len() > options.max_model_bytes {
        return Err(err(
            0,
            0,
            "file-too-large",
            format!(
                "file is {} bytes; model files are limited to {} bytes",
                bytes.len(),
                options.max_model_bytes
            ),
            Some(format!(
                "check that this is the right file; for a model this large, raise the limit \
                 (`--max-model-bytes {}` or the `max_model_bytes` setting) or split the system",
                bytes.len()
            )),
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
        serde_saphyr::from_str_with_options(text, options.yaml_options(true)).map_err(|e| {
            let pos: Pos = e.location().map(Pos::from).unwrap_or_default();
            if let Some((message, help)) = budget_message(&e, options) {
                return err(pos.line, pos.column, "yaml-budget", message, Some(help));
            }
            let raw = e.without_snippet().to_string();
            let (message, help) = clean_message(&raw);
            err(pos.line, pos.column, "parse", message, help)
        })?
    };
    // The location pass reads the same text leniently (within the same budgets, or a big model
    // would lose its positions); it cannot fail where the strict pass succeeded, but if it
    // somehow does we only lose positions, not the model.
    let index = serde_saphyr::from_str_with_options::<LocDoc>(text, options.yaml_options(false))
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

/// For a budget or alias-limit breach: the message (limit and count reached) and how to raise
/// the limit. `None` for every other error.
fn budget_message(e: &serde_saphyr::Error, options: &LoadOptions) -> Option<(String, String)> {
    let mut e = e;
    // Errors raised while replaying an alias, or carrying a snippet, wrap the original.
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = e
    {
        e = error;
    }
    let alias_help = || {
        "a model never needs this many alias expansions; if the file is generated and honest, \
         raise `LoadOptions::max_alias_events`, otherwise this is an alias bomb"
            .to_string()
    };
    let nodes_help = |reached: usize| {
        format!(
            "if this is an honest model, raise the limit with `--max-yaml-nodes {}` (or the \
             `max_yaml_nodes` setting), or split the system into several models",
            reached.saturating_mul(2)
        )
    };
    let found = match e {
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            BudgetBreach::Nodes { nodes } => (
                format!(
                    "YAML node budget exceeded: more than {} nodes (mappings, sequences and \
                     scalars) by this point; reached {nodes}",
                    options.max_yaml_nodes
                ),
                nodes_help(*nodes),
            ),
            BudgetBreach::Events { events } => (
                format!(
                    "YAML event budget exceeded: more than {} parser events (twice the node \
                     limit of {}) by this point; reached {events}",
                    options.max_yaml_nodes.saturating_mul(2).saturating_add(16),
                    options.max_yaml_nodes
                ),
                nodes_help(options.max_yaml_nodes),
            ),
            BudgetBreach::ScalarBytes { total_scalar_bytes } => (
                format!(
                    "YAML text budget exceeded: more than {} bytes of scalar text (after alias \
                     expansion); reached {total_scalar_bytes}",
                    options.max_model_bytes
                ),
                format!(
                    "raise the limit with `--max-model-bytes {}` (or the `max_model_bytes` \
                     setting) if the model is honest",
                    total_scalar_bytes.saturating_mul(2)
                ),
            ),
            BudgetBreach::Depth { depth } => (
                format!("YAML nesting deeper than 64 levels; reached {depth}"),
                "a model is at most a few levels deep; check indentation and brackets".to_string(),
            ),
            other => (
                format!("YAML alias or anchor budget exceeded: {other:?}"),
                alias_help(),
            ),
        },
        serde_saphyr::Error::AliasReplayLimitExceeded {
            total_replayed_events,
            max_total_replayed_events,
            ..
        } => (
            format!(
                "YAML alias expansion budget exceeded: aliases may replay at most \
                 {max_total_replayed_events} events in total; reached {total_replayed_events}"
            ),
            alias_help(),
        ),
        serde_saphyr::Error::AliasReplayStackDepthExceeded {
            depth, max_depth, ..
        } => (
            format!("YAML aliases nested more than {max_depth} deep; reached {depth}"),
            alias_help(),
        ),
        serde_saphyr::Error::AliasExpansionLimitExceeded {
            expansions,
            max_expansions_per_anchor,
            ..
        } => (
            format!(
                "YAML anchor expanded more than {max_expansions_per_anchor} times; reached \
                 {expansions}"
            ),
            alias_help(),
        ),
        _ => return None,
    };
    Some(found)
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
