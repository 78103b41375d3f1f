#![allow(clippy::unwrap_used)]
//! The Markdown report: unreviewed drafts render byte for byte as the committed snapshots
//! (`tests/snapshots/*.draft.json` → `*.draft.md` at the workspace root), and a reviewed draft
//! (`tests/data/reviewed.draft.json`) renders as `tests/data/reviewed.md`; `UPDATE_EXPECT=1`
//! rewrites the latter.

use std::path::{Path, PathBuf};

use tmc_model::{Draft, ThreatStatus};
use tmc_report::markdown::{is_reviewed, render};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn reviewed() -> Draft {
    serde_json::from_str(&std::fs::read_to_string(data("reviewed.draft.json")).unwrap()).unwrap()
}

#[test]
fn unreviewed_drafts_render_exactly_as_the_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/snapshots");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".draft.json"))
        else {
            continue;
        };
        let draft: Draft = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(!is_reviewed(&draft), "{stem} snapshot carries review state");
        let want = std::fs::read_to_string(dir.join(format!("{stem}.draft.md"))).unwrap();
        let got = render(&draft);
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{stem}: report changed at line {}:\n got: {:?}\nwant: {:?}",
                line + 1,
                got.lines().nth(line),
                want.lines().nth(line)
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} snapshots under {dir:?}");
}

#[test]
fn reviewed_draft_matches_expected_report() {
    let got = render(&reviewed());
    let path = data("reviewed.md");
    if std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1") {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {path:?}; run with UPDATE_EXPECT=1"));
    assert!(
        got == want,
        "{path:?} differs (UPDATE_EXPECT=1 rewrites it):\n{got}"
    );
}

/// The lines of the report between a `## heading` and the next one.
fn section<'a>(report: &'a str, heading: &str) -> &'a str {
    let start = report
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("no section {heading}"));
    let rest = &report[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}

#[test]
fn reviewed_report_sections_summary_and_decisions() {
    let draft = reviewed();
    let md = render(&draft);
    // Summary near the top, before the severity summary.
    let summary = md.find("## Review summary").unwrap();
    assert!(summary < md.find("## Summary").unwrap());
    let s = section(&md, "Review summary");
    assert!(s.contains("Decisions from `threatmodel.decisions.yaml`."));
    assert!(s.contains("**The model changed since the last review**"));
    assert!(s.contains("| accepted | 1 |"));
    assert!(s.contains("| not applicable (rejected in review) | 1 |"));
    assert!(
        s.contains("| critical | 1 |"),
        "unresolved by severity: {s}"
    );
    assert!(s.contains("| **total** | **2** |"), "two unresolved: {s}");
    assert!(s.contains("**Mitigations:** 3 of 8 done (implemented or verified)"));
    assert!(s.contains("**Needs confirmation:** 1 decision(s)"));
    assert!(s.contains("- `llm:dos-1` Queue flooding of end — transferred"));

    // Every threat appears once, in the section of its status; none is hidden.
    let sections = [
        (
            "Open and unreviewed (2)",
            vec!["TMC-AUTH-001@web", "TMC-AUTH-002@api"],
        ),
        ("Mitigated (1)", vec!["TMC-FLOW-004@f1"]),
        (
            "Accepted / transferred / avoided (3)",
            vec!["TMC-LOG-001@api", "llm:dos-1", "TMC-DATA-009@web"],
        ),
        ("Not applicable (rejected in review) (1)", vec!["manual:1"]),
    ];
    for (heading, ids) in &sections {
        let body = section(&md, heading);
        for t in &draft.threats {
            let listed = body.contains(&format!("`{}` · STRIDE", t.id));
            assert_eq!(
                listed,
                ids.contains(&t.id.as_str()),
                "{} in {heading}",
                t.id
            );
        }
    }
    assert!(!md.contains("## Threats by element"));

    let accepted = section(&md, "Accepted / transferred / avoided");
    assert!(
        accepted.contains(
            "- **Status:** accepted by alice on 2026-11-30T10:05:00Z (expires 2027-03-31)"
        )
    );
    assert!(accepted.contains("- **Tickets:** RISK-3, RISK-4"));
    assert!(accepted.contains(
        "- **Severity override:** medium → low by alice: Only two admins, both on the VPN."
    ));
    assert!(accepted.contains("- **Decision:** `TMC-LOG-001@api`, matched by its fingerprint"));
    assert!(accepted.contains("- **Drafted title:** Queue flood in end"));
    assert!(accepted.contains("- **Needs confirmation:** the decision `llm:dos-1`"));
    let open = section(&md, "Open and unreviewed");
    assert!(open.contains("- **Status:** draft (not reviewed)"));
    assert!(open.contains(
        "  - [in progress] `M-AUTHZ` Check object ownership on every request — owner bob, ticket SEC-12, due 2027-01-31"
    ));
    let orphaned = section(&md, "Orphaned decisions");
    assert!(orphaned.contains(
        "| `TMC-OLD-001@legacy-db` | accepted | component \\`legacy-db\\` is no longer in the model |"
    ));
}

#[test]
fn reviewed_report_escapes_user_text() {
    let md = render(&reviewed());
    assert!(!md.contains("<script>") && !md.contains("<b>") && !md.contains("<i>"));
    assert!(md.contains("&lt;script&gt;"));
    // Markdown in a justification shows as typed, not as a link or emphasis.
    assert!(
        md.contains("accepted until the \\*Q3\\* rewrite \\| see \\[link\\](javascript:alert(1))")
    );
    // Table cells: pipes escaped, so every row of the orphan table has 3 cells.
    let orphaned = section(&md, "Orphaned decisions");
    for row in orphaned.lines().filter(|l| l.starts_with("| `")) {
        let cells = row.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 4, "{row}");
    }
}

#[test]
fn one_decided_threat_is_enough_to_render_as_reviewed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/snapshots");
    let text = std::fs::read_to_string(dir.join("webshop-payments.draft.json")).unwrap();
    let mut draft: Draft = serde_json::from_str(&text).unwrap();
    let before = render(&draft);
    draft.threats[0].status = ThreatStatus::Mitigated;
    assert!(is_reviewed(&draft));
    let after = render(&draft);
    assert_ne!(before, after);
    assert!(after.contains("## Review summary"));
    assert!(section(&after, "Mitigated (1)").contains(&draft.threats[0].id));
    let open = section(&after, "Open and unreviewed");
    assert_eq!(
        open.matches("- **Status:** draft (not reviewed)").count(),
        draft.threats.len() - 1
    );
}
