#![allow(clippy::unwrap_used)]
//! Ingest and retrieval on the real shared data (`../shared/kb`, `../shared/bench/sources`).

use std::path::{Path, PathBuf};

use tmc_kb::index::{Index, SourceRecord, SqliteIndex, StoredChunk};
use tmc_kb::ingest::{NoProgress, Outcome};
use tmc_kb::search::{KnowledgeBase, SearchMode, SearchOptions};
use tmc_kb::{Chunk, ChunkKind, ChunkMeta, Filter, ingest_paths};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn kb_at(path: &Path) -> KnowledgeBase {
    KnowledgeBase::new(Box::new(SqliteIndex::open(path).unwrap()), None)
}

fn search(kb: &KnowledgeBase, q: &str, filters: &[(&str, &[&str])], k: usize) -> Vec<String> {
    let mut filter = Filter::default();
    for (key, values) in filters {
        filter = filter.with(key, values);
    }
    let r = kb
        .search(
            q,
            &SearchOptions {
                k,
                filter,
                mode: None,
            },
        )
        .unwrap();
    assert_eq!(r.mode, SearchMode::Lexical);
    r.hits.into_iter().map(|h| h.chunk.key).collect()
}

#[test]
fn standards_ingest_with_one_chunk_per_entry_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kb/index.sqlite3");
    let mut kb = kb_at(&db);
    let paths = vec![
        shared().join("kb/cwe"),
        shared().join("kb/capec"),
        shared().join("kb/asvs/OWASP_Application_Security_Verification_Standard_4.0.3_en.json"),
        shared().join("kb/mappings/owasp_top10_cwe_2021_2025.json"),
        shared().join("kb/threat-dragon"),
    ];
    let s = ingest_paths(kb.index.as_mut(), &paths, None, &NoProgress).unwrap();
    assert_eq!(
        s.by_kind.get("cwe"),
        Some(&918),
        "CWE view 1000 has 918 weaknesses"
    );
    assert_eq!(
        s.by_kind.get("capec"),
        Some(&559),
        "CAPEC view 1000 has 559 patterns"
    );
    assert_eq!(
        s.by_kind.get("asvs"),
        Some(&286),
        "ASVS 4.0.3 has 286 requirements"
    );
    assert_eq!(s.by_kind.get("owasp"), Some(&20), "Top 10 2021 + 2025");
    // Threat Dragon's category lists are not something we ingest: skipped, with a reason.
    let td: Vec<_> = s
        .files
        .iter()
        .filter(|f| f.path.contains("threat-dragon"))
        .collect();
    assert!(!td.is_empty());
    assert!(
        td.iter()
            .all(|f| f.outcome == Outcome::Skipped && f.reason.is_some())
    );

    // Retrieval: names find their entries; filters narrow by kind and CWE.
    let hits = search(&kb, "SQL injection", &[("kind", &["cwe"])], 5);
    assert!(hits.contains(&"CWE-89".to_string()), "{hits:?}");
    let hits = search(&kb, "cross-site scripting", &[("kind", &["cwe"])], 5);
    assert!(hits.contains(&"CWE-79".to_string()), "{hits:?}");
    let hits = search(
        &kb,
        "password length",
        &[("kind", &["asvs"]), ("cwe", &["521"])],
        10,
    );
    assert!(!hits.is_empty() && hits.iter().all(|h| h.starts_with("ASVS-4.0.3-V2.")));
    let hits = search(&kb, "access control", &[("kind", &["owasp"])], 3);
    assert_eq!(hits.first().map(String::as_str), Some("OWASP-A01:2021"));

    // Idempotent: the second run writes nothing and the counts stay.
    let before = kb.index.stats().unwrap();
    let again = ingest_paths(kb.index.as_mut(), &paths, None, &NoProgress).unwrap();
    assert_eq!(again.chunks_written, 0);
    assert_eq!(
        again.count(Outcome::Added) + again.count(Outcome::Updated),
        0
    );
    assert_eq!(
        again.count(Outcome::Unchanged),
        4,
        "the four standards files"
    );
    assert_eq!(
        again.count(Outcome::Skipped),
        4,
        "Threat Dragon lists, skipped again"
    );
    assert_eq!(kb.index.stats().unwrap(), before);
}

#[test]
fn reviewed_threat_models_carry_status_technology_and_stride() {
    let mut kb = KnowledgeBase::new(Box::new(SqliteIndex::in_memory().unwrap()), None);
    let s = ingest_paths(
        kb.index.as_mut(),
        &[shared().join("bench/sources")],
        None,
        &NoProgress,
    )
    .unwrap();
    let reason = |needle: &str| {
        s.files
            .iter()
            .find(|f| f.path.contains(needle))
            .and_then(|f| f.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason(".xls").contains("binary"), "{}", reason(".xls"));
    assert!(reason("INDEX.tsv").contains("unsupported"));
    // Every benchmark system with references contributes threats.
    let threats = s.by_kind.get("threat").copied().unwrap_or(0);
    // 140 reference threats outside the IriusRisk XLS, plus the Threat Dragon demos' own.
    assert!(threats >= 140, "only {threats} threats");
    assert!(s.by_kind.get("doc").copied().unwrap_or(0) > 0, "READMEs");
    let sources = kb.index.sources().unwrap();
    assert!(
        sources
            .iter()
            .any(|x| x.format == "import:threat-composer" && x.chunks >= 20)
    );
    // Filters on review metadata.
    // Threat Composer's identified threats are confirmed, untreated: status `open`.
    let open = search(
        &kb,
        "prompt injection",
        &[("kind", &["threat"]), ("status", &["open"])],
        5,
    );
    assert!(!open.is_empty());
    let accepted = search(
        &kb,
        "prompt injection",
        &[("kind", &["threat"]), ("status", &["accepted"])],
        5,
    );
    assert!(
        accepted.is_empty(),
        "identified is not risk-accepted: {accepted:?}"
    );
    let with_tech = kb
        .search(
            "data",
            &SearchOptions {
                k: 20,
                filter: Filter::default().with("tech", &["database"]),
                mode: None,
            },
        )
        .unwrap();
    assert!(!with_tech.hits.is_empty());
    assert!(
        with_tech
            .hits
            .iter()
            .all(|h| h.chunk.meta.technologies.contains(&"database".to_string()))
    );
    // Leave-one-out: excluding a source by file name removes all its chunks from results.
    let name = "awslabs__threat-composer__packages__threat-composer__src__data__workspaceExamples__GenAIChatbot.tc.json";
    let all = kb
        .search(
            "chatbot prompt",
            &SearchOptions {
                k: 50,
                ..SearchOptions::default()
            },
        )
        .unwrap();
    assert!(all.hits.iter().any(|h| h.chunk.source_name == name));
    let loo = kb
        .search(
            "chatbot prompt",
            &SearchOptions {
                k: 50,
                filter: Filter {
                    exclude_sources: vec![name.to_string()],
                    ..Filter::default()
                },
                mode: None,
            },
        )
        .unwrap();
    assert!(loo.hits.iter().all(|h| h.chunk.source_name != name));
}

#[test]
fn reingest_updates_and_rm_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("policy.md");
    std::fs::write(
        &doc,
        "# Secrets\n\nAll secrets live in the zanzibar vault.\n\n# Logging\n\nShip logs.\n",
    )
    .unwrap();
    let mut kb = kb_at(&dir.path().join("index.sqlite3"));
    let s = ingest_paths(
        kb.index.as_mut(),
        std::slice::from_ref(&doc),
        None,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(s.count(Outcome::Added), 1);
    assert_eq!(search(&kb, "zanzibar", &[], 5).len(), 1);

    std::fs::write(&doc, "# Secrets\n\nAll secrets live in the kestrel KMS.\n").unwrap();
    let s = ingest_paths(
        kb.index.as_mut(),
        std::slice::from_ref(&doc),
        None,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(s.count(Outcome::Updated), 1);
    assert!(search(&kb, "zanzibar", &[], 5).is_empty(), "old text gone");
    assert!(
        search(&kb, "logging", &[], 5).is_empty(),
        "removed section gone"
    );
    assert_eq!(search(&kb, "kestrel", &[], 5).len(), 1);
    assert_eq!(kb.index.stats().unwrap().chunks, 1);

    let removed = kb.index.remove(&dir.path().display().to_string()).unwrap();
    assert_eq!(removed.len(), 1, "a directory removes what is under it");
    assert_eq!(kb.index.stats().unwrap().chunks, 0);
    assert!(search(&kb, "kestrel", &[], 5).is_empty());
}

fn chunk(key: &str, text: &str) -> StoredChunk {
    StoredChunk {
        chunk: Chunk {
            key: key.into(),
            kind: ChunkKind::Doc,
            title: key.into(),
            text: text.into(),
            meta: ChunkMeta::default(),
        },
        embedding: None,
    }
}

#[test]
fn a_failed_write_leaves_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("index.sqlite3");
    let record = |hash: &str| SourceRecord {
        path: "/x/a.md".into(),
        name: "a.md".into(),
        format: "markdown".into(),
        hash: hash.into(),
        embed_model: None,
        chunks: 0,
    };
    {
        let mut idx = SqliteIndex::open(&db).unwrap();
        idx.replace_source(&record("h1"), &[chunk("one", "albatross")])
            .unwrap();
        // Duplicate keys violate the unique constraint half-way through the write.
        let err = idx.replace_source(
            &record("h2"),
            &[chunk("two", "penguin"), chunk("two", "penguin again")],
        );
        assert!(err.is_err());
    }
    // Reopen, as a new process would after the failure.
    let kb = kb_at(&db);
    assert_eq!(
        kb.index.source_hash("/x/a.md").unwrap().as_deref(),
        Some("h1")
    );
    assert_eq!(search(&kb, "albatross", &[], 5), vec!["one"]);
    assert!(search(&kb, "penguin", &[], 5).is_empty());
}

#[test]
fn oversized_and_corrupt_files_are_skipped_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.json"),
        b"{\"draft_version\": 1, \"threats\": [{",
    )
    .unwrap();
    std::fs::write(dir.path().join("bin.dat"), [0u8, 159, 146, 150]).unwrap();
    std::fs::write(dir.path().join("doc.pdf"), b"%PDF-1.4").unwrap();
    let big = std::fs::File::create(dir.path().join("huge.md")).unwrap();
    big.set_len(tmc_kb::parse::MAX_SOURCE_BYTES + 1).unwrap();
    let mut kb = KnowledgeBase::new(Box::new(SqliteIndex::in_memory().unwrap()), None);
    let s = ingest_paths(
        kb.index.as_mut(),
        &[dir.path().to_path_buf(), dir.path().join("missing.md")],
        None,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(s.files.len(), 5);
    assert!(s.files.iter().all(|f| f.outcome == Outcome::Skipped));
    let reasons: Vec<String> = s.files.iter().filter_map(|f| f.reason.clone()).collect();
    for needle in ["cannot read", "invalid JSON", "binary", "PDF", "limit"] {
        assert!(
            reasons.iter().any(|r| r.contains(needle)),
            "{needle}: {reasons:?}"
        );
    }
}
