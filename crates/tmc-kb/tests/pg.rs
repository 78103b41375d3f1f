#![allow(clippy::unwrap_used)]
//! The PostgreSQL + pgvector backend against a real server. Runs only when `TMC_TEST_PG_URL`
//! is set (`shared/scripts/start-postgres.sh` prints one); each test uses its own schema and
//! drops it afterwards, so runs never collide.

use std::path::{Path, PathBuf};

use tmc_kb::ingest::{NoProgress, Outcome};
use tmc_kb::search::{KnowledgeBase, SearchMode, SearchOptions};
use tmc_kb::{Embedder, Filter, KbError, PgIndex, ingest_paths};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn pg_url(test: &str) -> Option<String> {
    match std::env::var("TMC_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("SKIPPED {test}: set TMC_TEST_PG_URL (shared/scripts/start-postgres.sh)");
            None
        }
    }
}

fn unique_schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("tmc_test_{test}_{}_{nanos}", std::process::id())
}

/// Drops the test schema even when an assertion fails.
struct Dropper(String, String);
impl Drop for Dropper {
    fn drop(&mut self) {
        if let Ok(idx) = PgIndex::connect(&self.0, &self.1) {
            let _ = idx.drop_schema();
        }
    }
}

/// Hashing-trick embedder: each lowercase word adds 1 to bucket hash(word) % 64, then L2
/// normalised. Deterministic, no model, and texts sharing words get high cosine.
struct HashEmbedder;
impl Embedder for HashEmbedder {
    fn model_id(&self) -> String {
        "test:hash-64".into()
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KbError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; 64];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() > 2)
                {
                    let mut h: u64 = 0xcbf29ce484222325;
                    for b in w.to_lowercase().bytes() {
                        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
                    }
                    v[(h % 64) as usize] += 1.0;
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if n > 0.0 {
                    v.iter_mut().for_each(|x| *x /= n);
                }
                v
            })
            .collect())
    }
}

fn keys(kb: &KnowledgeBase, q: &str, filter: Filter, mode: Option<SearchMode>) -> Vec<String> {
    kb.search(
        q,
        &SearchOptions {
            k: 10,
            filter,
            mode,
        },
    )
    .unwrap()
    .hits
    .into_iter()
    .map(|h| h.chunk.key)
    .collect()
}

#[test]
fn pg_bm25_filters_idempotence_and_rm() {
    let Some(url) = pg_url("pg_bm25_filters_idempotence_and_rm") else {
        return;
    };
    let schema = unique_schema("bm25");
    let _guard = Dropper(url.clone(), schema.clone());
    let mut kb = KnowledgeBase::new(Box::new(PgIndex::connect(&url, &schema).unwrap()), None);
    let paths = vec![shared().join("kb/cwe")];
    let s = ingest_paths(kb.index.as_mut(), &paths, None, &NoProgress).unwrap();
    assert_eq!(s.by_kind.get("cwe"), Some(&918));
    assert_eq!(kb.index.stats().unwrap().chunks, 918);

    let hits = keys(&kb, "SQL injection", Filter::default(), None);
    assert_eq!(hits.first().map(String::as_str), Some("CWE-89"), "{hits:?}");
    // Filters: kind and a tag; a wrong kind leaves nothing.
    let hits = keys(
        &kb,
        "SQL injection",
        Filter::default().with("cwe", &["89"]),
        None,
    );
    assert_eq!(hits, vec!["CWE-89".to_string()]);
    assert!(
        keys(
            &kb,
            "SQL injection",
            Filter::default().with("kind", &["asvs"]),
            None
        )
        .is_empty()
    );
    let mut excl = Filter::default();
    excl.exclude_sources.push("1000.csv".into());
    assert!(keys(&kb, "SQL injection", excl, None).is_empty());

    // Re-ingest of unchanged bytes writes nothing.
    let again = ingest_paths(kb.index.as_mut(), &paths, None, &NoProgress).unwrap();
    assert_eq!(again.count(Outcome::Unchanged), 1);
    assert_eq!(again.chunks_written, 0);
    assert_eq!(kb.index.stats().unwrap().chunks, 918);

    // rm by file name deletes the source and its chunks.
    let removed = kb.index.remove("1000.csv").unwrap();
    assert_eq!(removed.len(), 1);
    let stats = kb.index.stats().unwrap();
    assert_eq!((stats.sources, stats.chunks), (0, 0));
    assert!(keys(&kb, "SQL injection", Filter::default(), None).is_empty());
}

#[test]
fn pg_vectors_give_hybrid_results() {
    let Some(url) = pg_url("pg_vectors_give_hybrid_results") else {
        return;
    };
    let schema = unique_schema("hybrid");
    let _guard = Dropper(url.clone(), schema.clone());
    let mut kb = KnowledgeBase::new(
        Box::new(PgIndex::connect(&url, &schema).unwrap()),
        Some(Box::new(HashEmbedder)),
    );
    let paths = vec![shared().join("kb/cwe")];
    let s = ingest_paths(kb.index.as_mut(), &paths, Some(&HashEmbedder), &NoProgress).unwrap();
    assert_eq!(s.embed_model.as_deref(), Some("test:hash-64"));
    let stats = kb.index.stats().unwrap();
    assert_eq!(stats.embedded_chunks, 918);
    assert_eq!(stats.embed_models, vec!["test:hash-64".to_string()]);

    let r = kb
        .search("SQL injection", &SearchOptions::default())
        .unwrap();
    assert_eq!(r.mode, SearchMode::Hybrid);
    assert!(
        r.hits.iter().take(3).any(|h| h.chunk.key == "CWE-89"),
        "{:?}",
        r.hits.iter().map(|h| &h.chunk.key).collect::<Vec<_>>()
    );
    assert!(
        r.hits
            .iter()
            .any(|h| h.bm25.is_some() && h.cosine.is_some())
    );
    // Dense alone returns results through the HNSW index, with cosines in [-1, 1].
    let dense = kb
        .search(
            "Improper Neutralization of Special Elements used in an SQL Command",
            &SearchOptions {
                mode: Some(SearchMode::Dense),
                ..SearchOptions::default()
            },
        )
        .unwrap();
    assert_eq!(dense.hits.len(), 10);
    assert!(
        dense
            .hits
            .iter()
            .all(|h| h.cosine.is_some_and(|c| (-1.0..=1.0001).contains(&c)))
    );
    // The HNSW ranking agrees with the SQLite backend's exact cosine on the same vectors.
    let mut exact = KnowledgeBase::new(
        Box::new(tmc_kb::SqliteIndex::in_memory().unwrap()),
        Some(Box::new(HashEmbedder)),
    );
    ingest_paths(
        exact.index.as_mut(),
        &paths,
        Some(&HashEmbedder),
        &NoProgress,
    )
    .unwrap();
    let want = keys(
        &exact,
        "Improper Neutralization of Special Elements used in an SQL Command",
        Filter::default(),
        Some(SearchMode::Dense),
    );
    let got: Vec<String> = dense.hits.iter().map(|h| h.chunk.key.clone()).collect();
    let shared = got.iter().filter(|k| want.contains(k)).count();
    assert!(shared >= 8, "pg {got:?} vs exact {want:?}");
    // Dense with a filter still finds the filtered chunk.
    let filtered = keys(
        &kb,
        "injection",
        Filter::default().with("cwe", &["89"]),
        Some(SearchMode::Dense),
    );
    assert_eq!(filtered, vec!["CWE-89".to_string()]);
}
