//! `tmc draft --provider ...` and `tmc audit verify` as real processes against a loopback fake
//! OpenAI-compatible server (a hand-rolled HTTP/1.1 responder).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmc(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tmc"))
        .args(args)
        .current_dir(repo())
        .env_remove("TMC_CONFIG")
        .env_remove("TMC_LLM_PROVIDER")
        .env_remove("TMC_PRIVACY")
        .env_remove("OPENAI_API_KEY")
        .env("TMC_DATA_DIR", data)
        .output()
        .expect("run tmc")
}

/// `tmc draft examples/webshop-payments.yaml [extra…]` against the fake server at `url`.
fn draft_with_fake(data: &Path, url: &str, extra: &[&str], out: &Path) -> Output {
    let mut args = vec!["draft", "examples/webshop-payments.yaml"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--provider",
        "openai",
        "--model",
        "fake",
        "--base-url",
        url,
        "--privacy",
        "local-only",
        "--out",
        out.to_str().unwrap(),
    ]);
    tmc(data, &args)
}

/// Answers every request with the same OpenAI chat completion.
fn serve(content: String) -> String {
    serve_recording(content).0
}

/// Like [`serve`], and keeps every request body.
fn serve_recording(content: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let answer = serde_json::json!({
                "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 50}
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, bodies)
}

#[test]
fn draft_with_a_provider_merges_and_audits() {
    let data = tempfile::tempdir().unwrap();
    let answer = serde_json::json!({"threats": [{
        "target": "checkout-api", "stride": "T", "title": "Basket price manipulated by the client",
        "description": "The client sends prices.", "severity": "high", "cwe": [602],
        "owasp": ["A04"], "mitigations": ["Recompute prices on the server"], "refines": null, "sources": []
    }]})
    .to_string();
    let url = serve(answer);
    let out = data.path().join("draft.json");
    let o = draft_with_fake(data.path(), &url, &[], &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("copilot: openai fake"), "{err}");
    assert!(err.contains("1 threat(s) added"), "{err}");
    let draft: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(draft["generator"]["mode"], "rules+llm");
    let llm: Vec<&serde_json::Value> = draft["threats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["provenance"]["source"] == "model")
        .collect();
    assert_eq!(llm.len(), 1);
    assert_eq!(llm[0]["provenance"]["model"], "fake");
    assert!(
        llm[0]["provenance"]["prompt_version"]
            .as_str()
            .unwrap()
            .starts_with("tmc-prompts-1+")
    );

    let o = tmc(data.path(), &["audit", "verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = data.path().join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("\"fake\"", "\"other\"", 1)).unwrap();
    let o = tmc(data.path(), &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("TAMPERED"));
}

#[test]
fn local_only_refuses_a_cloud_endpoint() {
    let data = tempfile::tempdir().unwrap();
    let o = tmc(
        data.path(),
        &[
            "draft",
            "examples/webshop-payments.yaml",
            "--provider",
            "openai",
            "--base-url",
            "https://api.openai.com/v1",
            "--privacy",
            "local-only",
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("local-only") && err.contains("refuses"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "no draft written after a refusal");
}

/// `draft --kb --provider`: the prompt carries what past reviews accepted, labelled with its
/// source id, and a model threat that cites it keeps that id in its provenance.
#[test]
fn draft_with_kb_and_provider_sends_retrieved_passages_and_keeps_their_ids() {
    let data = tempfile::tempdir().unwrap();
    let past = data.path().join("past.json");
    let o = tmc(
        data.path(),
        &[
            "draft",
            "examples/webshop-payments.yaml",
            "--format",
            "json",
            "--out",
            past.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut review: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&past).unwrap()).unwrap();
    review["product"]["name"] = "Past webshop".into();
    let threats = review["threats"].as_array_mut().unwrap();
    let pick = threats
        .iter()
        .position(|t| t["targets"][0]["id"] == "orders-db")
        .expect("a rule threat on orders-db");
    let mut accepted = threats.swap_remove(pick);
    accepted["status"] = "accepted".into();
    let accepted_id = accepted["id"].as_str().unwrap().to_string();
    *threats = vec![accepted];
    std::fs::write(&past, review.to_string()).unwrap();
    let o = tmc(data.path(), &["kb", "ingest", past.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let source = format!("past.json#{accepted_id}");
    let answer = serde_json::json!({"threats": [{
        "target": "orders-db", "stride": "I", "title": "Order history exposed through a shared read replica",
        "description": "As in the past review, replicas are readable by analysts.", "severity": "medium",
        "cwe": [], "owasp": [], "mitigations": ["Restrict replica access"], "refines": null,
        "sources": [source]
    }]})
    .to_string();
    let (url, bodies) = serve_recording(answer);
    let out = data.path().join("draft.json");
    let o = draft_with_fake(data.path(), &url, &["--kb"], &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let sent = bodies.lock().unwrap().join("\n");
    assert!(
        sent.contains(&source),
        "the prompt names the passage's source id"
    );
    assert!(
        sent.contains("Past threat model \\\"Past webshop\\\", review status accepted"),
        "{sent}"
    );

    let draft: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(draft["generator"]["mode"], "rules+kb+llm");
    let cited: Vec<&serde_json::Value> = draft["threats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["provenance"]["source"] == "model")
        .collect();
    assert_eq!(cited.len(), 1, "{err}");
    assert_eq!(
        cited[0]["provenance"]["retrieved"],
        serde_json::json!([source])
    );
}

/// `eval --mode rules+kb+llm`: the prompt carries passages from the other benchmark systems,
/// never from the system being scored (leave-one-system-out).
#[test]
fn eval_rules_kb_llm_prompts_with_other_systems_only() {
    let bench = repo().join("../shared/bench");
    if !bench.join("references.jsonl").is_file() {
        eprintln!("SKIPPED: ../shared/bench not found");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (url, bodies) = serve_recording(r#"{"threats": []}"#.to_string());
    let o = tmc(
        data.path(),
        &[
            "eval",
            "--bench",
            bench.to_str().unwrap(),
            "--system",
            "husky",
            "--mode",
            "rules+kb+llm",
            "--provider",
            "openai",
            "--model",
            "fake",
            "--base-url",
            &url,
            "--privacy",
            "local-only",
            "--format",
            "json",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("eval summary (mode rules+kb+llm, with a language model)"),
        "{err}"
    );
    let sent = bodies.lock().unwrap().clone();
    assert!(!sent.is_empty());
    let all = sent.join("\n");
    assert!(
        all.contains("Past threat model"),
        "retrieved passages are sent"
    );
    assert!(
        !all.contains("husky-ai-threat-model.json#"),
        "the scored system's own threats never reach the prompt"
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["systems"].as_array().unwrap().len(), 1, "{report}");
}
