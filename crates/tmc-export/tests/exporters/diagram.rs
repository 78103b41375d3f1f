use tmc_export::diagram::{dot_escape, mermaid_escape, to_dot, to_mermaid};

use crate::common;

/// Characters that would end a quoted Mermaid label or start syntax inside one.
const MERMAID_FORBIDDEN: [char; 12] = ['"', '[', ']', '(', ')', '{', '}', '|', '<', '>', '`', '\n'];

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Label text between an opening and closing delimiter, if the line is exactly that.
fn quoted<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let inner = s.strip_prefix(open)?.strip_suffix(close)?;
    (!inner.contains(MERMAID_FORBIDDEN)).then_some(inner)
}

/// A strict recogniser for the Mermaid subset we emit: any line it rejects means a label
/// escaped its quotes.
fn check_mermaid_line(line: &str) {
    let l = line.trim();
    if l == "flowchart LR" || l == "end" || l.starts_with("classDef ") {
        return;
    }
    if let Some(rest) = l.strip_prefix("class ") {
        let (ids, class) = rest.split_once(' ').unwrap();
        assert!(ids.split(',').all(is_ident) && is_ident(class), "{line}");
        return;
    }
    if let Some(rest) = l.strip_prefix("style ") {
        let (id, _) = rest.split_once(' ').unwrap();
        assert!(is_ident(id), "{line}");
        return;
    }
    if let Some(rest) = l.strip_prefix("subgraph ") {
        let (id, label) = rest.split_once(' ').unwrap();
        assert!(is_ident(id), "{line}");
        assert!(quoted(label, "[\"", "\"]").is_some(), "{line}");
        return;
    }
    if let Some((from, rest)) = l.split_once(' ')
        && let Some(rest) = rest
            .strip_prefix("<-->")
            .or_else(|| rest.strip_prefix("-->"))
    {
        assert!(is_ident(from), "{line}");
        let to = match rest.strip_prefix(' ') {
            Some(to) => to,
            None => {
                let (label, to) = rest.rsplit_once(' ').unwrap();
                assert!(quoted(label, "|\"", "\"|").is_some(), "{line}");
                to
            }
        };
        assert!(is_ident(to), "{line}");
        return;
    }
    let split = l
        .find(['[', '('])
        .unwrap_or_else(|| panic!("unrecognised line {line}"));
    let (id, shape) = l.split_at(split);
    assert!(is_ident(id), "{line}");
    assert!(
        quoted(shape, "[(\"", "\")]").is_some()
            || quoted(shape, "[\"", "\"]").is_some()
            || quoted(shape, "(\"", "\")").is_some(),
        "{line}"
    );
}

#[test]
fn mermaid_snapshots() {
    for name in ["hostile", "cicd-platform"] {
        let model = common::model(name);
        let out = to_mermaid(&model);
        for line in out.lines() {
            check_mermaid_line(line);
        }
        common::expect_file(&format!("{name}.mmd"), &out);
    }
}

#[test]
fn hostile_labels_cannot_break_mermaid() {
    let model = common::model("hostile");
    let out = to_mermaid(&model);
    assert_eq!(out.matches("subgraph ").count(), 2);
    assert_eq!(out.lines().filter(|l| l.trim() == "end").count(), 2);
    // Nodes: one definition line per component, edges: one per flow.
    assert_eq!(out.lines().filter(|l| l.contains("-->")).count(), 4);
    assert!(!out.contains("evil[("));
    assert!(
        out.contains("c_end(\"end\")"),
        "ids are prefixed so `end` is not a keyword"
    );
    assert_eq!(
        mermaid_escape("a\"b] --> c[(\"d\")] %% `e` #x"),
        "a#quot;b#93; --#gt; c#91;#40;#quot;d#quot;#41;#93; #37;#37; #96;e#96; #35;x"
    );
}

/// Every quote on a DOT line is either escaped or paired.
fn check_dot_quotes(line: &str) {
    let mut in_str = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_str => {
                let next = chars.next();
                assert!(
                    matches!(next, Some('\\' | '"' | 'n')),
                    "bad escape in {line}"
                );
            }
            '"' => in_str = !in_str,
            _ => {}
        }
    }
    assert!(!in_str, "unbalanced quotes in {line}");
}

#[test]
fn dot_snapshots() {
    for name in ["hostile", "cicd-platform"] {
        let model = common::model(name);
        let out = to_dot(&model);
        for line in out.lines() {
            check_dot_quotes(line);
        }
        assert_eq!(
            out.matches("subgraph \"cluster_").count(),
            model.trust_boundaries.len()
        );
        common::expect_file(&format!("{name}.dot"), &out);
    }
    assert_eq!(dot_escape("a\\N\"b\nc"), "a\\\\N\\\"b\\nc");
}

/// When Graphviz is installed, the DOT must render and draw every node and cluster; skipped
/// (with a message) where it is not, since it is an optional runtime dependency.
#[test]
fn dot_renders_with_graphviz_when_available() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    for name in ["hostile", "cicd-platform"] {
        let model = common::model(name);
        let Ok(mut child) = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("graphviz not installed; skipping render check");
            return;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(to_dot(&model).as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let svg = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            svg.matches("class=\"node\"").count(),
            model.components.len()
        );
        assert_eq!(
            svg.matches("class=\"cluster\"").count(),
            model.trust_boundaries.len()
        );
        assert_eq!(svg.matches("class=\"edge\"").count(), model.flows.len());
    }
}
