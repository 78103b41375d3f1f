//! PlantUML component and deployment diagrams.
//!
//! Element keywords give the kind where they can (`actor` is an external entity, `database`
//! and `queue` are data stores); otherwise the label and stereotype decide and a note says so.
//! Any element with a `{ … }` body (`rectangle`, `package`, `frame`, `node`, `cloud`, …)
//! becomes a trust boundary, nested as written. Relations (`-->`, `->`, `..>`, `<--`,
//! `-up->`, `-[#red]->`) with `: label` become flows.
//!
//! Like the Mermaid reader this covers the subset architecture diagrams use; lines it does not
//! understand are reported as notes rather than silently dropped.

use std::collections::HashMap;

use tmc_model::{ElementKind, Technology};

use crate::diagram::{
    self, Diagram, Direction, Edge, Group, MAX_NESTING, Node, check_size, malformed,
};
use crate::{ImportError, ImportResult};

const FORMAT: &str = "PlantUML";
/// Lines not understood that are listed one by one; the rest are counted.
const MAX_LISTED_UNKNOWN: usize = 20;

/// Imports a PlantUML component/deployment diagram. Never panics; input it cannot read is an
/// [`ImportError::Malformed`] with the line.
pub fn import(bytes: &[u8]) -> Result<ImportResult, ImportError> {
    check_size(bytes, FORMAT)?;
    let text = diagram::utf8_text(FORMAT, bytes)?;
    let mut parser = Parser::default();
    parser.run(&strip_block_comments(text))?;
    Ok(parser.diagram.into_result("Imported PlantUML diagram"))
}

/// Replaces `/' … '/` comments with spaces, keeping newlines so line numbers stay right.
fn strip_block_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/'") {
        out.push_str(&rest[..start]);
        let body = &rest[start..];
        let end = body[2..].find("'/").map_or(body.len(), |e| e + 4);
        out.extend(
            body[..end]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' }),
        );
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Actor,
    Database,
    Queue,
    Storage,
    Entity,
    Cloud,
    Generic,
}

fn keyword(word: &str) -> Option<Keyword> {
    Some(match word {
        "actor" | "actor/" | "person" => Keyword::Actor,
        "database" => Keyword::Database,
        "queue" => Keyword::Queue,
        "storage" | "file" | "folder" | "stack" => Keyword::Storage,
        "entity" | "collections" => Keyword::Entity,
        "cloud" => Keyword::Cloud,
        "component" | "node" | "rectangle" | "package" | "frame" | "agent" | "artifact"
        | "card" | "control" | "boundary" | "hexagon" | "interface" | "usecase" | "usecase/"
        | "circle" | "process" | "action" | "label" | "namespace" => Keyword::Generic,
        _ => return None,
    })
}

#[derive(Debug, Default)]
struct Parser {
    diagram: Diagram,
    /// Alias and name → node index.
    names: HashMap<String, usize>,
    /// Alias and name of `{ }` frames, so a relation to a frame is reported, not invented.
    frames: HashMap<String, usize>,
    /// Open `{` bodies, innermost last: a boundary, or `None` for `together { }`.
    open: Vec<Option<usize>>,
    unknown: Vec<String>,
    unknown_count: usize,
}

/// Lines that only style or annotate the drawing.
const IGNORED_PREFIXES: &[&str] = &[
    "!",
    "skinparam",
    "hide",
    "show",
    "left to right",
    "top to bottom",
    "scale",
    "allowmixing",
    "caption",
    "header",
    "footer",
    "newpage",
    "sprite",
    "remove",
    "center",
    "set ",
    "autonumber",
    "legend",
    "title",
    "allow_mixing",
    "@start",
    "@end",
];

impl Parser {
    fn run(&mut self, text: &str) -> Result<(), ImportError> {
        let lines: Vec<&str> = text.lines().collect();
        let Some(start) = lines
            .iter()
            .position(|l| l.trim_start().starts_with("@startuml"))
        else {
            return Err(malformed(FORMAT, "line 1", "expected `@startuml`"));
        };
        let mut i = start + 1;
        let mut ended = false;
        while i < lines.len() {
            let number = i + 1;
            let line = lines[i].trim();
            i += 1;
            if line.is_empty() || line.starts_with('\'') {
                continue;
            }
            if line.starts_with("@enduml") {
                ended = true;
                break;
            }
            // Blocks that hold no elements: skip to their end.
            let block_end: Option<&[&str]> = if line.starts_with("skinparam") && line.ends_with('{')
            {
                Some(&["}"])
            } else if line.starts_with("<style>") {
                Some(&["</style>"])
            } else if line == "legend" || line.starts_with("legend ") {
                Some(&["endlegend", "end legend"])
            } else if (line.starts_with("note ") || line == "note")
                && !line.contains(':')
                && !line.contains('"')
            {
                Some(&["end note", "endnote"])
            } else if line == "header" || line == "footer" {
                Some(&["endheader", "end header", "endfooter", "end footer"])
            } else {
                None
            };
            if let Some(ends) = block_end {
                while i < lines.len() && !ends.iter().any(|e| lines[i].trim().starts_with(e)) {
                    i += 1;
                }
                i += 1;
                continue;
            }
            if let Some(t) = line.strip_prefix("title ") {
                self.diagram.title = Some(clean(t));
                continue;
            }
            if line == "}" || line.starts_with("} ") {
                if self.open.pop().is_none() {
                    self.unknown(number, line);
                }
                continue;
            }
            if line.starts_with("note ") || IGNORED_PREFIXES.iter().any(|p| line.starts_with(p)) {
                continue;
            }
            if line == "together {" {
                self.open_body(None, number)?;
                continue;
            }
            if self.relation(line, number)? {
                continue;
            }
            // A multi-line description: `component X [` … `]`.
            let mut description = None;
            let mut decl = line.to_string();
            if let Some(open) = line.rfind('[')
                && line.ends_with('[')
                && !line.starts_with('[')
            {
                let mut body = Vec::new();
                while i < lines.len() && !lines[i].trim_start().starts_with(']') {
                    body.push(lines[i].trim());
                    i += 1;
                }
                i += 1;
                description = Some(clean(&body.join(" ")));
                decl = line[..open].trim().to_string();
            }
            if !self.declaration(&decl, description, number)? {
                self.unknown(number, line);
            }
        }
        if !ended {
            self.diagram
                .notes
                .push("no `@enduml`; read to the end of the input".to_string());
        }
        if !self.open.is_empty() {
            self.diagram
                .notes
                .push(format!("{} `{{` bodies are never closed", self.open.len()));
        }
        if self.unknown_count > self.unknown.len() {
            let more = self.unknown_count - self.unknown.len();
            self.unknown.push(format!("… and {more} more lines"));
        }
        if !self.unknown.is_empty() {
            self.diagram.notes.push(format!(
                "lines not understood and not imported: {}",
                self.unknown.join("; ")
            ));
        }
        Ok(())
    }

    fn unknown(&mut self, number: usize, line: &str) {
        self.unknown_count += 1;
        if self.unknown.len() < MAX_LISTED_UNKNOWN {
            let short: String = line.chars().take(60).collect();
            self.unknown.push(format!("line {number}: `{short}`"));
        }
    }

    fn open_body(&mut self, group: Option<usize>, number: usize) -> Result<(), ImportError> {
        if self.open.len() >= MAX_NESTING {
            return Err(malformed(
                FORMAT,
                format!("line {number}"),
                format!("`{{` bodies nested deeper than {MAX_NESTING}"),
            ));
        }
        self.open.push(group);
        Ok(())
    }

    fn current_group(&self) -> Option<usize> {
        self.open.iter().rev().find_map(|g| *g)
    }

    /// `keyword name [as alias] [<<stereotype>>] [#color] [{]`, `[Name] [as alias]`,
    /// `:Name: [as alias]`. Returns whether the line was one.
    fn declaration(
        &mut self,
        line: &str,
        description: Option<String>,
        number: usize,
    ) -> Result<bool, ImportError> {
        let mut cur = Cursor::new(line);
        let (kw_word, kw) = if line.starts_with('[') {
            ("component", Keyword::Generic)
        } else if line.starts_with(':') {
            ("actor", Keyword::Actor)
        } else {
            let word = cur.word();
            match keyword(word) {
                Some(k) => (word, k),
                None => return Ok(false),
            }
        };
        cur.skip_ws();
        let Some(first) = cur.name() else {
            return Ok(false);
        };
        cur.skip_ws();
        let mut alias = None;
        let mut label = first.text.clone();
        if cur.eat_word("as") {
            cur.skip_ws();
            let Some(second) = cur.name() else {
                return Ok(false);
            };
            // `"Label" as Alias` or `Alias as "Label"`.
            if first.quoted || !second.quoted {
                alias = Some(second.text);
            } else {
                alias = Some(first.text.clone());
                label = second.text;
            }
            cur.skip_ws();
        }
        let mut stereotype = String::new();
        while let Some(s) = cur.stereotype() {
            stereotype.push_str(&s);
            stereotype.push(' ');
            cur.skip_ws();
        }
        let rest = cur.rest().trim();
        let opens_body = rest.ends_with('{');
        let label = clean(&label);
        let key = alias.clone().unwrap_or_else(|| label.clone());
        if opens_body {
            let mut notes = Vec::new();
            let kind = diagram::boundary_kind_or_default(
                &format!("{label} {stereotype} {kw_word}"),
                &mut notes,
            );
            let g = self.diagram.push_group(
                FORMAT,
                Group {
                    source_id: key.clone(),
                    name: label,
                    kind,
                    parent: self.current_group(),
                    notes,
                },
            )?;
            self.frames.insert(key, g);
            self.frames
                .entry(self.diagram.groups[g].name.clone())
                .or_insert(g);
            self.open_body(Some(g), number)?;
            return Ok(true);
        }
        let mut notes = Vec::new();
        let hint = format!("{label} {stereotype}");
        let (kind, technology) = match kw {
            Keyword::Actor => (
                ElementKind::ExternalEntity,
                diagram::technology_for_kind(&hint, ElementKind::ExternalEntity, Technology::User),
            ),
            Keyword::Database => (
                ElementKind::DataStore,
                diagram::technology_for_kind(&hint, ElementKind::DataStore, Technology::Database),
            ),
            Keyword::Queue => (ElementKind::DataStore, Technology::Queue),
            Keyword::Storage => (
                ElementKind::DataStore,
                diagram::technology_for_kind(
                    &hint,
                    ElementKind::DataStore,
                    Technology::FileStorage,
                ),
            ),
            Keyword::Entity => {
                notes.push(format!("`{kw_word}` read as a data store"));
                (
                    ElementKind::DataStore,
                    diagram::technology_for_kind(
                        &hint,
                        ElementKind::DataStore,
                        Technology::Database,
                    ),
                )
            }
            Keyword::Cloud => match crate::keywords::technology(&hint) {
                Some(t) => (t.default_kind(), t),
                None => {
                    notes.push("`cloud` read as an external service".to_string());
                    (ElementKind::ExternalEntity, Technology::ExternalService)
                }
            },
            Keyword::Generic => diagram::classify_by_label(&hint, kw_word, &mut notes),
        };
        if let Some(&existing) = self.names.get(&key) {
            // Redeclaration (often after an implicit use in a relation): update in place.
            let node = &mut self.diagram.nodes[existing];
            node.kind = kind;
            node.technology = technology;
            node.name = label;
            node.notes = notes;
            if description.is_some() {
                node.description = description;
            }
            return Ok(true);
        }
        let n = self.diagram.push_node(
            FORMAT,
            Node {
                source_id: key.clone(),
                name: label.clone(),
                description,
                kind,
                technology,
                group: self.current_group(),
                notes,
            },
        )?;
        self.names.insert(key, n);
        self.names.entry(label).or_insert(n);
        Ok(true)
    }

    /// `A --> B : label`. Returns whether the line was a relation.
    fn relation(&mut self, line: &str, number: usize) -> Result<bool, ImportError> {
        let mut cur = Cursor::new(line);
        let Some(left) = cur.endpoint() else {
            return Ok(false);
        };
        cur.skip_ws();
        cur.multiplicity();
        let Some(arrow) = cur.arrow() else {
            return Ok(false);
        };
        cur.skip_ws();
        cur.multiplicity();
        let Some(right) = cur.endpoint() else {
            return Ok(false);
        };
        cur.skip_ws();
        let label = match cur.rest().strip_prefix(':') {
            Some(l) => Some(clean(l)),
            None if cur.rest().is_empty() => None,
            None => return Ok(false),
        };
        for end in [&left, &right] {
            let name = clean(&end.name);
            if !self.names.contains_key(&name) && self.frames.contains_key(&name) {
                self.diagram.notes.push(format!(
                    "line {number}: relation to the frame `{name}` skipped: only elements become flow ends"
                ));
                return Ok(true);
            }
        }
        let points_left = arrow.starts_with('<') || arrow.starts_with("<|");
        let points_right = arrow.ends_with('>') || arrow.ends_with("|>");
        let a = self.endpoint_node(&left, number)?;
        let b = self.endpoint_node(&right, number)?;
        let (from, to, direction) = match (points_left, points_right) {
            (true, true) => (a, b, Direction::Both),
            (true, false) => (b, a, Direction::Forward),
            (false, true) => (a, b, Direction::Forward),
            (false, false) => (a, b, Direction::Undirected),
        };
        self.diagram.push_edge(
            FORMAT,
            &format!("line {number}"),
            Edge {
                source_id: None,
                from,
                to,
                label: label.filter(|l| !l.is_empty()),
                direction,
            },
        )?;
        Ok(true)
    }

    fn endpoint_node(&mut self, end: &Endpoint, number: usize) -> Result<usize, ImportError> {
        let name = clean(&end.name);
        if let Some(&n) = self.names.get(&name) {
            return Ok(n);
        }
        let mut notes = Vec::new();
        let (kind, technology) = match end.style {
            EndpointStyle::Actor => (
                ElementKind::ExternalEntity,
                diagram::technology_for_kind(&name, ElementKind::ExternalEntity, Technology::User),
            ),
            EndpointStyle::Component => diagram::classify_by_label(&name, "component", &mut notes),
            EndpointStyle::Bare => {
                notes.push(format!(
                    "line {number}: not declared; created from a relation"
                ));
                diagram::classify_by_label(&name, "undeclared", &mut notes)
            }
        };
        let n = self.diagram.push_node(
            FORMAT,
            Node {
                source_id: name.clone(),
                name: name.clone(),
                description: None,
                kind,
                technology,
                group: self.current_group(),
                notes,
            },
        )?;
        self.names.insert(name, n);
        Ok(n)
    }
}

/// PlantUML label text: `\n` escapes and whitespace runs become single spaces.
fn clean(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    diagram::strip_html(&s.replace("\\n", " "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndpointStyle {
    Component,
    Actor,
    Bare,
}

#[derive(Debug)]
struct Endpoint {
    name: String,
    style: EndpointStyle,
}

struct Name {
    text: String,
    quoted: bool,
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '$')
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn word(&mut self) -> &'a str {
        let rest = self.rest();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let rest = self.rest();
        if rest.starts_with(w) && rest[w.len()..].starts_with(char::is_whitespace) {
            self.pos += w.len();
            true
        } else {
            false
        }
    }

    /// Text between `open` and `close` (exclusive) at the cursor.
    fn delimited(&mut self, open: char, close: char) -> Option<&'a str> {
        let rest = self.rest().strip_prefix(open)?;
        let end = rest.find(close)?;
        self.pos += open.len_utf8() + end + close.len_utf8();
        Some(&rest[..end])
    }

    fn ident(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        self.pos += end;
        Some(&rest[..end])
    }

    /// A declared name: `"quoted"`, `[bracketed]`, `:colon:` or a bare identifier.
    fn name(&mut self) -> Option<Name> {
        let quoted = |text: &str| Name {
            text: text.to_string(),
            quoted: true,
        };
        match self.rest().chars().next()? {
            '"' => self.delimited('"', '"').map(quoted),
            '[' => self.delimited('[', ']').map(quoted),
            ':' => self.delimited(':', ':').map(quoted),
            _ => self.ident().map(|t| Name {
                text: t.to_string(),
                quoted: false,
            }),
        }
    }

    fn stereotype(&mut self) -> Option<String> {
        let rest = self.rest().strip_prefix("<<")?;
        let end = rest.find(">>")?;
        self.pos += 2 + end + 2;
        Some(rest[..end].to_string())
    }

    fn multiplicity(&mut self) {
        if self.rest().starts_with('"') && self.delimited('"', '"').is_some() {
            self.skip_ws();
        }
    }

    fn endpoint(&mut self) -> Option<Endpoint> {
        let (name, style) = match self.rest().chars().next()? {
            '[' => (self.delimited('[', ']')?, EndpointStyle::Component),
            ':' => (self.delimited(':', ':')?, EndpointStyle::Actor),
            '"' => (self.delimited('"', '"')?, EndpointStyle::Bare),
            _ => (self.ident()?, EndpointStyle::Bare),
        };
        Some(Endpoint {
            name: name.to_string(),
            style,
        })
    }

    /// An arrow: heads (`<`, `>`, `|`, `*`, `o`, `#`, `+`, `^`, `{`, `}`), a body of `-` or `.`,
    /// optional `[style]` and direction words (`-up->`). Returns its text without style.
    fn arrow(&mut self) -> Option<String> {
        let save = self.pos;
        let mut out = String::new();
        let mut body = false;
        loop {
            let rest = self.rest();
            let Some(c) = rest.chars().next() else { break };
            let prev = out.chars().last();
            let next = rest.chars().nth(1);
            if c == '-' || c == '.' {
                body = true;
                out.push(c);
                self.pos += 1;
            } else if c == '[' && matches!(prev, Some('-' | '.')) {
                if self.delimited('[', ']').is_none() {
                    break;
                }
            } else if matches!(c, '<' | '>' | '|' | '*' | '#' | '+' | '^' | '{' | '}')
                || (matches!(c, 'o' | '0' | '(' | ')')
                    && (matches!(prev, Some('-' | '.')) || matches!(next, Some('-' | '.'))))
            {
                out.push(c);
                self.pos += 1;
            } else if c.is_ascii_alphabetic() && matches!(prev, Some('-' | '.')) {
                let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
                let after = rest[word.len()..].chars().next();
                if matches!(
                    word.as_str(),
                    "up" | "down" | "left" | "right" | "u" | "d" | "l" | "r" | "le" | "ri" | "do"
                ) && matches!(after, Some('-' | '.'))
                {
                    self.pos += word.len();
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        if !body
            || !self.rest().starts_with(|c: char| {
                c.is_whitespace() || c == '[' || c == ':' || c == '"' || is_ident(c)
            })
        {
            self.pos = save;
            return None;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows() {
        let arrow = |s: &str| Cursor::new(s).arrow();
        assert_eq!(arrow("--> B").as_deref(), Some("-->"));
        assert_eq!(arrow("-up-> B").as_deref(), Some("-->"));
        assert_eq!(arrow("-[#red,dashed]-> B").as_deref(), Some("-->"));
        assert_eq!(arrow("<.. B").as_deref(), Some("<.."));
        assert_eq!(arrow("as B"), None);
        assert_eq!(arrow("{"), None);
    }

    #[test]
    fn comments_keep_lines() {
        assert_eq!(
            strip_block_comments("a /' x\ny '/ b\nc"),
            "a     \n     b\nc"
        );
        assert_eq!(
            strip_block_comments("a /' open"),
            format!("a {}", " ".repeat(7))
        );
    }
}
