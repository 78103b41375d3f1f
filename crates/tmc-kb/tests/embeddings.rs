#![allow(clippy::unwrap_used)]
//! The OpenAI-compatible embeddings client against a real HTTP server on 127.0.0.1 that
//! checks the wire format (method, path, headers, JSON body) and answers like the API does,
//! including out-of-order `index` fields. Nothing of ours is mocked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tmc_kb::embed::{Embedder, OpenAiEmbedder};
use tmc_kb::index::SqliteIndex;
use tmc_kb::ingest::{NoProgress, Outcome};
use tmc_kb::search::{KnowledgeBase, SearchMode, SearchOptions};

const DIM: usize = 32;

/// A deterministic bag-of-words vector: texts sharing words get a high cosine.
fn toy_vector(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let h = w
            .to_lowercase()
            .bytes()
            .fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
        v[(h as usize) % DIM] += 1.0;
    }
    v
}

struct Server {
    url: String,
    /// Every request body seen, for assertions.
    bodies: Arc<Mutex<Vec<Value>>>,
}

/// Serves `/v1/embeddings`; answers 500 when `fail` is set. Violations of the wire format are
/// answered with 400 and the reason, which the client reports, so the test sees them.
fn start(fail: bool) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            handle(stream, fail, &seen);
        }
    });
    Server { url, bodies }
}

fn respond(mut stream: TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn handle(stream: TcpStream, fail: bool, seen: &Mutex<Vec<Value>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        let (k, v) = line.trim_end().split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    let header = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    let bad = |why: &str| json!({"error": {"message": why}}).to_string();
    if request_line != "POST /v1/embeddings HTTP/1.1\r\n" {
        return respond(
            stream,
            "400 Bad Request",
            &bad(&format!("request line {request_line:?}")),
        );
    }
    if header("authorization").as_deref() != Some("Bearer sk-test") {
        return respond(stream, "401 Unauthorized", &bad("missing bearer token"));
    }
    if !header("content-type").is_some_and(|v| v.starts_with("application/json")) {
        return respond(stream, "400 Bad Request", &bad("content-type"));
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return respond(stream, "400 Bad Request", &bad("body is not JSON"));
    };
    seen.lock().unwrap().push(v.clone());
    if fail {
        return respond(
            stream,
            "500 Internal Server Error",
            &bad("model overloaded"),
        );
    }
    let (Some(model), Some(input)) = (v["model"].as_str(), v["input"].as_array()) else {
        return respond(
            stream,
            "400 Bad Request",
            &bad("model and input are required"),
        );
    };
    if v["encoding_format"] != "float" || input.iter().any(|i| !i.is_string()) {
        return respond(stream, "400 Bad Request", &bad("encoding_format / input"));
    }
    // Reverse order: clients must place vectors by `index`, not by position.
    let data: Vec<Value> = input
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": toy_vector(t.as_str().unwrap())}))
        .collect();
    let reply = json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": 1, "total_tokens": 1}});
    respond(stream, "200 OK", &reply.to_string());
}

#[test]
fn client_speaks_the_wire_format_and_orders_by_index() {
    let server = start(false);
    let mut e = OpenAiEmbedder::new(&server.url, "toy-embed", Some("sk-test".into()));
    e.batch_size = 2;
    let texts: Vec<String> = ["sql injection", "cross site scripting", "denial of service"]
        .map(String::from)
        .to_vec();
    let vectors = e.embed(&texts).unwrap();
    assert_eq!(vectors.len(), 3);
    for (t, v) in texts.iter().zip(&vectors) {
        assert_eq!(v, &toy_vector(t), "vector of {t:?} in its place");
    }
    let bodies = server.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2, "batches of 2: two requests");
    assert_eq!(bodies[0]["model"], "toy-embed");
    assert_eq!(
        bodies[0]["input"],
        json!(["sql injection", "cross site scripting"])
    );
    assert_eq!(e.model_id(), "openai:toy-embed");
}

#[test]
fn wrong_key_and_server_errors_are_reported() {
    let server = start(false);
    let e = OpenAiEmbedder::new(&server.url, "toy-embed", Some("wrong".into()));
    let err = e.embed(&["x".to_string()]).unwrap_err().to_string();
    assert!(
        err.contains("401") && err.contains("missing bearer token"),
        "{err}"
    );

    let failing = start(true);
    let e = OpenAiEmbedder::new(&failing.url, "toy-embed", Some("sk-test".into()));
    let err = e.embed(&["x".to_string()]).unwrap_err().to_string();
    assert!(err.contains("500"), "{err}");

    // Nothing listening: a connection error, not a panic.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    assert!(
        OpenAiEmbedder::new(&url, "m", None)
            .embed(&["x".into()])
            .is_err()
    );
}

#[test]
fn hybrid_search_fuses_bm25_and_dense() {
    let server = start(false);
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(
        docs.join("guide.md"),
        "# Injection\n\nUse parameterised SQL queries for every database call.\n\n# Sessions\n\nRotate session cookies after login.\n\n# Uploads\n\nScan uploaded files for malware.\n",
    )
    .unwrap();
    let embedder = OpenAiEmbedder::new(&server.url, "toy-embed", Some("sk-test".into()));
    let mut kb = KnowledgeBase::new(
        Box::new(SqliteIndex::open(&dir.path().join("i.sqlite3")).unwrap()),
        Some(Box::new(embedder)),
    );
    let s = tmc_kb::ingest_paths(
        kb.index.as_mut(),
        std::slice::from_ref(&docs),
        kb.embedder.as_deref(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(s.embed_model.as_deref(), Some("openai:toy-embed"));
    assert_eq!(s.chunks_written, 3);
    assert_eq!(kb.index.stats().unwrap().embedded_chunks, 3);

    let r = kb
        .search("session cookies", &SearchOptions::default())
        .unwrap();
    assert_eq!(r.mode, SearchMode::Hybrid);
    let top = &r.hits[0];
    assert_eq!(top.chunk.title, "Sessions");
    assert!(top.bm25.is_some() && top.cosine.is_some_and(|c| c > 0.5));
    // Dense alone still ranks by meaning (here: shared words) without BM25 scores.
    let dense = kb
        .search(
            "parameterised queries database",
            &SearchOptions {
                mode: Some(SearchMode::Dense),
                ..SearchOptions::default()
            },
        )
        .unwrap();
    assert_eq!(dense.hits[0].chunk.title, "Injection");
    assert!(dense.hits[0].bm25.is_none());

    // A failing embedder skips the file with the reason instead of writing vectorless chunks.
    let failing = start(true);
    let bad = OpenAiEmbedder::new(&failing.url, "toy-embed-2", Some("sk-test".into()));
    let s = tmc_kb::ingest_paths(kb.index.as_mut(), &[docs], Some(&bad), &NoProgress).unwrap();
    assert_eq!(s.count(Outcome::Skipped), 1);
    assert!(s.files[0].reason.as_deref().unwrap_or("").contains("500"));
    assert_eq!(
        kb.index.stats().unwrap().embedded_chunks,
        3,
        "old state kept"
    );
}

/// Without the `local-embeddings` feature the configuration still parses, and building says
/// why it cannot work instead of failing obscurely.
#[cfg(not(feature = "local-embeddings"))]
#[test]
fn local_provider_without_the_feature_says_so() {
    let cfg: tmc_kb::EmbeddingConfig = serde_json::from_value(json!({
        "provider": "local", "path": "/models/all-MiniLM-L6-v2"
    }))
    .unwrap();
    let err = cfg.build_with_env(&|_| None).err().unwrap().to_string();
    assert!(
        err.contains("built without the `local-embeddings` feature"),
        "{err}"
    );
}
