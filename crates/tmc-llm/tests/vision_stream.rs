//! Diagram import and streamed answers over real loopback HTTP: the fake servers check that the
//! image goes out as the exact bytes in each API's encoding, and that an SSE answer cut at odd
//! places (even inside a line) assembles to the same text as the plain answer.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{FakeServer, Reply, openai_answer};
use tmc_llm::audit::AuditLog;
use tmc_llm::client::{Client, RetryPolicy};
use tmc_llm::privacy::PrivacyMode;
use tmc_llm::provider::{Anthropic, ChatRequest, Message, OpenAi, Provider, Role, base64_encode};
use tmc_llm::transport::UreqTransport;
use tmc_llm::vision::{INFERRED_NOTE, INFERRED_TAG, VisionOptions, import_image};
use tmc_llm::{ImageInput, LlmError, Prompts};

/// A PNG signature plus bytes that exercise every base64 padding case.
fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0u8..=255).chain([0xFF, 0x00]));
    b
}

const MODEL_JSON: &str = r#"{"version": 1, "product": {"name": "Shop"},
 "components": [
  {"id": "Customer", "name": "Customer", "kind": "external-entity", "technology": "user"},
  {"id": "web", "name": "Web shop", "kind": "process", "technology": "web-app"},
  {"id": "db", "name": "Orders DB", "kind": "data-store", "technology": "database"}],
 "flows": [
  {"id": "f1", "from": "Customer", "to": "web", "protocol": "https"},
  {"id": "f2", "from": "web", "to": "db", "protocol": "sql"}]}"#;

fn client(provider: Box<dyn Provider>) -> Client {
    let mut c = Client::new(
        provider,
        Box::new(UreqTransport::new(Duration::from_secs(5), false)),
    );
    c.retry = RetryPolicy {
        max_retries: 0,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    c
}

fn openai(url: &str) -> Box<dyn Provider> {
    Box::new(OpenAi::new(format!("{url}/v1"), "llava", None, true))
}

fn check_model(out: &tmc_llm::vision::VisionOutcome) {
    let m = &out.model;
    assert_eq!(m.components.len(), 3);
    assert!(
        m.components
            .iter()
            .all(|c| c.tags.iter().any(|t| t == INFERRED_TAG))
    );
    // "Customer" is a valid id and stays; every element carries the confirm note.
    assert_eq!(m.flows[0].from, "Customer");
    assert_eq!(out.notes.len(), 5);
    assert!(out.notes.iter().all(|(_, n)| n == INFERRED_NOTE));
    let bytes = serde_json::to_vec(m).unwrap();
    tmc_dsl::load_checked(&bytes, "t").unwrap();
}

#[test]
fn openai_vision_sends_data_url_and_returns_inferred_model() {
    let server = FakeServer::start(vec![Reply::json(
        200,
        openai_answer(&format!("```json\n{MODEL_JSON}\n```")),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let mut c = client(openai(&server.url));
    c.privacy = PrivacyMode::LocalOnly;
    c.audit = Some(Arc::new(AuditLog::new(dir.path())));
    let image = ImageInput::from_bytes(png()).unwrap();
    let out = import_image(&c, &Prompts::builtin(), image, &VisionOptions::default()).unwrap();
    check_model(&out);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let b = reqs[0].json();
    let parts = b["messages"][1]["content"].as_array().unwrap();
    assert_eq!(parts[0]["type"], "text");
    assert_eq!(parts[1]["type"], "image_url");
    let url = parts[1]["image_url"]["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("data:image/png;base64,{}", base64_encode(&png()))
    );
    assert!(url.ends_with("/wA="), "padding of the last two bytes");
    assert!(b.get("response_format").is_none());
    // The audit entry records the image's hash and size.
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(png())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(entry["image_sha256"], hash);
    assert_eq!(entry["image_bytes"], png().len());
    assert!(
        AuditLog::new(dir.path())
            .verify()
            .unwrap()
            .problems
            .is_empty()
    );
}

#[test]
fn anthropic_vision_sends_base64_image_block() {
    let answer = serde_json::json!({
        "content": [{"type": "text", "text": MODEL_JSON}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1500, "output_tokens": 200}
    });
    let server = FakeServer::start(vec![Reply::json(200, answer)]);
    let c = client(Box::new(Anthropic {
        base_url: server.url.clone(),
        model: "claude-test".into(),
        api_key: "k".into(),
    }));
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5];
    let image = ImageInput::from_bytes(jpeg.clone()).unwrap();
    let out = import_image(&c, &Prompts::builtin(), image, &VisionOptions::default()).unwrap();
    check_model(&out);
    assert_eq!(out.usage.input_tokens, 1500);
    let b = server.requests()[0].json();
    let blocks = b["messages"][0]["content"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "image");
    assert_eq!(blocks[0]["source"]["type"], "base64");
    assert_eq!(blocks[0]["source"]["media_type"], "image/jpeg");
    assert_eq!(blocks[0]["source"]["data"], base64_encode(&jpeg));
    assert_eq!(blocks[1]["type"], "text");
}

#[test]
fn broken_answer_is_a_clear_error_after_one_repair() {
    let server = FakeServer::start(vec![Reply::json(
        200,
        openai_answer("I see a web shop and a database."),
    )]);
    let c = client(openai(&server.url));
    let image = ImageInput::from_bytes(png()).unwrap();
    let err = import_image(&c, &Prompts::builtin(), image, &VisionOptions::default()).unwrap_err();
    assert!(matches!(err, LlmError::Unusable(_)), "{err}");
    assert!(err.to_string().contains("no JSON object"), "{err}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one repair round");
    let repair = reqs[1].json();
    assert_eq!(repair["messages"][2]["role"], "assistant");
    // A non-vision model's 400 says so.
    let server = FakeServer::start(vec![Reply::raw(
        400,
        "{\"error\": \"image input not supported\"}",
    )]);
    let c = client(openai(&server.url));
    let image = ImageInput::from_bytes(png()).unwrap();
    let err = import_image(&c, &Prompts::builtin(), image, &VisionOptions::default()).unwrap_err();
    assert!(err.to_string().contains("may not accept images"), "{err}");
}

#[test]
fn local_only_refuses_remote_vision_before_connecting() {
    let mut c = client(Box::new(OpenAi::new(
        "https://api.openai.com/v1",
        "gpt-4o",
        None,
        true,
    )));
    c.privacy = PrivacyMode::LocalOnly;
    let image = ImageInput::from_bytes(png()).unwrap();
    let err = import_image(&c, &Prompts::builtin(), image, &VisionOptions::default()).unwrap_err();
    assert!(matches!(err, LlmError::PrivacyRefused { .. }), "{err}");
    assert!(ImageInput::from_bytes(b"GIF89a....".to_vec()).is_err());
    assert!(ImageInput::from_bytes(vec![0x89; tmc_llm::provider::MAX_IMAGE_BYTES + 1]).is_err());
}

/// Serves one SSE answer written in the given pieces, pausing between writes so they arrive as
/// separate TCP segments; records the request body.
fn sse_server(pieces: Vec<Vec<u8>>) -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        tx.send(body).unwrap();
        stream
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
            )
            .unwrap();
        for p in pieces {
            stream.write_all(&p).unwrap();
            stream.flush().unwrap();
            std::thread::sleep(Duration::from_millis(15));
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
    });
    (url, rx)
}

fn text_request() -> ChatRequest {
    ChatRequest {
        system: "s".into(),
        messages: vec![Message {
            role: Role::User,
            content: "u".into(),
        }],
        max_tokens: 64,
        temperature: 0.0,
        json_schema: None,
        images: Vec::new(),
        stream: false,
    }
}

#[test]
fn openai_stream_assembles_the_same_text() {
    let full = "{\"threats\": [], \"note\": \"ünïcode\"}";
    // The plain answer, for comparison.
    let plain = FakeServer::start(vec![Reply::json(200, openai_answer(full))]);
    let plain_text = client(openai(&plain.url))
        .complete(&text_request(), 0)
        .unwrap()
        .text;
    let chunk = |t: &str| {
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]})
        )
    };
    let (p1, p2, p3) = ("{\"threats\": [], ", "\"note\": \"ü", "nïcode\"}");
    assert_eq!(format!("{p1}{p2}{p3}"), full);
    let mut stream = format!("{}{}{}{}", chunk(""), chunk(p1), chunk(p2), chunk(p3));
    stream.push_str(&format!(
        "data: {}\n\n",
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    ));
    stream.push_str(&format!(
        "data: {}\n\ndata: [DONE]\n\n",
        serde_json::json!({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7}})
    ));
    // Split mid-line (and possibly mid-character) across TCP writes.
    let bytes = stream.into_bytes();
    let cuts = [10, 57, 58, bytes.len() / 2, bytes.len() - 5];
    let mut pieces = Vec::new();
    let mut last = 0;
    for c in cuts {
        pieces.push(bytes[last..c].to_vec());
        last = c;
    }
    pieces.push(bytes[last..].to_vec());
    let (url, rx) = sse_server(pieces);
    let mut c = client(openai(&url));
    c.stream = true;
    let seen = Arc::new(AtomicU64::new(0));
    let s2 = seen.clone();
    c.progress = Some(Arc::new(move |n| {
        s2.fetch_max(n, Ordering::SeqCst);
    }));
    let r = c.complete(&text_request(), 0).unwrap();
    assert_eq!(r.text, plain_text);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (11, 7));
    assert_eq!(r.stop_reason.as_deref(), Some("stop"));
    assert_eq!(seen.load(Ordering::SeqCst), 3, "three non-empty pieces");
    let sent: serde_json::Value = serde_json::from_slice(&rx.recv().unwrap()).unwrap();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}
