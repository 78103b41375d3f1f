//! Real HTTP on loopback: a hand-rolled HTTP/1.1 server checks each API's wire format (Bedrock's
//! SigV4 signature is recomputed independently, in `common::aws`) and replays recorded answers,
//! including malformed, truncated, rate-limited and slow ones.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::aws::{self, verify_sigv4};
use common::{FakeServer, Reply, baseline, example, openai_answer, run_default};
use tmc_llm::LlmError;
use tmc_llm::audit::AuditLog;
use tmc_llm::client::Client;
use tmc_llm::error::TransportError;
use tmc_llm::privacy::PrivacyMode;
use tmc_llm::provider::{Anthropic, ChatRequest, Message, OpenAi, Provider, Role};
use tmc_llm::transport::{HttpRequest, HttpResponse, Transport};

fn request() -> ChatRequest {
    ChatRequest {
        system: "You are a test.".into(),
        messages: vec![Message {
            role: Role::User,
            content: "Say {\"threats\": []}".into(),
        }],
        max_tokens: 64,
        temperature: 0.0,
        json_schema: Some(tmc_llm::output::answer_schema()),
        images: Vec::new(),
        stream: false,
    }
}

fn client(provider: Box<dyn Provider>, timeout: Duration) -> Client {
    common::http_client(provider, timeout, 2)
}

fn openai(url: &str) -> Box<dyn Provider> {
    Box::new(OpenAi::new(
        format!("{url}/v1"),
        "smollm2",
        Some("sk-test-123".into()),
        true,
    ))
}

#[test]
fn openai_wire_format_and_audit() {
    let server = FakeServer::start(vec![Reply::json(200, openai_answer("{\"threats\": []}"))]);
    let dir = tempfile::tempdir().unwrap();
    let mut c = client(openai(&server.url), Duration::from_secs(5));
    c.audit = Some(Arc::new(AuditLog::new(dir.path())));
    c.privacy = PrivacyMode::LocalOnly;
    let r = c.complete(&request(), 3).unwrap();
    assert_eq!(r.text, "{\"threats\": []}");
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (100, 20));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(
        (q.method.as_str(), q.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(q.header("authorization"), Some("Bearer sk-test-123"));
    assert_eq!(q.header("content-type"), Some("application/json"));
    let b = q.json();
    assert_eq!(b["model"], "smollm2");
    assert_eq!(b["messages"][0]["role"], "system");
    assert_eq!(b["messages"][1]["role"], "user");
    assert_eq!(b["max_tokens"], 64);
    assert_eq!(b["response_format"]["type"], "json_schema");
    assert_eq!(b["response_format"]["json_schema"]["strict"], true);
    assert!(b["response_format"]["json_schema"]["schema"]["properties"]["threats"].is_object());
    let log = AuditLog::new(dir.path());
    let v = log.verify().unwrap();
    assert_eq!((v.entries, v.problems.len()), (1, 0));
    let line = std::fs::read_to_string(log.path()).unwrap();
    assert!(line.contains("\"redactions\":3") && line.contains("\"outcome\":\"ok\""));
    assert!(!line.contains("Say"), "the prompt itself is not logged");
}

#[test]
fn anthropic_wire_format() {
    let answer = serde_json::json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": "{\"threats\": []}"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 11, "output_tokens": 7}
    });
    let server = FakeServer::start(vec![Reply::json(200, answer)]);
    let c = client(
        Box::new(Anthropic {
            base_url: server.url.clone(),
            model: "claude-x".into(),
            api_key: "sk-ant-test".into(),
        }),
        Duration::from_secs(5),
    );
    let mut req = request();
    req.messages.push(Message {
        role: Role::Assistant,
        content: "bad".into(),
    });
    req.messages.push(Message {
        role: Role::User,
        content: "fix".into(),
    });
    let r = c.complete(&req, 0).unwrap();
    assert_eq!(r.text, "{\"threats\": []}");
    assert_eq!(r.usage.output_tokens, 7);
    assert_eq!(r.stop_reason.as_deref(), Some("end_turn"));
    let q = &server.requests()[0];
    assert_eq!(q.path, "/v1/messages");
    assert_eq!(q.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(q.header("anthropic-version"), Some("2023-06-01"));
    assert!(q.header("authorization").is_none());
    let b = q.json();
    assert_eq!(b["system"], "You are a test.");
    assert_eq!(b["max_tokens"], 64);
    let roles: Vec<&str> = b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["user", "assistant", "user"],
        "no system role in messages"
    );
}

#[test]
fn bedrock_converse_is_sigv4_signed() {
    let answer = serde_json::json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "{\"threats\": []}"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 30, "outputTokens": 5, "totalTokens": 35},
        "metrics": {"latencyMs": 10}
    });
    let server = FakeServer::start(vec![Reply::json(200, answer)]);
    let c = client(
        aws::bedrock(&server.url, Some("session-token-1")),
        Duration::from_secs(5),
    );
    let r = c.complete(&request(), 0).unwrap();
    assert_eq!(r.text, "{\"threats\": []}");
    assert_eq!(r.usage.input_tokens, 30);
    let q = &server.requests()[0];
    assert_eq!(q.path, format!("/model/{}/converse", aws::MODEL_IN_PATH));
    assert_eq!(q.header("x-amz-security-token"), Some("session-token-1"));
    verify_sigv4(q, aws::SECRET, aws::REGION).unwrap();
    // A wrong secret must not verify (the check is real).
    assert!(verify_sigv4(q, "other-secret", aws::REGION).is_err());
    let b = q.json();
    assert_eq!(b["system"][0]["text"], "You are a test.");
    assert_eq!(
        b["messages"][0]["content"][0]["text"],
        "Say {\"threats\": []}"
    );
    assert_eq!(b["inferenceConfig"]["maxTokens"], 64);
    for (_, v) in &q.headers {
        assert!(!v.contains("wJalrXUtnFEMI"), "secret sent in a header");
    }
}

#[test]
fn bedrock_reads_the_shared_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(
        &path,
        "[default]\naws_access_key_id=A\naws_secret_access_key=B\n[work]\naws_access_key_id=WORKID\naws_secret_access_key=WORKSECRET\n",
    )
    .unwrap();
    let p = path.display().to_string();
    let env = |k: &str| match k {
        "AWS_SHARED_CREDENTIALS_FILE" => Some(p.clone()),
        "AWS_PROFILE" => Some("work".into()),
        _ => None,
    };
    let c = tmc_llm::provider::AwsCredentials::resolve(&env, None).unwrap();
    assert_eq!(c.access_key_id, "WORKID");
    assert!(!format!("{c:?}").contains("WORKSECRET"));
}

#[test]
fn retries_429_honouring_retry_after_then_succeeds() {
    let server = FakeServer::start(vec![
        Reply::json(429, serde_json::json!({"error": "slow down"})).with_header("retry-after", "1"),
        Reply::raw(503, "busy"),
        Reply::json(200, openai_answer("{\"threats\": []}")),
    ]);
    let c = client(openai(&server.url), Duration::from_secs(5));
    let start = Instant::now();
    let r = c.complete(&request(), 0).unwrap();
    assert_eq!(r.text, "{\"threats\": []}");
    assert_eq!(server.requests().len(), 3);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "retry-after ignored"
    );
}

#[test]
fn client_errors_are_not_retried_and_retries_are_bounded() {
    let server = FakeServer::start(vec![Reply::json(400, serde_json::json!({"error": "bad"}))]);
    let c = client(openai(&server.url), Duration::from_secs(5));
    match c.complete(&request(), 0) {
        Err(LlmError::Http { status: 400, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
    let server = FakeServer::start(vec![Reply::raw(500, "down")]);
    let c = client(openai(&server.url), Duration::from_secs(5));
    assert!(matches!(
        c.complete(&request(), 0),
        Err(LlmError::Http { status: 500, .. })
    ));
    assert_eq!(server.requests().len(), 3, "1 try + 2 retries");
}

#[test]
fn slow_server_times_out() {
    let server = FakeServer::start(vec![
        Reply::json(200, openai_answer("{}")).slow(Duration::from_secs(3)),
    ]);
    let mut c = client(openai(&server.url), Duration::from_millis(400));
    c.retry.max_retries = 1;
    let start = Instant::now();
    match c.complete(&request(), 0) {
        Err(LlmError::Transport(TransportError::Timeout(_))) => {}
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() < Duration::from_millis(2_500));
}

#[test]
fn malformed_and_truncated_responses_end_with_the_baseline() {
    let model = example("iot-telemetry.yaml");
    let base = baseline(&model);
    let cases = vec![
        Reply::raw(200, "this is not json"),
        Reply::json(200, serde_json::json!({"choices": []})),
        Reply::json(200, openai_answer("{\"threats\": [")).truncated(),
        Reply::json(200, openai_answer("")),
        Reply::json(200, openai_answer("{\"threats\": [{\"target\": \"nope\"")),
    ];
    for reply in cases {
        let server = FakeServer::start(vec![reply.clone()]);
        let c = client(openai(&server.url), Duration::from_secs(5));
        let out = run_default(&c, &model, &base, None).unwrap();
        assert_eq!(out.draft.threats, base.threats, "{reply:?}");
        assert_eq!(out.chunks_failed, 1, "{reply:?}");
        assert!(
            out.warnings.iter().any(|w| w.contains("baseline kept")),
            "{:?}",
            out.warnings
        );
    }
}

struct Counting(AtomicUsize);
impl Transport for Counting {
    fn send(&self, _: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(TransportError::Other("must not be called".into()))
    }
}

#[test]
fn local_only_refuses_before_connecting_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "https://api.openai.com/v1",
        "http://10.0.0.7:8000/v1",
        "http://127.0.0.1.nip.io/v1",
    ] {
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        struct Shared(Arc<Counting>);
        impl Transport for Shared {
            fn send(&self, r: &HttpRequest) -> Result<HttpResponse, TransportError> {
                self.0.send(r)
            }
        }
        let mut c = Client::new(
            Box::new(OpenAi::new(url, "m", None, false)),
            Box::new(Shared(counting.clone())),
        );
        c.privacy = PrivacyMode::LocalOnly;
        c.audit = Some(Arc::new(AuditLog::new(dir.path())));
        let model = example("iot-telemetry.yaml");
        let base = baseline(&model);
        let err = run_default(&c, &model, &base, None).err().unwrap();
        assert!(matches!(err, LlmError::PrivacyRefused { .. }), "{err}");
        assert!(c.complete(&request(), 0).is_err());
        assert_eq!(counting.0.load(Ordering::SeqCst), 0, "{url}: connected");
    }
    let v = AuditLog::new(dir.path()).verify().unwrap();
    assert_eq!((v.entries, v.problems.len()), (3, 0));
}

#[test]
fn openai_falls_back_when_response_format_is_rejected() {
    let rejected = Reply::json(
        500,
        serde_json::json!({"error": {"message": "body.response_format.type: Input should be 'text' or 'json_object'"}}),
    );
    let server = FakeServer::start(vec![
        rejected.clone(),
        Reply::json(200, openai_answer("{\"threats\": []}")),
    ]);
    let c = client(openai(&server.url), Duration::from_secs(5));
    c.complete(&request(), 0).unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].json()["response_format"]["type"], "json_schema");
    assert_eq!(reqs[1].json()["response_format"]["type"], "json_object");
    assert!(reqs[1].json()["response_format"]["schema"].is_object());
}
