//! Bedrock ConverseStream over real loopback HTTP. The fake server checks the SigV4 signature of
//! the `converse-stream` request and answers in AWS's binary event stream, encoded by the test's
//! own encoder (`common::aws`, bitwise CRC32), cut across TCP writes inside prelude, headers and
//! payload. Covered: a normal stream (same answer as plain Converse, progress, usage, audit),
//! in-stream exceptions (retried or not like their HTTP status), a corrupted CRC and a
//! truncated stream.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::aws::{self, EVENT_STREAM, Value, converse_stream, event, exception, frame};
use common::{FakeServer, Reply, baseline, example, run_default};
use tmc_llm::LlmError;
use tmc_llm::audit::AuditLog;
use tmc_llm::client::Client;
use tmc_llm::provider::{ChatRequest, Message, Role};

const ANSWER: &str = "{\"threats\": [], \"note\": \"ünïcode ✓\"}";

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

/// A streaming Bedrock client with `retries` retries; `calls` records every progress report.
fn streaming(url: &str, retries: u32) -> (Client, Arc<Mutex<Vec<u64>>>) {
    let mut c = common::http_client(
        aws::bedrock(url, Some("session-token-1")),
        Duration::from_secs(5),
        retries,
    );
    c.sleep = common::no_sleep;
    c.stream = true;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let rec = calls.clone();
    c.progress = Some(Arc::new(move |n| rec.lock().unwrap().push(n)));
    (c, calls)
}

/// Cut points that land inside every part of a frame: the prelude, the headers, the payload.
fn awkward_cuts(frames: &[Vec<u8>]) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut start = 0;
    for f in frames {
        cuts.extend([start + 3, start + 13, start + f.len() - 6]);
        start += f.len();
    }
    cuts
}

#[test]
fn test_crc_is_the_standard_crc32() {
    // The check value of CRC-32/ISO-HDLC, so the test encoder is right on its own.
    assert_eq!(aws::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(aws::crc32(b""), 0);
}

#[test]
fn converse_stream_is_signed_and_assembles_like_converse() {
    // The same text as a plain Converse answer, for comparison.
    let plain = FakeServer::start(vec![Reply::json(
        200,
        serde_json::json!({
            "output": {"message": {"role": "assistant", "content": [{"text": ANSWER}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 30, "outputTokens": 9, "totalTokens": 39}
        }),
    )]);
    let plain_client =
        common::http_client(aws::bedrock(&plain.url, None), Duration::from_secs(5), 0);
    let plain_answer = plain_client.complete(&request(), 0).unwrap();

    // An empty delta (not counted as progress), non-ASCII text, and a frame with every
    // non-string header type, which the decoder must step over.
    let pieces = ["", "{\"threats\": [], ", "\"note\": \"ü", "nïcode ✓\"}"];
    assert_eq!(pieces.concat(), ANSWER);
    let mut frames = converse_stream(&pieces, "end_turn", 30, 9);
    frames.insert(
        1,
        frame(
            &[
                (":message-type", Value::Str("event")),
                (":event-type", Value::Str("contentBlockStart")),
                ("x-flag", Value::Bool(false)),
                ("x-date", Value::Timestamp(1_700_000_000_000)),
                ("x-id", Value::Uuid([0xAB; 16])),
                ("x-yes", Value::Bool(true)),
            ],
            b"{\"contentBlockIndex\": 0, \"start\": {}}",
        ),
    );
    let cuts = awkward_cuts(&frames);
    let server = FakeServer::start(vec![Reply::stream(EVENT_STREAM, frames.concat(), &cuts)]);
    let dir = tempfile::tempdir().unwrap();
    let (mut c, progress) = streaming(&server.url, 0);
    c.audit = Some(Arc::new(AuditLog::new(dir.path())));
    let r = c.complete(&request(), 2).unwrap();
    assert_eq!(r, plain_answer, "streamed and plain answers differ");
    assert_eq!(r.text, ANSWER);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (30, 9));
    assert_eq!(r.stop_reason.as_deref(), Some("end_turn"));
    // One report per non-empty delta, in order, then 0 when the answer is complete.
    assert_eq!(*progress.lock().unwrap(), [1, 2, 3, 0]);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(q.method, "POST");
    assert_eq!(
        q.path,
        format!("/model/{}/converse-stream", aws::MODEL_IN_PATH)
    );
    assert_eq!(q.header("x-amz-security-token"), Some("session-token-1"));
    aws::verify_sigv4(q, aws::SECRET, aws::REGION).unwrap();
    assert!(aws::verify_sigv4(q, "other-secret", aws::REGION).is_err());
    assert!(aws::verify_sigv4(q, aws::SECRET, "us-east-1").is_err());
    // The body is Converse's, unchanged: the operation is chosen by the path.
    let b = q.json();
    assert_eq!(b, plain.requests()[0].json());
    assert_eq!(b["system"][0]["text"], "You are a test.");
    assert_eq!(b["inferenceConfig"]["maxTokens"], 64);
    assert!(b.get("stream").is_none());
    // The audit entry has the streamed usage.
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(entry["outcome"], "ok");
    assert_eq!(
        (
            entry["input_tokens"].as_u64(),
            entry["output_tokens"].as_u64()
        ),
        (Some(30), Some(9))
    );
    assert_eq!(entry["redactions"], 2);
}

#[test]
fn throttling_in_the_stream_is_retried_and_audited() {
    let throttled = [
        event("messageStart", serde_json::json!({"role": "assistant"})),
        event(
            "contentBlockDelta",
            serde_json::json!({"contentBlockIndex": 0, "delta": {"text": "{\"thr"}}),
        ),
        exception("throttlingException", "Too many tokens, please wait."),
    ]
    .concat();
    let good = converse_stream(&["{\"threats\": ", "[]}"], "end_turn", 12, 4).concat();
    let server = FakeServer::start(vec![
        Reply::stream(EVENT_STREAM, throttled.clone(), &[20, 100]),
        Reply::stream(EVENT_STREAM, good, &[7]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (mut c, _) = streaming(&server.url, 2);
    c.audit = Some(Arc::new(AuditLog::new(dir.path())));
    let r = c.complete(&request(), 0).unwrap();
    // Nothing of the throttled attempt leaks into the answer.
    assert_eq!(r.text, "{\"threats\": []}");
    assert_eq!(r.usage.output_tokens, 4);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one retry");
    for q in &reqs {
        aws::verify_sigv4(q, aws::SECRET, aws::REGION).unwrap();
    }
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let outcomes: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"].to_string())
        .collect();
    assert_eq!(
        outcomes,
        ["\"stream exception throttlingException\"", "\"ok\""]
    );

    // Throttled every time: the retries are bounded and the error says what happened.
    let server = FakeServer::start(vec![Reply::stream(EVENT_STREAM, throttled, &[])]);
    let (c, _) = streaming(&server.url, 2);
    match c.complete(&request(), 0) {
        Err(LlmError::StreamException {
            exception,
            message,
            retryable: true,
            ..
        }) => {
            assert_eq!(exception, "throttlingException");
            assert_eq!(message, "Too many tokens, please wait.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 3, "1 try + 2 retries");
}

#[test]
fn validation_exception_in_the_stream_is_not_retried() {
    let body = exception("validationException", "The model does not support images.");
    let server = FakeServer::start(vec![Reply::stream(EVENT_STREAM, body, &[])]);
    let (c, progress) = streaming(&server.url, 2);
    let err = c.complete(&request(), 0).unwrap_err();
    assert!(
        matches!(
            &err,
            LlmError::StreamException {
                retryable: false,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("validationException") && text.contains("does not support images"),
        "{text}"
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(*progress.lock().unwrap(), [0], "no text arrived");
}

#[test]
fn corrupted_crc_is_a_protocol_error() {
    let frames = converse_stream(&["{\"threats\"", ": []}"], "end_turn", 1, 1);
    // Flip a payload byte of the second delta (frame 2): the message CRC no longer matches.
    let mut bad_payload = frames.clone();
    let n = bad_payload[2].len();
    bad_payload[2][n - 8] ^= 0x01;
    // Flip the prelude CRC of the first frame.
    let mut bad_prelude = frames.clone();
    bad_prelude[0][9] ^= 0x80;
    for (name, frames, pieces_before, expect) in [
        ("payload", bad_payload, 1, "message checksum mismatch"),
        ("prelude", bad_prelude, 0, "prelude checksum mismatch"),
    ] {
        let cuts = awkward_cuts(&frames);
        let server = FakeServer::start(vec![Reply::stream(EVENT_STREAM, frames.concat(), &cuts)]);
        let (c, progress) = streaming(&server.url, 2);
        match c.complete(&request(), 0) {
            Err(LlmError::Protocol { provider, message }) => {
                assert_eq!(provider, "bedrock");
                assert!(message.contains(expect), "{name}: {message}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(server.requests().len(), 1, "{name}: not retried");
        // Progress counted the intact pieces before the damage, nothing after it.
        let seen = progress.lock().unwrap().clone();
        assert_eq!(seen.iter().max().copied(), Some(pieces_before), "{name}");
    }
}

#[test]
fn truncated_stream_is_a_clear_error_and_the_run_keeps_the_baseline() {
    let frames = converse_stream(&["{\"threats\": ", "[]}"], "end_turn", 5, 5);
    let whole = frames.concat();
    // Cut inside the fourth message (contentBlockStop): the decoder sees the missing bytes.
    let inside = frames[..3].concat().len() + 10;
    // Cut exactly between messages, before messageStop: every frame is intact, yet the answer
    // is incomplete.
    let between = frames[..4].concat().len();
    for (cut, expect) in [
        (inside, "ends inside message 3: 10 of"),
        (between, "without messageStop"),
        (5, "ends inside message 0: 5 of 12 bytes"),
    ] {
        let server = FakeServer::start(vec![Reply::stream(
            EVENT_STREAM,
            whole[..cut].to_vec(),
            &[cut / 2],
        )]);
        let (c, _) = streaming(&server.url, 0);
        let err = c.complete(&request(), 0).unwrap_err();
        assert!(matches!(err, LlmError::Protocol { .. }), "{err:?}");
        assert!(err.to_string().contains(expect), "{cut}: {err}");
    }

    // Through the copilot: the cut-off answer costs the model's contribution, not the draft.
    let model = example("iot-telemetry.yaml");
    let base = baseline(&model);
    let server = FakeServer::start(vec![Reply::stream(
        EVENT_STREAM,
        whole[..inside].to_vec(),
        &[],
    )]);
    let (c, _) = streaming(&server.url, 0);
    let out = run_default(&c, &model, &base, None).unwrap();
    assert_eq!(out.draft.threats, base.threats);
    assert_eq!(out.chunks_failed, 1);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("baseline kept") && w.contains("ends inside message")),
        "{:?}",
        out.warnings
    );
}
