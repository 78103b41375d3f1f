//! The data-flow diagram as Mermaid (renders in GitHub, GitLab and most wikis) and as Graphviz
//! DOT (the CLI pipes it through `dot -Tsvg` when Graphviz is installed). Trust boundaries
//! become nested subgraphs / clusters; layout is left to the renderer.
//!
//! Labels come from a model file anyone with repository access can edit, and a diagram is
//! often rendered in a browser, so every label is escaped to plain text: a name such as
//! `x"] --> evil[("` stays one label and cannot add nodes, edges or markup.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use tmc_model::{Component, ElementKind, Flow, SystemModel};

use crate::nesting::Nesting;

/// Mermaid `flowchart` source.
pub fn to_mermaid(model: &SystemModel) -> String {
    let n = Nesting::new(model);
    let ids = NodeIds::new(model);
    let mut out = String::new();
    out.push_str("flowchart LR\n");
    for &ci in &n.loose {
        mermaid_node(&mut out, &ids, &model.components[ci], 1);
    }
    for &bi in &n.roots {
        mermaid_boundary(&mut out, model, &n, &ids, bi, 1);
    }
    for f in &model.flows {
        let (Some(a), Some(b)) = (ids.component(&f.from), ids.component(&f.to)) else {
            continue;
        };
        let arrow = if f.bidirectional == Some(true) {
            "<-->"
        } else {
            "-->"
        };
        match edge_label(f) {
            Some(l) => {
                let _ = writeln!(out, "    {a} {arrow}|\"{}\"| {b}", mermaid_escape(&l));
            }
            None => {
                let _ = writeln!(out, "    {a} {arrow} {b}");
            }
        }
    }
    // Out-of-scope components are drawn dashed, as in most DFD conventions.
    let oos: Vec<&str> = model
        .components
        .iter()
        .filter(|c| !c.in_scope)
        .filter_map(|c| ids.component(&c.id))
        .collect();
    out.push_str("    classDef outOfScope stroke-dasharray: 5 5,color:#777777\n");
    if !oos.is_empty() {
        let _ = writeln!(out, "    class {} outOfScope", oos.join(","));
    }
    for bi in n.preorder() {
        if let Some(id) = ids.boundary(&model.trust_boundaries[bi].id) {
            let _ = writeln!(
                out,
                "    style {id} fill:none,stroke:#cc3333,stroke-dasharray: 6 4"
            );
        }
    }
    out
}

fn mermaid_boundary(
    out: &mut String,
    model: &SystemModel,
    n: &Nesting,
    ids: &NodeIds,
    bi: usize,
    depth: usize,
) {
    let b = &model.trust_boundaries[bi];
    let Some(id) = ids.boundary(&b.id) else {
        return;
    };
    let pad = "    ".repeat(depth);
    let _ = writeln!(out, "{pad}subgraph {id} [\"{}\"]", mermaid_escape(&b.name));
    for &ci in &n.members[bi] {
        mermaid_node(out, ids, &model.components[ci], depth + 1);
    }
    for &child in &n.children[bi] {
        mermaid_boundary(out, model, n, ids, child, depth + 1);
    }
    let _ = writeln!(out, "{pad}end");
}

fn mermaid_node(out: &mut String, ids: &NodeIds, c: &Component, depth: usize) {
    let Some(id) = ids.component(&c.id) else {
        return;
    };
    let label = mermaid_escape(&c.name);
    let pad = "    ".repeat(depth);
    let _ = match c.kind {
        ElementKind::ExternalEntity => writeln!(out, "{pad}{id}[\"{label}\"]"),
        ElementKind::Process => writeln!(out, "{pad}{id}(\"{label}\")"),
        ElementKind::DataStore => writeln!(out, "{pad}{id}[(\"{label}\")]"),
    };
}

/// Text safe inside a Mermaid double-quoted label: every character Mermaid's lexer or its HTML
/// labels treat specially becomes an entity code (`#quot;`, `#35;`...), control characters and
/// line breaks become spaces.
pub fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' | '|' | '[' | ']' | '(' | ')' | '{' | '}' | '%' | '\\' => {
                let _ = write!(out, "#{};", u32::from(ch));
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Graphviz DOT source.
pub fn to_dot(model: &SystemModel) -> String {
    let n = Nesting::new(model);
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&model.product.name));
    out.push_str("    graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, compound=true];\n");
    out.push_str("    node [fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("    edge [fontname=\"Helvetica\", fontsize=9];\n");
    for &ci in &n.loose {
        dot_node(&mut out, &model.components[ci], 1);
    }
    for &bi in &n.roots {
        dot_boundary(&mut out, model, &n, bi, 1);
    }
    let known: HashSet<&str> = model.components.iter().map(|c| c.id.as_str()).collect();
    for f in &model.flows {
        if !known.contains(f.from.as_str()) || !known.contains(f.to.as_str()) {
            continue;
        }
        let mut attrs = Vec::new();
        if let Some(l) = edge_label(f) {
            attrs.push(format!("label=\"{}\"", dot_escape(&l)));
        }
        if f.bidirectional == Some(true) {
            attrs.push("dir=both".to_string());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(
            out,
            "    \"{}\" -> \"{}\"{attrs};",
            dot_escape(&f.from),
            dot_escape(&f.to)
        );
    }
    out.push_str("}\n");
    out
}

fn dot_boundary(out: &mut String, model: &SystemModel, n: &Nesting, bi: usize, depth: usize) {
    let b = &model.trust_boundaries[bi];
    let pad = "    ".repeat(depth);
    // Cluster names are positional so that no model id can collide or break the keyword.
    let _ = writeln!(out, "{pad}subgraph \"cluster_{bi}\" {{");
    let _ = writeln!(
        out,
        "{pad}    label=\"{}\"; style=dashed; color=\"#cc3333\"; fontcolor=\"#cc3333\";",
        dot_escape(&b.name)
    );
    for &ci in &n.members[bi] {
        dot_node(out, &model.components[ci], depth + 1);
    }
    for &child in &n.children[bi] {
        dot_boundary(out, model, n, child, depth + 1);
    }
    let _ = writeln!(out, "{pad}}}");
}

fn dot_node(out: &mut String, c: &Component, depth: usize) {
    let (shape, mut style) = match c.kind {
        ElementKind::ExternalEntity => ("box", vec![]),
        ElementKind::Process => ("box", vec!["rounded"]),
        ElementKind::DataStore => ("cylinder", vec![]),
    };
    let mut extra = String::new();
    if !c.in_scope {
        style.push("dashed");
        extra.push_str(", color=\"#777777\", fontcolor=\"#777777\"");
    }
    let style = if style.is_empty() {
        String::new()
    } else {
        format!(", style=\"{}\"", style.join(","))
    };
    let _ = writeln!(
        out,
        "{}\"{}\" [label=\"{}\", shape={shape}{style}{extra}];",
        "    ".repeat(depth),
        dot_escape(&c.id),
        dot_escape(&c.name)
    );
}

/// Text safe inside a DOT double-quoted string: backslashes and quotes escaped (so no label
/// can end the string or form an escape such as `\N`), line breaks turned into DOT's `\n`.
pub fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// "name (protocol)", either part alone, or nothing.
fn edge_label(f: &Flow) -> Option<String> {
    let proto = f.protocol.map(|p| p.as_str());
    match (f.name.as_deref().filter(|n| !n.trim().is_empty()), proto) {
        (Some(n), Some(p)) => Some(format!("{n} ({p})")),
        (Some(n), None) => Some(n.to_string()),
        (None, Some(p)) => Some(p.to_string()),
        (None, None) => None,
    }
}

/// Mermaid identifiers derived from model ids: `c_`/`b_` prefixed (so no id can be a keyword
/// such as `end` or start an edge modifier), non-alphanumerics replaced, collisions numbered.
struct NodeIds {
    components: HashMap<String, String>,
    boundaries: HashMap<String, String>,
}

impl NodeIds {
    fn new(model: &SystemModel) -> NodeIds {
        let mut used = HashSet::new();
        let mut make = |prefix: &str, id: &str| {
            let base: String = id
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let base = format!("{prefix}_{base}");
            let mut out = base.clone();
            let mut n = 2;
            while !used.insert(out.clone()) {
                out = format!("{base}_{n}");
                n += 1;
            }
            out
        };
        let mut components = HashMap::new();
        for c in &model.components {
            if !components.contains_key(&c.id) {
                let v = make("c", &c.id);
                components.insert(c.id.clone(), v);
            }
        }
        let mut boundaries = HashMap::new();
        for b in &model.trust_boundaries {
            if !boundaries.contains_key(&b.id) {
                let v = make("b", &b.id);
                boundaries.insert(b.id.clone(), v);
            }
        }
        NodeIds {
            components,
            boundaries,
        }
    }

    fn component(&self, id: &str) -> Option<&str> {
        self.components.get(id).map(String::as_str)
    }

    fn boundary(&self, id: &str) -> Option<&str> {
        self.boundaries.get(id).map(String::as_str)
    }
}
