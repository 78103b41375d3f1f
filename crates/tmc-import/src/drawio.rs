//! draw.io / diagrams.net: `.drawio` XML, compressed pages, `.drawio.png` and `.drawio.svg`.
//!
//! A draw.io file is an `<mxfile>` of `<diagram>` pages. A page holds an `<mxGraphModel>`
//! either inline or compressed (base64 of raw deflate of the URL-encoded XML). PNG exports
//! carry the `<mxfile>` URL-encoded in a `tEXt`/`zTXt`/`iTXt` chunk named `mxfile`; SVG
//! exports carry it XML-escaped in the root's `content` attribute.
//!
//! Everything here reads hostile bytes: DOCTYPEs are refused (so no entity is ever expanded),
//! inflation stops at [`MAX_INFLATED_BYTES`], XML nesting and element counts are capped, and
//! PNG chunk lengths are checked against the bytes actually present.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use base64::Engine as _;
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use tmc_model::{ElementKind, Technology};

use crate::diagram::{
    self, Diagram, Direction, Edge, Group, MAX_NESTING, Node, check_size, malformed,
};
use crate::{ImportError, ImportResult};

const FORMAT: &str = "draw.io";

/// Cap on what one inflation may produce; a deflate stream expands up to ~1000×, so without
/// it a 16 MiB upload could become gigabytes.
pub const MAX_INFLATED_BYTES: usize = 32 * 1024 * 1024;
/// Deepest XML element nesting accepted; real files nest about six deep.
const MAX_XML_DEPTH: usize = 256;
/// Most XML elements in one document; a real cell is about three elements.
const MAX_XML_ELEMENTS: usize = 200_000;
/// Most containers per page; containment is checked pairwise against every shape.
const MAX_FRAMES: usize = 2_000;
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Imports a draw.io document in any of its four encodings. Never panics; anything it cannot
/// read is an [`ImportError::Malformed`] naming where and what was expected.
pub fn import(bytes: &[u8]) -> Result<ImportResult, ImportError> {
    check_size(bytes, FORMAT)?;
    let text = if bytes.starts_with(PNG_SIGNATURE) {
        mxfile_from_png(bytes)?
    } else {
        diagram::utf8_text(FORMAT, bytes)?.to_string()
    };
    // An SVG export can be large and full of XHTML; only its root tag matters.
    let head = parse_xml_head(&text, "document", true)?;
    let (graph_model, title, page_notes) = match head.name.as_str() {
        "svg" => {
            let content = head.attr("content").ok_or_else(|| {
                malformed(
                    FORMAT,
                    "<svg>",
                    "this SVG has no `content` attribute; expected an SVG exported from draw.io \
                     with \"Include a copy of my diagram\"",
                )
            })?;
            let inner = embedded_text(content, "<svg content>")?;
            let mxfile = parse_xml(&inner, "<svg content>")?;
            if mxfile.name != "mxfile" && mxfile.name != "mxGraphModel" {
                return Err(malformed(
                    FORMAT,
                    "<svg content>",
                    format!("expected <mxfile>, found <{}>", mxfile.name),
                ));
            }
            first_page(mxfile)?
        }
        "mxfile" | "mxGraphModel" => first_page(parse_xml(&text, "document")?)?,
        other => {
            return Err(malformed(
                FORMAT,
                format!("<{other}>"),
                "expected a draw.io document: <mxfile>, <mxGraphModel>, an SVG or a PNG with an \
                 embedded diagram",
            ));
        }
    };
    let mut diagram = build(&graph_model)?;
    diagram.title = title;
    diagram.notes.extend(page_notes);
    Ok(diagram.into_result("Imported draw.io diagram"))
}

/// A parsed XML element; draw.io documents are small enough to hold whole.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

fn xml_location(text: &str, offset: u64, context: &str) -> String {
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let (line, column) = diagram::line_col(text.as_bytes(), offset);
    format!("{context}, line {line}, column {column}")
}

/// Parses the first element of `text` into a tree. Refuses DOCTYPE (the only way to declare
/// entities) and any reference other than the five predefined ones and character references,
/// so nothing is ever expanded beyond one character per reference.
fn parse_xml(text: &str, context: &str) -> Result<Element, ImportError> {
    parse_xml_head(text, context, false)
}

/// [`parse_xml`], or with `head_only` just the root element's name and attributes.
fn parse_xml_head(text: &str, context: &str, head_only: bool) -> Result<Element, ImportError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let err = |reader: &quick_xml::Reader<&[u8]>, message: String| {
        malformed(
            FORMAT,
            xml_location(text, reader.buffer_position(), context),
            message,
        )
    };
    loop {
        let event = reader.read_event().map_err(|e| {
            malformed(
                FORMAT,
                xml_location(text, reader.error_position(), context),
                format!("not well-formed XML: {e}"),
            )
        })?;
        match event {
            Event::DocType(_) => {
                return Err(err(
                    &reader,
                    "DOCTYPE declarations are not accepted (draw.io never writes one, and \
                     entity declarations could expand without bound)"
                        .to_string(),
                ));
            }
            Event::Start(_) | Event::Empty(_) if stack.len() >= MAX_XML_DEPTH => {
                return Err(err(
                    &reader,
                    format!("elements nested deeper than {MAX_XML_DEPTH}"),
                ));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                count += 1;
                if count > MAX_XML_ELEMENTS {
                    return Err(err(
                        &reader,
                        format!("more than {MAX_XML_ELEMENTS} elements"),
                    ));
                }
                let mut el = Element {
                    name: e.local_name().as_ref().to_string(),
                    ..Element::default()
                };
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| err(&reader, format!("bad attribute: {e}")))?;
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| err(&reader, format!("bad attribute value: {e}")))?;
                    el.attrs.push((
                        attr.key.local_name().as_ref().to_string(),
                        value.into_owned(),
                    ));
                }
                if head_only && stack.is_empty() {
                    return Ok(el);
                }
                if matches!(event, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => return Ok(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(err(
                        &reader,
                        "closing tag without an opening tag".to_string(),
                    ));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Text(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match r.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(err(
                                &reader,
                                format!(
                                    "unknown entity `&{other};` (custom entities are not expanded)"
                                ),
                            ));
                        }
                    },
                    Err(e) => return Err(err(&reader, format!("bad character reference: {e}"))),
                };
                if let Some(el) = stack.last_mut() {
                    el.text.push(c);
                }
            }
            Event::Eof => {
                return Err(err(
                    &reader,
                    match stack.last() {
                        Some(el) => format!("input ends inside <{}>", el.name),
                        None => "no XML element found".to_string(),
                    },
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
}

/// The graph model of the first page, the page name as a title, and a note about other pages.
fn first_page(root: Element) -> Result<(Element, Option<String>, Vec<String>), ImportError> {
    if root.name == "mxGraphModel" {
        return Ok((root, None, Vec::new()));
    }
    let pages: Vec<&Element> = root
        .children
        .iter()
        .filter(|c| c.name == "diagram")
        .collect();
    let Some(first) = pages.first() else {
        return Err(malformed(
            FORMAT,
            "<mxfile>",
            "expected at least one <diagram> page",
        ));
    };
    let page_name = |p: &Element, i: usize| {
        p.attr("name")
            .map(str::to_string)
            .unwrap_or_else(|| format!("page {}", i + 1))
    };
    let mut notes = Vec::new();
    if pages.len() > 1 {
        let rest: Vec<String> = pages
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, p)| format!("\"{}\"", page_name(p, i)))
            .collect();
        notes.push(format!(
            "the file has {} pages; only the first (\"{}\") was imported; not imported: {}",
            pages.len(),
            page_name(first, 0),
            rest.join(", ")
        ));
    }
    // Default page names ("Page-1") say nothing about the product.
    let title = first
        .attr("name")
        .filter(|n| {
            let lower = n.to_ascii_lowercase();
            !(lower.starts_with("page-") || lower.starts_with("page "))
        })
        .map(str::to_string);
    let context = format!("page \"{}\"", page_name(first, 0));
    let mut root = root;
    let Some(idx) = root.children.iter().position(|c| c.name == "diagram") else {
        return Err(malformed(
            FORMAT,
            "<mxfile>",
            "expected at least one <diagram> page",
        ));
    };
    // Move the page out of the tree instead of cloning it.
    let page = root.children.swap_remove(idx);
    let encoded = page.text.trim().to_string();
    let model = match page.children.into_iter().find(|c| c.name == "mxGraphModel") {
        Some(model) => model,
        None if encoded.is_empty() => {
            return Err(malformed(
                FORMAT,
                context,
                "the page is empty: expected <mxGraphModel> or compressed page data",
            ));
        }
        None => {
            let xml = decompress_page(&encoded, &context)?;
            let model = parse_xml(&xml, &format!("{context} (decompressed)"))?;
            if model.name != "mxGraphModel" {
                return Err(malformed(
                    FORMAT,
                    context,
                    format!(
                        "decompressed page holds <{}>, expected <mxGraphModel>",
                        model.name
                    ),
                ));
            }
            model
        }
    };
    Ok((model, title, notes))
}

/// base64 → raw inflate (capped) → URL-decode, the encoding draw.io uses for compressed pages.
fn decompress_page(encoded: &str, context: &str) -> Result<String, ImportError> {
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| {
            malformed(
                FORMAT,
                context,
                format!("compressed page is not base64: {e}"),
            )
        })?;
    let inflated = inflate(flate2::read::DeflateDecoder::new(raw.as_slice()), context)?;
    decoded_markup(inflated, context)
}

/// Reads a decoder to the end, failing once more than [`MAX_INFLATED_BYTES`] come out.
fn inflate(decoder: impl Read, context: &str) -> Result<Vec<u8>, ImportError> {
    let mut out = Vec::new();
    let limit = u64::try_from(MAX_INFLATED_BYTES).unwrap_or(u64::MAX);
    decoder
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| malformed(FORMAT, context, format!("compressed data is corrupt: {e}")))?;
    if out.len() > MAX_INFLATED_BYTES {
        return Err(malformed(
            FORMAT,
            context,
            format!("compressed data expands beyond {MAX_INFLATED_BYTES} bytes"),
        ));
    }
    Ok(out)
}

/// Markup that may be URL-encoded (`%3Cmxfile…`) or plain (`<mxfile…`).
fn decoded_markup(bytes: Vec<u8>, context: &str) -> Result<String, ImportError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let bytes = if first == Some(&b'<') {
        bytes
    } else {
        percent_decode(&bytes)
    };
    String::from_utf8(bytes)
        .map_err(|_| malformed(FORMAT, context, "embedded diagram is not valid UTF-8"))
}

/// `decodeURIComponent` without the exceptions: a `%` not followed by two hex digits stays.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The `<mxfile>` text of an SVG's `content` attribute: usually plain XML, sometimes
/// URL-encoded, and in old exports compressed like a page.
fn embedded_text(content: &str, context: &str) -> Result<String, ImportError> {
    let trimmed = content.trim();
    if trimmed.starts_with('<') || trimmed.starts_with('%') {
        decoded_markup(trimmed.as_bytes().to_vec(), context)
    } else {
        decompress_page(trimmed, context)
    }
}

/// Finds the `mxfile` text chunk of a PNG by walking its chunks, checking every declared
/// length against the bytes present.
fn mxfile_from_png(bytes: &[u8]) -> Result<String, ImportError> {
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let location = format!("PNG byte {pos}");
        let header = bytes.get(pos..pos + 8).ok_or_else(|| {
            malformed(
                FORMAT,
                &location,
                "PNG ends before IEND without an `mxfile` text chunk",
            )
        })?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = &header[4..8];
        let kind_name = String::from_utf8_lossy(kind).into_owned();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let data_start = pos + 8;
        let available = bytes.len().saturating_sub(data_start);
        // Data plus the 4-byte CRC must be present.
        if len > available.saturating_sub(4) || len > 0x7fff_ffff {
            return Err(malformed(
                FORMAT,
                location,
                format!(
                    "chunk `{kind_name}` declares {len} data bytes but only {} remain",
                    available.saturating_sub(4)
                ),
            ));
        }
        let data = &bytes[data_start..data_start + len];
        match kind {
            b"tEXt" | b"zTXt" | b"iTXt" => {
                if let Some(text) = png_text(kind, data, &location)? {
                    return decoded_markup(text, &location);
                }
            }
            b"IEND" => {
                return Err(malformed(
                    FORMAT,
                    location,
                    "no `mxfile` text chunk: expected a PNG exported from draw.io with \
                     \"Include a copy of my diagram\"",
                ));
            }
            _ => {}
        }
        pos = data_start + len + 4;
    }
}

/// The text of an `mxfile` text chunk, or `None` for text chunks with another keyword.
fn png_text(kind: &[u8], data: &[u8], location: &str) -> Result<Option<Vec<u8>>, ImportError> {
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        return Err(malformed(
            FORMAT,
            location,
            "text chunk without a keyword terminator",
        ));
    };
    if &data[..nul] != b"mxfile" {
        return Ok(None);
    }
    let rest = &data[nul + 1..];
    let text = match kind {
        b"tEXt" => rest.to_vec(),
        b"zTXt" => {
            let Some((&0, compressed)) = rest.split_first() else {
                return Err(malformed(
                    FORMAT,
                    location,
                    "zTXt chunk uses an unknown compression method",
                ));
            };
            inflate(flate2::read::ZlibDecoder::new(compressed), location)?
        }
        _ => {
            // iTXt: flag, method, language\0, translated keyword\0, text.
            let (Some(&flag), Some(&method)) = (rest.first(), rest.get(1)) else {
                return Err(malformed(FORMAT, location, "truncated iTXt chunk"));
            };
            let mut tail = rest.get(2..).unwrap_or_default();
            for _ in 0..2 {
                let Some(n) = tail.iter().position(|&b| b == 0) else {
                    return Err(malformed(FORMAT, location, "truncated iTXt chunk"));
                };
                tail = &tail[n + 1..];
            }
            match (flag, method) {
                (0, _) => tail.to_vec(),
                (1, 0) => inflate(flate2::read::ZlibDecoder::new(tail), location)?,
                _ => {
                    return Err(malformed(
                        FORMAT,
                        location,
                        "iTXt chunk uses an unknown compression method",
                    ));
                }
            }
        }
    };
    // tEXt and zTXt are Latin-1; draw.io writes ASCII (URL-encoded), so map bytes to chars
    // and back to UTF-8 only when needed.
    if kind != b"iTXt" && !text.is_ascii() {
        return Ok(Some(
            text.iter()
                .map(|&b| b as char)
                .collect::<String>()
                .into_bytes(),
        ));
    }
    Ok(Some(text))
}

/// A draw.io style: `base;key=value;key=value`.
#[derive(Debug, Default)]
struct Style {
    /// Bare words (`ellipse`, `text`, `swimlane`, `group`), lower-cased.
    flags: Vec<String>,
    values: HashMap<String, String>,
}

impl Style {
    fn parse(style: &str) -> Style {
        let mut out = Style::default();
        for part in style.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((k, v)) => {
                    out.values
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
                None => out.flags.push(part.to_ascii_lowercase()),
            }
        }
        out
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    fn is(&self, key: &str, value: &str) -> bool {
        self.get(key) == Some(value)
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// Lower-cased shape, or the first bare word (`ellipse`, `rhombus`) when no `shape=`.
    fn shape(&self) -> String {
        self.get("shape")
            .map(str::to_string)
            .or_else(|| self.flags.first().cloned())
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    /// Everything that names an icon: vendor stencils put it in several keys.
    fn icon_text(&self) -> String {
        ["shape", "resIcon", "prIcon", "grIcon", "image"]
            .iter()
            .filter_map(|k| self.get(k))
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn area(&self) -> f64 {
        self.w * self.h
    }

    fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.x + other.w <= self.x + self.w
            && other.y + other.h <= self.y + self.h
    }
}

#[derive(Debug)]
struct Cell {
    id: String,
    label: String,
    style: Style,
    vertex: bool,
    edge: bool,
    parent: Option<String>,
    source: Option<String>,
    target: Option<String>,
    geometry: Rect,
}

fn number(el: Option<&Element>, key: &str) -> f64 {
    el.and_then(|g| g.attr(key))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// Reads `<mxCell>`s, also when wrapped in `<UserObject>`/`<object>` (which then carry the
/// id and label).
fn cells(model: &Element, notes: &mut Vec<String>) -> Vec<Cell> {
    let Some(root) = model.child("root") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for child in &root.children {
        let (wrapper, cell) = match child.name.as_str() {
            "mxCell" => (None, child),
            "UserObject" | "object" => match child.child("mxCell") {
                Some(c) => (Some(child), c),
                None => continue,
            },
            _ => continue,
        };
        let id = wrapper
            .and_then(|w| w.attr("id"))
            .or_else(|| cell.attr("id"));
        let Some(id) = id.map(str::to_string) else {
            notes.push("a cell without an id was skipped".to_string());
            continue;
        };
        if !seen.insert(id.clone()) {
            notes.push(format!(
                "cell id `{id}` appears twice; the second was skipped"
            ));
            continue;
        }
        let style = Style::parse(cell.attr("style").unwrap_or_default());
        let raw_label = wrapper
            .and_then(|w| w.attr("label"))
            .or_else(|| cell.attr("value"))
            .unwrap_or_default();
        let label = if style.is("html", "1") || raw_label.contains('<') {
            diagram::strip_html(raw_label)
        } else {
            diagram::collapse_ws(raw_label)
        };
        let geometry = cell.child("mxGeometry");
        out.push(Cell {
            id,
            label,
            vertex: cell.attr("vertex") == Some("1"),
            edge: cell.attr("edge") == Some("1"),
            parent: cell.attr("parent").map(str::to_string),
            source: cell.attr("source").map(str::to_string),
            target: cell.attr("target").map(str::to_string),
            geometry: Rect {
                x: number(geometry, "x"),
                y: number(geometry, "y"),
                w: number(geometry, "width").max(0.0),
                h: number(geometry, "height").max(0.0),
            },
            style,
        });
    }
    out
}

/// What a vertex is, before boundaries are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A shape that may become a component or, if it frames others, a boundary.
    Shape,
    /// Free text and edge labels: not part of the model.
    Ignored,
}

fn is_container_style(style: &Style) -> bool {
    style.is("container", "1")
        || style.flag("swimlane")
        || style.flag("group")
        || style.shape() == "swimlane"
        || style.get("grIcon").is_some()
        || style.shape().starts_with("mxgraph.aws4.group")
}

fn is_dashed_rectangle(style: &Style) -> bool {
    let shape = style.shape();
    style.is("dashed", "1")
        && (shape.is_empty() || shape == "rect" || shape == "rectangle" || shape == "rounded")
}

/// Turns the cells of one page into the shared diagram graph.
fn build(model: &Element) -> Result<Diagram, ImportError> {
    let mut diagram = Diagram::default();
    let cells = cells(model, &mut diagram.notes);
    let index: HashMap<&str, usize> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    let is_edge = |id: &Option<String>| {
        id.as_deref()
            .and_then(|p| index.get(p))
            .is_some_and(|&i| cells[i].edge)
    };

    // Edge labels are vertices whose parent is an edge.
    let mut edge_labels: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut roles = vec![Role::Ignored; cells.len()];
    let mut ignored_text = 0usize;
    for (i, c) in cells.iter().enumerate() {
        if !c.vertex {
            continue;
        }
        if is_edge(&c.parent) {
            if !c.label.is_empty()
                && let Some(p) = c.parent.as_deref()
            {
                edge_labels.entry(p).or_default().push(&c.label);
            }
        } else if c.style.flag("text") || c.style.flag("edgelabel") {
            ignored_text += usize::from(!c.label.is_empty());
        } else {
            roles[i] = Role::Shape;
        }
    }
    if ignored_text > 0 {
        diagram.notes.push(format!(
            "{ignored_text} free-text label(s) were not imported as components"
        ));
    }

    // Parent chain of shape vertices (index of the parent vertex, if it is a shape).
    let vertex_parent: Vec<Option<usize>> = cells
        .iter()
        .map(|c| {
            c.parent
                .as_deref()
                .and_then(|p| index.get(p).copied())
                .filter(|&p| roles[p] == Role::Shape)
        })
        .collect();
    // Absolute geometry: children are placed relative to their parent vertex.
    let absolute: Vec<Rect> = (0..cells.len())
        .map(|i| {
            let mut r = cells[i].geometry;
            let mut cur = vertex_parent[i];
            let mut steps = 0;
            while let Some(p) = cur {
                if p == i || steps >= MAX_NESTING {
                    break;
                }
                r.x += cells[p].geometry.x;
                r.y += cells[p].geometry.y;
                cur = vertex_parent[p];
                steps += 1;
            }
            r
        })
        .collect();

    let shapes: Vec<usize> = (0..cells.len())
        .filter(|&i| roles[i] == Role::Shape)
        .collect();
    if shapes.len() > diagram::MAX_NODES {
        return Err(malformed(
            FORMAT,
            "<mxGraphModel>",
            format!("more than {} shapes; split the diagram", diagram::MAX_NODES),
        ));
    }
    let has_children: HashSet<usize> = shapes.iter().filter_map(|&i| vertex_parent[i]).collect();
    // Boundaries: containers, and dashed rectangles (or any shape) that frame other shapes.
    let mut boundary: Vec<bool> = vec![false; cells.len()];
    for &i in &shapes {
        let style = &cells[i].style;
        let frames_something = has_children.contains(&i)
            || (is_dashed_rectangle(style)
                && shapes.iter().any(|&j| {
                    j != i
                        && absolute[j].area() < absolute[i].area()
                        && absolute[i].contains(&absolute[j])
                }));
        boundary[i] = is_container_style(style) || frames_something;
    }
    let frames = shapes.iter().filter(|&&i| boundary[i]).count();
    if frames > MAX_FRAMES {
        return Err(malformed(
            FORMAT,
            "<mxGraphModel>",
            format!("more than {MAX_FRAMES} containers; split the diagram"),
        ));
    }

    // Innermost enclosing boundary of every shape: by the parent attribute first, then the
    // smallest boundary whose drawing contains it (drawn inside a dashed rectangle that is
    // not a container) within that parent.
    let structural = |i: usize| {
        let mut cur = vertex_parent[i];
        let mut steps = 0;
        while let Some(p) = cur {
            if boundary[p] || steps >= MAX_NESTING {
                return cur.filter(|&p| boundary[p]);
            }
            cur = vertex_parent[p];
            steps += 1;
        }
        None
    };
    let is_structural_descendant = |candidate: usize, ancestor: usize| {
        let mut cur = vertex_parent[candidate];
        let mut steps = 0;
        while let Some(p) = cur {
            if p == ancestor {
                return true;
            }
            if steps >= MAX_NESTING {
                return false;
            }
            cur = vertex_parent[p];
            steps += 1;
        }
        false
    };
    let enclosing: Vec<Option<usize>> = (0..cells.len())
        .map(|i| {
            if roles[i] != Role::Shape {
                return None;
            }
            let by_parent = structural(i);
            let mut best = by_parent;
            let mut best_area = by_parent.map_or(f64::INFINITY, |p| absolute[p].area());
            for &b in &shapes {
                if !boundary[b] || b == i {
                    continue;
                }
                let area = absolute[b].area();
                // Cheap geometry first; the ancestry walks only run for real candidates.
                if !(area > absolute[i].area()
                    && area < best_area
                    && absolute[b].contains(&absolute[i]))
                {
                    continue;
                }
                let within_parent = match by_parent {
                    Some(p) => {
                        b != p
                            && (is_structural_descendant(b, p)
                                || absolute[p].contains(&absolute[b]))
                    }
                    None => true,
                };
                if within_parent && !is_structural_descendant(b, i) {
                    best = Some(b);
                    best_area = area;
                }
            }
            best
        })
        .collect();

    // Groups first, so nodes can refer to them.
    let mut group_of_cell: HashMap<usize, usize> = HashMap::new();
    for &i in shapes.iter().filter(|&&i| boundary[i]) {
        let c = &cells[i];
        let mut notes = Vec::new();
        let name = if c.label.is_empty() {
            notes.push("the frame has no label".to_string());
            format!("Boundary {}", c.id)
        } else {
            c.label.clone()
        };
        let icon = c.style.icon_text();
        // Vendor group frames (AWS "VPC", "Private subnet") name their kind in the icon.
        let kind = match diagram::guess_boundary_kind(&icon).filter(|_| icon.contains("group")) {
            Some(k) => k,
            None => diagram::boundary_kind_or_default(&name, &mut notes),
        };
        let g = diagram.push_group(
            FORMAT,
            Group {
                source_id: c.id.clone(),
                name,
                kind,
                parent: None,
                notes,
            },
        )?;
        group_of_cell.insert(i, g);
    }
    for (&cell, &g) in &group_of_cell {
        diagram.groups[g].parent = enclosing[cell].and_then(|p| group_of_cell.get(&p).copied());
    }

    let mut node_of_cell: HashMap<&str, usize> = HashMap::new();
    for &i in shapes.iter().filter(|&&i| !boundary[i]) {
        let c = &cells[i];
        let mut notes = Vec::new();
        let (kind, technology) = classify(&c.style, &c.label, &mut notes);
        let name = if c.label.is_empty() {
            notes.push("the shape has no label; named after its icon or technology".to_string());
            icon_name(&c.style).unwrap_or_else(|| technology.as_str().to_string())
        } else {
            c.label.clone()
        };
        let n = diagram.push_node(
            FORMAT,
            Node {
                source_id: c.id.clone(),
                name,
                description: None,
                kind,
                technology,
                group: enclosing[i].and_then(|p| group_of_cell.get(&p).copied()),
                notes,
            },
        )?;
        node_of_cell.insert(c.id.as_str(), n);
    }

    for c in cells.iter().filter(|c| c.edge) {
        let end = |id: &Option<String>| id.as_deref().and_then(|s| node_of_cell.get(s).copied());
        let (from, to) = match (end(&c.source), end(&c.target)) {
            (Some(f), Some(t)) => (f, t),
            _ => {
                let describe = |id: &Option<String>| match id.as_deref() {
                    None => "nothing".to_string(),
                    Some(s) if node_of_cell.contains_key(s) => format!("`{s}`"),
                    Some(s) if index.contains_key(s) => format!("`{s}`, which is not a component"),
                    Some(s) => format!("`{s}`, which does not exist"),
                };
                diagram.notes.push(format!(
                    "connection `{}` skipped: its source is {} and its target is {}",
                    c.id,
                    describe(&c.source),
                    describe(&c.target)
                ));
                continue;
            }
        };
        let mut label_parts: Vec<&str> = Vec::new();
        if !c.label.is_empty() {
            label_parts.push(&c.label);
        }
        if let Some(extra) = edge_labels.get(c.id.as_str()) {
            label_parts.extend(extra);
        }
        let label = (!label_parts.is_empty()).then(|| label_parts.join(" "));
        let arrow = |key: &str, default: bool| match c.style.get(key) {
            Some(v) => !v.is_empty() && v != "none",
            None => default,
        };
        let (start, end_arrow) = (arrow("startArrow", false), arrow("endArrow", true));
        let (from, to, direction) = match (start, end_arrow) {
            (true, true) => (from, to, Direction::Both),
            (true, false) => (to, from, Direction::Forward),
            (false, true) => (from, to, Direction::Forward),
            (false, false) => (from, to, Direction::Undirected),
        };
        diagram.push_edge(
            FORMAT,
            &c.id,
            Edge {
                source_id: Some(c.id.clone()),
                from,
                to,
                label,
                direction,
            },
        )?;
    }
    Ok(diagram)
}

/// A readable name from an icon id: `mxgraph.aws4.api_gateway` → `api gateway`.
fn icon_name(style: &Style) -> Option<String> {
    ["resIcon", "prIcon", "shape", "image"]
        .iter()
        .filter_map(|k| style.get(k))
        .find(|v| {
            VENDOR_ICON_PREFIXES
                .iter()
                .any(|p| v.to_ascii_lowercase().contains(p))
        })
        .and_then(|v| v.trim_end_matches(".svg").rsplit(['.', '/']).next())
        .map(|last| diagram::collapse_ws(&last.replace(['_', '-'], " ")))
        .filter(|n| !n.is_empty() && n != "resourceIcon" && n != "productIcon")
}

const VENDOR_ICON_PREFIXES: &[&str] = &[
    "mxgraph.aws",
    "mxgraph.azure",
    "mxgraph.gcp",
    "mxgraph.kubernetes",
    "mxgraph.k8s",
    "mxgraph.ibm",
    "mxgraph.alibaba",
    "mxgraph.cisco",
    "img/lib/",
];

/// Kind and technology from the shape first (cylinder, actor, vendor icon), the label second.
fn classify(style: &Style, label: &str, notes: &mut Vec<String>) -> (ElementKind, Technology) {
    let shape = style.shape();
    let icon = style.icon_text();
    let actor = ["umlactor", "actor", "mxgraph.basic.person", "person"];
    if actor.contains(&shape.as_str()) {
        let t = diagram::technology_for_kind(label, ElementKind::ExternalEntity, Technology::User);
        return (ElementKind::ExternalEntity, t);
    }
    let store = [
        "cylinder",
        "cylinder2",
        "cylinder3",
        "datastore",
        "mxgraph.flowchart.database",
        "mxgraph.flowchart.stored_data",
    ];
    if store.contains(&shape.as_str()) {
        let t = diagram::technology_for_kind(label, ElementKind::DataStore, Technology::Database);
        return (ElementKind::DataStore, t);
    }
    if VENDOR_ICON_PREFIXES.iter().any(|p| icon.contains(p)) {
        if let Some(t) = crate::keywords::technology(&icon) {
            return (t.default_kind(), t);
        }
        notes.push(format!("icon `{icon}` not recognised"));
    }
    let shape_name = if shape.is_empty() {
        "rectangle".to_string()
    } else {
        shape
    };
    diagram::classify_by_label(label, &shape_name, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode(b"%3Ca%20b%3E"), b"<a b>");
        assert_eq!(percent_decode(b"100%"), b"100%");
        assert_eq!(percent_decode(b"%zz%4"), b"%zz%4");
    }

    #[test]
    fn styles_parse() {
        let s = Style::parse("ellipse;whiteSpace=wrap;html=1;dashed=1;");
        assert_eq!(s.shape(), "ellipse");
        assert!(s.is("dashed", "1"));
        assert!(!is_dashed_rectangle(&s));
        let s = Style::parse("rounded=0;whiteSpace=wrap;dashed=1;");
        assert!(is_dashed_rectangle(&s));
    }
}
