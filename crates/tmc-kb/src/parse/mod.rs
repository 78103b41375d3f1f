//! Parsers: bytes of one file → chunks. Pure functions with size bounds; a file we cannot or
//! will not read is a [`Skip`] with a reason for the ingest summary, never a panic.
//!
//! The format is decided by content first (a CSV header, top-level JSON keys), the extension
//! second, because the standards' files and every threat-model format use generic extensions.

mod docs;
mod pdf;
mod standards;
mod threats;

pub use docs::{html_to_markdown, markdown_chunks, text_chunks};
pub use pdf::{MAX_PDF_TEXT_BYTES, pdf_chunks};
pub use standards::{asvs_csv, asvs_json, capec_csv, cwe_csv, owasp_mappings};
pub use threats::{draft_chunks, import_chunks};

use crate::chunk::Chunk;

/// Largest file read at all; bigger ones are skipped with a reason before reading.
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// Bumped when a parser changes what it produces, so re-ingest replaces old chunks even when
/// the file did not change (the version is part of the content hash).
pub const PARSER_VERSION: u32 = 2;

/// What a file turned into.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Short name of the detected format (`cwe-csv`, `markdown`, `import:threat-dragon`…).
    pub format: String,
    pub chunks: Vec<Chunk>,
    /// What was left out of a file that was otherwise read (PDF pages over a limit), for the
    /// ingest summary.
    pub note: Option<String>,
}

/// Why a file was not ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip(pub String);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn skip<T>(reason: impl Into<String>) -> Result<T, Skip> {
    Err(Skip(reason.into()))
}

/// Parses one file. `name` is the file name (for the extension and for source labels).
pub fn parse_file(name: &str, bytes: &[u8]) -> Result<Parsed, Skip> {
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return skip(format!(
            "file is {} bytes; the limit is {MAX_SOURCE_BYTES}",
            bytes.len()
        ));
    }
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    // PDF readers accept junk before the header within the first KiB; content decides only
    // for a file that starts with it, so a note that mentions "%PDF-" stays text.
    let pdf_header = || {
        bytes[..bytes.len().min(1024)]
            .windows(5)
            .any(|w| w == b"%PDF-")
    };
    if bytes.starts_with(b"%PDF-") || (ext == "pdf" && pdf_header()) {
        return pdf_chunks(bytes);
    }
    if ext == "pdf" {
        return skip("named .pdf but not a PDF (no %PDF- header)");
    }
    let head = &bytes[..bytes.len().min(8192)];
    // draw.io PNGs carry a diagram; everything else with NUL bytes is binary.
    if head.contains(&0) {
        if bytes.starts_with(b"\x89PNG") && tmc_import::detect(bytes, name).is_some() {
            return import_chunks(name, bytes);
        }
        return skip("binary file");
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return skip("not UTF-8 text");
    };
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return skip("empty file");
    }
    match ext {
        "csv" => parse_csv(text),
        "json" => parse_json(name, text, bytes),
        "md" | "markdown" => nonempty("markdown", markdown_chunks(text)),
        "txt" | "text" => nonempty("text", text_chunks(text)),
        "html" | "htm" | "xhtml" => nonempty("html", markdown_chunks(&html_to_markdown(text))),
        _ => {
            if tmc_import::detect(bytes, name).is_some() {
                import_chunks(name, bytes)
            } else if ext.is_empty() || ext == "rst" || ext == "adoc" {
                nonempty("text", text_chunks(text))
            } else {
                skip(format!(
                    "unsupported file type `.{ext}` (not a threat model, standard or document we read)"
                ))
            }
        }
    }
}

fn nonempty(format: &str, chunks: Vec<Chunk>) -> Result<Parsed, Skip> {
    if chunks.is_empty() {
        return skip("no text to index");
    }
    Ok(Parsed {
        format: format.to_string(),
        chunks,
        note: None,
    })
}

fn parse_csv(text: &str) -> Result<Parsed, Skip> {
    let header = text.lines().next().unwrap_or("");
    if header.starts_with("CWE-ID,") {
        nonempty("cwe-csv", cwe_csv(text)?)
    } else if (header.starts_with("'ID,") || header.starts_with("ID,"))
        && header.contains("Likelihood Of Attack")
    {
        nonempty("capec-csv", capec_csv(text)?)
    } else if header.contains("req_id") && header.contains("req_description") {
        nonempty("asvs-csv", asvs_csv(text)?)
    } else {
        skip("CSV that is neither MITRE CWE, MITRE CAPEC nor OWASP ASVS")
    }
}

fn parse_json(name: &str, text: &str, bytes: &[u8]) -> Result<Parsed, Skip> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return skip(format!("invalid JSON: {e}")),
    };
    let has = |k: &str| value.get(k).is_some();
    if has("draft_version") && has("threats") {
        return nonempty("tmc-draft", draft_chunks(&value)?);
    }
    let is_asvs = value
        .get("ShortName")
        .and_then(|v| v.as_str())
        .is_some_and(|s| s == "ASVS")
        || value
            .get("requirements")
            .and_then(|r| r.as_array())
            .and_then(|a| a.first())
            .is_some_and(|r| r.get("req_id").is_some());
    if is_asvs {
        return nonempty("asvs-json", asvs_json(name, &value)?);
    }
    if has("2021") || has("2025") || (has("items") && name.to_ascii_lowercase().contains("owasp")) {
        return nonempty("owasp-mapping", owasp_mappings(name, &value)?);
    }
    if tmc_import::detect(bytes, name).is_some() {
        return import_chunks(name, bytes);
    }
    skip("JSON that is not a tmc draft, a threat model we import, ASVS or an OWASP mapping")
}

/// Splits MITRE's `::KEY:value::KEY:value::` cells into records of `(key, value)` pairs.
/// A record starts at each `::`; within it, known keys split the fields.
pub(crate) fn mitre_records(cell: &str) -> Vec<String> {
    cell.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The value after `KEY:` in one MITRE record, up to the next upper-case `KEY:` label.
pub(crate) fn mitre_field<'a>(record: &'a str, key: &str) -> Option<&'a str> {
    let marker = format!("{key}:");
    let start = record.find(&marker)? + marker.len();
    let rest = &record[start..];
    let end = next_label(rest).unwrap_or(rest.len());
    Some(rest[..end].trim().trim_end_matches(':').trim())
}

/// Position of the next `UPPER CASE:` label (at least two capitals) in a MITRE record.
fn next_label(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b':' {
            // Walk back over capitals and spaces.
            let mut j = i;
            while j > 0 && (bytes[j - 1].is_ascii_uppercase() || bytes[j - 1] == b' ') {
                j -= 1;
            }
            let label = s[j..i].trim();
            if label.len() >= 2 && label.chars().all(|c| c.is_ascii_uppercase() || c == ' ') {
                return Some(j);
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mitre_fields_split_on_labels() {
        let cell = "::PHASE:Architecture and Design:STRATEGY:Libraries:DESCRIPTION:Use a vetted library. Note: this helps.::PHASE:Implementation::";
        let recs = mitre_records(cell);
        assert_eq!(recs.len(), 2);
        assert_eq!(
            mitre_field(&recs[0], "PHASE"),
            Some("Architecture and Design")
        );
        assert_eq!(
            mitre_field(&recs[0], "DESCRIPTION"),
            Some("Use a vetted library. Note: this helps.")
        );
        assert_eq!(mitre_field(&recs[1], "DESCRIPTION"), None);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("a.pdf", b"%PDF-1.7 ...", "PDF"),
            ("a.pdf", b"\x00\x01binary", "not a PDF"),
            ("a.bin", b"\x00\x01\x02", "binary"),
            ("a.txt", b"\xff\xfe\xfa", "UTF-8"),
            ("a.md", b"   \n", "empty"),
            ("a.json", b"{not json", "invalid JSON"),
            ("a.json", b"{\"x\": 1}", "not a tmc draft"),
            ("a.csv", b"a,b\n1,2\n", "CSV"),
            ("a.exe", b"MZ text", "unsupported"),
        ];
        for (name, bytes, why) in cases {
            match parse_file(name, bytes) {
                Err(Skip(reason)) => assert!(reason.contains(why), "{name}: {reason}"),
                Ok(p) => panic!("{name} parsed as {}", p.format),
            }
        }
    }

    #[test]
    fn documents_by_extension() {
        let p = parse_file("a.md", b"# Title\n\nBody text.\n").expect("markdown");
        assert_eq!(p.format, "markdown");
        let p = parse_file("a.html", b"<h1>T</h1><p>Body</p>").expect("html");
        assert_eq!(p.format, "html");
        assert_eq!(p.chunks[0].title, "T");
        let p = parse_file("notes", b"plain words").expect("text");
        assert_eq!(p.format, "text");
    }
}
