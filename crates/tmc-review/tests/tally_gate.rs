//! Counting and the CI gate over the fixture drafts.

mod common;

use tmc_model::{Draft, MitigationStatus, Severity, ThreatStatus};
use tmc_review::{GateFailure, GateOptions, apply, check, tally};

fn reviewed(draft_file: &str) -> Draft {
    let mut draft = common::draft(draft_file);
    let decisions = common::decisions("review.yaml");
    let ctx = common::context(&draft);
    apply(&mut draft, &decisions, &ctx);
    draft
}

fn opts(threshold: Severity, today: &str) -> GateOptions {
    GateOptions {
        threshold,
        today: today.into(),
        current_model_hash: None,
        fail_on_needs_confirmation: false,
    }
}

#[test]
fn resolved_statuses_never_count_as_unresolved() {
    let mut draft = common::draft("draft-v1.json");
    for (status, unresolved) in [
        (ThreatStatus::Draft, true),
        (ThreatStatus::Open, true),
        (ThreatStatus::Mitigated, false),
        (ThreatStatus::Accepted, false),
        (ThreatStatus::Transferred, false),
        (ThreatStatus::Avoided, false),
        (ThreatStatus::NotApplicable, false),
    ] {
        for t in &mut draft.threats {
            t.status = status;
        }
        let t = tally(&draft);
        let expect = if unresolved { draft.threats.len() } else { 0 };
        assert_eq!(t.unresolved, expect, "{status:?}");
        assert_eq!(
            t.unresolved_at_or_above(Severity::Info),
            expect,
            "{status:?}"
        );
        assert_eq!(t.status(status), draft.threats.len());
        let v = check(&draft, &opts(Severity::Info, "2025-01-01"));
        assert_eq!(v.pass, !unresolved, "{status:?}: {}", v.summary_text());
    }
}

#[test]
fn counts_of_the_reviewed_fixture() {
    let t = tally(&reviewed("draft-v1.json"));
    assert_eq!(t.total, 8);
    use ThreatStatus::*;
    let by: Vec<(ThreatStatus, usize)> = t.by_status.clone();
    assert_eq!(
        by,
        vec![
            (Draft, 0),
            (Open, 3),
            (Mitigated, 1),
            (Accepted, 2),
            (Transferred, 1),
            (Avoided, 0),
            (NotApplicable, 1)
        ]
    );
    // Overridden severity counts: TMC-DS-001 is critical now.
    assert_eq!(t.severity(Severity::Critical), 2);
    assert_eq!(t.severity(Severity::High), 3);
    // Unresolved: DS-001 (critical), FLOW-004 (low), the manual one (high).
    assert_eq!(t.unresolved, 3);
    assert_eq!(t.unresolved_at_or_above(Severity::High), 2);
    assert_eq!(t.unresolved_at_or_above(Severity::Critical), 1);
    assert_eq!(t.mitigations, 3);
    assert_eq!(t.mitigation_status(MitigationStatus::Implemented), 1);
    assert_eq!(t.mitigation_status(MitigationStatus::Planned), 1);
    assert_eq!(t.mitigation_status(MitigationStatus::Proposed), 1);
    assert_eq!(t.threats_with_done_mitigation, 1);
    assert_eq!(t.reviewed, 8);
    assert_eq!(t.orphaned, 2);
    // STRIDE: a threat with two letters counts under each.
    let s: usize = t.by_stride.iter().map(|(_, n)| n).sum();
    assert_eq!(s, 10);
    assert_eq!(t.expired_acceptances("2025-06-30"), Vec::<&str>::new());
    assert_eq!(
        t.expired_acceptances("2025-07-01"),
        vec!["TMC-AUTHN-002@payments-api"]
    );
}

#[test]
fn the_gate_reports_every_kind_of_failure() {
    let draft = reviewed("draft-v2.json");
    let mut o = opts(Severity::High, "2025-07-01");
    o.current_model_hash = Some(format!("sha256:{}", "2".repeat(64)));
    o.fail_on_needs_confirmation = true;
    let v = check(&draft, &o);
    assert!(!v.pass);
    let kinds: Vec<&str> = v
        .failures
        .iter()
        .map(|f| match f {
            GateFailure::Unresolved { .. } => "unresolved",
            GateFailure::Orphaned { .. } => "orphaned",
            GateFailure::ModelChanged { .. } => "model-changed",
            GateFailure::ExpiredAcceptance { .. } => "expired",
            GateFailure::NeedsConfirmation { .. } => "confirm",
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "unresolved", // TMC-DS-001 critical (overridden)
            "unresolved", // MANUAL-insider-export high
            "orphaned",
            "orphaned",
            "orphaned",
            "orphaned",
            "model-changed",
            "expired",
            "confirm"
        ]
    );
    let text = v.summary_text();
    assert!(
        text.starts_with("FAIL: 7 threats, 3 unresolved (2 at high or above)"),
        "{text}"
    );
    assert!(text.contains("TMC-DS-001@orders-db — Orders DB keeps card numbers in clear text"));
    assert!(
        text.contains(&format!("reviewed sha256:{}", "1".repeat(64))),
        "{text}"
    );
    assert!(
        text.contains(&format!("now sha256:{}", "2".repeat(64))),
        "{text}"
    );
    assert!(text.contains("component `legacy-db` is no longer in the model"));
    assert!(text.lines().count() < 25, "{text}");
}

#[test]
fn a_clean_review_passes() {
    let mut draft = common::draft("draft-v1.json");
    let mut decisions = common::decisions("review.yaml");
    decisions
        .manual_threats
        .retain(|m| m.id != "MANUAL-missing-target");
    decisions.threats.remove("*@gone-thing");
    let ctx = common::context(&draft);
    apply(&mut draft, &decisions, &ctx);
    // Critical DS-001 is open: fails at high, passes only if threshold is above it... so
    // resolve it, and the low FLOW-004 stays under the threshold.
    let v = check(&draft, &opts(Severity::High, "2025-01-01"));
    assert!(!v.pass);
    for t in &mut draft.threats {
        if t.id == "TMC-DS-001@orders-db" || t.id == "MANUAL-insider-export" {
            t.status = ThreatStatus::Mitigated;
        }
    }
    let v = check(&draft, &opts(Severity::High, "2025-01-01"));
    assert!(v.pass, "{}", v.summary_text());
    assert!(v.summary_text().starts_with("PASS"));
    // The same draft fails once the model changes or the acceptance expires.
    let mut changed = opts(Severity::High, "2025-01-01");
    changed.current_model_hash = Some(format!("sha256:{}", "3".repeat(64)));
    assert!(!check(&draft, &changed).pass);
    assert!(!check(&draft, &opts(Severity::High, "2026-01-01")).pass);
    // A low threat open fails at the low threshold.
    assert!(!check(&draft, &opts(Severity::Low, "2025-01-01")).pass);
}
