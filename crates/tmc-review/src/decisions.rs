//! The decisions file (`threatmodel.review.yaml`): what reviewers decided, kept in git beside
//! the model and reviewed in pull requests like code.
//!
//! The types here are the file's shape (serde + JSON Schema, unknown fields are errors). The
//! rules a decision must keep (a justification for accepted, an expiry only on acceptance,
//! real dates, ...) live in [`validate_decision`] and [`validate_manual`], which the parser and
//! every edit share, so a file written by `tmc review` and one edited by hand are checked alike.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tmc_model::identity::fingerprint;
use tmc_model::{MitigationStatus, Severity, Stride, Threat, ThreatStatus};

use crate::dates::{is_date, is_rfc3339};
use crate::pattern::is_pattern;

/// Version of the decisions file format.
pub const REVIEW_VERSION: u32 = 1;

/// Prefix every manual threat id carries: it can never collide with a rule threat
/// (`<rule>@<target>`) or with an imported id, and it reads as "a person added this".
pub const MANUAL_PREFIX: &str = "MANUAL-";

/// The first lines of every file [`Decisions::to_yaml`] writes.
pub const HEADER: &str = "# Threat model review decisions (tmc). Edit by hand or with `tmc review`;\n\
# review changes in pull requests. Format: docs/review.md\n";

/// A whole decisions file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decisions {
    /// Format version; must be 1.
    pub review_version: u32,
    /// Path of the model file this review is about, relative to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `sha256:<hex>` of the model file bytes the review was last made on (see
    /// [`model_hash`]); the gate fails when the model changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hash: Option<String>,
    /// Decisions keyed by threat id (`TMC-AUTHN-001@payments-api`) or by a pattern with `*`
    /// wildcards that never cross `@` (`TMC-AUTHN-*@payments-api`, `*@legacy-db`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub threats: BTreeMap<String, ThreatDecision>,
    /// Threats a reviewer added that no rule, model or import raised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manual_threats: Vec<ManualThreat>,
}

impl Default for Decisions {
    fn default() -> Self {
        Decisions {
            review_version: REVIEW_VERSION,
            model: None,
            model_hash: None,
            threats: BTreeMap::new(),
            manual_threats: Vec::new(),
        }
    }
}

/// What a reviewer decided about one threat (or every threat a pattern covers).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreatDecision {
    /// The new status; absent keeps the drafted status (e.g. a decision that only tracks
    /// mitigations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ThreatStatus>,
    /// Why; required for `accepted`, `transferred` and `not-applicable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// `YYYY-MM-DD` after which an acceptance must be reviewed again; only with `accepted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// A severity set by hand; the drafted level is kept in the reviewed draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<SeverityChange>,
    /// A reworded title (not allowed on patterns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A reworded description (not allowed on patterns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
    /// RFC 3339 time of the decision, e.g. `2025-03-01T10:00:00Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<String>,
    /// Issue-tracker links or keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<String>,
    /// Changes to the drafted mitigations (by id) and new ones (not allowed on patterns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitigations: Vec<MitigationDecision>,
    /// What the threat looked like when the decision was made, so the decision can follow it
    /// when its id changes (not allowed on patterns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<WasSnapshot>,
}

/// A severity a reviewer set by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityChange {
    pub level: Severity,
    /// Why the drafted level is wrong; required.
    pub reason: String,
}

/// A change to one mitigation, or a new mitigation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MitigationDecision {
    /// The drafted mitigation's id (`M-FLOW-PROTECT-CREDENTIALS`) or a new id.
    pub id: String,
    /// The text; required for a new mitigation, replaces the drafted text otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MitigationStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
}

/// The threat as it was when decided: what carry-over compares against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WasSnapshot {
    /// [`tmc_model::identity::fingerprint`] of the threat, 16 hex digits.
    pub fingerprint: String,
    pub title: String,
    /// Target ids, written kind-qualified (`component:legacy-db`, `flow:web-api`) so an orphan
    /// can say what is gone; a plain id is accepted too.
    pub targets: Vec<String>,
    pub stride: Vec<Stride>,
}

impl WasSnapshot {
    /// The snapshot of a threat as drafted now.
    pub fn of(threat: &Threat) -> WasSnapshot {
        WasSnapshot {
            fingerprint: fingerprint(threat),
            title: threat.title.clone(),
            targets: threat
                .targets
                .iter()
                .map(|t| format!("{}:{}", t.kind.as_str(), t.id))
                .collect(),
            stride: threat.stride.clone(),
        }
    }

    /// The target ids without their kind prefix.
    pub fn target_ids(&self) -> BTreeSet<&str> {
        self.targets.iter().map(|t| split_target(t).1).collect()
    }
}

/// Splits `component:legacy-db` into (`Some("component")`, `legacy-db`); a plain id has no kind.
/// Element ids never contain `:` (the DSL allows letters, digits, `-`, `_`, `.`).
pub fn split_target(target: &str) -> (Option<&str>, &str) {
    match target.split_once(':') {
        Some((kind, id)) if matches!(kind, "component" | "flow" | "data" | "boundary") => {
            (Some(kind), id)
        }
        _ => (None, target),
    }
}

/// A threat a reviewer added by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualThreat {
    /// `MANUAL-` followed by letters, digits, `-`, `_` or `.`; never contains `@`.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub stride: Vec<Stride>,
    /// Element ids (components, flows, data, boundaries) of the current model.
    pub targets: Vec<String>,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwe: Vec<u32>,
    /// Defaults to `open`: a person who adds a threat has confirmed it.
    #[serde(default = "open")]
    pub status: ThreatStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<String>,
    /// Each needs a `text`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitigations: Vec<MitigationDecision>,
}

fn open() -> ThreatStatus {
    ThreatStatus::Open
}

/// `sha256:<64 hex digits>` of a model file's bytes.
pub fn model_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether a text is a [`model_hash`] value.
pub fn is_model_hash(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// JSON Schema of the decisions file (`tmc schema review`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Decisions)).unwrap_or(serde_json::Value::Null)
}

impl Decisions {
    /// Stable, git-friendly YAML: the header comment, keys in sorted order, manual threats
    /// by id, absent fields left out. The same decisions always give the same bytes.
    pub fn to_yaml(&self) -> Result<String, crate::ReviewError> {
        let mut sorted = self.clone();
        sorted.manual_threats.sort_by(|a, b| a.id.cmp(&b.id));
        let body = serde_saphyr::to_string(&sorted).map_err(|e| crate::ReviewError::Parse {
            file: String::new(),
            line: 0,
            column: 0,
            message: format!("cannot write the review as YAML: {e}"),
        })?;
        Ok(format!("{HEADER}{body}"))
    }
}

/// Which field of a decision broke a rule, so the parser can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Key,
    Status,
    Expires,
    Severity,
    Title,
    Description,
    ReviewedAt,
    Mitigation(usize),
    Was,
    Targets,
    Stride,
    Id,
}

pub(crate) type Broken = (Field, String);

fn non_blank(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// The status rules shared by decisions and manual threats.
fn check_status_fields(
    status: Option<ThreatStatus>,
    justification: &Option<String>,
    expires: &Option<String>,
    reviewed_at: &Option<String>,
) -> Result<(), Broken> {
    if let Some(s) = status
        && s.needs_justification()
        && !non_blank(justification)
    {
        return Err((
            Field::Status,
            format!(
                "status `{}` needs a `justification` (accepted, transferred and not-applicable \
                 must say why)",
                s.as_str()
            ),
        ));
    }
    if let Some(e) = expires {
        if status != Some(ThreatStatus::Accepted) {
            return Err((
                Field::Expires,
                format!(
                    "`expires` is only allowed with status `accepted` (status is `{}`)",
                    status.map_or("not set", ThreatStatus::as_str)
                ),
            ));
        }
        if !is_date(e) {
            return Err((
                Field::Expires,
                format!("`expires` must be a date YYYY-MM-DD, got `{e}`"),
            ));
        }
    }
    if let Some(t) = reviewed_at
        && !is_rfc3339(t)
    {
        return Err((
            Field::ReviewedAt,
            format!("`reviewed_at` must be an RFC 3339 time like 2025-03-01T10:00:00Z, got `{t}`"),
        ));
    }
    Ok(())
}

fn check_mitigations(list: &[MitigationDecision], text_required: bool) -> Result<(), Broken> {
    let mut seen = BTreeSet::new();
    for (i, m) in list.iter().enumerate() {
        if m.id.trim().is_empty() {
            return Err((Field::Mitigation(i), "a mitigation needs an `id`".into()));
        }
        if !seen.insert(m.id.as_str()) {
            return Err((
                Field::Mitigation(i),
                format!("mitigation `{}` is listed twice", m.id),
            ));
        }
        if text_required && !non_blank(&m.text) {
            return Err((
                Field::Mitigation(i),
                format!("mitigation `{}` of a manual threat needs a `text`", m.id),
            ));
        }
        if let Some(d) = &m.due
            && !is_date(d)
        {
            return Err((
                Field::Mitigation(i),
                format!(
                    "mitigation `{}`: `due` must be a date YYYY-MM-DD, got `{d}`",
                    m.id
                ),
            ));
        }
    }
    Ok(())
}

/// Checks one decision under its key. Patterns may carry a status, its justification and
/// expiry, a severity and tickets, but nothing that only makes sense for one threat.
pub(crate) fn validate_decision(key: &str, d: &ThreatDecision) -> Result<(), Broken> {
    if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
        return Err((
            Field::Key,
            "a threat key must be a threat id or pattern without spaces".into(),
        ));
    }
    if key.split('@').any(|part| part.is_empty()) {
        return Err((
            Field::Key,
            "each `@`-separated part of a key must be non-empty (use `*` for any)".into(),
        ));
    }
    if key.starts_with(MANUAL_PREFIX) {
        return Err((
            Field::Key,
            "`MANUAL-` ids belong to `manual_threats`; decide them there".into(),
        ));
    }
    check_status_fields(d.status, &d.justification, &d.expires, &d.reviewed_at)?;
    if let Some(s) = &d.severity
        && s.reason.trim().is_empty()
    {
        return Err((
            Field::Severity,
            format!(
                "a severity override (to `{}`) needs a `reason`",
                s.level.as_str()
            ),
        ));
    }
    if d.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err((Field::Title, "an edited `title` must not be empty".into()));
    }
    if is_pattern(key) {
        let single = [
            (d.title.is_some(), Field::Title, "title"),
            (d.description.is_some(), Field::Description, "description"),
            (
                !d.mitigations.is_empty(),
                Field::Mitigation(0),
                "mitigations",
            ),
            (d.was.is_some(), Field::Was, "was"),
        ];
        if let Some((_, field, name)) = single.iter().find(|(set, _, _)| *set) {
            return Err((
                *field,
                format!(
                    "`{name}` is about one threat and is not allowed on a wildcard pattern; \
                     write it under the threat's id"
                ),
            ));
        }
    }
    check_mitigations(&d.mitigations, false)?;
    if let Some(w) = &d.was
        && (w.fingerprint.len() != 16 || !w.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err((
            Field::Was,
            format!(
                "`was.fingerprint` must be 16 hex digits, got `{}`",
                w.fingerprint
            ),
        ));
    }
    Ok(())
}

/// Whether a text is a valid manual threat id.
pub fn is_manual_id(id: &str) -> bool {
    id.strip_prefix(MANUAL_PREFIX).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 120
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    })
}

/// Checks one manual threat.
pub(crate) fn validate_manual(m: &ManualThreat) -> Result<(), Broken> {
    if !is_manual_id(&m.id) {
        return Err((
            Field::Id,
            "the id must be `MANUAL-` followed by letters, digits, `-`, `_` or `.` (no `@`, \
             which belongs to rule threats)"
                .into(),
        ));
    }
    if m.title.trim().is_empty() {
        return Err((Field::Title, "a manual threat needs a `title`".into()));
    }
    if m.stride.is_empty() {
        return Err((
            Field::Stride,
            "a manual threat needs at least one STRIDE letter".into(),
        ));
    }
    if m.targets.is_empty() || m.targets.iter().any(|t| t.trim().is_empty()) {
        return Err((
            Field::Targets,
            "a manual threat needs at least one target element id".into(),
        ));
    }
    check_status_fields(Some(m.status), &m.justification, &m.expires, &m.reviewed_at)?;
    check_mitigations(&m.mitigations, true)
}

/// Checks the whole file apart from positions; the parser adds those.
pub(crate) fn validate_all(d: &Decisions) -> Result<(), (String, Broken)> {
    for (key, decision) in &d.threats {
        validate_decision(key, decision).map_err(|b| (key.clone(), b))?;
    }
    let mut ids = BTreeSet::new();
    for m in &d.manual_threats {
        validate_manual(m).map_err(|b| (m.id.clone(), b))?;
        if !ids.insert(m.id.as_str()) {
            return Err((
                m.id.clone(),
                (Field::Id, "this manual threat id is used twice".into()),
            ));
        }
    }
    Ok(())
}
