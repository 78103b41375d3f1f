//! End to end against a REAL model: the OpenAI-compatible server of
//! `../shared/scripts/start-llm.sh` (SmolLM2-135M). Set `TMC_TEST_LLM_URL` (e.g.
//! `http://127.0.0.1:58080/v1`); without it the test prints a notice and passes.
//!
//! The model is tiny and often wrong, so this asserts the plumbing, not threat quality: the run
//! ends with a valid merged draft whatever the model says (its threats merged, or the baseline
//! kept with a warning), every call is audited and the chain verifies.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use tmc_llm::{CopilotOptions, LlmConfig, Overrides, Settings};

const SYSTEM: &str = r#"
version: 1
product:
  name: Tiny notes
  description: A small web application where users keep private notes.
components:
  - id: user
    name: User
    kind: external-entity
    technology: user
  - id: web
    name: Notes web app
    kind: process
    technology: web-app
    internet_facing: true
    authentication: {scheme: password}
  - id: db
    name: Notes database
    kind: data-store
    technology: database
data:
  - id: notes
    name: Notes
    classification: confidential
    stored_in: [db]
flows:
  - id: user-web
    from: user
    to: web
    protocol: https
    data: [notes]
  - id: web-db
    from: web
    to: db
    protocol: sql
    data: [notes]
"#;

#[test]
fn real_local_model_ends_with_a_valid_merged_draft() {
    let Some(url) = std::env::var("TMC_TEST_LLM_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        eprintln!(
            "SKIPPED real_local_model_ends_with_a_valid_merged_draft: TMC_TEST_LLM_URL is not set (start ../shared/scripts/start-llm.sh and export its URL)"
        );
        return;
    };
    let model = tmc_dsl::parse_model(SYSTEM.as_bytes(), "tiny.yaml")
        .unwrap()
        .model;
    let base = common::baseline(&model);
    let cfg = LlmConfig {
        max_tokens: Some(300),
        timeout_secs: Some(240),
        max_retries: Some(1),
        ..Default::default()
    };
    let flags = Overrides {
        provider: Some("openai".into()),
        model: Some("smollm2".into()),
        base_url: Some(url),
        privacy: Some("local-only".into()),
        profile: None,
        // SmolLM2 is served with a 4096-token context: prompts must be fitted to it.
        context_window_tokens: Some(4096),
    };
    let no_env = |_: &str| None;
    let settings = Settings::resolve(&cfg, &flags, &no_env).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = settings.client(&no_env, Some(dir.path())).unwrap();
    let cwe_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/kb/cwe/1000.csv"
    );
    let cwes: Option<HashSet<u32>> = std::fs::read_to_string(cwe_path)
        .ok()
        .map(|t| tmc_llm::parse_cwe_csv(&t));
    let started = std::time::Instant::now();
    let out = common::run_with(
        &client,
        &model,
        &base,
        &[],
        cwes.as_ref(),
        &CopilotOptions {
            max_tokens: 300,
            ..CopilotOptions::default()
        },
    )
    .unwrap();
    eprintln!(
        "real model: {} call(s), {} failed part(s), tokens {}/{}, added {}, refined {}, {:?}; warnings: {:?}",
        out.calls,
        out.chunks_failed,
        out.usage.input_tokens,
        out.usage.output_tokens,
        out.stats.added,
        out.stats.refined,
        started.elapsed(),
        out.warnings
    );
    assert!(
        out.calls >= 1,
        "the model was never reached: {:?}",
        out.warnings
    );
    assert!(out.usage.input_tokens > 0);
    if out.chunks_failed > 0 {
        assert!(!out.warnings.is_empty(), "a failed part must say so");
    }
    // The merged draft: baseline intact, valid shape, known targets, provenance on every threat.
    assert_eq!(&out.draft.threats[..base.threats.len()], &base.threats[..]);
    let json = serde_json::to_string(&out.draft).unwrap();
    let back: tmc_model::Draft = serde_json::from_str(&json).unwrap();
    assert_eq!(back, out.draft);
    let ids: HashSet<&str> = ["user", "web", "db", "notes", "user-web", "web-db"].into();
    for t in &out.draft.threats[base.threats.len()..] {
        assert!(t.targets.iter().all(|x| ids.contains(x.id.as_str())));
        match &t.provenance {
            tmc_model::Provenance::Model {
                model,
                prompt_version,
                ..
            } => {
                assert_eq!(model, "smollm2");
                assert!(prompt_version.starts_with("tmc-prompts-1+"));
            }
            p => panic!("{p:?}"),
        }
    }
    let v = tmc_llm::audit::AuditLog::new(dir.path()).verify().unwrap();
    assert!(v.entries >= u64::from(out.calls));
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}

#[test]
fn real_local_model_critic_pass_is_schema_checked_and_never_removes() {
    let Some(url) = std::env::var("TMC_TEST_LLM_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        eprintln!(
            "SKIPPED real_local_model_critic_pass_is_schema_checked_and_never_removes: TMC_TEST_LLM_URL is not set (start ../shared/scripts/start-llm.sh and export its URL)"
        );
        return;
    };
    let model = tmc_dsl::parse_model(SYSTEM.as_bytes(), "tiny.yaml")
        .unwrap()
        .model;
    let base = common::baseline(&model);
    let cfg = LlmConfig {
        max_tokens: Some(400),
        timeout_secs: Some(240),
        max_retries: Some(1),
        ..Default::default()
    };
    let flags = Overrides {
        provider: Some("openai".into()),
        model: Some("smollm2".into()),
        base_url: Some(url),
        privacy: Some("local-only".into()),
        profile: None,
        context_window_tokens: Some(4096),
    };
    let no_env = |_: &str| None;
    let settings = Settings::resolve(&cfg, &flags, &no_env).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = settings.client(&no_env, Some(dir.path())).unwrap();
    let opts = tmc_llm::CriticOptions {
        max_tokens: 400,
        context_window: Some(4096),
        workers: 1,
        ..tmc_llm::CriticOptions::default()
    };
    let started = std::time::Instant::now();
    let out = tmc_llm::run_critic(
        &client,
        &tmc_llm::Prompts::builtin(),
        &tmc_llm::CriticInput {
            model: &model,
            draft: &base,
        },
        &opts,
    )
    .unwrap();
    eprintln!(
        "real model critic: {} call(s) over {} request(s), {} failed, tokens {}/{}, {} verdict(s), {} does-not-apply, {} unjudged, {:?}; warnings: {:?}",
        out.calls,
        out.parts.len(),
        out.parts_failed,
        out.usage.input_tokens,
        out.usage.output_tokens,
        out.verdicts.len(),
        out.not_applicable.len(),
        out.unjudged.len(),
        started.elapsed(),
        out.warnings
    );
    assert!(
        out.calls >= 1,
        "the model was never reached: {:?}",
        out.warnings
    );
    assert!(out.usage.input_tokens > 0);
    // Whatever the tiny model said: every threat kept, in order, only marks added; every
    // verdict names a threat of the draft; unjudged ones are accounted for.
    let ids: Vec<&str> = base.threats.iter().map(|t| t.id.as_str()).collect();
    let got: Vec<&str> = out.draft.threats.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(got, ids);
    for (b, a) in base.threats.iter().zip(&out.draft.threats) {
        assert_eq!(a.severity.level, b.severity.level);
        assert_eq!(a.status, b.status);
        assert_eq!(a.title, b.title);
    }
    assert!(
        out.verdicts
            .iter()
            .all(|v| ids.contains(&v.threat_id.as_str()))
    );
    assert_eq!(out.verdicts.len() + out.unjudged.len(), base.threats.len());
    if out.verdicts.len() < base.threats.len() {
        assert!(!out.warnings.is_empty() || out.parts.iter().any(|p| p.judged < p.threats));
    }
    let v = tmc_llm::audit::AuditLog::new(dir.path()).verify().unwrap();
    assert!(v.entries >= u64::from(out.calls));
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}
