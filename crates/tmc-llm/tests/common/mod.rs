//! A tiny HTTP/1.1 server on 127.0.0.1 for wire-format tests: it records every request and
//! answers from a script (status, headers, body, delay, a cut-off body, or a body streamed in
//! pieces); plus the client and copilot-run set-ups the test files share.
#![allow(dead_code, clippy::unwrap_used)]

pub mod aws;

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tmc_llm::client::{Client, RetryPolicy};
use tmc_llm::provider::Provider;
use tmc_llm::transport::UreqTransport;
use tmc_llm::{CopilotInput, CopilotOptions, LlmError, Outcome, Prompts, RetrievedChunk};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// Announce a longer Content-Length than sent, then close: a truncated response.
    pub truncate: bool,
    /// Streamed: no Content-Length, the body written in pieces cut at these offsets with a
    /// pause between writes (so they arrive as separate reads), then the connection closed.
    pub cuts: Option<Vec<usize>>,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::raw(status, &body.to_string()).with_header("content-type", "application/json")
    }
    pub fn raw(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
            truncate: false,
            cuts: None,
        }
    }
    /// A 200 streamed in pieces (SSE, AWS event stream); offsets past the end are ignored.
    pub fn stream(content_type: &str, body: Vec<u8>, cuts: &[usize]) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            delay: Duration::ZERO,
            truncate: false,
            cuts: Some(cuts.to_vec()),
        }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn slow(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
    pub fn truncated(mut self) -> Reply {
        self.truncate = true;
        self
    }
}

pub struct FakeServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    /// Serves the replies in order (the last one repeats).
    pub fn start(replies: Vec<Reply>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rec = requests.clone();
        let mut queue: VecDeque<Reply> = replies.into();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.is_empty() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_string();
                let path = parts.next().unwrap_or_default().to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let len = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                rec.lock().unwrap().push(Recorded {
                    method,
                    path,
                    headers,
                    body,
                });
                let reply = if queue.len() > 1 {
                    queue.pop_front().unwrap()
                } else {
                    queue.front().cloned().unwrap()
                };
                std::thread::sleep(reply.delay);
                let mut out = format!("HTTP/1.1 {} X\r\nconnection: close\r\n", reply.status);
                if reply.cuts.is_none() {
                    let len = reply.body.len() + if reply.truncate { 500 } else { 0 };
                    out.push_str(&format!("content-length: {len}\r\n"));
                }
                for (k, v) in &reply.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = stream.write_all(out.as_bytes());
                let mut last = 0;
                for cut in reply
                    .cuts
                    .iter()
                    .flatten()
                    .copied()
                    .chain([reply.body.len()])
                {
                    if cut <= last || cut > reply.body.len() {
                        continue;
                    }
                    let _ = stream.write_all(&reply.body[last..cut]);
                    let _ = stream.flush();
                    last = cut;
                    if cut < reply.body.len() {
                        std::thread::sleep(Duration::from_millis(15));
                    }
                }
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        FakeServer { url, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// An example system from `examples/`.
pub fn example(name: &str) -> tmc_model::SystemModel {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    tmc_dsl::parse_model(&bytes, &path).unwrap().model
}

pub fn baseline(model: &tmc_model::SystemModel) -> tmc_model::Draft {
    let rules = tmc_engine::RuleSet::builtin().unwrap();
    tmc_engine::draft(model, &rules, &tmc_engine::DraftOptions::default())
}

/// An answer in OpenAI's envelope.
pub fn openai_answer(text: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "x", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    })
}

pub fn no_sleep(_: Duration) {}

/// A client over real HTTP with fast retries, as the wire-format tests use it.
pub fn http_client(provider: Box<dyn Provider>, timeout: Duration, max_retries: u32) -> Client {
    let mut c = Client::new(provider, Box::new(UreqTransport::new(timeout, false)));
    c.retry = RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    };
    c
}

/// `tmc_llm::run` as most tests call it: built-in prompts, baseline shown, nothing retrieved,
/// default options.
pub fn run_default(
    client: &Client,
    model: &tmc_model::SystemModel,
    baseline: &tmc_model::Draft,
    cwe_ids: Option<&HashSet<u32>>,
) -> Result<Outcome, LlmError> {
    run_with(
        client,
        model,
        baseline,
        &[],
        cwe_ids,
        &CopilotOptions::default(),
    )
}

/// `tmc_llm::run` with built-in prompts and the baseline shown; the rest is the caller's.
pub fn run_with(
    client: &Client,
    model: &tmc_model::SystemModel,
    baseline: &tmc_model::Draft,
    retrieved: &[RetrievedChunk],
    cwe_ids: Option<&HashSet<u32>>,
    opts: &CopilotOptions,
) -> Result<Outcome, LlmError> {
    tmc_llm::run(
        client,
        &Prompts::builtin(),
        &CopilotInput {
            model,
            baseline,
            show_baseline: true,
            retrieved,
            cwe_ids,
        },
        opts,
    )
}
