//! Mermaid flowcharts (`flowchart`/`graph` with any direction).
//!
//! Node shapes give the kind where they can (`[(db)]` is a cylinder: a data store); otherwise
//! the label decides and a note says so. Links (`-->`, `---`, `-.->`, `==>`, `<-->`, with
//! `|label|` or `-- label -->`) become flows, chains (`A --> B --> C`) and `&` expand to one
//! flow per pair, and subgraphs become nested trust boundaries. Styling (`classDef`, `style`,
//! `linkStyle`, `class`, `click`) and `%%` comments are ignored.
//!
//! This is a hand-written reader for the subset people use in architecture diagrams, not a
//! full Mermaid grammar; what it cannot read is an error with the line and column.

use std::collections::HashMap;

use tmc_model::{ElementKind, Technology};

use crate::diagram::{
    self, Diagram, Direction, Edge, Group, MAX_NESTING, Node, check_size, malformed,
};
use crate::{ImportError, ImportResult};

const FORMAT: &str = "Mermaid";

/// Imports a Mermaid flowchart. Never panics; input it cannot read is an
/// [`ImportError::Malformed`] with the line and column.
pub fn import(bytes: &[u8]) -> Result<ImportResult, ImportError> {
    check_size(bytes, FORMAT)?;
    let text = diagram::utf8_text(FORMAT, bytes)?;
    let mut parser = Parser::default();
    parser.run(text)?;
    Ok(parser.finish()?.into_result("Imported Mermaid diagram"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Rectangle,
    Rounded,
    Stadium,
    Subroutine,
    Cylinder,
    Circle,
    Asymmetric,
    Rhombus,
    Hexagon,
    Parallelogram,
    Trapezoid,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Rectangle => "rectangle",
            Shape::Rounded => "rounded rectangle",
            Shape::Stadium => "stadium",
            Shape::Subroutine => "subroutine",
            Shape::Cylinder => "cylinder",
            Shape::Circle => "circle",
            Shape::Asymmetric => "flag",
            Shape::Rhombus => "rhombus",
            Shape::Hexagon => "hexagon",
            Shape::Parallelogram => "parallelogram",
            Shape::Trapezoid => "trapezoid",
        }
    }

    /// Names of the `A@{ shape: … }` syntax.
    fn from_name(name: &str) -> Shape {
        match name.trim().to_ascii_lowercase().as_str() {
            "cyl" | "cylinder" | "db" | "database" | "das" | "h-cyl" | "lin-cyl" | "disk" => {
                Shape::Cylinder
            }
            "circle" | "circ" | "dbl-circ" | "double-circle" | "sm-circ" => Shape::Circle,
            "rounded" | "event" => Shape::Rounded,
            "stadium" | "terminal" | "pill" => Shape::Stadium,
            "diam" | "diamond" | "decision" | "question" => Shape::Rhombus,
            "hex" | "hexagon" | "prepare" => Shape::Hexagon,
            "subproc" | "subroutine" | "fr-rect" => Shape::Subroutine,
            "lean-r" | "lean-l" | "in-out" | "out-in" => Shape::Parallelogram,
            "trap-t" | "trap-b" | "priority" | "manual" => Shape::Trapezoid,
            _ => Shape::Rectangle,
        }
    }
}

/// Openers of node shapes, longest first so `[(` wins over `[`, with their closers.
const SHAPES: &[(&str, &[&str], Shape)] = &[
    ("(((", &[")))"], Shape::Circle),
    ("([", &["])"], Shape::Stadium),
    ("[(", &[")]"], Shape::Cylinder),
    ("[[", &["]]"], Shape::Subroutine),
    ("((", &["))"], Shape::Circle),
    ("{{", &["}}"], Shape::Hexagon),
    ("[/", &["/]", "\\]"], Shape::Parallelogram),
    ("[\\", &["\\]", "/]"], Shape::Trapezoid),
    ("(", &[")"], Shape::Rounded),
    ("[", &["]"], Shape::Rectangle),
    ("{", &["}"], Shape::Rhombus),
    (">", &["]"], Shape::Asymmetric),
];

#[derive(Debug)]
struct NodeInfo {
    id: String,
    label: Option<String>,
    shape: Option<Shape>,
    group: Option<usize>,
}

#[derive(Debug)]
struct PendingEdge {
    source_id: Option<String>,
    from: String,
    to: String,
    label: Option<String>,
    direction: Direction,
    line: usize,
}

#[derive(Debug, Default)]
struct Parser {
    diagram: Diagram,
    nodes: Vec<NodeInfo>,
    node_index: HashMap<String, usize>,
    subgraphs: HashMap<String, usize>,
    /// Open subgraphs, innermost last (indexes into `diagram.groups`).
    open: Vec<usize>,
    edges: Vec<PendingEdge>,
}

/// A statement's text with where it starts, for error locations.
struct Statement<'a> {
    text: &'a str,
    line: usize,
    column: usize,
}

impl Parser {
    fn run(&mut self, text: &str) -> Result<(), ImportError> {
        let mut lines = text.lines().enumerate().peekable();
        // Front matter: `---` … `---`, of which we read only `title:`.
        while let Some((_, l)) = lines.peek() {
            if l.trim().is_empty() {
                lines.next();
            } else {
                break;
            }
        }
        if lines.peek().is_some_and(|(_, l)| l.trim() == "---") {
            lines.next();
            let mut closed = false;
            for (_, l) in lines.by_ref() {
                if l.trim() == "---" {
                    closed = true;
                    break;
                }
                if let Some(t) = l.trim().strip_prefix("title:") {
                    self.diagram.title = Some(unquote(t.trim()).to_string());
                }
            }
            if !closed {
                return Err(malformed(
                    FORMAT,
                    "line 1",
                    "front matter `---` is never closed",
                ));
            }
        }
        let mut header_seen = false;
        for (n, line) in lines {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with("%%") {
                continue;
            }
            for stmt in split_statements(line, n + 1) {
                if !header_seen {
                    let first = stmt.text.split_whitespace().next().unwrap_or_default();
                    if !matches!(first, "flowchart" | "graph" | "flowchart-elk") {
                        return Err(malformed(
                            FORMAT,
                            format!("line {}, column {}", stmt.line, stmt.column),
                            format!(
                                "expected a flowchart header such as `flowchart LR` or `graph TD`, \
                                 found `{}`",
                                truncate(stmt.text)
                            ),
                        ));
                    }
                    header_seen = true;
                    continue;
                }
                self.statement(&stmt)?;
            }
        }
        if !header_seen {
            return Err(malformed(
                FORMAT,
                "line 1",
                "expected a flowchart header such as `flowchart LR` or `graph TD`; the input is empty",
            ));
        }
        for g in std::mem::take(&mut self.open) {
            self.diagram.notes.push(format!(
                "subgraph `{}` is not closed with `end`; closed at the end of the input",
                self.diagram.groups[g].source_id
            ));
        }
        Ok(())
    }

    fn statement(&mut self, stmt: &Statement<'_>) -> Result<(), ImportError> {
        let text = stmt.text;
        let first = text.split_whitespace().next().unwrap_or_default();
        match first {
            "classDef" | "class" | "style" | "linkStyle" | "click" | "direction" | "callback" => {
                Ok(())
            }
            "end" if text == "end" => {
                if self.open.pop().is_none() {
                    self.diagram.notes.push(format!(
                        "line {}: `end` without an open subgraph was ignored",
                        stmt.line
                    ));
                }
                Ok(())
            }
            "subgraph" => self.subgraph(text["subgraph".len()..].trim(), stmt),
            _ if first.starts_with("accTitle") => {
                if let Some((_, t)) = text.split_once(':')
                    && self.diagram.title.is_none()
                {
                    self.diagram.title = Some(t.trim().to_string());
                }
                Ok(())
            }
            _ if first.starts_with("accDescr") || first.starts_with("title") => Ok(()),
            _ => self.chain(stmt),
        }
    }

    fn subgraph(&mut self, rest: &str, stmt: &Statement<'_>) -> Result<(), ImportError> {
        let location = format!("line {}, column {}", stmt.line, stmt.column);
        if self.open.len() >= MAX_NESTING {
            return Err(malformed(
                FORMAT,
                location,
                format!("subgraphs nested deeper than {MAX_NESTING}"),
            ));
        }
        let (id, title) = match rest.find('[') {
            Some(open) if rest.ends_with(']') => {
                let id = rest[..open].trim();
                let title = unquote(rest[open + 1..rest.len() - 1].trim());
                (if id.is_empty() { title } else { id }, title)
            }
            _ => (unquote(rest), unquote(rest)),
        };
        if id.is_empty() {
            return Err(malformed(
                FORMAT,
                location,
                "expected a subgraph id or title after `subgraph`",
            ));
        }
        let mut notes = Vec::new();
        let name = diagram::strip_html(title);
        let kind = diagram::boundary_kind_or_default(&name, &mut notes);
        let g = self.diagram.push_group(
            FORMAT,
            Group {
                source_id: id.to_string(),
                name,
                kind,
                parent: self.open.last().copied(),
                notes,
            },
        )?;
        if self.subgraphs.insert(id.to_string(), g).is_some() {
            self.diagram.notes.push(format!(
                "subgraph id `{id}` is used twice; both were imported"
            ));
        }
        self.open.push(g);
        Ok(())
    }

    fn chain(&mut self, stmt: &Statement<'_>) -> Result<(), ImportError> {
        let mut cur = Cursor {
            text: stmt.text,
            pos: 0,
        };
        let location =
            |cur: &Cursor<'_>| format!("line {}, column {}", stmt.line, stmt.column + cur.pos);
        let mut left = self.node_group(&mut cur, &location)?;
        loop {
            cur.skip_ws();
            if cur.at_end() {
                return Ok(());
            }
            let Some(link) = parse_link(&mut cur) else {
                return Err(malformed(
                    FORMAT,
                    location(&cur),
                    format!(
                        "expected a link such as `-->` or the end of the statement, found `{}`",
                        truncate(cur.rest())
                    ),
                ));
            };
            cur.skip_ws();
            let right = self.node_group(&mut cur, &location)?;
            for a in &left {
                for b in &right {
                    if self.edges.len() >= diagram::MAX_EDGES {
                        return Err(malformed(
                            FORMAT,
                            location(&cur),
                            format!("more than {} links; split the diagram", diagram::MAX_EDGES),
                        ));
                    }
                    let (from, to) = if link.reversed { (b, a) } else { (a, b) };
                    self.edges.push(PendingEdge {
                        source_id: link.id.clone(),
                        from: from.clone(),
                        to: to.clone(),
                        label: link.label.clone(),
                        direction: link.direction,
                        line: stmt.line,
                    });
                }
            }
            left = right;
        }
    }

    /// `A & B & C`, each with an optional shape.
    fn node_group(
        &mut self,
        cur: &mut Cursor<'_>,
        location: &dyn Fn(&Cursor<'_>) -> String,
    ) -> Result<Vec<String>, ImportError> {
        let mut ids = vec![self.node(cur, location)?];
        loop {
            let save = cur.pos;
            cur.skip_ws();
            if cur.eat("&") {
                cur.skip_ws();
                ids.push(self.node(cur, location)?);
            } else {
                cur.pos = save;
                return Ok(ids);
            }
        }
    }

    fn node(
        &mut self,
        cur: &mut Cursor<'_>,
        location: &dyn Fn(&Cursor<'_>) -> String,
    ) -> Result<String, ImportError> {
        let id = cur.take_id();
        if id.is_empty() {
            return Err(malformed(
                FORMAT,
                location(cur),
                format!("expected a node id, found `{}`", truncate(cur.rest())),
            ));
        }
        skip_class(cur);
        let mut shape = None;
        let mut label = None;
        if let Some((open, closers, s)) = SHAPES
            .iter()
            .find(|(open, _, _)| cur.rest().starts_with(open))
        {
            let at = location(cur);
            cur.pos += open.len();
            let (text, closed) = shape_text(cur, closers);
            if !closed {
                return Err(malformed(
                    FORMAT,
                    at,
                    format!(
                        "the shape of node `{id}` opened with `{open}` is never closed with `{}`",
                        closers[0]
                    ),
                ));
            }
            shape = Some(*s);
            label = Some(text);
        }
        skip_class(cur);
        if cur.rest().starts_with("@{") {
            let at = location(cur);
            let Some(end) = cur.rest().find('}') else {
                return Err(malformed(
                    FORMAT,
                    at,
                    "`@{` node data is never closed with `}`",
                ));
            };
            let body = &cur.rest()[2..end];
            for part in body.split(',') {
                if let Some((k, v)) = part.split_once(':') {
                    match k.trim() {
                        "shape" => shape = Some(Shape::from_name(unquote(v.trim()))),
                        "label" => label = Some(diagram::strip_html(unquote(v.trim()))),
                        _ => {}
                    }
                }
            }
            cur.pos += end + 1;
        }
        self.mention(id, label, shape, cur, location)?;
        Ok(id.to_string())
    }

    fn mention(
        &mut self,
        id: &str,
        label: Option<String>,
        shape: Option<Shape>,
        cur: &Cursor<'_>,
        location: &dyn Fn(&Cursor<'_>) -> String,
    ) -> Result<(), ImportError> {
        let idx = match self.node_index.get(id) {
            Some(&i) => i,
            None => {
                if self.nodes.len() >= diagram::MAX_NODES {
                    return Err(malformed(
                        FORMAT,
                        location(cur),
                        format!("more than {} nodes; split the diagram", diagram::MAX_NODES),
                    ));
                }
                self.nodes.push(NodeInfo {
                    id: id.to_string(),
                    label: None,
                    shape: None,
                    group: None,
                });
                self.node_index.insert(id.to_string(), self.nodes.len() - 1);
                self.nodes.len() - 1
            }
        };
        let info = &mut self.nodes[idx];
        if label.is_some() {
            info.label = label;
        }
        if shape.is_some() {
            info.shape = shape;
        }
        // The first subgraph that mentions a node claims it, as Mermaid draws it.
        if info.group.is_none() {
            info.group = self.open.last().copied();
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Diagram, ImportError> {
        let mut index = HashMap::new();
        for info in &self.nodes {
            // `A --> S` where `S` is a subgraph: Mermaid draws the link to the frame.
            if info.shape.is_none() && info.label.is_none() && self.subgraphs.contains_key(&info.id)
            {
                continue;
            }
            let label = info
                .label
                .clone()
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| info.id.clone());
            let mut notes = Vec::new();
            let (kind, technology) = match info.shape {
                Some(Shape::Cylinder) => (
                    ElementKind::DataStore,
                    diagram::technology_for_kind(
                        &label,
                        ElementKind::DataStore,
                        Technology::Database,
                    ),
                ),
                other => {
                    let shape = other.map_or("no shape", Shape::name);
                    diagram::classify_by_label(&label, shape, &mut notes)
                }
            };
            let n = self.diagram.push_node(
                FORMAT,
                Node {
                    source_id: info.id.clone(),
                    name: label,
                    description: None,
                    kind,
                    technology,
                    group: info.group,
                    notes,
                },
            )?;
            index.insert(info.id.clone(), n);
        }
        for e in &self.edges {
            match (index.get(&e.from), index.get(&e.to)) {
                (Some(&from), Some(&to)) => self.diagram.push_edge(
                    FORMAT,
                    &format!("line {}", e.line),
                    Edge {
                        source_id: e.source_id.clone(),
                        from,
                        to,
                        label: e.label.clone(),
                        direction: e.direction,
                    },
                )?,
                _ => self.diagram.notes.push(format!(
                    "line {}: link `{}` → `{}` skipped: one end is a subgraph, not a node",
                    e.line, e.from, e.to
                )),
            }
        }
        Ok(self.diagram)
    }
}

/// Splits a line at `;` outside quotes and brackets.
fn split_statements<'a>(line: &'a str, number: usize) -> Vec<Statement<'a>> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut start = 0;
    let push = |from: usize, to: usize, out: &mut Vec<Statement<'a>>| {
        let piece = &line[from..to];
        let text = piece.trim();
        if !text.is_empty() {
            let lead = piece.len() - piece.trim_start().len();
            out.push(Statement {
                text,
                line: number,
                column: from + lead + 1,
            });
        }
    };
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '[' | '(' | '{' if !quoted => depth += 1,
            ']' | ')' | '}' if !quoted => depth = depth.saturating_sub(1),
            ';' if !quoted && depth == 0 => {
                push(start, i, &mut out);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(start, line.len(), &mut out);
    out
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn at_end(&self) -> bool {
        self.rest().is_empty()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// A node id: letters, digits and `_`, and `-` between them (`web-app`, but not the `-`
    /// that starts `-->`).
    fn take_id(&mut self) -> &'a str {
        let rest = self.rest();
        let mut end = 0;
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            let ok = c.is_alphanumeric()
                || c == '_'
                || (c == '-' && end > 0 && next.is_some_and(char::is_alphanumeric));
            if !ok {
                break;
            }
            end = i + c.len_utf8();
        }
        self.pos += end;
        &rest[..end]
    }
}

fn skip_class(cur: &mut Cursor<'_>) {
    if cur.eat(":::") {
        cur.take_id();
    }
}

/// The text inside a shape up to one of `closers`; a quoted text may contain closers.
fn shape_text(cur: &mut Cursor<'_>, closers: &[&str]) -> (String, bool) {
    let rest = cur.rest();
    let trimmed = rest.trim_start();
    if let Some(inner) = trimmed.strip_prefix('"')
        && let Some(q) = inner.find('"')
    {
        let after = inner[q + 1..].trim_start();
        if let Some(closer) = closers.iter().find(|c| after.starts_with(**c)) {
            let consumed = rest.len() - after.len() + closer.len();
            cur.pos += consumed;
            return (label_text(&inner[..q]), true);
        }
    }
    let found = closers
        .iter()
        .filter_map(|c| rest.find(c).map(|i| (i, c.len())))
        .min();
    match found {
        Some((i, len)) => {
            cur.pos += i + len;
            (label_text(&rest[..i]), true)
        }
        None => (String::new(), false),
    }
}

/// Label text: Markdown-string backticks and quotes dropped, HTML (`<br/>`) flattened.
fn label_text(raw: &str) -> String {
    let raw = unquote(raw.trim());
    let raw = raw
        .strip_prefix('`')
        .and_then(|r| r.strip_suffix('`'))
        .unwrap_or(raw);
    diagram::strip_html(&raw.replace("**", ""))
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[derive(Debug)]
struct Link {
    id: Option<String>,
    label: Option<String>,
    direction: Direction,
    /// `A <-- B`: data goes from B to A.
    reversed: bool,
}

fn is_body(c: char) -> bool {
    matches!(c, '-' | '=' | '.')
}

/// A link: optional start head (`<`, `o`, `x`), a body of `-`, `=`, `.` (at least two), an
/// optional end head (`>`, `o`, `x`), and a label as `|text|` or inside the body
/// (`-- text -->`). Restores the cursor and returns `None` if there is no link here.
fn parse_link(cur: &mut Cursor<'_>) -> Option<Link> {
    let save = cur.pos;
    let mut id = None;
    // Edge ids: `A e1@--> B`.
    {
        let mut probe = Cursor {
            text: cur.text,
            pos: cur.pos,
        };
        let candidate = probe.take_id();
        if !candidate.is_empty()
            && probe.eat("@")
            && probe.peek().is_some_and(|c| is_body(c) || c == '<')
        {
            id = Some(candidate.to_string());
            cur.pos = probe.pos;
        }
    }
    let head_char = |c: Option<char>| matches!(c, Some('o' | 'x'));
    let mut start_head = false;
    if cur.eat("<") {
        start_head = true;
    } else if head_char(cur.peek())
        && cur.peek_at(1).is_some_and(is_body)
        && cur.peek_at(2).is_some_and(is_body)
    {
        cur.pos += 1;
        start_head = true;
    }
    let body_len = |cur: &Cursor<'_>| cur.rest().chars().take_while(|c| is_body(*c)).count();
    let first = body_len(cur);
    if first < 2 {
        cur.pos = save;
        return None;
    }
    cur.pos += first;
    let end_head = |cur: &mut Cursor<'_>| {
        if cur.eat(">") {
            return true;
        }
        let after = cur.peek_at(1);
        if head_char(cur.peek()) && !after.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            cur.pos += 1;
            return true;
        }
        false
    };
    let mut end = end_head(cur);
    let mut label = None;
    if !end && first == 2 && cur.peek().is_some_and(char::is_whitespace) {
        // `-- text -->`, `-. text .->`, `== text ==>`: find the closing body.
        let rest = cur.rest();
        let mut close = None;
        for (i, _) in rest.char_indices() {
            let tail = &rest[i..];
            let run = tail.chars().take_while(|c| is_body(*c)).count();
            if run >= 2 {
                let next = tail[run..].chars().next();
                let after = tail[run..].chars().nth(1);
                let headed = next == Some('>')
                    || (head_char(next) && !after.is_some_and(|c| c.is_alphanumeric() || c == '_'));
                if headed || run >= 3 {
                    close = Some((i, run));
                    break;
                }
            }
        }
        let Some((i, run)) = close else {
            cur.pos = save;
            return None;
        };
        label = Some(label_text(&rest[..i]));
        cur.pos += i + run;
        end = end_head(cur);
    }
    let before_label = cur.pos;
    cur.skip_ws();
    if cur.eat("|") {
        match cur.rest().find('|') {
            Some(close) => {
                label = Some(label_text(&cur.rest()[..close]));
                cur.pos += close + 1;
            }
            None => {
                cur.pos = save;
                return None;
            }
        }
    } else {
        cur.pos = before_label;
    }
    let (direction, reversed) = match (start_head, end) {
        (true, true) => (Direction::Both, false),
        (false, true) => (Direction::Forward, false),
        (true, false) => (Direction::Forward, true),
        (false, false) => (Direction::Undirected, false),
    };
    Some(Link {
        id,
        label: label.filter(|l| !l.is_empty()),
        direction,
        reversed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(s: &str) -> Option<(Option<String>, Direction, bool, String)> {
        let mut c = Cursor { text: s, pos: 0 };
        parse_link(&mut c).map(|l| (l.label, l.direction, l.reversed, c.rest().to_string()))
    }

    #[test]
    fn links() {
        assert_eq!(
            link("--> B"),
            Some((None, Direction::Forward, false, " B".into()))
        );
        assert_eq!(
            link("-->|HTTPS| B").map(|l| l.0),
            Some(Some("HTTPS".into()))
        );
        assert_eq!(
            link("-- SQL --> B").map(|l| (l.0, l.3)),
            Some((Some("SQL".into()), " B".into()))
        );
        assert_eq!(
            link("-. async .-> B").map(|l| l.0),
            Some(Some("async".into()))
        );
        assert_eq!(link("==> B").map(|l| l.1), Some(Direction::Forward));
        assert_eq!(link("--- B").map(|l| l.1), Some(Direction::Undirected));
        assert_eq!(link("<--> B").map(|l| l.1), Some(Direction::Both));
        assert_eq!(link("-.-> B").map(|l| l.1), Some(Direction::Forward));
        assert_eq!(link("e1@--> B").map(|l| l.3), Some(" B".into()));
        assert_eq!(link("-B"), None);
        assert_eq!(link("-- never closed"), None);
    }

    #[test]
    fn ids_stop_before_links() {
        let mut c = Cursor {
            text: "web-app-->db",
            pos: 0,
        };
        assert_eq!(c.take_id(), "web-app");
        assert_eq!(c.rest(), "-->db");
    }
}
