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

fn data_factor(out: &mut Vec<SeverityFactor>, data: &DataSummary) {
    match data.max_classification {
        Some(Classification::Restricted) => out.push(factor(
            FactorAxis::Impact,
            "data classification",
            "restricted",
            2,
        )),
        Some(Classification::Confidential) => out.push(factor(
            FactorAxis::Impact,
            "data classification",
            "confidential",
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

/// Computes the assessment for a rule's base values on a subject.
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
                if c.exposed {
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "exposure",
                        "reachable from the internet",
                        1,
                    ));
                } else if c.zone == TrustZone::Restricted {
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "exposure",
                        "restricted zone",
                        -1,
                    ));
                }
                let no_auth = c
                    .component
                    .authentication
                    .as_ref()
                    .is_none_or(|a| a.scheme == AuthScheme::None);
                if c.exposed
                    && no_auth
                    && c.component.kind != tmc_model::ElementKind::ExternalEntity
                {
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "authentication",
                        "none declared",
                        1,
                    ));
                }
                data_factor(&mut fs, &c.data);
            }
        }
        Subject::Flow(i) => {
            if let Some(f) = facts.flows.get(i) {
                let src = facts.components.get(f.source).map(|c| c.zone);
                if src == Some(TrustZone::Internet) {
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "exposure",
                        "starts on the internet",
                        1,
                    ));
                }
                if f.crosses_boundary {
                    let what = if f.boundaries_crossed.is_empty() {
                        "different trust zones".to_string()
                    } else {
                        f.boundaries_crossed.join(", ")
                    };
                    fs.push(factor(
                        FactorAxis::Likelihood,
                        "trust-boundary crossing",
                        what,
                        1,
                    ));
                    if f.flow.authentication.is_none_or(|a| a == AuthScheme::None) {
                        fs.push(factor(
                            FactorAxis::Likelihood,
                            "authentication",
                            "none declared on the flow",
                            1,
                        ));
                    }
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
    match facts.model.product.business_criticality {
        Some(Criticality::MissionCritical) => fs.push(factor(
            FactorAxis::Impact,
            "business criticality",
            "mission-critical",
            2,
        )),
        Some(Criticality::High) => fs.push(factor(
            FactorAxis::Impact,
            "business criticality",
            "high",
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
    let sum = |axis: FactorAxis, base: u8| -> u8 {
        let d: i32 = fs
            .iter()
            .filter(|f| f.applies_to == axis)
            .map(|f| f.delta)
            .sum();
        (i32::from(base) + d).clamp(1, 5) as u8
    };
    let likelihood = sum(FactorAxis::Likelihood, base_likelihood);
    let impact = sum(FactorAxis::Impact, base_impact);
    let score = likelihood * impact;
    SeverityAssessment {
        level: level_for(score),
        likelihood,
        impact,
        score,
        factors: fs,
        downgraded_by,
    }
}

/// Score bands: see [`Severity::for_score`].
pub fn level_for(score: u8) -> Severity {
    Severity::for_score(score)
}
