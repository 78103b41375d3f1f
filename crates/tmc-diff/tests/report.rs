//! The Markdown and JSON reports: byte-for-byte snapshots of the fixture diff, escaping cases
//! and a draft written by an attacker.
//!
//! Regenerate the snapshots with `UPDATE_SNAPSHOTS=1 cargo test -p tmc-diff --test report`
//! and review the change like code.

mod common;

use serde::Deserialize;
use tmc_diff::{Diff, diff, escape_markdown, render_json, render_markdown};

fn fixture_diff() -> Diff {
    let f = common::fixture();
    diff(&f.old_model, &f.new_model, &f.old_draft, &f.new_draft)
}

/// Compares `actual` with the file byte for byte, or rewrites the file under UPDATE_SNAPSHOTS.
fn snapshot(name: &str, actual: &str) {
    let path = common::data(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "length".to_string(), |i| format!("line {}", i + 1));
        panic!(
            "{name} differs from the output at {line} (UPDATE_SNAPSHOTS=1 to accept):\n{actual}"
        );
    }
}

#[test]
fn markdown_snapshot() {
    let md = render_markdown(&fixture_diff(), "old.yaml", "new.yaml");
    // The summary comes before every section.
    let summary = md
        .lines()
        .position(|l| l.starts_with("**Summary:**"))
        .unwrap();
    let first_section = md.lines().position(|l| l.starts_with("## ")).unwrap();
    assert!(summary < first_section);
    assert!(md.contains("declared controls changed on api"));
    snapshot("expected.md", &md);
}

#[test]
fn json_snapshot_and_round_trip() {
    let d = fixture_diff();
    let json = render_json(&d).unwrap();
    snapshot("expected.json", &json);
    let back: Diff = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["diff_version"], 1);
    for key in ["system", "components", "flows", "trust_boundaries", "data"] {
        assert!(v["model"].get(key).is_some(), "model.{key} missing");
    }
    for key in ["new", "gone", "changed", "reidentified", "review"] {
        assert!(v["threats"].get(key).is_some(), "threats.{key} missing");
    }
    // Only present when the rule sets differ.
    assert!(v["threats"].get("ruleset").is_none());
}

#[test]
fn an_empty_diff_says_so() {
    let f = common::fixture();
    let d = diff(&f.new_model, &f.new_model, &f.new_draft, &f.new_draft);
    assert!(d.is_empty());
    let md = render_markdown(&d, "a", "b");
    assert!(md.contains("No changes to the model or the threats."));
    assert!(!md.contains("## Model changes"));
    // The review state of the new draft is still shown.
    assert!(md.contains("### Orphaned decisions"));
}

#[derive(Deserialize)]
struct EscapeCase {
    input: String,
    expected: String,
}

#[test]
fn escaping_cases() {
    let cases: Vec<EscapeCase> = serde_json::from_str(&common::read("escape-cases.json")).unwrap();
    assert!(cases.len() >= 5);
    for c in cases {
        assert_eq!(escape_markdown(&c.input), c.expected, "input {:?}", c.input);
    }
}

const HOSTILE: &str = "pwn | x\n# Injected heading\n| forged | row |\n<script>alert(1)</script> \
                       `code` [link](https://evil.example) <img src=x onerror=alert(1)>";

/// Counts `ch` not preceded by a backslash (an escaped backslash before it does not escape it).
fn unescaped(line: &str, ch: char) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in line.chars() {
        match (c, escaped) {
            ('\\', false) => escaped = true,
            (c, false) if c == ch => n += 1,
            _ => escaped = false,
        }
    }
    n
}

#[test]
fn hostile_text_cannot_change_the_report_structure() {
    let f = common::fixture();
    let mut new_model = f.new_model.clone();
    new_model.components[0].name = HOSTILE.into();
    new_model.product.owner = Some(HOSTILE.into());
    let mut new_draft = f.new_draft.clone();
    for t in &mut new_draft.threats {
        t.title = HOSTILE.into();
    }
    new_draft.threats[0].id = format!("{HOSTILE}@x");
    if let Some(r) = &mut new_draft.review {
        r.orphaned[0].reason = HOSTILE.into();
    }
    let d = diff(&f.old_model, &new_model, &f.old_draft, &new_draft);
    let md = render_markdown(&d, HOSTILE, "new`label");

    assert!(!md.contains('<'), "raw < in the report");
    assert!(
        md.contains("&lt;script&gt;"),
        "hostile text was dropped instead of escaped"
    );
    let headings = [
        "# Threat model diff: ",
        "## Model changes",
        "## Threat changes",
        "## Review",
        "### ",
    ];
    let mut table_width: Option<usize> = None;
    for line in md.lines() {
        if line.starts_with('#') {
            assert!(
                headings.iter().any(|h| line.starts_with(h)),
                "injected heading: {line}"
            );
            assert!(!line.contains("Injected heading") || line.starts_with("# Threat model diff"));
        }
        if line.starts_with('|') {
            let n = unescaped(line, '|');
            match table_width {
                None => table_width = Some(n),
                Some(w) => assert_eq!(n, w, "row with a forged cell: {line}"),
            }
        } else {
            table_width = None;
        }
        // Backticks only open our own code spans around plain field paths.
        let stripped: String = line.replace("\\`", "");
        for span in stripped.split('`').skip(1).step_by(2) {
            assert!(
                span.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-[]@:".contains(c)),
                "user text in a code span: {span:?} in {line}"
            );
        }
        // No link or image syntax survives: every `[` from user text is escaped.
        let outside_spans: String = stripped.split('`').step_by(2).collect();
        assert_eq!(unescaped(&outside_spans, '['), 0, "live link: {line}");
    }
    // The hostile title is on one line, whole.
    assert!(
        md.lines()
            .any(|l| l.contains("pwn \\| x \\# Injected heading \\| forged \\| row \\|"))
    );
}
