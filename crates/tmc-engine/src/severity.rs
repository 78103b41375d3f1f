//! Severity = likelihood × impact. Each rule sets a base on 1..=5; facts of the model move it,
//! and every move is recorded as a factor so a reviewer can see (and dispute) why.

use tmc_model::{
    AuthScheme, Classification, Criticality, FactorAxis, Severity, SeverityAssessment,
    SeverityFactor, TrustZone,
};

use crate::attrs::Subject;
use crate::facts::{DataSummary, Facts};

fn factor(axis: FactorAxis, name: &str, value: impl Into<String>, delta: i32) -> SeverityFactor {
    SeverityFactor {
        applies_to: axis,
        name: name.to_string(),
        value: value.into(),
        delta,
    }
}

/// Asset value from the data: restricted data raises impact, public data lowers it.
/// Confidential is the ordinary case the rules' base impact already assumes, so it moves
/// nothing (counting it again was the main source of inflated severities).
fn data_factor(out: &mut Vec<SeverityFactor>, data: &DataSummary) {
    match data.max_classification {
        Some(Classification::Restricted) => out.push(factor(
            FactorAxis::Impact,
            "data classification",
            "restricted",
            1,
        )),
        Some(Classification::Public) => out.push(factor(
            FactorAxis::Impact,
            "data classification",
            "public",
            -1,
        )),
        _ => {}
    }
}

/// Name of the factor that says why a threat is critical.
pub const CRITICAL_FACTOR: &str = "critical because";

/// Computes the assessment for a rule's base values on a subject.
///
/// Factors do not double count: on likelihood, one structural reason at most (internet
/// exposure, or a trust-boundary crossing, with missing authentication noted in its value
/// rather than counted again); on impact, one asset-value reason at most (restricted data or
/// a mission-critical product, not both). Declared downgrading controls and the lowering
/// factors (restricted zone, public data, low criticality) always apply. A critical threat
/// names the factor that made it critical (see [`CRITICAL_FACTOR`]).
pub fn assess(
    facts: &Facts,
    subject: Subject,
    base_likelihood: u8,
    base_impact: u8,
    downgraded_by: Option<String>,
) -> SeverityAssessment {
    let mut fs = Vec::new();
    match subject {
        Subject::Component(i) => {
            if let Some(c) = facts.components.get(i) {
                let no_auth = c
                    .component
                    .authentication
                    .as_ref()
                    .is_none_or(|a| a.scheme == AuthScheme::None);
                if c.exposed {
                    let value =
                        if no_auth && c.component.kind != tmc_model::ElementKind::ExternalEntity {
                            "reachable from the internet, no authentication declared"
                        } else {
                            "reachable from the internet"
                        };
                    fs.push(factor(FactorAxis::Likelihood, "exposure", value, 1));
                } else if c.zone == TrustZone::Restricted {
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "exposure",
                        "restricted zone",
                        -1,
                    ));
                } else if !c.inbound_from_less_trusted
                    && c.component.kind != tmc_model::ElementKind::ExternalEntity
                {
                    // An attacker needs a foothold inside the zone first.
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "exposure",
                        "reached only from its own or more trusted zones",
                        -1,
                    ));
                }
                data_factor(&mut fs, &c.data);
            }
        }
        Subject::Flow(i) => {
            if let Some(f) = facts.flows.get(i) {
                let src = facts.components.get(f.source).map(|c| c.zone);
                let unauth = if f.flow.authentication.is_none_or(|a| a == AuthScheme::None) {
                    ", no authentication declared on the flow"
                } else {
                    ""
                };
                if src == Some(TrustZone::Internet) {
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "exposure",
                        format!("starts on the internet{unauth}"),
                        1,
                    ));
                } else if f.crosses_boundary {
                    let what = if f.boundaries_crossed.is_empty() {
                        "different trust zones".to_string()
                    } else {
                        f.boundaries_crossed.join(", ")
                    };
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "trust-boundary crossing",
                        format!("{what}{unauth}"),
                        1,
                    ));
                }
                data_factor(&mut fs, &f.data);
            }
        }
        Subject::Data(i) => {
            if let Some(d) = facts.data.get(i) {
                if d.crosses_boundary {
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "trust-boundary crossing",
                        "carried across a boundary",
                        1,
                    ));
                }
                let s = DataSummary {
                    max_classification: Some(d.asset.classification),
                    ..Default::default()
                };
                data_factor(&mut fs, &s);
            }
        }
    }
    let asset_value_counted = fs
        .iter()
        .any(|f| f.applies_to == FactorAxis::Impact && f.delta > 0);
    match facts.model.product.business_criticality {
        Some(Criticality::MissionCritical) if !asset_value_counted => fs.push(factor(
            FactorAxis::Impact,
            "business criticality",
            "mission-critical",
            1,
        )),
        Some(Criticality::Low) => fs.push(factor(
            FactorAxis::Impact,
            "business criticality",
            "low",
            -1,
        )),
        _ => {}
    }
    if let Some(control) = &downgraded_by {
        fs.push(factor(
            FactorAxis::Likelihood,
            "declared control",
            control.clone(),
            -2,
        ));
    }
    let score_of = |fs: &[SeverityFactor]| -> (u8, u8) {
        let sum = |axis: FactorAxis, base: u8| -> u8 {
            let d: i32 = fs
                .iter()
                .filter(|f| f.applies_to == axis)
                .map(|f| f.delta)
                .sum();
            (i32::from(base) + d).clamp(1, 5) as u8
        };
        (
            sum(FactorAxis::Likelihood, base_likelihood),
            sum(FactorAxis::Impact, base_impact),
        )
    };
    let (likelihood, impact) = score_of(&fs);
    let score = likelihood * impact;
    let level = level_for(score);
    if level == Severity::Critical {
        let why = critical_reason(&fs, &score_of);
        fs.push(factor(FactorAxis::Impact, CRITICAL_FACTOR, why, 0));
    }
    SeverityAssessment {
        level,
        likelihood,
        impact,
        score,
        factors: fs,
        downgraded_by,
    }
}

/// The raising factors without which the threat would not be critical; when no single one
/// decides, all raising factors; when there are none, the rule's own base rating.
fn critical_reason(
    fs: &[SeverityFactor],
    score_of: &dyn Fn(&[SeverityFactor]) -> (u8, u8),
) -> String {
    let raising: Vec<usize> = (0..fs.len()).filter(|&i| fs[i].delta > 0).collect();
    let decisive: Vec<String> = raising
        .iter()
        .filter(|&&i| {
            let mut without = fs.to_vec();
            without.remove(i);
            let (l, m) = score_of(&without);
            level_for(l * m) != Severity::Critical
        })
        .map(|&i| format!("{} ({})", fs[i].name, fs[i].value))
        .collect();
    if !decisive.is_empty() {
        return decisive.join(" and ");
    }
    if raising.is_empty() {
        return "the rule's base likelihood and impact".into();
    }
    raising
        .iter()
        .map(|&i| format!("{} ({})", fs[i].name, fs[i].value))
        .collect::<Vec<_>>()
        .join(" together with ")
}

/// Score bands: see [`Severity::for_score`].
pub fn level_for(score: u8) -> Severity {
    Severity::for_score(score)
}
