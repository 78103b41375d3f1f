//! Organisation documents: Markdown (one chunk per heading section, with the heading path),
//! plain text (paragraph groups) and HTML (turned into Markdown headings and paragraphs first).
//! PDF lives in [`super::pdf`].

use crate::chunk::{Chunk, ChunkKind, ChunkMeta, MAX_CHUNK_BYTES, truncate};

/// Sections shorter than this many bytes of body are merged into the chunk's title only.
const TEXT_GROUP_BYTES: usize = 1500;

/// Splits a long body into parts of at most [`MAX_CHUNK_BYTES`] at paragraph boundaries; a
/// single paragraph longer than that is cut.
pub(crate) fn split_body(body: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    for para in body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if !cur.is_empty() && cur.len() + para.len() + 2 > MAX_CHUNK_BYTES {
            parts.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push_str("\n\n");
        }
        cur.push_str(truncate(para, MAX_CHUNK_BYTES));
    }
    if !cur.trim().is_empty() {
        parts.push(cur);
    }
    parts
}

fn doc_chunk(key: String, title: String, text: String, path: &[String]) -> Chunk {
    Chunk {
        key,
        kind: ChunkKind::Doc,
        title,
        text,
        meta: ChunkMeta {
            elements: path.to_vec(),
            ..ChunkMeta::default()
        },
    }
}

/// One chunk per heading section (ATX `#` headings outside code fences); the title is the
/// heading path ("Payments > Card data"), so a hit says where in the document it is.
pub fn markdown_chunks(text: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut body = String::new();
    let mut in_fence = false;
    let mut section = 0usize;
    let flush = |path: &[(usize, String)], body: &mut String, out: &mut Vec<Chunk>, n: usize| {
        let names: Vec<String> = path.iter().map(|(_, h)| h.clone()).collect();
        let title = if names.is_empty() {
            "(preamble)".to_string()
        } else {
            names.join(" > ")
        };
        let parts = split_body(body);
        let many = parts.len() > 1;
        for (i, part) in parts.into_iter().enumerate() {
            let key = if many {
                format!("§{n}.{} {title}", i + 1)
            } else {
                format!("§{n} {title}")
            };
            out.push(doc_chunk(key, title.clone(), part, &names));
        }
        if out.last().is_none_or(|c| c.title != title) && !names.is_empty() {
            // A heading with no body still names a topic worth finding.
            out.push(doc_chunk(
                format!("§{n} {title}"),
                title,
                String::new(),
                &names,
            ));
        }
        body.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        }
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        let is_heading = !in_fence
            && (1..=6).contains(&level)
            && trimmed[level..].starts_with([' ', '\t'])
            && line.len() - trimmed.len() < 4;
        if is_heading {
            flush(&path, &mut body, &mut out, section);
            section += 1;
            let heading = trimmed[level..]
                .trim()
                .trim_end_matches('#')
                .trim()
                .to_string();
            while path.last().is_some_and(|(l, _)| *l >= level) {
                path.pop();
            }
            path.push((level, heading));
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(&path, &mut body, &mut out, section);
    out
}

/// Plain text: paragraphs grouped into chunks of about [`TEXT_GROUP_BYTES`]; the first line of
/// each group is its title.
pub fn text_chunks(text: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let push = |cur: &mut String, out: &mut Vec<Chunk>| {
        let body = std::mem::take(cur);
        if body.trim().is_empty() {
            return;
        }
        let first = body.lines().next().unwrap_or("").trim();
        let title = truncate(first, 120).to_string();
        let n = out.len() + 1;
        out.push(doc_chunk(
            format!("¶{n}"),
            title,
            truncate(&body, MAX_CHUNK_BYTES).to_string(),
            &[],
        ));
    };
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if !cur.is_empty() && cur.len() + para.len() > TEXT_GROUP_BYTES {
            push(&mut cur, &mut out);
        }
        if !cur.is_empty() {
            cur.push_str("\n\n");
        }
        cur.push_str(para);
    }
    push(&mut cur, &mut out);
    out
}

/// A small HTML → Markdown reduction: `<h1>`–`<h6>` become `#` headings, block elements become
/// paragraph breaks, `<script>`/`<style>` are dropped, other tags are removed and the common
/// entities decoded. Not a conforming HTML parser: enough for intranet pages and wiki exports.
pub fn html_to_markdown(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skip_until: Option<&'static str> = None;
    while let Some(lt) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&decode_entities(&rest[..lt]));
        }
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[..gt].trim().to_ascii_lowercase();
        rest = &after[gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let closing = tag.starts_with('/');
        if let Some(end) = skip_until {
            if closing && name == end {
                skip_until = None;
            }
            continue;
        }
        match name.as_str() {
            "script" if !closing => skip_until = Some("script"),
            "style" if !closing => skip_until = Some("style"),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                if closing {
                    out.push_str("\n\n");
                } else {
                    let level = usize::from(name.as_bytes()[1] - b'0');
                    out.push_str("\n\n");
                    out.push_str(&"#".repeat(level));
                    out.push(' ');
                }
            }
            "p" | "div" | "section" | "article" | "br" | "li" | "tr" | "table" | "ul" | "ol"
            | "pre" | "blockquote" => out.push_str("\n\n"),
            _ => {}
        }
    }
    if skip_until.is_none() {
        out.push_str(&decode_entities(rest));
    }
    // Headings must start a line and hold one line.
    out.lines().map(str::trim).collect::<Vec<_>>().join("\n")
}

fn decode_entities(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_sections_carry_heading_paths() {
        let md = "intro line\n\n# Payments\n\nCards are tokenised.\n\n## Card data\n\nNever log PANs.\n```\n# not a heading\n```\n# Ops\n";
        let chunks = markdown_chunks(md);
        let titles: Vec<&str> = chunks.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            vec!["(preamble)", "Payments", "Payments > Card data", "Ops"]
        );
        assert!(chunks[2].text.contains("# not a heading"));
        assert!(chunks.iter().all(|c| c.kind == ChunkKind::Doc));
        let keys: std::collections::BTreeSet<&str> =
            chunks.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys.len(), chunks.len(), "keys are unique");
    }

    #[test]
    fn long_sections_are_split_within_bounds() {
        let para = "word ".repeat(300);
        let md = format!("# Big\n\n{}", [para.as_str(); 20].join("\n\n"));
        let chunks = markdown_chunks(&md);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.text.len() <= MAX_CHUNK_BYTES));
    }

    #[test]
    fn html_headings_and_scripts() {
        let md = html_to_markdown(
            "<html><script>var x = '<h1>no</h1>';</script><h2>Login &amp; MFA</h2><p>Use TOTP.</p></html>",
        );
        let chunks = markdown_chunks(&md);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].title, "Login & MFA");
        assert!(chunks[0].text.contains("Use TOTP."));
        assert!(!md.contains("var x"));
    }

    #[test]
    fn text_groups_paragraphs() {
        let text = (0..10)
            .map(|i| format!("Paragraph {i} {}", "x ".repeat(200)))
            .collect::<Vec<_>>()
            .join("\n\n");
        let chunks = text_chunks(&text);
        assert!(chunks.len() >= 3);
        assert!(chunks[0].title.starts_with("Paragraph 0"));
    }
}
