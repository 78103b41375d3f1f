#![allow(clippy::unwrap_used)]
#![cfg(feature = "local-embeddings")]
//! The in-process embedder (candle) against the real all-MiniLM-L6-v2 weights. The model tests
//! run only when `TMC_TEST_MINILM_DIR` names the model directory
//! (`shared/scripts/fetch-minilm.sh` prints one; `scripts/services.sh` exports it); the
//! error-path tests need no weights.

use std::path::PathBuf;
use std::sync::OnceLock;

use tmc_kb::embed::local::LocalEmbedder;
use tmc_kb::index::SqliteIndex;
use tmc_kb::ingest::NoProgress;
use tmc_kb::search::{KnowledgeBase, SearchMode, SearchOptions};
use tmc_kb::{Embedder, EmbeddingConfig};

fn minilm_dir(test: &str) -> Option<PathBuf> {
    match std::env::var("TMC_TEST_MINILM_DIR") {
        Ok(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => {
            eprintln!(
                "SKIPPED {test}: set TMC_TEST_MINILM_DIR (shared/scripts/fetch-minilm.sh prints one)"
            );
            None
        }
    }
}

/// Loaded once for all tests of this file (reading 90 MB of weights takes a moment).
fn model(test: &str) -> Option<&'static LocalEmbedder> {
    static MODEL: OnceLock<LocalEmbedder> = OnceLock::new();
    let dir = minilm_dir(test)?;
    Some(MODEL.get_or_init(|| LocalEmbedder::load(&dir, None).unwrap()))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| t.to_string()).collect()
}

#[test]
fn minilm_vectors_are_unit_length_and_rank_paraphrases_first() {
    let Some(m) = model("minilm_vectors_are_unit_length_and_rank_paraphrases_first") else {
        return;
    };
    assert_eq!(m.dimension(), 384);
    assert_eq!(
        m.max_tokens(),
        256,
        "sentence_bert_config.json max_seq_length"
    );
    assert_eq!(m.model_id(), "local:all-MiniLM-L6-v2");
    let v = m
        .embed(&strings(&[
            "An attacker injects SQL through the login form.",
            "The sign-in page is vulnerable to database query injection.",
            "The office coffee machine is broken again.",
            "",
        ]))
        .unwrap();
    assert_eq!(v.len(), 4);
    for x in &v {
        assert_eq!(x.len(), 384);
        let norm = dot(x, x).sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        assert!(x.iter().all(|f| f.is_finite()));
    }
    let para = dot(&v[0], &v[1]);
    let unrelated = dot(&v[0], &v[2]);
    assert!(
        para > 0.5 && unrelated < 0.2 && para > unrelated + 0.3,
        "paraphrase {para}, unrelated {unrelated}"
    );
}

#[test]
fn minilm_vectors_do_not_depend_on_the_batch() {
    let Some(m) = model("minilm_vectors_do_not_depend_on_the_batch") else {
        return;
    };
    // Lengths differ a lot, so batching pads the short texts heavily.
    let texts = strings(&[
        "XSS",
        "Cross-site scripting in the comment field lets an attacker run script in other users' browsers.",
        "Rotate session cookies after login.",
        "Denial of service by exhausting the connection pool of the API gateway with slow requests that never finish sending their headers.",
        "Weak password hashing (MD5).",
        "S3 bucket is world readable.",
        "Missing rate limiting on the password reset endpoint allows enumeration of accounts.",
        "TLS 1.0",
    ]);
    let batched = m.embed(&texts).unwrap();
    let single: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| m.embed(std::slice::from_ref(t)).unwrap().remove(0))
        .collect();
    for (i, (a, b)) in batched.iter().zip(&single).enumerate() {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "text {i}: max difference {diff}");
    }
    // Order of the output follows the input, not the internal length sort.
    assert!(dot(&batched[0], &single[0]) > 0.9999);
    assert!(dot(&batched[0], &single[1]) < 0.99);
}

#[test]
fn minilm_truncates_long_text_at_256_word_pieces() {
    let Some(m) = model("minilm_truncates_long_text_at_256_word_pieces") else {
        return;
    };
    let words: Vec<String> = (0..4000).map(|i| format!("token{}", i % 97)).collect();
    let long = words.join(" ");
    assert!(long.len() > 20_000);
    let long = long[..20_000].to_string();
    // Same first 600 words, different tail: past 256 word pieces the tail is cut off, so the
    // vectors are the same.
    let other_tail = format!(
        "{} completely different ending about kubernetes",
        words[..600].join(" ")
    );
    let v = m
        .embed(&[long, other_tail, "token1 token2".into()])
        .unwrap();
    assert_eq!(v[0].len(), 384);
    assert!((dot(&v[0], &v[0]).sqrt() - 1.0).abs() < 1e-5);
    let diff = v[0]
        .iter()
        .zip(&v[1])
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        diff < 1e-5,
        "tails past the limit changed the vector: {diff}"
    );
    assert!(dot(&v[0], &v[2]) < 0.999, "a short text differs");
}

#[test]
fn config_builds_the_local_embedder() {
    let Some(dir) = minilm_dir("config_builds_the_local_embedder") else {
        return;
    };
    let cfg: EmbeddingConfig = serde_json::from_value(serde_json::json!({
        "provider": "local", "path": dir, "batch_size": 4
    }))
    .unwrap();
    let e = cfg.build_with_env(&|_| None).unwrap();
    assert_eq!(e.model_id(), "local:all-MiniLM-L6-v2");
    assert_eq!(e.embed(&["hello".into()]).unwrap()[0].len(), 384);
}

#[test]
fn missing_model_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let err = LocalEmbedder::load(dir.path(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("missing model.safetensors, tokenizer.json")
            && !err.contains("missing config"),
        "{err}"
    );
    let err = LocalEmbedder::load(&dir.path().join("nope"), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a directory"), "{err}");
    // All files present but not a model: the file at fault is named.
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::write(dir.path().join(f), "not really").unwrap();
    }
    let err = LocalEmbedder::load(dir.path(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
    let cfg: EmbeddingConfig =
        serde_json::from_value(serde_json::json!({"provider": "local"})).unwrap();
    let err = cfg.build_with_env(&|_| None).err().unwrap().to_string();
    assert!(err.contains("kb.embeddings.path"), "{err}");
}

#[test]
fn hybrid_search_finds_a_paraphrase_that_bm25_misses() {
    let Some(dir) = minilm_dir("hybrid_search_finds_a_paraphrase_that_bm25_misses") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(
        docs.join("guide.md"),
        "# Injection\n\nUse parameterised SQL queries for every database call.\n\n\
         # Sessions\n\nRotate session cookies after login.\n\n\
         # Uploads\n\nScan uploaded files for malware.\n\n\
         # Passwords\n\nStore passwords with a slow salted hash such as Argon2.\n\n\
         # Logging\n\nNever write secrets or personal data to application logs.\n",
    )
    .unwrap();
    let mut kb = KnowledgeBase::new(
        Box::new(SqliteIndex::in_memory().unwrap()),
        Some(Box::new(LocalEmbedder::load(&dir, None).unwrap())),
    );
    let s = tmc_kb::ingest_paths(
        kb.index.as_mut(),
        std::slice::from_ref(&docs),
        kb.embedder.as_deref(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(s.chunks_written, 5);
    assert_eq!(kb.index.stats().unwrap().embedded_chunks, 5);

    // No word of the query (after stemming) is in the Uploads chunk; "database" is in the
    // Injection chunk, so BM25 answers, but with the wrong chunk.
    let query = "check email attachments for viruses before they reach the database";
    let search = |mode| {
        kb.search(
            query,
            &SearchOptions {
                mode: Some(mode),
                ..SearchOptions::default()
            },
        )
        .unwrap()
    };
    let titles = |r: &tmc_kb::search::SearchResult| -> Vec<String> {
        r.hits.iter().map(|h| h.chunk.title.clone()).collect()
    };
    let bm25 = search(SearchMode::Lexical);
    assert_eq!(
        titles(&bm25),
        ["Injection"],
        "BM25 matches only on `database`"
    );
    let dense = search(SearchMode::Dense);
    assert_eq!(titles(&dense)[0], "Uploads", "{:?}", titles(&dense));
    let hybrid = search(SearchMode::Hybrid);
    let pos = titles(&hybrid).iter().position(|t| t == "Uploads");
    assert!(pos.is_some_and(|p| p < 2), "{:?}", titles(&hybrid));
    let up = &hybrid.hits[pos.unwrap()];
    assert!(up.bm25.is_none() && up.cosine.is_some_and(|c| c > 0.2));
}
