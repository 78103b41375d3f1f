//! The reviewer's report: a summary line, then model changes, threat changes and review state.
//!
//! All user text (ids, names, titles, values, labels, orphan reasons) goes through
//! [`escape_markdown`] and sits inside table cells or after our own words, never at the start
//! of a line, so a hostile title cannot open a heading, a list, a link, HTML or a new row.

use std::fmt::Write as _;

use serde_json::Value;
use tmc_model::{Stride, ThreatStatus};

use crate::Diff;
use crate::model::{ChangeClass, ElementChanges, FieldChange};
use crate::threats::{ReviewState, ThreatChange, ThreatRef};

/// Longest value shown in a cell, in characters; the JSON output has the full value.
const MAX_VALUE_CHARS: usize = 160;

/// Escapes text for inline Markdown and GFM table cells so it displays as written: backslash
/// escapes for `\ | ` * _ [ ] ~ #`, entities for `< > &` (so HTML never renders), and every
/// control or line-separator character (newlines included) becomes a space so text cannot end
/// the line it is on.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '|' | '*' | '_' | '[' | ']' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A field path as inline code when it is plain (letters, digits, `._-[]@:`), else escaped
/// text: paths come from serde field names, but mitigation ids inside them are user text.
fn path(p: &str) -> String {
    let plain = !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-[]@:".contains(c));
    if plain {
        format!("`{p}`")
    } else {
        escape_markdown(p)
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_VALUE_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_VALUE_CHARS - 1).collect();
        t.push('…');
        t
    }
}

/// Plain text of a serialised value, shortened: strings bare, lists as `[a, b]`, a mitigation
/// (an object with `text`) as its text and status, other objects as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => truncate(s),
        Value::Object(o) if o.get("text").is_some_and(Value::is_string) => {
            let text = o.get("text").map(plain).unwrap_or_default();
            match o.get("status").and_then(Value::as_str) {
                Some(st) => format!("{text} ({st})"),
                None => text,
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let items: Vec<String> = a.iter().map(plain_scalar).collect();
            truncate(&format!("[{}]", items.join(", ")))
        }
        other => truncate(&other.to_string()),
    }
}

fn plain_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "_(not set)_".to_string(),
        Some(v) => escape_markdown(&plain(v)),
    }
}

fn stride(s: &[Stride]) -> String {
    let letters: Vec<String> = s.iter().map(|x| x.letter().to_string()).collect();
    letters.join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn status(s: ThreatStatus) -> &'static str {
    s.as_str()
}

fn ids(list: &[String]) -> String {
    let v: Vec<String> = list.iter().map(|s| escape_markdown(s)).collect();
    v.join(", ")
}

/// Renders the report. `old_label` and `new_label` name the two versions (file paths, git
/// revisions) and are escaped like any user text.
pub fn render_markdown(diff: &Diff, old_label: &str, new_label: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Threat model diff: {} → {}\n",
        escape_markdown(old_label),
        escape_markdown(new_label)
    );
    let _ = writeln!(out, "{}\n", summary(diff));
    if diff.is_empty() {
        let _ = writeln!(out, "No changes to the model or the threats.\n");
    } else {
        model_section(&mut out, diff);
        threat_section(&mut out, diff);
    }
    review_section(&mut out, diff);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn summary(diff: &Diff) -> String {
    let m = &diff.model;
    let lists = [&m.components, &m.flows, &m.trust_boundaries, &m.data];
    let added: usize = lists.iter().map(|l| l.added.len()).sum();
    let removed: usize = lists.iter().map(|l| l.removed.len()).sum();
    let changed: usize = lists.iter().map(|l| l.changed.len()).sum();
    let controls: usize = lists
        .iter()
        .map(|l| l.changed.iter().filter(|c| c.controls_changed()).count())
        .sum();
    let t = &diff.threats;
    let r = &t.review;
    let mut s = format!(
        "**Summary:** model: {added} added, {removed} removed, {changed} changed \
         ({} with declared controls changed), {}; threats: {} new, {} gone, {} changed, {} \
         re-identified; review: {} carried ({} to confirm), {} orphaned, {} new unreviewed.",
        controls,
        plural(
            m.system.len(),
            "product field changed",
            "product fields changed"
        ),
        t.new.len(),
        t.gone.len(),
        t.changed.len(),
        t.reidentified.len(),
        r.carried.len(),
        r.needs_confirmation.len(),
        r.orphaned.len(),
        r.new_unreviewed.len(),
    );
    if t.ruleset.is_some() {
        s.push_str(" The rule set changed.");
    }
    s
}

fn field_table(out: &mut String, first_col: &str, rows: &[(String, &FieldChange)]) {
    let _ = writeln!(
        out,
        "| {first_col} | Field | Class | Old | New |\n|---|---|---|---|---|"
    );
    for (element, f) in rows {
        let class = match f.class {
            ChangeClass::Control => "**control**",
            ChangeClass::Other => "other",
        };
        let _ = writeln!(
            out,
            "| {element} | {} | {class} | {} | {} |",
            path(&f.path),
            value(f.old.as_ref()),
            value(f.new.as_ref())
        );
    }
    out.push('\n');
}

fn element_section(out: &mut String, title: &str, changes: &ElementChanges) {
    if changes.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {title}\n");
    for (label, list) in [("Added", &changes.added), ("Removed", &changes.removed)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{label}:\n\n| Id | Name |\n|---|---|");
        for e in list {
            let _ = writeln!(
                out,
                "| {} | {} |",
                escape_markdown(&e.id),
                escape_markdown(&e.name)
            );
        }
        out.push('\n');
    }
    if !changes.changed.is_empty() {
        let controls: Vec<String> = changes
            .changed
            .iter()
            .filter(|c| c.controls_changed())
            .map(|c| escape_markdown(&c.id))
            .collect();
        if controls.is_empty() {
            let _ = writeln!(out, "Changed:\n");
        } else {
            let _ = writeln!(
                out,
                "Changed (declared controls changed on {}):\n",
                controls.join(", ")
            );
        }
        let rows: Vec<(String, &FieldChange)> = changes
            .changed
            .iter()
            .flat_map(|c| {
                let label = format!("{} ({})", escape_markdown(&c.id), escape_markdown(&c.name));
                c.fields.iter().map(move |f| (label.clone(), f))
            })
            .collect();
        field_table(out, "Element", &rows);
    }
}

fn model_section(out: &mut String, diff: &Diff) {
    let m = &diff.model;
    let _ = writeln!(out, "## Model changes\n");
    if m.is_empty() {
        let _ = writeln!(out, "None.\n");
        return;
    }
    if !m.system.is_empty() {
        let _ = writeln!(out, "### Product\n");
        let rows: Vec<(String, &FieldChange)> = m
            .system
            .iter()
            .map(|f| ("product".to_string(), f))
            .collect();
        field_table(out, "Element", &rows);
    }
    element_section(out, "Components", &m.components);
    element_section(out, "Flows", &m.flows);
    element_section(out, "Trust boundaries", &m.trust_boundaries);
    element_section(out, "Data assets", &m.data);
}

fn threat_table(out: &mut String, title: &str, list: &[ThreatRef], with_note: bool) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {title}\n");
    if with_note {
        let _ = writeln!(
            out,
            "| Id | Severity | STRIDE | Title | Targets | Note |\n|---|---|---|---|---|---|"
        );
    } else {
        let _ = writeln!(
            out,
            "| Id | Severity | STRIDE | Title | Targets |\n|---|---|---|---|---|"
        );
    }
    for t in list {
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} |",
            escape_markdown(&t.id),
            t.severity.as_str(),
            stride(&t.stride),
            escape_markdown(&t.title),
            ids(&t.targets)
        );
        if with_note {
            let note = t
                .suppressed_by
                .as_deref()
                .map(|r| format!("now suppressed: {}", escape_markdown(r)))
                .unwrap_or_default();
            let _ = write!(out, " {note} |");
        }
        out.push('\n');
    }
    out.push('\n');
}

fn change_rows(out: &mut String, id: &str, changes: &[ThreatChange]) {
    for c in changes {
        let _ = writeln!(
            out,
            "| {id} | {} | {} | {} |",
            path(&c.path),
            value(c.old.as_ref()),
            value(c.new.as_ref())
        );
    }
}

fn threat_section(out: &mut String, diff: &Diff) {
    let t = &diff.threats;
    let _ = writeln!(out, "## Threat changes\n");
    if let Some(r) = &t.ruleset {
        let _ = writeln!(
            out,
            "The rule set changed ({} → {}): threats may differ without a model change.\n",
            escape_markdown(&r.old_digest),
            escape_markdown(&r.new_digest)
        );
    }
    if t.new.is_empty() && t.gone.is_empty() && t.changed.is_empty() && t.reidentified.is_empty() {
        let _ = writeln!(out, "None.\n");
        return;
    }
    threat_table(out, "New threats", &t.new, false);
    threat_table(out, "Gone threats", &t.gone, true);
    if !t.changed.is_empty() {
        let _ = writeln!(
            out,
            "### Changed threats\n\n| Id | Field | Old | New |\n|---|---|---|---|"
        );
        for c in &t.changed {
            change_rows(out, &escape_markdown(&c.id), &c.changes);
        }
        out.push('\n');
    }
    if !t.reidentified.is_empty() {
        let _ = writeln!(
            out,
            "### Re-identified threats\n\nSame fingerprint under a new id; review decisions \
             follow by fingerprint.\n\n| Old id | New id | Title | Changes |\n|---|---|---|---|"
        );
        for r in &t.reidentified {
            let fields: Vec<String> = r.changes.iter().map(|c| path(&c.path)).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                escape_markdown(&r.old_id),
                escape_markdown(&r.new_id),
                escape_markdown(&r.title),
                if fields.is_empty() {
                    "none".to_string()
                } else {
                    fields.join(", ")
                }
            );
        }
        out.push('\n');
    }
}

fn review_section(out: &mut String, diff: &Diff) {
    let r = &diff.threats.review;
    if !r.reviewed && r.carried.is_empty() && r.new_unreviewed.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Review\n");
    if !r.reviewed && r.carried.is_empty() {
        let _ = writeln!(out, "No review decisions are applied to the new draft.\n");
    } else {
        carried_table(out, r);
    }
    review_lists(out, r);
}

fn carried_table(out: &mut String, r: &ReviewState) {
    let c = &r.carried_by_match;
    let _ = writeln!(
        out,
        "| Decisions carried | by id | by wildcard | by fingerprint | by similarity |\n\
         |---|---|---|---|---|\n| {} | {} | {} | {} | {} |\n",
        c.total(),
        c.id,
        c.wildcard,
        c.fingerprint,
        c.similar
    );
}

fn review_lists(out: &mut String, r: &ReviewState) {
    if !r.needs_confirmation.is_empty() {
        let _ = writeln!(
            out,
            "Needs a reviewer's confirmation (carried by similarity): {}.\n",
            ids(&r.needs_confirmation)
        );
    }
    if !r.orphaned.is_empty() {
        let _ = writeln!(
            out,
            "### Orphaned decisions\n\nThese decisions match no threat any more.\n\n\
             | Key | Status | Reason |\n|---|---|---|"
        );
        for o in &r.orphaned {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                escape_markdown(&o.key),
                status(o.status),
                escape_markdown(&o.reason)
            );
        }
        out.push('\n');
    }
    if !r.new_unreviewed.is_empty() {
        let _ = writeln!(
            out,
            "New threats nobody has reviewed: {}.\n",
            ids(&r.new_unreviewed)
        );
    }
}
