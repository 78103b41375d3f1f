//! Diagram import and streamed answers over real loopback HTTP: the fake servers check that the
//! image goes out as the exact bytes in each API's encoding (Bedrock's request also SigV4
//! signed), and that an SSE answer cut at odd places (even inside a line) assembles to the same
//! text as the plain answer.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::aws::{self, verify_sigv4};
use common::{FakeServer, Reply, openai_answer};
use tmc_llm::audit::AuditLog;
use tmc_llm::client::Client;
use tmc_llm::privacy::PrivacyMode;
use tmc_llm::provider::{Anthropic, ChatRequest, Message, OpenAi, Provider, Role, base64_encode};
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
    common::http_client(provider, Duration::from_secs(5), 0)
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
    let server = FakeServer::start(vec![Reply::stream("text/event-stream", bytes, &cuts)]);
    let mut c = client(openai(&server.url));
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
    let sent = server.requests()[0].json();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

/// The Converse body of a vision request: the image block first, in Bedrock's shape, then the
/// instruction; and the request is signed.
fn check_bedrock_vision_request(q: &common::Recorded, image: &[u8]) {
    verify_sigv4(q, aws::SECRET, aws::REGION).unwrap();
    assert!(verify_sigv4(q, "not-the-secret", aws::REGION).is_err());
    let b = q.json();
    let content = b["messages"][0]["content"].as_array().unwrap();
    assert_eq!(content.len(), 2);
    assert_eq!(
        content[0],
        serde_json::json!({"image": {"format": "png", "source": {"bytes": base64_encode(image)}}})
    );
    assert!(
        content[1]["text"].as_str().unwrap().contains("diagram"),
        "{}",
        content[1]
    );
    assert_eq!(b["messages"][0]["role"], "user");
    assert!(
        b["system"][0]["text"].as_str().unwrap().contains("web-app"),
        "the system prompt lists the technologies"
    );
}

#[test]
fn bedrock_vision_sends_signed_image_block_and_returns_inferred_model() {
    let answer = serde_json::json!({
        "output": {"message": {"role": "assistant", "content": [{"text": format!("```json\n{MODEL_JSON}\n```")}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1600, "outputTokens": 180, "totalTokens": 1780}
    });
    let server = FakeServer::start(vec![Reply::json(200, answer)]);
    let c = client(aws::bedrock(&server.url, None));
    let image = ImageInput::from_bytes(png()).unwrap();
    let out = import_image(&c, &Prompts::builtin(), image, &VisionOptions::default()).unwrap();
    check_model(&out);
    assert_eq!(
        (out.usage.input_tokens, out.usage.output_tokens),
        (1600, 180)
    );
    assert_eq!(out.calls, 1);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].path,
        format!("/model/{}/converse", aws::MODEL_IN_PATH)
    );
    assert!(reqs[0].header("x-amz-security-token").is_none());
    check_bedrock_vision_request(&reqs[0], &png());
}

#[test]
fn bedrock_vision_over_converse_stream_gives_the_same_model() {
    // The model's JSON split into pieces that each end mid-token, sent as contentBlockDelta
    // events and cut across TCP writes inside frames.
    let pieces: Vec<String> = MODEL_JSON
        .as_bytes()
        .chunks(37)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let body = aws::converse_stream(&refs, "end_turn", 1600, 180).concat();
    let cuts: Vec<usize> = (1..40).map(|i| i * 53).collect();
    let server = FakeServer::start(vec![Reply::stream(aws::EVENT_STREAM, body, &cuts)]);
    let mut c = client(aws::bedrock(&server.url, Some("tok")));
    c.stream = true;
    let seen = Arc::new(AtomicU64::new(0));
    let s2 = seen.clone();
    c.progress = Some(Arc::new(move |n| {
        s2.fetch_max(n, Ordering::SeqCst);
    }));
    let image = ImageInput::from_bytes(png()).unwrap();
    let out = import_image(&c, &Prompts::builtin(), image, &VisionOptions::default()).unwrap();
    check_model(&out);
    assert_eq!(out.usage.output_tokens, 180);
    assert_eq!(seen.load(Ordering::SeqCst), pieces.len() as u64);
    let q = &server.requests()[0];
    assert_eq!(
        q.path,
        format!("/model/{}/converse-stream", aws::MODEL_IN_PATH)
    );
    assert_eq!(q.header("x-amz-security-token"), Some("tok"));
    check_bedrock_vision_request(q, &png());
}
