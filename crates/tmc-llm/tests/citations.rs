//! Citations that survive the round trip: retrieved passages are shown as `K1`, `K2`, … and a
//! model threat citing a short id keeps the passage's full source id in provenance, however
//! long; a passage that was not shown cannot be cited.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{FakeServer, Reply, baseline, example, http_client, openai_answer, run_with};
use tmc_llm::provider::OpenAi;
use tmc_llm::{CopilotOptions, RetrievedChunk};
use tmc_model::Provenance;

fn threat(target: &str, title: &str, sources: &[&str]) -> serde_json::Value {
    serde_json::json!({"target": target, "stride": "T", "title": title,
        "description": "An attacker could do this.", "severity": "high", "cwe": [],
        "owasp": [], "mitigations": [], "refines": null, "sources": sources})
}

fn retrieved_of(t: &tmc_model::Threat) -> Vec<String> {
    match &t.provenance {
        Provenance::Model { retrieved, .. } => retrieved.clone(),
        p => panic!("{p:?}"),
    }
}

#[test]
fn short_ids_map_back_to_full_source_ids() {
    let model = example("webshop-payments.yaml");
    let base = baseline(&model);
    // Longer than the 60 characters that used to be cut, like a real past-review source id.
    let long = format!(
        "reviewed/2024/{}/threatmodel.review.json#TMC-DATA-017@data_tab_specification.m",
        "payments-platform-eu-west-1".repeat(2)
    );
    assert!(long.len() > 100);
    let retrieved = vec![
        RetrievedChunk {
            id: long.clone(),
            text: "Past threat model \"Payments\", review status accepted: tampering with prices"
                .into(),
        },
        RetrievedChunk {
            id: "cwe-1000.csv#CWE-602".into(),
            text: "CWE-602: Client-Side Enforcement of Server-Side Security".into(),
        },
    ];
    let answer = serde_json::json!({"threats": [
        threat("checkout-api", "Cart total recomputed from client-supplied prices", &["K1"]),
        threat("storefront", "Discount codes validated only in the browser", &["[k2]", "cwe-1000.csv#CWE-602", "K2"]),
        threat("orders-db", "Order rows altered by a replayed webhook", &[&long]),
    ]})
    .to_string();
    let server = FakeServer::start(vec![Reply::json(200, openai_answer(&answer))]);
    let c = http_client(
        Box::new(OpenAi::new(format!("{}/v1", server.url), "m", None, true)),
        Duration::from_secs(10),
        0,
    );
    let out = run_with(
        &c,
        &model,
        &base,
        &retrieved,
        None,
        &CopilotOptions::default(),
    )
    .unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(out.calls, 1, "no repair round was needed");
    let added = &out.draft.threats[base.threats.len()..];
    assert_eq!(added.len(), 3, "{:?}", out.stats);
    let by_title = |t: &str| added.iter().find(|x| x.title.starts_with(t)).unwrap();
    assert_eq!(retrieved_of(by_title("Cart total")), vec![long.clone()]);
    assert_eq!(
        retrieved_of(by_title("Discount codes")),
        vec!["cwe-1000.csv#CWE-602".to_string()],
        "the short id, a bracketed lower-case one and the full id are one source"
    );
    assert_eq!(retrieved_of(by_title("Order rows")), vec![long.clone()]);
    // The prompt labels passages by short id; the long id is not sent (nor cut).
    let user = server.requests()[0].json()["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        user.contains("<<<DATA source K1\nPast threat model"),
        "{user}"
    );
    assert!(user.contains("<<<DATA source K2\nCWE-602"));
    assert!(!user.contains("payments-platform-eu-west-1"));
}

#[test]
fn a_passage_left_out_of_the_prompt_cannot_be_cited() {
    let model = example("webshop-payments.yaml");
    let base = baseline(&model);
    let retrieved: Vec<RetrievedChunk> = (0..20)
        .map(|i| RetrievedChunk {
            id: format!("past.json#T{i}"),
            text: format!("Past threat {i}: ").repeat(40),
        })
        .collect();
    // K20 is cited; with a 4096-token window only the first few passages are shown.
    let answer = serde_json::json!({"threats": [
        threat("checkout-api", "Cart total recomputed from client-supplied prices", &["K20"]),
    ]})
    .to_string();
    let server = FakeServer::start(vec![Reply::json(200, openai_answer(&answer))]);
    let c = http_client(
        Box::new(OpenAi::new(format!("{}/v1", server.url), "m", None, true)),
        Duration::from_secs(10),
        0,
    );
    let opts = CopilotOptions {
        context_window: Some(4096),
        ..CopilotOptions::default()
    };
    let out = run_with(&c, &model, &base, &retrieved, None, &opts).unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len() as u32, out.calls);
    let (mut firsts, mut repairs) = (0, 0);
    for r in &reqs {
        let body = r.json();
        let msgs = body["messages"].as_array().unwrap();
        let user = msgs[1]["content"].as_str().unwrap();
        assert!(!user.contains("source K20"), "the case needs K20 left out");
        if msgs.len() == 2 {
            firsts += 1;
        } else {
            repairs += 1;
            let repair = msgs[3]["content"].as_str().unwrap();
            assert!(
                repair.contains("source `K20` is not a retrieved knowledge id"),
                "{repair}"
            );
        }
    }
    // Parts whose repair would not fit the window skip it (with a warning); the others fed
    // the citation back.
    assert!(firsts >= 1 && repairs >= 1, "{firsts} / {repairs}");
    assert_eq!(out.stats.added, 0);
    assert_eq!(out.draft.threats, base.threats);
}
