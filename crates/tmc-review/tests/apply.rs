//! Applying review.yaml to the draft it was made on and to a changed draft; expected results
//! are in tests/data/apply-*.expected.yaml.

mod common;

use std::collections::BTreeMap;

use serde::Deserialize;
use tmc_model::{DecisionMatch, MitigationStatus, Severity, Stride, ThreatStatus};
use tmc_review::{ApplyIssue, Decisions, apply, decisions_from_statuses};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    threats: BTreeMap<String, ExpectedThreat>,
    orphans: Vec<ExpectedOrphan>,
    issues: Vec<ExpectedOrphanIssue>,
    report: ExpectedReport,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectedThreat {
    status: ThreatStatus,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    matched_by: Option<DecisionMatch>,
    #[serde(default)]
    needs_confirmation: bool,
    severity: Severity,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectedOrphan {
    key: String,
    reason: String,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectedOrphanIssue {
    key: String,
    message: String,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectedReport {
    applied: usize,
    by_id: usize,
    by_wildcard: usize,
    by_fingerprint: usize,
    by_similar: usize,
    needs_confirmation: usize,
    orphans: usize,
    manual_added: usize,
    unreviewed: usize,
}

fn check_case(draft_file: &str, expected_file: &str) -> tmc_model::Draft {
    let mut draft = common::draft(draft_file);
    let before: Vec<String> = draft.threats.iter().map(|t| t.id.clone()).collect();
    let decisions = common::decisions("review.yaml");
    let ctx = common::context(&draft);
    let report = apply(&mut draft, &decisions, &ctx);
    let expected: Expected = serde_saphyr::from_str(&common::read(expected_file))
        .unwrap_or_else(|e| panic!("{expected_file}: {e}"));

    let got: BTreeMap<String, ExpectedThreat> = draft
        .threats
        .iter()
        .map(|t| {
            let r = t.review.as_ref();
            (
                t.id.clone(),
                ExpectedThreat {
                    status: t.status,
                    key: r.map(|r| r.key.clone()),
                    matched_by: r.map(|r| r.matched_by),
                    needs_confirmation: r.is_some_and(|r| r.needs_confirmation),
                    severity: t.severity.level,
                },
            )
        })
        .collect();
    assert_eq!(got, expected.threats, "{draft_file}: threats");
    let summary = draft.review.as_ref().expect("a review summary");
    let orphans: Vec<ExpectedOrphan> = summary
        .orphaned
        .iter()
        .map(|o| ExpectedOrphan {
            key: o.key.clone(),
            reason: o.reason.clone(),
        })
        .collect();
    assert_eq!(orphans, expected.orphans, "{draft_file}: orphans");
    let issues: Vec<ExpectedOrphanIssue> = report
        .issues
        .iter()
        .map(|ApplyIssue { key, message }| ExpectedOrphanIssue {
            key: key.clone(),
            message: message.clone(),
        })
        .collect();
    assert_eq!(issues, expected.issues, "{draft_file}: issues");
    let r = ExpectedReport {
        applied: report.applied,
        by_id: report.by_id,
        by_wildcard: report.by_wildcard,
        by_fingerprint: report.by_fingerprint,
        by_similar: report.by_similar,
        needs_confirmation: report.needs_confirmation,
        orphans: report.orphans,
        manual_added: report.manual_added,
        unreviewed: report.unreviewed,
    };
    assert_eq!(r, expected.report, "{draft_file}: report");
    // Nothing is removed: every drafted threat is still there, in order, manual ones after.
    let after: Vec<&str> = draft.threats.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        &after[..before.len()],
        before.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(summary.reviewed_model_hash, decisions.model_hash);
    assert_eq!(summary.file.as_deref(), Some("threatmodel.review.yaml"));
    draft
}

#[test]
fn review_applies_to_the_draft_it_was_made_on() {
    let draft = check_case("draft-v1.json", "apply-v1.expected.yaml");
    let t = |id: &str| draft.threats.iter().find(|t| t.id == id).expect(id);

    // Mitigations merged by id, new one appended, drafted text kept.
    let authn = t("TMC-AUTHN-001@payments-api");
    let m = &authn.mitigations;
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[0].id, "M-AUTHN-REQUIRE");
    assert_eq!(m[0].status, MitigationStatus::Implemented);
    assert_eq!(m[0].owner.as_deref(), Some("payments-team"));
    assert_eq!(m[0].ticket.as_deref(), Some("SEC-102"));
    assert_eq!(m[0].due.as_deref(), Some("2025-04-01"));
    assert_eq!(m[0].text, "Require authentication on every route.");
    assert_eq!(m[1].id, "M-AUTHN-MTLS");
    assert_eq!(m[1].status, MitigationStatus::Planned);
    let review = authn.review.as_ref().expect("review");
    assert_eq!(review.tickets, vec!["SEC-101".to_string()]);
    assert_eq!(review.reviewer.as_deref(), Some("alice@example.com"));

    // Severity override keeps the drafted level; edited title keeps the drafted title.
    let ds = t("TMC-DS-001@orders-db");
    let r = ds.review.as_ref().expect("review");
    let o = r.severity_override.as_ref().expect("override");
    assert_eq!(o.drafted, Severity::High);
    assert_eq!(o.reason, "Card numbers are in scope for PCI DSS.");
    assert_eq!(ds.title, "Orders DB keeps card numbers in clear text");
    assert_eq!(
        r.drafted_title.as_deref(),
        Some("Orders DB stores card data unencrypted")
    );

    // The acceptance carries its justification and expiry from the pattern.
    let a = t("TMC-AUTHN-002@payments-api")
        .review
        .as_ref()
        .expect("review");
    assert_eq!(a.expires.as_deref(), Some("2025-06-30"));
    assert!(
        a.justification
            .as_deref()
            .is_some_and(|j| j.contains("gateway"))
    );

    // Manual threat: provenance, resolved target name, mitigation, coverage counted.
    let manual = t("MANUAL-insider-export");
    assert_eq!(manual.provenance.origin(), "manual");
    assert_eq!(manual.targets[0].name, "Orders DB");
    assert_eq!(manual.references.cwe, vec![200]);
    assert_eq!(manual.stride, vec![Stride::InformationDisclosure]);
    assert_eq!(manual.mitigations[0].id, "M-DLP");
    assert_eq!(manual.severity.level, Severity::High);
    assert_eq!(Severity::for_score(manual.severity.score), Severity::High);
    let row = draft
        .coverage
        .iter()
        .find(|r| r.target.id == "orders-db")
        .expect("row");
    assert_eq!(row.counts.get("I"), Some(&2));
}

#[test]
fn review_follows_threats_after_the_model_changed() {
    let draft = check_case("draft-v2.json", "apply-v2.expected.yaml");
    // The suppressed threat stays in `suppressed`; nothing moved it back.
    assert_eq!(draft.suppressed.len(), 1);
}

#[test]
fn a_direct_id_beats_every_pattern_and_the_most_specific_pattern_wins() {
    let text = r#"
review_version: 1
threats:
  "*@*": {status: open}
  "TMC-*@payments-api": {status: mitigated}
  "TMC-AUTHN-*@payments-api": {status: avoided}
  "TMC-AUTHN-00*@payments-api": {status: accepted, justification: ok}
  TMC-AUTHN-002@payments-api: {status: not-applicable, justification: false positive}
"#;
    let decisions = tmc_review::parse(text.as_bytes(), "t.yaml").expect("parses");
    let mut draft = common::draft("draft-v1.json");
    let ctx = common::context(&draft);
    apply(&mut draft, &decisions, &ctx);
    let got: Vec<(&str, ThreatStatus, &str)> = draft
        .threats
        .iter()
        .map(|t| {
            (
                t.id.as_str(),
                t.status,
                t.review.as_ref().map_or("", |r| r.key.as_str()),
            )
        })
        .collect();
    use ThreatStatus::*;
    assert_eq!(
        got,
        vec![
            (
                "TMC-AUTHN-001@payments-api",
                Accepted,
                "TMC-AUTHN-00*@payments-api"
            ),
            (
                "TMC-AUTHN-002@payments-api",
                NotApplicable,
                "TMC-AUTHN-002@payments-api"
            ),
            ("TMC-INJ-001@payments-api", Mitigated, "TMC-*@payments-api"),
            ("TMC-DS-001@orders-db", Open, "*@*"),
            ("TMC-DS-002@legacy-db", Open, "*@*"),
            // KB-12 has no `@`: `*@*` cannot cover it.
            ("KB-12", Draft, ""),
            ("TMC-FLOW-004@web-api", Open, "*@*"),
        ]
    );
    // Every pattern matched something, even those that lost: no orphans.
    assert!(draft.review.expect("summary").orphaned.is_empty());
}

#[test]
fn decisions_without_a_snapshot_or_with_an_unrelated_one_are_orphans_with_reasons() {
    let text = r#"
review_version: 1
threats:
  TMC-GONE-001@payments-api: {status: open}
  TMC-GONE-002@payments-api:
    status: open
    was: {fingerprint: 0123456789abcdef, title: Something else entirely, targets: [payments-api], stride: [R]}
  TMC-X-001@to:billing: {status: open}
"#;
    let decisions = tmc_review::parse(text.as_bytes(), "t.yaml").expect("parses");
    let mut draft = common::draft("draft-v1.json");
    let ctx = common::context(&draft);
    let report = apply(&mut draft, &decisions, &ctx);
    let reasons: Vec<(String, String)> = draft
        .review
        .expect("summary")
        .orphaned
        .into_iter()
        .map(|o| (o.key, o.reason))
        .collect();
    assert_eq!(report.orphans, 3);
    assert_eq!(reasons[0].0, "TMC-GONE-001@payments-api");
    assert!(
        reasons[0].1.contains("no `was` snapshot"),
        "{}",
        reasons[0].1
    );
    assert!(
        reasons[1].1.contains("0123456789abcdef"),
        "{}",
        reasons[1].1
    );
    assert!(
        reasons[1].1.contains("Something else entirely"),
        "{}",
        reasons[1].1
    );
    assert_eq!(
        reasons[2].1,
        "component `billing` is no longer in the model"
    );
}

#[test]
fn similarity_needs_the_same_targets_and_a_shared_stride_letter() {
    // The reworded KB threat, but recorded on another flow / with another letter: no carry.
    for (targets, stride) in [("[flow:other-flow]", "[T]"), ("[flow:web-api]", "[R]")] {
        let text = format!(
            "review_version: 1\nthreats:\n  KB-12:\n    status: open\n    was: {{fingerprint: \
             0000000000000000, title: Replay of captured payment webhooks, targets: {targets}, \
             stride: {stride}}}\n"
        );
        let decisions = tmc_review::parse(text.as_bytes(), "t.yaml").expect("parses");
        let mut draft = common::draft("draft-v2.json");
        let report = apply(&mut draft, &decisions, &tmc_review::ApplyContext::default());
        assert_eq!(
            (report.by_similar, report.orphans),
            (0, 1),
            "{targets} {stride}"
        );
    }
}

#[test]
fn a_reviewed_draft_turns_back_into_the_same_decisions() {
    let mut draft = common::draft("draft-v1.json");
    let decisions = common::decisions("review.yaml");
    let ctx = common::context(&draft);
    apply(&mut draft, &decisions, &ctx);
    let back: Decisions = decisions_from_statuses(&draft);
    // Every threat with a decision is keyed by its own id now, with its status.
    for t in &draft.threats {
        if t.id.starts_with("MANUAL-") {
            let m = back
                .manual_threats
                .iter()
                .find(|m| m.id == t.id)
                .expect("manual");
            assert_eq!(m.status, t.status);
            continue;
        }
        let d = back
            .threats
            .get(&t.id)
            .unwrap_or_else(|| panic!("{}", t.id));
        assert_eq!(d.status, Some(t.status), "{}", t.id);
        assert_eq!(
            d.was.as_ref().map(|w| w.title.as_str()),
            Some(t.title.as_str())
        );
    }
    // The result is a valid file and applying it again gives the same statuses.
    let yaml = back.to_yaml().expect("yaml");
    let reparsed = tmc_review::parse(yaml.as_bytes(), "back.yaml").expect("valid");
    assert_eq!(reparsed, back);
    let mut again = common::draft("draft-v1.json");
    let ctx = common::context(&again);
    apply(&mut again, &reparsed, &ctx);
    let statuses = |d: &tmc_model::Draft| -> Vec<(String, ThreatStatus, Severity)> {
        d.threats
            .iter()
            .map(|t| (t.id.clone(), t.status, t.severity.level))
            .collect()
    };
    assert_eq!(statuses(&again), statuses(&draft));
}

#[test]
fn imported_statuses_without_justification_get_a_placeholder_that_says_so() {
    let mut draft = common::draft("draft-v1.json");
    draft.threats[5].status = ThreatStatus::NotApplicable;
    draft.threats[5].provenance = tmc_model::Provenance::Import {
        format: "threat-dragon".into(),
        source_id: "td-1".into(),
    };
    let d = decisions_from_statuses(&draft);
    let j = d.threats["KB-12"].justification.clone().unwrap_or_default();
    assert!(j.contains("threat-dragon") && j.contains("replace"), "{j}");
    assert_eq!(d.threats.len(), 1);
}

/// A direct decision that only overrides the severity (no status) does not hide the threat from
/// a pattern's status: the threat takes the pattern's status and justification and keeps the
/// direct decision's severity.
#[test]
fn a_status_less_direct_decision_takes_the_status_of_the_pattern_over_it() {
    let mut draft = common::draft("draft-v1.json");
    let text = "review_version: 1\nthreats:\n  \"*@payments-api\":\n    status: accepted\n    justification: internal API behind the mesh\n  \"TMC-AUTHN-001@payments-api\":\n    severity:\n      level: low\n      reason: mTLS only\n";
    let decisions = tmc_review::parse(text.as_bytes(), "fallback.review.yaml").unwrap();
    let ctx = common::context(&draft);
    apply(&mut draft, &decisions, &ctx);
    let t = draft
        .threats
        .iter()
        .find(|t| t.id == "TMC-AUTHN-001@payments-api")
        .unwrap();
    assert_eq!(t.status, ThreatStatus::Accepted);
    assert_eq!(t.severity.level, Severity::Low);
    let r = t.review.as_ref().unwrap();
    assert_eq!(r.key, "TMC-AUTHN-001@payments-api");
    assert_eq!(
        r.justification.as_deref(),
        Some("internal API behind the mesh")
    );
    let other = draft
        .threats
        .iter()
        .find(|t| t.id == "TMC-INJ-001@payments-api")
        .unwrap();
    assert_eq!(other.status, ThreatStatus::Accepted);
}
