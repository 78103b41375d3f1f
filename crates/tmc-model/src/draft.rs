//! The draft threat model: what `tmc draft` writes and every later stage (review, export,
//! evaluation, knowledge base) reads.
//!
//! Threat ids are derived from the rule and the target, never from a counter, so that review
//! decisions attach to the same threat after the model is edited and re-drafted.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::system::{ElementKind, Product};

/// Version of the draft JSON format.
pub const DRAFT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Draft {
    pub draft_version: u32,
    pub product: Product,
    /// Path of the model file the draft was made from, as given on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
    /// What produced this draft: engine version, rule-set digest, mode.
    pub generator: Generator,
    pub threats: Vec<Threat>,
    /// Threats a declared control removed, kept so reviewers see why they are absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<SuppressedThreat>,
    /// Element × STRIDE counts, including zeros, so gaps are visible.
    pub coverage: Vec<CoverageRow>,
    /// Present when review decisions were applied (`tmc draft --review FILE`, the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Generator {
    pub tool: String,
    pub version: String,
    pub mode: String,
    pub rules_loaded: usize,
    /// Hex digest of the rule set, so two drafts can be compared knowing whether rules changed.
    pub ruleset_digest: String,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Stride {
    #[serde(rename = "S")]
    Spoofing,
    #[serde(rename = "T")]
    Tampering,
    #[serde(rename = "R")]
    Repudiation,
    #[serde(rename = "I")]
    InformationDisclosure,
    #[serde(rename = "D")]
    DenialOfService,
    #[serde(rename = "E")]
    ElevationOfPrivilege,
}

impl Stride {
    pub const ALL: [Stride; 6] = [
        Stride::Spoofing,
        Stride::Tampering,
        Stride::Repudiation,
        Stride::InformationDisclosure,
        Stride::DenialOfService,
        Stride::ElevationOfPrivilege,
    ];

    pub fn letter(self) -> char {
        match self {
            Stride::Spoofing => 'S',
            Stride::Tampering => 'T',
            Stride::Repudiation => 'R',
            Stride::InformationDisclosure => 'I',
            Stride::DenialOfService => 'D',
            Stride::ElevationOfPrivilege => 'E',
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stride::Spoofing => "Spoofing",
            Stride::Tampering => "Tampering",
            Stride::Repudiation => "Repudiation",
            Stride::InformationDisclosure => "Information disclosure",
            Stride::DenialOfService => "Denial of service",
            Stride::ElevationOfPrivilege => "Elevation of privilege",
        }
    }

    /// Parses a letter or a full name, case-insensitively ("I", "information disclosure").
    pub fn parse(text: &str) -> Option<Stride> {
        let t = text.trim().to_ascii_lowercase();
        let t = t.replace(['-', '_'], " ");
        Some(match t.as_str() {
            "s" | "spoofing" => Stride::Spoofing,
            "t" | "tampering" => Stride::Tampering,
            "r" | "repudiation" => Stride::Repudiation,
            "i" | "information disclosure" | "informationdisclosure" | "disclosure" => {
                Stride::InformationDisclosure
            }
            "d" | "denial of service" | "denialofservice" | "dos" => Stride::DenialOfService,
            "e" | "elevation of privilege" | "elevationofprivilege" | "elevation" => {
                Stride::ElevationOfPrivilege
            }
            _ => return None,
        })
    }

    /// STRIDE categories that apply to an element (Microsoft's STRIDE-per-element table);
    /// `None` is a data flow. The engine's coverage, the knowledge base's filter and the
    /// review counts all use this one table.
    pub fn per_element(kind: Option<ElementKind>) -> &'static [Stride] {
        use Stride::*;
        match kind {
            Some(ElementKind::ExternalEntity) => &[Spoofing, Repudiation],
            Some(ElementKind::Process) => &Stride::ALL,
            Some(ElementKind::DataStore) => &[
                Tampering,
                Repudiation,
                InformationDisclosure,
                DenialOfService,
            ],
            None => &[Tampering, InformationDisclosure, DenialOfService],
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "info" | "informational" | "note" => Severity::Info,
            "low" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" | "elevated" => Severity::High,
            "critical" | "very high" | "very-high" => Severity::Critical,
            _ => return None,
        })
    }

    /// Ordinal used when comparing severities "within one level".
    pub fn rank(self) -> i32 {
        self as i32
    }

    /// The level of a likelihood × impact score (each 1–5). Bands chosen so that base 3×3 is
    /// medium and only likely, severe threats are critical. Lives here, not in the engine,
    /// because the knowledge base also rescores threats (past rejections lower likelihood).
    pub fn for_score(score: u8) -> Severity {
        match score {
            20.. => Severity::Critical,
            12..=19 => Severity::High,
            6..=11 => Severity::Medium,
            3..=5 => Severity::Low,
            _ => Severity::Info,
        }
    }
}

/// What a threat is about: a component, a flow, a data asset or a trust boundary.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct TargetRef {
    pub kind: TargetKind,
    pub id: String,
    /// Display name at drafting time, so reports read without the model at hand.
    pub name: String,
}

impl TargetRef {
    pub fn new(kind: TargetKind, id: impl Into<String>, name: impl Into<String>) -> TargetRef {
        TargetRef {
            kind,
            id: id.into(),
            name: name.into(),
        }
    }

    pub fn component(id: impl Into<String>, name: impl Into<String>) -> TargetRef {
        TargetRef::new(TargetKind::Component, id, name)
    }

    pub fn flow(id: impl Into<String>, name: impl Into<String>) -> TargetRef {
        TargetRef::new(TargetKind::Flow, id, name)
    }

    pub fn data(id: impl Into<String>, name: impl Into<String>) -> TargetRef {
        TargetRef::new(TargetKind::Data, id, name)
    }

    pub fn boundary(id: impl Into<String>, name: impl Into<String>) -> TargetRef {
        TargetRef::new(TargetKind::Boundary, id, name)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    Component,
    Flow,
    Data,
    Boundary,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Component => "component",
            TargetKind::Flow => "flow",
            TargetKind::Data => "data",
            TargetKind::Boundary => "boundary",
        }
    }
}

/// External catalogue references.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct References {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwe: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capec: Vec<u32>,
    /// OWASP Top 10 2021 categories, e.g. "A01".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owasp_top10_2021: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owasp_top10_2025: Vec<String>,
    /// OWASP API Security Top 10 2023, e.g. "API1".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owasp_api_2023: Vec<String>,
    /// OWASP Top 10 for LLM Applications 2025, e.g. "LLM01".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owasp_llm_2025: Vec<String>,
}

/// Name prefix of the severity factor (delta 0) with which the copilot's critic marks a threat
/// it thinks does not apply; the reason follows. A mark, never a removal: the report lists such
/// threats in their own section until a reviewer decides.
pub const CRITIC_NOT_APPLICABLE_FACTOR: &str = "copilot critic: does not apply — ";

/// Name prefix of the critic's severity suggestion (delta 0): `… <level> — <reason>`.
pub const CRITIC_SEVERITY_FACTOR: &str = "copilot critic: suggests severity ";

/// One input to the severity computation, shown so a reviewer can disagree with a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SeverityFactor {
    /// Which part of the score it changes.
    pub applies_to: FactorAxis,
    pub name: String,
    /// The value seen in the model, e.g. "restricted" or "internet-facing".
    pub value: String,
    /// Points added (or removed) on the axis.
    pub delta: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FactorAxis {
    Likelihood,
    Impact,
}

/// Severity = likelihood × impact, each on 1..=5, with the factors that moved them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SeverityAssessment {
    pub level: Severity,
    pub likelihood: u8,
    pub impact: u8,
    pub score: u8,
    pub factors: Vec<SeverityFactor>,
    /// Set when a declared control lowered the severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgraded_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MitigationStatus {
    /// Suggested (by a rule, a model or a person); nobody has committed to it yet.
    #[default]
    Proposed,
    /// Agreed and scheduled.
    Planned,
    InProgress,
    Implemented,
    /// Implemented and checked (test, pen test, review).
    Verified,
    /// Decided against; the threat then needs another treatment.
    #[serde(alias = "will-not-action")]
    WontDo,
    /// Does not apply to this system (kept for drafts written before `wont-do` existed).
    NotApplicable,
}

impl MitigationStatus {
    pub const ALL: [MitigationStatus; 7] = [
        MitigationStatus::Proposed,
        MitigationStatus::Planned,
        MitigationStatus::InProgress,
        MitigationStatus::Implemented,
        MitigationStatus::Verified,
        MitigationStatus::WontDo,
        MitigationStatus::NotApplicable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MitigationStatus::Proposed => "proposed",
            MitigationStatus::Planned => "planned",
            MitigationStatus::InProgress => "in-progress",
            MitigationStatus::Implemented => "implemented",
            MitigationStatus::Verified => "verified",
            MitigationStatus::WontDo => "wont-do",
            MitigationStatus::NotApplicable => "not-applicable",
        }
    }

    /// Parses the kebab-case name (also `in progress`, `will-not-action`, `resolved`).
    pub fn parse(text: &str) -> Option<MitigationStatus> {
        let t = text.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        Some(match t.as_str() {
            "proposed" | "identified" => MitigationStatus::Proposed,
            "planned" => MitigationStatus::Planned,
            "in-progress" => MitigationStatus::InProgress,
            "implemented" | "resolved" | "done" => MitigationStatus::Implemented,
            "verified" => MitigationStatus::Verified,
            "wont-do" | "will-not-action" | "wontdo" => MitigationStatus::WontDo,
            "not-applicable" | "n/a" | "na" => MitigationStatus::NotApplicable,
            _ => return None,
        })
    }

    /// Whether the mitigation is in place (implemented or verified).
    pub fn is_done(self) -> bool {
        matches!(
            self,
            MitigationStatus::Implemented | MitigationStatus::Verified
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mitigation {
    pub id: String,
    pub text: String,
    /// OWASP ASVS requirement ids (e.g. "V2.1.1" for 4.0.3, "V6.2.1" for 5.0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asvs: Vec<String>,
    #[serde(default)]
    pub status: MitigationStatus,
    /// Who carries it out (set in review).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Issue-tracker link or key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
}

impl Mitigation {
    /// A proposed mitigation with no review fields.
    pub fn proposed(id: impl Into<String>, text: impl Into<String>, asvs: Vec<String>) -> Self {
        Mitigation {
            id: id.into(),
            text: text.into(),
            asvs,
            status: MitigationStatus::Proposed,
            owner: None,
            ticket: None,
            due: None,
        }
    }
}

/// Where a threat came from; every threat has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Provenance {
    /// The offline rule engine.
    Rule {
        rule_id: String,
        /// Attribute values that made the rule fire, e.g. `component.authentication = "none"`.
        triggered_by: BTreeMap<String, String>,
        /// Other rules that raised the same threat on the same target (merged into this one).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        also_raised_by: Vec<String>,
    },
    /// Brought in by an importer from another tool's threat model.
    Import { format: String, source_id: String },
    /// Suggested by a language model.
    Model {
        provider: String,
        model: String,
        prompt_version: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        retrieved: Vec<String>,
    },
    /// Suggested from the knowledge base (a past reviewed threat).
    KnowledgeBase { source_ids: Vec<String> },
    /// Added by a reviewer by hand (decisions file, `tmc review add`, the web app).
    Manual {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        author: Option<String>,
    },
}

impl Provenance {
    /// The origin family used by filters: `rule`, `import`, `model`, `knowledge-base`, `manual`.
    pub fn origin(&self) -> &'static str {
        match self {
            Provenance::Rule { .. } => "rule",
            Provenance::Import { .. } => "import",
            Provenance::Model { .. } => "model",
            Provenance::KnowledgeBase { .. } => "knowledge-base",
            Provenance::Manual { .. } => "manual",
        }
    }
}

/// Review state of a threat. `draft` means nobody has reviewed it; `open` means a reviewer
/// confirmed it and it is not yet treated. Both are unresolved for counts and the CI gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ThreatStatus {
    #[default]
    #[serde(alias = "unreviewed", alias = "unchecked")]
    Draft,
    #[serde(alias = "in-discussion", alias = "in-progress")]
    Open,
    Mitigated,
    /// The risk is accepted as it is (needs a justification; may expire).
    Accepted,
    /// Someone else carries the risk (insurance, a provider, another team).
    Transferred,
    /// The feature or component that carried the risk was changed so it cannot occur.
    Avoided,
    /// A false positive: the threat does not apply to this system.
    #[serde(alias = "rejected", alias = "false-positive", alias = "na")]
    NotApplicable,
}

impl ThreatStatus {
    pub const ALL: [ThreatStatus; 7] = [
        ThreatStatus::Draft,
        ThreatStatus::Open,
        ThreatStatus::Mitigated,
        ThreatStatus::Accepted,
        ThreatStatus::Transferred,
        ThreatStatus::Avoided,
        ThreatStatus::NotApplicable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ThreatStatus::Draft => "draft",
            ThreatStatus::Open => "open",
            ThreatStatus::Mitigated => "mitigated",
            ThreatStatus::Accepted => "accepted",
            ThreatStatus::Transferred => "transferred",
            ThreatStatus::Avoided => "avoided",
            ThreatStatus::NotApplicable => "not-applicable",
        }
    }

    /// Parses a status name; accepts the names other tools use (`rejected`, `false-positive`,
    /// `unchecked`, `in-discussion`).
    pub fn parse(text: &str) -> Option<ThreatStatus> {
        let t = text.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        Some(match t.as_str() {
            "draft" | "unreviewed" | "unchecked" => ThreatStatus::Draft,
            "open" | "in-discussion" | "in-progress" | "confirmed" => ThreatStatus::Open,
            "mitigated" => ThreatStatus::Mitigated,
            "accepted" => ThreatStatus::Accepted,
            "transferred" => ThreatStatus::Transferred,
            "avoided" => ThreatStatus::Avoided,
            "not-applicable" | "rejected" | "false-positive" | "na" | "n/a" => {
                ThreatStatus::NotApplicable
            }
            _ => return None,
        })
    }

    /// Unresolved: nobody decided (draft) or confirmed and untreated (open). Only these count
    /// against the CI gate; accepted, transferred, avoided, mitigated and not-applicable never do.
    pub fn is_unresolved(self) -> bool {
        matches!(self, ThreatStatus::Draft | ThreatStatus::Open)
    }

    /// Whether a decision with this status must say why.
    pub fn needs_justification(self) -> bool {
        matches!(
            self,
            ThreatStatus::Accepted | ThreatStatus::Transferred | ThreatStatus::NotApplicable
        )
    }
}

/// How a review decision found its threat in this draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionMatch {
    /// The decision's key is the threat's id.
    Id,
    /// A key with `*` wildcards covered the threat.
    Wildcard,
    /// The threat's id changed but its fingerprint (targets, STRIDE, CWE, title) did not.
    Fingerprint,
    /// Only a similar threat on the same target was found: the carried decision needs a
    /// reviewer's confirmation.
    Similar,
}

/// A severity a reviewer set by hand, with the engine's level kept beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SeverityOverride {
    /// The drafted level before the override.
    pub drafted: Severity,
    pub reason: String,
}

/// What a review decided about one threat; present only on reviewed drafts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ThreatReview {
    /// The decisions-file key that applied (a threat id or a wildcard pattern).
    pub key: String,
    pub matched_by: DecisionMatch,
    /// Set when the decision was carried by similarity and a reviewer should confirm it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_confirmation: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// Acceptance expiry, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
    /// RFC 3339 time of the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_override: Option<SeverityOverride>,
    /// The drafted title, when the reviewer edited it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drafted_title: Option<String>,
}

/// A decision whose threat is no longer in the draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrphanedDecision {
    pub key: String,
    pub status: ThreatStatus,
    /// Why it matched nothing, e.g. "component `legacy-db` is no longer in the model".
    pub reason: String,
}

/// The review applied to a draft: which file, which model version, what did not attach.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ReviewSummary {
    /// The decisions file (as given), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Hash of the model version the review was last made on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_model_hash: Option<String>,
    /// Hash of the model this draft was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orphaned: Vec<OrphanedDecision>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Threat {
    /// Stable id: `<rule id>@<target id>` (or a group key); survives re-drafting.
    pub id: String,
    pub title: String,
    pub description: String,
    pub stride: Vec<Stride>,
    pub targets: Vec<TargetRef>,
    pub references: References,
    pub severity: SeverityAssessment,
    pub mitigations: Vec<Mitigation>,
    pub provenance: Provenance,
    #[serde(default)]
    pub status: ThreatStatus,
    /// The review decision applied to this threat, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ThreatReview>,
}

/// A threat that a declared control removed from the draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SuppressedThreat {
    pub id: String,
    pub title: String,
    pub rule_id: String,
    pub targets: Vec<TargetRef>,
    /// The control that removed it, in the rule's words.
    pub reason: String,
}

/// Count of threats per element and STRIDE letter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CoverageRow {
    pub target: TargetRef,
    /// Technology of the component (for a flow: of its receiving end, which is what it
    /// attacks). Kept so that a reviewed draft fed to the knowledge base says which kind of
    /// element each threat was for, without the model file at hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technology: Option<String>,
    /// Counts indexed by STRIDE letter ("S".."E"); letters that do not apply are absent.
    pub counts: BTreeMap<String, u32>,
}
