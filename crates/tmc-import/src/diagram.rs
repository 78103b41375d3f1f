//! The graph the diagram importers (draw.io, Mermaid, PlantUML) share, and the one place that
//! turns it into a [`SystemModel`].
//!
//! Diagram formats only know boxes, lines and frames; what a box *is* has to be guessed from
//! its shape, icon and label. The words come from [`crate::keywords`], shared with the
//! threat-model importers; the boundary table and the id/boundary bookkeeping are here, so the
//! three importers agree, and every model they produce has valid, unique ids and a well-formed
//! boundary tree whatever the input was.

use std::collections::{BTreeMap, HashSet};

use tmc_model::{
    BoundaryKind, Component, DSL_VERSION, ElementKind, Flow, Product, SystemModel, Technology,
    TrustBoundary,
};

use crate::keywords::{self, TextKind};
use crate::{ImportError, ImportNote, ImportResult};

/// Most nodes a diagram may have; far above any hand-drawn diagram, low enough that the
/// quadratic containment checks stay fast on hostile input.
pub(crate) const MAX_NODES: usize = 10_000;
/// Most edges; `A & B & … --> C & D & …` multiplies, so this is checked as edges are added.
pub(crate) const MAX_EDGES: usize = 50_000;
/// Deepest nesting of frames (subgraphs, packages, containers) we follow.
pub(crate) const MAX_NESTING: usize = 64;
/// Longest id we generate from a label; the DSL allows 128, and flow ids join two of these.
const MAX_SLUG: usize = 48;

/// Which way data moves on an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From `from` to `to` (an arrow head at `to`).
    Forward,
    /// Arrow heads at both ends.
    Both,
    /// No arrow head: we still need a direction, so we keep the drawing order and say so.
    Undirected,
}

/// A box of the diagram that becomes a component.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub source_id: String,
    pub name: String,
    pub description: Option<String>,
    pub kind: ElementKind,
    pub technology: Technology,
    /// Index into [`Diagram::groups`] of the innermost frame it sits in.
    pub group: Option<usize>,
    pub notes: Vec<String>,
}

/// A frame of the diagram that becomes a trust boundary.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub source_id: String,
    pub name: String,
    pub kind: BoundaryKind,
    /// Index into [`Diagram::groups`] of the frame it is drawn in.
    pub parent: Option<usize>,
    pub notes: Vec<String>,
}

/// A line of the diagram that becomes a flow.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub source_id: Option<String>,
    /// Indexes into [`Diagram::nodes`].
    pub from: usize,
    pub to: usize,
    pub label: Option<String>,
    pub direction: Direction,
}

/// What a diagram parser produces.
#[derive(Debug, Clone, Default)]
pub(crate) struct Diagram {
    pub title: Option<String>,
    pub nodes: Vec<Node>,
    pub groups: Vec<Group>,
    pub edges: Vec<Edge>,
    /// Notes not tied to one element (skipped edges, ignored pages).
    pub notes: Vec<String>,
}

/// The size check and error constructor are shared with the threat-model importers.
pub(crate) use crate::builder::{check_size, malformed};

/// Input as UTF-8 text without a byte-order mark; text formats are UTF-8 by definition.
pub(crate) fn utf8_text<'a>(format: &'static str, bytes: &'a [u8]) -> Result<&'a str, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(bytes, e.valid_up_to());
        malformed(
            format,
            format!("line {line}, column {column}"),
            "input is not valid UTF-8 text",
        )
    })
}

/// 1-based line and column (in bytes) of a byte offset, for error locations.
pub(crate) fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(bytes.len());
    let before = &bytes[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, column)
}

impl Diagram {
    /// Adds a node, refusing more than [`MAX_NODES`] so hostile input stays cheap.
    pub(crate) fn push_node(
        &mut self,
        format: &'static str,
        node: Node,
    ) -> Result<usize, ImportError> {
        if self.nodes.len() >= MAX_NODES {
            return Err(malformed(
                format,
                node.source_id,
                format!("more than {MAX_NODES} elements; split the diagram"),
            ));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    /// Adds a frame, with the same limit as nodes.
    pub(crate) fn push_group(
        &mut self,
        format: &'static str,
        group: Group,
    ) -> Result<usize, ImportError> {
        if self.groups.len() >= MAX_NODES {
            return Err(malformed(
                format,
                group.source_id,
                format!("more than {MAX_NODES} frames; split the diagram"),
            ));
        }
        self.groups.push(group);
        Ok(self.groups.len() - 1)
    }

    /// Adds an edge, refusing more than [`MAX_EDGES`].
    pub(crate) fn push_edge(
        &mut self,
        format: &'static str,
        location: &str,
        edge: Edge,
    ) -> Result<(), ImportError> {
        if self.edges.len() >= MAX_EDGES {
            return Err(malformed(
                format,
                location,
                format!("more than {MAX_EDGES} connections; split the diagram"),
            ));
        }
        self.edges.push(edge);
        Ok(())
    }

    /// Builds the model: unique DSL ids from labels, boundary tree, flows with guessed
    /// protocols, and a note for every guess.
    pub(crate) fn into_result(self, default_title: &str) -> ImportResult {
        let mut ids = IdAllocator::default();
        let mut notes = Vec::new();
        let mut id_map = BTreeMap::new();

        let group_ids: Vec<String> = self
            .groups
            .iter()
            .map(|g| ids.allocate(&g.name, &g.source_id, "boundary"))
            .collect();
        let node_ids: Vec<String> = self
            .nodes
            .iter()
            .map(|n| ids.allocate(&n.name, &n.source_id, "component"))
            .collect();

        let mut components = Vec::with_capacity(self.nodes.len());
        for (node, id) in self.nodes.iter().zip(&node_ids) {
            id_map.insert(id.clone(), node.source_id.clone());
            notes.extend(node.notes.iter().map(|m| ImportNote {
                element: Some(id.clone()),
                message: m.clone(),
            }));
            components.push(component(id.clone(), node));
        }

        // Parents come from parsers that already avoid cycles; check anyway, since a cycle
        // would make every consumer of the boundary tree loop.
        let parents = acyclic_parents(&self.groups);
        let mut boundaries: Vec<TrustBoundary> = self
            .groups
            .iter()
            .zip(&group_ids)
            .map(|(g, id)| {
                id_map.insert(id.clone(), g.source_id.clone());
                notes.extend(g.notes.iter().map(|m| ImportNote {
                    element: Some(id.clone()),
                    message: m.clone(),
                }));
                TrustBoundary {
                    id: id.clone(),
                    name: g.name.clone(),
                    kind: g.kind,
                    description: None,
                    members: Vec::new(),
                    boundaries: Vec::new(),
                    notes: None,
                }
            })
            .collect();
        for (i, parent) in parents.iter().enumerate() {
            match parent {
                Parent::Some(p) => boundaries[*p].boundaries.push(group_ids[i].clone()),
                Parent::Cut => notes.push(ImportNote {
                    element: Some(group_ids[i].clone()),
                    message: "frames are nested in a cycle; this boundary was made top-level"
                        .to_string(),
                }),
                Parent::None => {}
            }
        }
        for (node, id) in self.nodes.iter().zip(&node_ids) {
            if let Some(b) = node.group.and_then(|g| boundaries.get_mut(g)) {
                b.members.push(id.clone());
            }
        }

        let mut flows = Vec::with_capacity(self.edges.len());
        for edge in &self.edges {
            let (Some(from), Some(to)) = (node_ids.get(edge.from), node_ids.get(edge.to)) else {
                continue;
            };
            let id = ids.allocate_flow(from, to);
            if let Some(src) = &edge.source_id {
                id_map.insert(id.clone(), src.clone());
            }
            let label = edge
                .label
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty());
            let protocol = label.and_then(|l| keywords::protocol(l, TextKind::Prose));
            if protocol.is_none() {
                notes.push(ImportNote {
                    element: Some(id.clone()),
                    message: match label {
                        Some(l) => format!("protocol unknown: label \"{l}\" names none"),
                        None => "protocol unknown: the connection has no label".to_string(),
                    },
                });
            }
            if edge.direction == Direction::Undirected {
                notes.push(ImportNote {
                    element: Some(id.clone()),
                    message: format!(
                        "the line has no arrow head; direction assumed from `{from}` to `{to}`"
                    ),
                });
            }
            flows.push(Flow {
                id,
                name: label.map(str::to_string),
                from: from.clone(),
                to: to.clone(),
                protocol,
                port: label.and_then(guess_port),
                authentication: None,
                encryption: None,
                data: Vec::new(),
                data_received: Vec::new(),
                bidirectional: (edge.direction == Direction::Both).then_some(true),
                description: label.filter(|_| protocol.is_none()).map(str::to_string),
                notes: None,
            });
        }
        notes.extend(self.notes.into_iter().map(|message| ImportNote {
            element: None,
            message,
        }));

        let name = self
            .title
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| default_title.to_string());
        ImportResult {
            model: SystemModel {
                version: DSL_VERSION,
                product: Product {
                    name,
                    ..Product::default()
                },
                components,
                data: Vec::new(),
                flows,
                trust_boundaries: boundaries,
                notes: None,
            },
            threats: Vec::new(),
            notes,
            id_map,
        }
    }
}

fn component(id: String, node: &Node) -> Component {
    Component {
        description: node.description.clone(),
        ..Component::new(id, node.name.clone(), node.kind, node.technology)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parent {
    None,
    Some(usize),
    /// The parent link was dropped because it closed a cycle.
    Cut,
}

fn acyclic_parents(groups: &[Group]) -> Vec<Parent> {
    let mut parents: Vec<Parent> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| match g.parent {
            Some(p) if p < groups.len() && p != i => Parent::Some(p),
            Some(_) => Parent::Cut,
            None => Parent::None,
        })
        .collect();
    for start in 0..parents.len() {
        let mut cur = start;
        // A chain longer than the number of groups must revisit one: a cycle.
        for _ in 0..=parents.len() {
            match parents[cur] {
                Parent::Some(p) if p == start => {
                    parents[start] = Parent::Cut;
                    break;
                }
                Parent::Some(p) => cur = p,
                _ => break,
            }
        }
    }
    parents
}

/// Hands out DSL ids: letters, digits, `-`, `_`, `.`, starting with a letter, unique across
/// every element kind.
#[derive(Default)]
struct IdAllocator {
    used: HashSet<String>,
}

impl IdAllocator {
    fn allocate(&mut self, label: &str, source_id: &str, fallback: &str) -> String {
        let mut base = slug(label);
        if base.is_empty() {
            base = slug(source_id);
        }
        if base.is_empty() {
            base = fallback.to_string();
        }
        if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
            base = format!("{}-{base}", &fallback[..1]);
        }
        self.unique(base)
    }

    fn allocate_flow(&mut self, from: &str, to: &str) -> String {
        self.unique(format!("{from}-to-{to}"))
    }

    fn unique(&mut self, base: String) -> String {
        let mut candidate = base.clone();
        let mut n = 2usize;
        while self.used.contains(&candidate) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

/// Lower-case ASCII slug: runs of anything but letters and digits become one `-`.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() >= MAX_SLUG {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Collapses runs of whitespace (labels often carry line breaks from the drawing).
pub(crate) fn collapse_ws(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Plain text of an HTML label: tags dropped (line breaks and blocks become spaces),
/// character references decoded, whitespace collapsed.
pub(crate) fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            // Only a real tag (`<` followed by a letter, `/` or `!`) is removed; "a < b" stays.
            let is_tag = rest[1..]
                .chars()
                .next()
                .is_some_and(|n| n.is_ascii_alphabetic() || n == '/' || n == '!');
            if let (true, Some(end)) = (is_tag, rest.find('>')) {
                out.push(' ');
                rest = &rest[end + 1..];
                continue;
            }
        } else if c == '&'
            && let Some(end) = rest.bytes().take(12).position(|b| b == b';')
            && let Some(decoded) = decode_reference(&rest[1..end])
        {
            out.push(decoded);
            rest = &rest[end + 1..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    collapse_ws(&out)
}

fn decode_reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')
        }
    }
}

/// Lower-case alphanumeric words; guessing tables match whole words so "ci" never matches
/// "circle" and "ses" never matches "sessions".
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn has_phrase(words: &[String], phrase: &[&str]) -> bool {
    !phrase.is_empty()
        && words
            .windows(phrase.len())
            .any(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
}

fn first_match<T: Copy>(text: &str, table: &[(&[&str], T)]) -> Option<T> {
    let words = words(text);
    table
        .iter()
        .find(|(phrase, _)| has_phrase(&words, phrase))
        .map(|(_, t)| *t)
}

/// A port written in a label as `:443` or `port 443`.
pub(crate) fn guess_port(text: &str) -> Option<u16> {
    let lower = text.to_ascii_lowercase();
    let mut candidates = Vec::new();
    for (i, _) in lower.match_indices(':') {
        candidates.push(&lower[i + 1..]);
    }
    for (i, m) in lower.match_indices("port") {
        candidates.push(lower[i + m.len()..].trim_start());
    }
    candidates.into_iter().find_map(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = rest[digits.len()..].chars().next();
        if digits.is_empty() || digits.len() > 5 || after.is_some_and(char::is_alphanumeric) {
            return None;
        }
        digits.parse::<u16>().ok().filter(|p| *p != 0)
    })
}

/// Boundary kind named by a frame's label or icon; `None` when it names none.
pub(crate) fn guess_boundary_kind(text: &str) -> Option<BoundaryKind> {
    use BoundaryKind::*;
    const TABLE: &[(&[&str], BoundaryKind)] = &[
        (&["subnet"], Subnet),
        (&["subnets"], Subnet),
        (&["vpc"], Vpc),
        (&["vnet"], Vpc),
        (&["virtual", "network"], Vpc),
        (&["tenant"], Tenant),
        (&["k8s"], Container),
        (&["kubernetes"], Container),
        (&["cluster"], Container),
        (&["namespace"], Container),
        (&["pod"], Container),
        (&["container"], Container),
        (&["docker"], Container),
        (&["account"], CloudAccount),
        (&["subscription"], CloudAccount),
        (&["aws"], CloudAccount),
        (&["azure"], CloudAccount),
        (&["gcp"], CloudAccount),
        (&["cloud"], CloudAccount),
        (&["region"], CloudAccount),
        (&["dmz"], Network),
        (&["internet"], Network),
        (&["network"], Network),
        (&["lan"], Network),
        (&["intranet"], Network),
        (&["datacenter"], Physical),
        (&["data", "center"], Physical),
        (&["data", "centre"], Physical),
        (&["on", "prem"], Physical),
        (&["onprem"], Physical),
        (&["premises"], Physical),
        (&["office"], Physical),
        (&["device"], Physical),
        (&["host"], Process),
        (&["vm"], Process),
        (&["machine"], Process),
        (&["process"], Process),
        (&["organization"], Organization),
        (&["organisation"], Organization),
        (&["company"], Organization),
        (&["corporate"], Organization),
        (&["enterprise"], Organization),
        (&["org"], Organization),
    ];
    first_match(text, TABLE)
}

/// Boundary kind for a frame, with a note when the label named none.
pub(crate) fn boundary_kind_or_default(text: &str, notes: &mut Vec<String>) -> BoundaryKind {
    guess_boundary_kind(text).unwrap_or_else(|| {
        notes.push("boundary kind unknown from the label; assumed `network`".to_string());
        BoundaryKind::Network
    })
}

/// Kind and technology for a box whose shape says nothing specific: the label decides,
/// and the note says it was a guess.
pub(crate) fn classify_by_label(
    label: &str,
    shape: &str,
    notes: &mut Vec<String>,
) -> (ElementKind, Technology) {
    match keywords::technology(label) {
        Some(t) => {
            notes.push(format!(
                "kind inferred from shape ({shape}) and label: {} / {}",
                t.default_kind().as_str(),
                t.as_str()
            ));
            (t.default_kind(), t)
        }
        None => {
            notes.push(format!(
                "kind inferred from shape ({shape}): process; technology unknown, set to `other`"
            ));
            (ElementKind::Process, Technology::Other)
        }
    }
}

/// Technology for a box whose shape fixes the kind (a cylinder is a store, a stick figure an
/// external entity): the label may refine it within that kind.
pub(crate) fn technology_for_kind(
    label: &str,
    kind: ElementKind,
    default: Technology,
) -> Technology {
    keywords::technology(label)
        .filter(|t| t.default_kind() == kind)
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_ids() {
        assert_eq!(slug("Web Server"), "web-server");
        assert_eq!(slug("  <b>API</b> (v2) "), "b-api-b-v2");
        assert_eq!(slug("日本"), "");
        let mut ids = IdAllocator::default();
        assert_eq!(ids.allocate("Web", "x", "component"), "web");
        assert_eq!(ids.allocate("Web", "y", "component"), "web-2");
        assert_eq!(ids.allocate("42", "7", "component"), "c-42");
        assert_eq!(ids.allocate("", "", "boundary"), "boundary");
    }

    #[test]
    fn html_labels_become_text() {
        assert_eq!(strip_html("Web<br>Server"), "Web Server");
        assert_eq!(
            strip_html("<div><b>API</b>&nbsp;&amp; co</div>"),
            "API & co"
        );
        assert_eq!(strip_html("a < b &#x41;&#66;"), "a < b AB");
        assert_eq!(strip_html("&bogus; <"), "&bogus; <");
    }

    #[test]
    fn guesses() {
        assert_eq!(guess_port("HTTPS :443"), Some(443));
        assert_eq!(guess_port("port 5432"), Some(5432));
        assert_eq!(guess_port("ratio 1:2x"), None);
        assert_eq!(
            guess_boundary_kind("Private subnet"),
            Some(BoundaryKind::Subnet)
        );
        assert_eq!(
            guess_boundary_kind("AWS account"),
            Some(BoundaryKind::CloudAccount)
        );
    }

    #[test]
    fn cycles_are_cut() {
        let g = |parent| Group {
            source_id: "g".into(),
            name: "g".into(),
            kind: BoundaryKind::Network,
            parent,
            notes: vec![],
        };
        let parents = acyclic_parents(&[g(Some(1)), g(Some(0)), g(Some(2)), g(Some(9))]);
        assert!(parents.iter().filter(|p| **p == Parent::Cut).count() >= 3);
        assert!(parents.contains(&Parent::Some(1)) || parents.contains(&Parent::Some(0)));
    }
}
