#![allow(clippy::unwrap_used)]
//! Documents from outside: PDF (written here, byte by byte, so no binary is committed) and
//! hostile HTML, through `ingest_paths` into an index and back out through search.

use std::io::Write;
use std::path::Path;

use tmc_kb::ingest::{IngestSummary, NoProgress, Outcome};
use tmc_kb::search::{KnowledgeBase, SearchOptions};
use tmc_kb::{SqliteIndex, ingest_paths};

/// A PDF from numbered objects (`objects[0]` is object 1, the catalog), with a correct
/// cross-reference table: each entry is the byte offset of `N 0 obj`.
fn pdf_from_objects(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        writeln!(out, "{} 0 obj", i + 1).unwrap();
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).unwrap();
    for o in offsets {
        writeln!(out, "{o:010} 00000 n ").unwrap();
    }
    write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    )
    .unwrap();
    out
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut s = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    s.extend_from_slice(data);
    s.extend_from_slice(b"\nendstream");
    s
}

/// One page's content: each `(size, text)` a line, top to bottom, in Helvetica.
fn page_content(lines: &[(f32, &str)]) -> Vec<u8> {
    let mut c = String::from("BT\n");
    let mut y = 760.0;
    for (size, text) in lines {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        c.push_str(&format!("/F1 {size} Tf 1 0 0 1 72 {y} Tm ({escaped}) Tj\n"));
        y -= size * 1.6;
    }
    c.push_str("ET\n");
    c.into_bytes()
}

/// A PDF whose pages have the given content streams (already encoded, with their filter).
fn pdf_with_pages(pages: &[(String, Vec<u8>)]) -> Vec<u8> {
    let n = pages.len();
    // 1 catalog, 2 page tree, 3 font, then (page, content) pairs.
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ];
    for (i, (dict, data)) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        objects.push(stream(dict, data));
    }
    pdf_from_objects(&objects)
}

fn text_pdf(pages: &[&[(f32, &str)]]) -> Vec<u8> {
    let pages: Vec<(String, Vec<u8>)> = pages
        .iter()
        .map(|p| (String::new(), page_content(p)))
        .collect();
    pdf_with_pages(&pages)
}

/// A Flate stream that inflates to `inflated` zero bytes, compressed as it is produced so the
/// test never holds the inflated data.
fn deflate_bomb(inflated: usize) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 16];
    let mut left = inflated;
    while left > 0 {
        let n = left.min(block.len());
        z.write_all(&block[..n]).unwrap();
        left -= n;
    }
    z.finish().unwrap()
}

const POLICY: &[&[(f32, &str)]] = &[
    &[
        (20.0, "Secrets handling"),
        (
            10.0,
            "All service credentials live in the zanzibar vault and are rotated",
        ),
        (10.0, "every ninety days by the platform team."),
    ],
    &[
        (14.0, "Break-glass access"),
        (
            10.0,
            "Emergency access uses the kestrel procedure with two approvers.",
        ),
    ],
];

fn kb() -> KnowledgeBase {
    KnowledgeBase::new(Box::new(SqliteIndex::in_memory().unwrap()), None)
}

fn keys(kb: &KnowledgeBase, q: &str) -> Vec<(String, String)> {
    kb.search(
        q,
        &SearchOptions {
            k: 10,
            ..SearchOptions::default()
        },
    )
    .unwrap()
    .hits
    .into_iter()
    .map(|h| (h.chunk.key, h.chunk.title))
    .collect()
}

fn report<'a>(s: &'a IngestSummary, name: &str) -> &'a tmc_kb::ingest::FileReport {
    s.files
        .iter()
        .find(|f| Path::new(&f.path).file_name().unwrap() == name)
        .unwrap_or_else(|| panic!("{name} not in {:?}", s.files))
}

#[test]
fn pdf_text_is_searchable_with_page_and_heading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.pdf");
    std::fs::write(&path, text_pdf(POLICY)).unwrap();
    let mut kb = kb();
    let s = ingest_paths(kb.index.as_mut(), &[path], None, &NoProgress).unwrap();
    let r = report(&s, "policy.pdf");
    assert_eq!(r.outcome, Outcome::Added, "{r:?}");
    assert_eq!(r.format.as_deref(), Some("pdf"));
    assert_eq!(r.reason, None);
    assert_eq!(r.chunks, 2, "one section per page");

    assert_eq!(
        keys(&kb, "zanzibar vault"),
        vec![("p1".to_string(), "Secrets handling (p. 1)".to_string())]
    );
    // The heading path carries over to the next page and nests by font size.
    assert_eq!(
        keys(&kb, "kestrel approvers"),
        vec![(
            "p2".to_string(),
            "Secrets handling > Break-glass access (p. 2)".to_string()
        )]
    );
    let hit = kb
        .search("kestrel", &SearchOptions::default())
        .unwrap()
        .hits
        .remove(0);
    assert_eq!(
        hit.chunk.meta.elements,
        vec!["Secrets handling", "Break-glass access"]
    );
    // Two lines of one paragraph stay in one chunk, in order.
    let first = kb
        .search("zanzibar", &SearchOptions::default())
        .unwrap()
        .hits
        .remove(0);
    assert!(
        first.chunk.text.contains("rotated\nevery ninety days"),
        "{:?}",
        first.chunk.text
    );
}

#[test]
fn a_pdf_with_a_broken_xref_is_still_read() {
    // Offsets all wrong (as after a careless edit): readers rebuild the table by scanning.
    let good = text_pdf(POLICY);
    let text = String::from_utf8_lossy(&good).to_string();
    let start = text.find("xref\n").unwrap();
    let mut broken = good[..start].to_vec();
    broken.extend_from_slice(
        b"xref\n0 9\n0000000000 65535 f \n0000000001 00000 n \n0000000002 00000 n \n\
trailer\n<< /Size 9 /Root 1 0 R >>\nstartxref\n999999\n%%EOF\n",
    );
    let parsed = tmc_kb::parse::parse_file("broken.pdf", &broken).unwrap();
    assert!(
        parsed.chunks.iter().any(|c| c.text.contains("zanzibar")),
        "{:?}",
        parsed.chunks
    );
}

#[test]
fn bad_pdfs_are_skipped_with_reasons_and_the_index_stays() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("a-good.pdf");
    std::fs::write(&good, text_pdf(POLICY)).unwrap();
    let mut kb = kb();
    let first = ingest_paths(
        kb.index.as_mut(),
        std::slice::from_ref(&good),
        None,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(first.count(Outcome::Added), 1);
    let before = kb.index.stats().unwrap();
    assert_eq!(before.chunks, 2);

    // Garbage after a PDF header (a deterministic pseudo-random tail).
    let mut corrupt = b"%PDF-1.7\n".to_vec();
    let mut x: u32 = 0x1234_5678;
    corrupt.extend((0..20_000).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x >> 24) as u8
    }));
    std::fs::write(dir.path().join("corrupt.pdf"), &corrupt).unwrap();
    // Binary data that only calls itself a PDF.
    std::fs::write(
        dir.path().join("binary.pdf"),
        [0x7f, b'E', b'L', b'F', 0, 1, 2],
    )
    .unwrap();
    // Truncated half-way: no cross-reference table, no trailer.
    let whole = text_pdf(POLICY);
    std::fs::write(dir.path().join("truncated.pdf"), &whole[..60]).unwrap();
    // Every page a decompression bomb: 300 MiB of zeros in a few hundred KiB.
    let bomb = deflate_bomb(300 << 20);
    assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
    std::fs::write(
        dir.path().join("bomb.pdf"),
        pdf_with_pages(&[("/Filter /FlateDecode".to_string(), bomb.clone())]),
    )
    .unwrap();
    // An encrypted PDF (RC4 128, user password "secret"), encrypted by lopdf.
    let mut doc = lopdf::Document::load_mem(&text_pdf(POLICY)).unwrap();
    // The file identifier is part of the encryption key.
    let id = lopdf::Object::string_literal("tmc-test-file-id");
    doc.trailer.set("ID", vec![id.clone(), id]);
    let state = lopdf::EncryptionState::try_from(lopdf::EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password: "secret",
        key_length: 128,
        permissions: lopdf::Permissions::default(),
    })
    .unwrap();
    doc.encrypt(&state).unwrap();
    let mut encrypted = Vec::new();
    doc.save_to(&mut encrypted).unwrap();
    std::fs::write(dir.path().join("encrypted.pdf"), &encrypted).unwrap();
    // 100 MB that starts like a PDF: sparse, so the test writes almost nothing; the size cap
    // rejects it from its metadata before a byte is read.
    let huge = std::fs::File::create(dir.path().join("huge.pdf")).unwrap();
    (&huge).write_all(b"%PDF-1.7\n").unwrap();
    huge.set_len(100_000_000).unwrap();
    // A scanned-looking PDF: a page with no text operators.
    std::fs::write(
        dir.path().join("scan.pdf"),
        pdf_with_pages(&[(String::new(), b"q 612 0 0 792 0 0 cm Q".to_vec())]),
    )
    .unwrap();
    // One good page and one bomb page: the good page is indexed, the summary says what was not.
    std::fs::write(
        dir.path().join("partial.pdf"),
        pdf_with_pages(&[
            (
                String::new(),
                page_content(&[(10.0, "The albatross runbook covers failover.")]),
            ),
            ("/Filter /FlateDecode".to_string(), bomb),
        ]),
    )
    .unwrap();

    let s = ingest_paths(
        kb.index.as_mut(),
        &[dir.path().to_path_buf()],
        None,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(report(&s, "a-good.pdf").outcome, Outcome::Unchanged);
    let expect = [
        ("corrupt.pdf", "not a readable PDF"),
        ("binary.pdf", "not a PDF"),
        ("truncated.pdf", "not a readable PDF"),
        ("bomb.pdf", "inflates past"),
        ("encrypted.pdf", "encrypted PDF"),
        ("huge.pdf", "the limit is"),
        ("scan.pdf", "no extractable text"),
    ];
    for (name, why) in expect {
        let r = report(&s, name);
        assert_eq!(r.outcome, Outcome::Skipped, "{name}: {r:?}");
        let reason = r.reason.as_deref().unwrap_or("");
        assert!(reason.contains(why), "{name}: {reason}");
    }
    let partial = report(&s, "partial.pdf");
    assert_eq!(partial.outcome, Outcome::Added, "{partial:?}");
    assert_eq!(partial.chunks, 1);
    let note = partial.reason.as_deref().unwrap_or("");
    assert!(
        note.contains("page 2 not indexed") && note.contains("inflates past"),
        "{note}"
    );

    // The index holds the earlier PDF untouched plus the partial one, nothing else.
    let after = kb.index.stats().unwrap();
    assert_eq!(after.sources, 2);
    assert_eq!(after.chunks, before.chunks + 1);
    assert_eq!(keys(&kb, "zanzibar").len(), 1);
    assert_eq!(keys(&kb, "albatross failover").len(), 1);
}

#[test]
fn hostile_html_is_reduced_to_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut html = String::from(
        "<html><head><style>h1 { content: 'stylesecret' }</style>\
         <script>document.write('<h1>scriptsecret</h1>')</script></head><body>\
         <h2>Login &amp; MFA</h2><p>Use TOTP; never &lt;b&gt;SMS&lt;/b&gt; or &amp;lt;raw&amp;gt;.</p>",
    );
    // 200 000 nested elements: the reducer is a linear scan, not a recursive parser.
    for _ in 0..200_000 {
        html.push_str("<div><span>");
    }
    html.push_str("<p>Deep paragraph about the pelican gateway.</p>");
    for _ in 0..200_000 {
        html.push_str("</span></div>");
    }
    // A script left open swallows the rest rather than leaking it into the index.
    html.push_str("<SCRIPT type=module>var unclosedsecret = 1; <p>trailingsecret</p>");
    let path = dir.path().join("hostile.html");
    std::fs::write(&path, &html).unwrap();

    let mut kb = kb();
    let s = ingest_paths(kb.index.as_mut(), &[path], None, &NoProgress).unwrap();
    let r = report(&s, "hostile.html");
    assert_eq!(r.outcome, Outcome::Added, "{r:?}");
    for hidden in [
        "stylesecret",
        "scriptsecret",
        "unclosedsecret",
        "trailingsecret",
    ] {
        assert!(keys(&kb, hidden).is_empty(), "{hidden} was indexed");
    }
    let hits = kb.search("TOTP", &SearchOptions::default()).unwrap().hits;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].chunk.title, "Login & MFA");
    // Entities are decoded once: markup in text stays text, double-escaped stays escaped.
    assert!(
        hits[0]
            .chunk
            .text
            .contains("never <b>SMS</b> or &lt;raw&gt;."),
        "{}",
        hits[0].chunk.text
    );
    assert_eq!(keys(&kb, "pelican gateway").len(), 1);
    assert!(
        kb.index.stats().unwrap().chunks <= 3,
        "nesting must not turn into chunks"
    );
}
