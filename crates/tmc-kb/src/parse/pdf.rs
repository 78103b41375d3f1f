//! PDF documents: the text of each page, split into sections at headings detected by font size.
//!
//! Reading uses `lopdf` (pure Rust). A PDF has no paragraphs or headings, only positioned runs
//! of glyphs, so this module walks each page's content stream itself rather than using
//! `lopdf`'s `extract_text` (which drops line breaks): a vertical move starts a new line, a
//! large one a new paragraph, a horizontal gap or a wide `TJ` kern a space, and a line set
//! clearly larger than the document's body text is a heading. Sections never span pages, so
//! every chunk names its page (`p3` in the key, `(p. 3)` in the title) and, like Markdown
//! sections, carries its heading path in `meta.elements`.
//!
//! PDFs come from outside, so every cost is bounded: the file size before reading (ingest),
//! each stream's inflated size while loading, each page's content, all pages' content
//! together, and the extracted text. Encrypted files are skipped: text we could only read by
//! ignoring the author's protection does not belong in a shared knowledge base.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::content::Content;
use lopdf::{DecompressError, Document, Encoding, Error as PdfError, LoadOptions, Object};

use super::docs::split_body;
use super::{Parsed, Skip, skip};
use crate::chunk::{Chunk, ChunkKind, ChunkMeta, truncate};

const MIB: usize = 1024 * 1024;
/// Largest inflated size of one stream read while loading (object and cross-reference
/// streams). Real ones are kilobytes to a few MiB; a "zip bomb" stream stops here.
const MAX_STREAM_BYTES: usize = 32 * MIB;
/// Largest inflated content of one page. Text pages need kilobytes; a page over this is
/// drawings, scanned images or a bomb, and is left out (with a note) rather than parsed.
const MAX_PAGE_CONTENT_BYTES: usize = 8 * MIB;
/// Largest inflated content over all pages, so a thousand pages of 8 MiB cannot add up.
const MAX_TOTAL_CONTENT_BYTES: usize = 256 * MIB;
/// Largest font encoding (`ToUnicode` CMap) inflated per font.
const MAX_CMAP_BYTES: usize = MIB;
/// Most text taken from one PDF; the rest is not indexed, and the ingest summary says so.
pub const MAX_PDF_TEXT_BYTES: usize = 8 * MIB;
/// Saved graphics states (`q`) tracked; deeper nesting is ignored, never grown without bound.
const MAX_GSTATE_DEPTH: usize = 64;

/// A line at least this much larger than the body text is a heading.
const HEADING_RATIO: f32 = 1.15;
/// Longer lines are text set large (a title page, a pull quote), not headings.
const MAX_HEADING_CHARS: usize = 150;

/// Parses a PDF into page sections. Never panics: `lopdf` is robust against the hostile files
/// in our tests, but it is a large parser of untrusted input whose every code path we cannot
/// vouch for, and one bad file must not abort an ingest of thousands. So the extraction runs
/// under `catch_unwind` as a last resort and a panic becomes a skip reason. (The default panic
/// hook still prints the panic message to stderr, which is useful for a bug report.)
pub fn pdf_chunks(bytes: &[u8]) -> Result<Parsed, Skip> {
    let extracted = match catch_unwind(AssertUnwindSafe(|| extract(bytes))) {
        Ok(result) => result?,
        Err(_) => return skip("PDF reader failed on this file (internal error); not indexed"),
    };
    let chunks = sections_to_chunks(&extracted.pages);
    if chunks.is_empty() {
        if extracted.notes.is_empty() {
            return skip("PDF has no extractable text; a scanned PDF needs OCR first");
        }
        return skip(format!("no text indexed: {}", extracted.notes.join("; ")));
    }
    Ok(Parsed {
        format: "pdf".to_string(),
        chunks,
        note: (!extracted.notes.is_empty()).then(|| extracted.notes.join("; ")),
    })
}

/// One line of text with the font size it was set in (for heading detection).
#[derive(Debug, Clone, PartialEq)]
struct Line {
    text: String,
    size: f32,
    /// A blank line before this one (a larger vertical gap).
    para_break: bool,
}

#[derive(Debug, Default)]
struct Extracted {
    /// (page number, lines).
    pages: Vec<(u32, Vec<Line>)>,
    /// What was left out, for the ingest summary.
    notes: Vec<String>,
}

fn load_error(e: PdfError) -> Skip {
    match e {
        PdfError::Decryption(_)
        | PdfError::InvalidPassword
        | PdfError::UnsupportedSecurityHandler(_) => {
            Skip("encrypted PDF (needs a password); decrypt it first".into())
        }
        PdfError::Decompress(DecompressError::MemoryLimitExceeded { .. }) => Skip(format!(
            "PDF stream inflates past {} MiB (a decompression bomb?); not indexed",
            MAX_STREAM_BYTES / MIB
        )),
        other => Skip(format!("not a readable PDF: {other}")),
    }
}

fn extract(bytes: &[u8]) -> Result<Extracted, Skip> {
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_STREAM_BYTES),
        ..LoadOptions::default()
    };
    let doc = Document::load_mem_with_options(bytes, options).map_err(load_error)?;
    if doc.is_encrypted() || doc.was_encrypted() {
        return Err(Skip(
            "encrypted PDF (password or copy protection); not indexed, decrypt it first if you may"
                .into(),
        ));
    }
    let mut out = Extracted::default();
    let mut too_big: Vec<u32> = Vec::new();
    let mut unreadable: Vec<u32> = Vec::new();
    let mut content_budget = MAX_TOTAL_CONTENT_BYTES;
    let mut text_bytes = 0usize;
    for (number, page_id) in doc.get_pages() {
        let limit = MAX_PAGE_CONTENT_BYTES.min(content_budget);
        let content = match doc.get_page_content_with_limit(page_id, limit) {
            Ok(c) => c,
            Err(PdfError::Decompress(DecompressError::MemoryLimitExceeded { .. }))
                if limit < MAX_PAGE_CONTENT_BYTES =>
            {
                out.notes.push(format!(
                    "pages from {number} on not indexed: more than {} MiB of page content",
                    MAX_TOTAL_CONTENT_BYTES / MIB
                ));
                break;
            }
            Err(PdfError::Decompress(DecompressError::MemoryLimitExceeded { .. })) => {
                too_big.push(number);
                continue;
            }
            Err(_) => {
                unreadable.push(number);
                continue;
            }
        };
        content_budget = content_budget.saturating_sub(content.len());
        let Ok(ops) = Content::decode(&content) else {
            unreadable.push(number);
            continue;
        };
        drop(content);
        let fonts: BTreeMap<Vec<u8>, Font> = doc
            .get_page_fonts(page_id)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, dict)| (name, Font::read(&doc, dict)))
            .collect();
        let mut walker = Walker::new(&fonts, MAX_PDF_TEXT_BYTES - text_bytes);
        for op in &ops.operations {
            if !walker.op(&op.operator, &op.operands) {
                break;
            }
        }
        let full = walker.full;
        let lines = walker.finish();
        text_bytes += lines.iter().map(|l| l.text.len() + 1).sum::<usize>();
        if !lines.is_empty() {
            out.pages.push((number, lines));
        }
        if full || text_bytes >= MAX_PDF_TEXT_BYTES {
            out.notes.push(format!(
                "text after page {number} not indexed: more than {} MiB of text",
                MAX_PDF_TEXT_BYTES / MIB
            ));
            break;
        }
    }
    if !too_big.is_empty() {
        out.notes.push(format!(
            "{} not indexed: content inflates past {} MiB (drawings, scans or a decompression bomb)",
            page_list(&too_big),
            MAX_PAGE_CONTENT_BYTES / MIB
        ));
    }
    if !unreadable.is_empty() {
        out.notes.push(format!(
            "{} not indexed: unreadable content stream",
            page_list(&unreadable)
        ));
    }
    Ok(out)
}

/// "page 3" / "pages 3, 7, 9 and 12 more".
fn page_list(pages: &[u32]) -> String {
    let shown: Vec<String> = pages.iter().take(10).map(u32::to_string).collect();
    let more = pages.len().saturating_sub(10);
    let label = if pages.len() == 1 { "page" } else { "pages" };
    if more > 0 {
        format!("{label} {} and {more} more", shown.join(", "))
    } else {
        format!("{label} {}", shown.join(", "))
    }
}

/// What the walker needs of a font: how to turn its bytes into text and how far they advance.
struct Font<'a> {
    encoding: Option<Encoding<'a>>,
    /// Simple fonts: the first character code and the glyph widths (thousandths of an em).
    widths: Option<(i64, Vec<f32>)>,
}

/// Width assumed for a glyph whose width we do not know (half an em).
const DEFAULT_WIDTH: f32 = 500.0;

impl<'a> Font<'a> {
    fn read(doc: &'a Document, dict: &'a lopdf::Dictionary) -> Self {
        let encoding = dict.get_font_encoding_with_limit(doc, MAX_CMAP_BYTES).ok();
        let simple = dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .is_ok_and(|s| s != b"Type0");
        let first = dict
            .get_deref(b"FirstChar", doc)
            .and_then(Object::as_i64)
            .ok();
        let widths = dict
            .get_deref(b"Widths", doc)
            .and_then(Object::as_array)
            .ok();
        let widths = match (simple, first, widths) {
            // A simple font has at most 256 codes; a longer array is not one we trust.
            (true, Some(first), Some(w)) if w.len() <= 256 => Some((
                first,
                w.iter()
                    .map(|o| num(Some(o)).unwrap_or(DEFAULT_WIDTH))
                    .collect(),
            )),
            _ => None,
        };
        Font { encoding, widths }
    }

    /// Advance of `bytes` in thousandths of an em; `decoded` is their text, used to count
    /// glyphs when the widths are unknown.
    fn advance(&self, bytes: &[u8], decoded: &str) -> f32 {
        match &self.widths {
            Some((first, w)) => bytes
                .iter()
                .map(|b| {
                    usize::try_from(i64::from(*b) - first)
                        .ok()
                        .and_then(|i| w.get(i).copied())
                        .unwrap_or(DEFAULT_WIDTH)
                })
                .sum(),
            None => DEFAULT_WIDTH * decoded.chars().count() as f32,
        }
    }
}

/// A 2-D affine matrix `[a b c d e f]` as PDF writes it.
type Matrix = [f32; 6];
const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `m1 × m2` in PDF's row-vector convention (apply `m1` first).
fn mul(m1: &Matrix, m2: &Matrix) -> Matrix {
    [
        m1[0] * m2[0] + m1[1] * m2[2],
        m1[0] * m2[1] + m1[1] * m2[3],
        m1[2] * m2[0] + m1[3] * m2[2],
        m1[2] * m2[1] + m1[3] * m2[3],
        m1[4] * m2[0] + m1[5] * m2[2] + m2[4],
        m1[4] * m2[1] + m1[5] * m2[3] + m2[5],
    ]
}

fn num(o: Option<&Object>) -> Option<f32> {
    o.and_then(|o| o.as_float().ok()).filter(|x| x.is_finite())
}

fn matrix(operands: &[Object]) -> Option<Matrix> {
    let mut m = [0f32; 6];
    for (i, slot) in m.iter_mut().enumerate() {
        *slot = num(operands.get(i))?;
    }
    Some(m)
}

/// Walks one page's operators and collects lines.
struct Walker<'a> {
    fonts: &'a BTreeMap<Vec<u8>, Font<'a>>,
    /// The font selected by `Tf`; `None` before any or for a font missing from the page
    /// resources (read as plain bytes).
    font: Option<&'a Font<'a>>,
    font_size: f32,
    leading: f32,
    ctm: Matrix,
    saved: Vec<Matrix>,
    tm: Matrix,
    tlm: Matrix,
    /// The estimated end (x) of the last shown text, its baseline (y, device space) and size.
    last: Option<(f32, f32, f32)>,
    lines: Vec<Line>,
    cur: String,
    cur_size: f32,
    pending_para: bool,
    budget: usize,
    full: bool,
}

impl<'a> Walker<'a> {
    fn new(fonts: &'a BTreeMap<Vec<u8>, Font<'a>>, budget: usize) -> Self {
        Walker {
            fonts,
            font: None,
            font_size: 0.0,
            leading: 0.0,
            ctm: IDENTITY,
            saved: Vec::new(),
            tm: IDENTITY,
            tlm: IDENTITY,
            last: None,
            lines: Vec::new(),
            cur: String::new(),
            cur_size: 0.0,
            pending_para: false,
            budget,
            full: false,
        }
    }

    /// Applies one operator; `false` once the text budget is spent.
    fn op(&mut self, operator: &str, operands: &[Object]) -> bool {
        match operator {
            "q" if self.saved.len() < MAX_GSTATE_DEPTH => self.saved.push(self.ctm),
            "Q" => {
                if let Some(m) = self.saved.pop() {
                    self.ctm = m;
                }
            }
            "cm" => {
                if let Some(m) = matrix(operands) {
                    self.ctm = mul(&m, &self.ctm);
                }
            }
            "BT" => {
                self.tm = IDENTITY;
                self.tlm = IDENTITY;
            }
            "Tf" => {
                let name = operands.first().and_then(|o| o.as_name().ok());
                self.font = name.and_then(|n| self.fonts.get(n));
                self.font_size = num(operands.get(1)).unwrap_or(0.0);
            }
            "TL" => self.leading = num(operands.first()).unwrap_or(0.0),
            "Td" | "TD" => {
                let tx = num(operands.first()).unwrap_or(0.0);
                let ty = num(operands.get(1)).unwrap_or(0.0);
                if operator == "TD" {
                    self.leading = -ty;
                }
                self.next_line(tx, ty);
            }
            "Tm" => {
                if let Some(m) = matrix(operands) {
                    self.tm = m;
                    self.tlm = m;
                }
            }
            "T*" => self.next_line(0.0, -self.leading),
            "Tj" => self.show(operands),
            "TJ" => {
                if let Some(Object::Array(items)) = operands.first() {
                    self.show(items);
                }
            }
            "'" => {
                self.next_line(0.0, -self.leading);
                self.show(operands);
            }
            "\"" => {
                self.next_line(0.0, -self.leading);
                self.show(operands.get(2..).unwrap_or_default());
            }
            _ => {}
        }
        !self.full
    }

    fn next_line(&mut self, tx: f32, ty: f32) {
        self.tlm = mul(&[1.0, 0.0, 0.0, 1.0, tx, ty], &self.tlm);
        self.tm = self.tlm;
    }

    /// Shows strings (and, inside `TJ`, kerning numbers) at the current position, then moves
    /// the text matrix past them so the next run's gap is measured, not guessed.
    fn show(&mut self, items: &[Object]) {
        let trm = mul(&self.tm, &self.ctm);
        let size = (self.font_size * trm[2].hypot(trm[3])).abs().max(0.1);
        let (x, y) = (trm[4], trm[5]);
        if let Some((_, last_y, last_size)) = self.last {
            let line_height = size.max(last_size);
            let dy = (y - last_y).abs();
            if dy > 0.5 * line_height {
                self.end_line();
                if dy > 2.0 * line_height {
                    self.pending_para = true;
                }
            } else {
                self.space_if_gap(x, size);
            }
        }
        let mut text = String::new();
        let mut advance = 0.0f32;
        for item in items {
            match item {
                Object::String(bytes, _) => {
                    let decoded = self.decode(bytes);
                    advance += self
                        .font
                        .map_or(DEFAULT_WIDTH * decoded.chars().count() as f32, |f| {
                            f.advance(bytes, &decoded)
                        });
                    text.push_str(&clean(&decoded));
                }
                // Kerning in thousandths of an em; a wide negative one is a word space.
                other => {
                    if let Some(k) = num(Some(other)) {
                        advance -= k;
                        if k < -150.0 && !text.is_empty() && !text.ends_with(' ') {
                            text.push(' ');
                        }
                    }
                }
            }
        }
        self.tm = mul(
            &[1.0, 0.0, 0.0, 1.0, advance / 1000.0 * self.font_size, 0.0],
            &self.tm,
        );
        if text.is_empty() {
            return;
        }
        if self.cur.is_empty() {
            self.cur_size = size;
        } else {
            self.cur_size = self.cur_size.max(size);
        }
        self.push_text(&text);
        let end = mul(&self.tm, &self.ctm);
        self.last = Some((end[4], y, size));
    }

    fn space_if_gap(&mut self, x: f32, size: f32) {
        if let Some((end_x, _, _)) = self.last
            && x - end_x > 0.15 * size
            && !self.cur.is_empty()
            && !self.cur.ends_with(' ')
        {
            self.push_text(" ");
        }
    }

    fn push_text(&mut self, text: &str) {
        if self.full {
            return;
        }
        if text.len() > self.budget {
            self.cur.push_str(truncate(text, self.budget));
            self.budget = 0;
            self.full = true;
            return;
        }
        self.budget -= text.len();
        self.cur.push_str(text);
    }

    fn decode(&self, bytes: &[u8]) -> String {
        match self.font.and_then(|f| f.encoding.as_ref()) {
            Some(enc) => Document::decode_text(enc, bytes).unwrap_or_default(),
            // No font resource or encoding to go by: printable ASCII is the best guess.
            None => bytes
                .iter()
                .filter(|b| b.is_ascii_graphic() || **b == b' ')
                .map(|b| char::from(*b))
                .collect(),
        }
    }

    fn end_line(&mut self) {
        let text = collapse_leaders(self.cur.trim()).trim().to_string();
        self.cur.clear();
        if !text.is_empty() {
            self.lines.push(Line {
                text,
                size: self.cur_size,
                para_break: std::mem::take(&mut self.pending_para),
            });
        }
    }

    fn finish(mut self) -> Vec<Line> {
        self.end_line();
        self.lines
    }
}

/// Ligatures to letters (so "ﬁle" matches "file"), control characters dropped.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{fb00}' => out.push_str("ff"),
            '\u{fb01}' => out.push_str("fi"),
            '\u{fb02}' => out.push_str("fl"),
            '\u{fb03}' => out.push_str("ffi"),
            '\u{fb04}' => out.push_str("ffl"),
            '\u{fb05}' | '\u{fb06}' => out.push_str("st"),
            '\u{a0}' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Dot leaders of a table of contents (". . . . ." or ": : : :") become one " … ", so they
/// neither bloat chunks nor make an entry look like a heading.
fn collapse_leaders(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let mut marks = 0usize;
    let flush = |out: &mut String, run: &mut String, marks: &mut usize| {
        if *marks >= 4 {
            out.push_str(" … ");
        } else {
            out.push_str(run);
        }
        run.clear();
        *marks = 0;
    };
    for c in s.chars() {
        if matches!(c, '.' | ':' | '·' | ' ') {
            run.push(c);
            if c != ' ' {
                marks += 1;
            }
        } else {
            flush(&mut out, &mut run, &mut marks);
            out.push(c);
        }
    }
    flush(&mut out, &mut run, &mut marks);
    out
}

/// The body text size: the size most characters are set in (rounded to half a point).
fn body_size(pages: &[(u32, Vec<Line>)]) -> f32 {
    let mut by_size: BTreeMap<u32, usize> = BTreeMap::new();
    for (_, lines) in pages {
        for l in lines {
            *by_size.entry((l.size * 2.0).round() as u32).or_default() += l.text.len();
        }
    }
    by_size
        .into_iter()
        .max_by_key(|(size, n)| (*n, std::cmp::Reverse(*size)))
        .map(|(s, _)| s as f32 / 2.0)
        .unwrap_or(0.0)
}

fn is_heading(line: &Line, body: f32) -> bool {
    body > 0.0
        && line.size >= body * HEADING_RATIO
        && line.text.chars().count() <= MAX_HEADING_CHARS
        && line.text.chars().any(char::is_alphabetic)
        && !line.text.contains('…')
}

/// A run of text on one page under one heading path.
struct Section {
    page: u32,
    path: Vec<String>,
    body: String,
}

fn sections_to_chunks(pages: &[(u32, Vec<Line>)]) -> Vec<Chunk> {
    let body = body_size(pages);
    // Heading levels: distinct heading sizes, largest first.
    let mut sizes: Vec<u32> = pages
        .iter()
        .flat_map(|(_, lines)| lines.iter())
        .filter(|l| is_heading(l, body))
        .map(|l| (l.size * 2.0).round() as u32)
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    let level_of = |l: &Line| {
        let key = (l.size * 2.0).round() as u32;
        sizes.iter().position(|s| *s == key).unwrap_or(0)
    };

    let mut sections: Vec<Section> = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    for (page, lines) in pages {
        let mut cur = Section {
            page: *page,
            path: path.iter().map(|(_, h)| h.clone()).collect(),
            body: String::new(),
        };
        let mut prev_heading: Option<usize> = None;
        for line in lines {
            if is_heading(line, body) {
                let level = level_of(line);
                // A heading wrapped over two lines of the same size is one heading.
                if prev_heading == Some(level)
                    && cur.body.is_empty()
                    && let Some((_, h)) = path.last_mut()
                {
                    h.push(' ');
                    h.push_str(&line.text);
                    cur.path = path.iter().map(|(_, h)| h.clone()).collect();
                    continue;
                }
                let next_path = {
                    while path.last().is_some_and(|(l, _)| *l >= level) {
                        path.pop();
                    }
                    path.push((level, line.text.clone()));
                    path.iter().map(|(_, h)| h.clone()).collect()
                };
                let done = std::mem::replace(
                    &mut cur,
                    Section {
                        page: *page,
                        path: next_path,
                        body: String::new(),
                    },
                );
                sections.push(done);
                prev_heading = Some(level);
                continue;
            }
            prev_heading = None;
            append_line(&mut cur.body, line);
        }
        sections.push(cur);
    }

    let mut out = Vec::new();
    let mut per_page: BTreeMap<u32, usize> = BTreeMap::new();
    for s in sections {
        // A lone page number or running-header fragment is not worth a chunk.
        for part in split_body(&s.body)
            .into_iter()
            .filter(|p| p.chars().filter(|c| c.is_alphabetic()).count() >= 3)
        {
            let n = per_page.entry(s.page).or_default();
            *n += 1;
            let key = if *n == 1 {
                format!("p{}", s.page)
            } else {
                format!("p{}.{}", s.page, n)
            };
            let topic = if s.path.is_empty() {
                truncate(part.lines().next().unwrap_or("").trim(), 120).to_string()
            } else {
                s.path.join(" > ")
            };
            out.push(Chunk {
                key,
                kind: ChunkKind::Doc,
                title: format!("{topic} (p. {})", s.page),
                text: part,
                meta: ChunkMeta {
                    elements: s.path.clone(),
                    ..ChunkMeta::default()
                },
            });
        }
    }
    out
}

/// Appends a line to a section body: paragraph breaks as blank lines, and a word hyphenated
/// at the end of a line joined again (so "manip-" + "ulation" is found as "manipulation").
fn append_line(body: &mut String, line: &Line) {
    if body.is_empty() {
        body.push_str(&line.text);
        return;
    }
    if line.para_break {
        body.push_str("\n\n");
        body.push_str(&line.text);
        return;
    }
    let hyphenated = body.ends_with('-')
        && body.chars().rev().nth(1).is_some_and(|c| c.is_alphabetic())
        && line.text.chars().next().is_some_and(char::is_lowercase);
    if hyphenated {
        body.pop();
    } else {
        body.push('\n');
    }
    body.push_str(&line.text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, size: f32) -> Line {
        Line {
            text: text.into(),
            size,
            para_break: false,
        }
    }

    #[test]
    fn headings_by_size_split_sections_per_page() {
        let pages = vec![
            (
                1,
                vec![
                    line("Payments", 18.0),
                    line("Cards are tokenised before they reach the", 10.0),
                    line("ledger service.", 10.0),
                    line("Card data", 14.0),
                    line("Never log PANs; mask all but the last four.", 10.0),
                ],
            ),
            (2, vec![line("Masking applies to support tools too.", 10.0)]),
        ];
        let chunks = sections_to_chunks(&pages);
        let got: Vec<(&str, &str)> = chunks
            .iter()
            .map(|c| (c.key.as_str(), c.title.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("p1", "Payments (p. 1)"),
                ("p1.2", "Payments > Card data (p. 1)"),
                ("p2", "Payments > Card data (p. 2)"),
            ]
        );
        assert_eq!(chunks[1].meta.elements, vec!["Payments", "Card data"]);
        assert!(chunks[0].text.contains("the\nledger"));
    }

    #[test]
    fn hyphenation_and_paragraphs() {
        let mut body = String::new();
        append_line(&mut body, &line("Distinguished Encoding manip-", 10.0));
        append_line(&mut body, &line("ulation and MIME-", 10.0));
        append_line(&mut body, &line("Types.", 10.0));
        let mut para = line("Next paragraph.", 10.0);
        para.para_break = true;
        append_line(&mut body, &para);
        assert_eq!(
            body,
            "Distinguished Encoding manipulation and MIME-\nTypes.\n\nNext paragraph."
        );
    }

    #[test]
    fn ligatures_controls_and_leaders() {
        assert_eq!(clean("\u{fb01}le\u{0}\u{7}"), "file");
        assert_eq!(
            collapse_leaders("2.1 ASN.1 syntax : : : : : : :2"),
            "2.1 ASN.1 syntax … 2"
        );
        assert_eq!(collapse_leaders("e.g. the end..."), "e.g. the end...");
        assert!(!is_heading(&line("1 Introduction … 1", 14.0), 10.0));
        assert!(is_heading(&line("1 Introduction", 14.0), 10.0));
    }

    #[test]
    fn matrices_compose_like_pdf() {
        // Scale by 2, then translate by (10, 20): the point (1, 1) lands on (12, 22).
        let m = mul(
            &[2.0, 0.0, 0.0, 2.0, 0.0, 0.0],
            &[1.0, 0.0, 0.0, 1.0, 10.0, 20.0],
        );
        assert_eq!((m[0] + m[4], m[3] + m[5]), (12.0, 22.0));
    }

    #[test]
    fn text_stops_at_the_budget() {
        let fonts = BTreeMap::new();
        let mut w = Walker::new(&fonts, 25);
        let run = [Object::string_literal("0123456789")];
        let mut shown = 0;
        while w.op("Tj", &run) {
            w.op("T*", &[]);
            shown += 1;
            assert!(shown < 10, "the walker never said it was full");
        }
        let text: usize = w.finish().iter().map(|l| l.text.len()).sum();
        assert_eq!(text, 25);
    }

    #[test]
    fn garbage_is_a_skip_not_a_panic() {
        for bytes in [
            &b"%PDF-1.7\n"[..],
            b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
            b"%PDF-\xff\xfe\x00\x00garbage",
        ] {
            assert!(pdf_chunks(bytes).is_err());
        }
    }
}
