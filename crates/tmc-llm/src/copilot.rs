//! The pipeline: split the model, render prompts, redact, call, map placeholders back, check the
//! answer, one repair round, merge with the baseline. Failures of one part (network, unusable
//! answer) become warnings and leave the baseline in place: a draft is always produced, and the
//! warnings say what the model did not contribute. Only a privacy refusal stops the run, because
//! that is a policy decision the user must see as an error.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tmc_model::{Draft, SystemModel};

use crate::client::Client;
use crate::error::LlmError;
use crate::merge::{MergeStats, ModelOrigin, merge};
use crate::output::{CheckContext, CheckedThreat, answer_schema, check_answer, secret_phrases};
use crate::prompt::{
    Chunk, Prompts, RetrievedChunk, citation_map, element_ids, estimate_tokens, extra_guidance,
    plan_chunks, render_baseline, render_context, render_descriptions, render_model,
};
use crate::provider::{ChatRequest, Message, Role, Usage};
use crate::redact::Redactor;

/// What the model is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptMode {
    /// Compact model, descriptions, baseline threats and retrieved context.
    Full,
    /// Ablation: only the product description and the element ids.
    ProductOnly,
}

#[derive(Debug, Clone)]
pub struct CopilotOptions {
    pub max_tokens: u32,
    pub temperature: f32,
    /// Token budget of the model part of one prompt; larger systems are split.
    pub budget_tokens: usize,
    pub redact: bool,
    pub redact_patterns: Vec<String>,
    pub prompt_mode: PromptMode,
    /// Most baseline threats listed per prompt.
    pub baseline_limit: usize,
    /// Worker threads; the client's limiter caps calls in flight anyway.
    pub workers: usize,
    /// Written into `generator.mode` of the merged draft ("llm", "rules+llm").
    pub mode_name: String,
    /// The model's context window (prompt + answer) in tokens; `None` trusts the provider.
    pub context_window: Option<usize>,
}

impl Default for CopilotOptions {
    fn default() -> Self {
        CopilotOptions {
            max_tokens: 2_000,
            temperature: 0.2,
            budget_tokens: 6_000,
            redact: true,
            redact_patterns: Vec::new(),
            prompt_mode: PromptMode::Full,
            baseline_limit: 80,
            workers: 2,
            mode_name: "rules+llm".into(),
            context_window: None,
        }
    }
}

pub struct CopilotInput<'a> {
    pub model: &'a SystemModel,
    /// The rule engine's draft (its threats may be empty for mode `llm`).
    pub baseline: &'a Draft,
    /// Show the baseline threats in the prompt (mode `llm` does not).
    pub show_baseline: bool,
    pub retrieved: &'a [RetrievedChunk],
    pub cwe_ids: Option<&'a HashSet<u32>>,
}

/// The merged draft and an account of the run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub draft: Draft,
    pub warnings: Vec<String>,
    pub usage: Usage,
    /// `None` when no price is known for the model.
    pub cost_usd: Option<f64>,
    pub calls: u32,
    pub chunks: usize,
    pub chunks_failed: usize,
    pub stats: MergeStats,
    pub prompt_version: String,
}

#[derive(Default)]
struct ChunkResult {
    threats: Vec<CheckedThreat>,
    warnings: Vec<String>,
    usage: Usage,
    calls: u32,
    failed: bool,
}

/// Renders the two prompts of one chunk (system, user) — also used by tests and `--dry-run`.
pub fn render_prompts(
    prompts: &Prompts,
    input: &CopilotInput<'_>,
    chunk: &Chunk,
    single: bool,
    opts: &CopilotOptions,
) -> Result<(String, String, BTreeSet<String>), LlmError> {
    let scope = (!single).then_some(chunk);
    let ids = element_ids(input.model, scope);
    // Compact: the schema is for the model, and indentation costs a small model's window.
    let schema =
        serde_json::to_string(&answer_schema()).map_err(|e| LlmError::Template(e.to_string()))?;
    let mut sv = BTreeMap::new();
    sv.insert("extra_guidance", extra_guidance(prompts, input.model)?);
    sv.insert("output_schema", schema);
    let system = prompts.render("system.md", &sv)?;
    let mut uv = BTreeMap::new();
    uv.insert(
        "product_name",
        serde_json::to_string(&input.model.product.name).unwrap_or_default(),
    );
    uv.insert(
        "element_ids",
        ids.iter().cloned().collect::<Vec<_>>().join(", "),
    );
    let user = match opts.prompt_mode {
        PromptMode::Full => {
            uv.insert(
                "scope_note",
                if single {
                    String::new()
                } else {
                    format!(
                        "This request covers one part of a larger system: {}. Elements outside it appear only as flow endpoints.\n",
                        chunk.label
                    )
                },
            );
            uv.insert("model", render_model(input.model, scope));
            uv.insert(
                "descriptions",
                render_descriptions(
                    input.model,
                    scope,
                    false,
                    (opts.budget_tokens.saturating_mul(2)).max(2_000),
                ),
            );
            uv.insert(
                "baseline",
                if input.show_baseline {
                    render_baseline(input.baseline, &ids, opts.baseline_limit)
                } else {
                    "(not shown in this mode)".into()
                },
            );
            uv.insert("context", render_context(input.retrieved));
            prompts.render("user.md", &uv)?
        }
        PromptMode::ProductOnly => {
            let room = opts.budget_tokens.saturating_mul(4).max(2_000);
            uv.insert(
                "descriptions",
                render_descriptions(input.model, None, true, room),
            );
            prompts.render("prompt-only.md", &uv)?
        }
    };
    Ok((system, user, ids))
}

/// The token budget of one part of the model. With a context window, the part must leave room
/// for the system prompt, an answer and about as much again for baseline threats and passages,
/// so small-window models get the system in smaller parts instead of a prompt they cannot read.
fn part_budget(
    prompts: &Prompts,
    input: &CopilotInput<'_>,
    opts: &CopilotOptions,
) -> Result<usize, LlmError> {
    let Some(window) = opts.context_window else {
        return Ok(opts.budget_tokens);
    };
    let whole = Chunk {
        label: String::new(),
        components: BTreeSet::new(),
    };
    let empty = CopilotInput {
        retrieved: &[],
        show_baseline: false,
        ..*input
    };
    let (system, user, _) = render_prompts(prompts, &empty, &whole, false, opts)?;
    let fixed = fitted_tokens(&system) + fitted_tokens(&user) + FRAMING_TOKENS;
    let answer = (opts.max_tokens as usize).min(window / 4);
    let left = window.saturating_sub(fixed + answer);
    Ok(opts.budget_tokens.min(left / 2).max(1))
}

/// Tokens a chat request spends on framing (roles, template markers) beyond its texts.
pub(crate) const FRAMING_TOKENS: usize = 64;

/// Smallest answer worth asking for: a handful of threats in JSON.
pub(crate) const MIN_ANSWER_TOKENS: usize = 256;

/// Turns `req` into the repair round: the first answer (at most 8 000 characters) and the
/// repair request are appended, and with a context window the answer is capped to what is
/// left. Returns whether an answer of `min_answer` tokens still fits (always, without a window).
/// The copilot and the critic repair the same way.
pub(crate) fn prepare_repair(
    req: &mut ChatRequest,
    first_answer: &str,
    repair: String,
    context_window: Option<usize>,
    max_tokens: u32,
    min_answer: usize,
) -> bool {
    req.messages.push(Message {
        role: Role::Assistant,
        content: first_answer.chars().take(8_000).collect(),
    });
    req.messages.push(Message {
        role: Role::User,
        content: repair,
    });
    let Some(window) = context_window else {
        return true;
    };
    let need = fitted_tokens(&req.system)
        + req
            .messages
            .iter()
            .map(|m| fitted_tokens(&m.content))
            .sum::<usize>()
        + FRAMING_TOKENS;
    let room = window.saturating_sub(need);
    req.max_tokens = max_tokens.min(u32::try_from(room).unwrap_or(u32::MAX));
    room >= min_answer
}

/// Our token estimate is characters / 4; tokenizers of small models and JSON-heavy text run
/// denser, so a prompt is counted at 5/4 of the estimate when fitting a context window.
pub(crate) fn fitted_tokens(text: &str) -> usize {
    estimate_tokens(text).saturating_mul(5) / 4
}

/// The prompts of one part, shortened step by step until prompt + answer fit the context
/// window: fewer baseline threats and retrieved passages, then shorter descriptions, then
/// neither. Returns the prompts, the answer's token cap and a note when something was left out.
/// Also returns how many retrieved passages were shown: only those may be cited.
type Fitted = (String, String, BTreeSet<String>, u32, Option<String>, usize);

fn fit_prompts(
    prompts: &Prompts,
    input: &CopilotInput<'_>,
    chunk: &Chunk,
    single: bool,
    opts: &CopilotOptions,
) -> Result<Fitted, LlmError> {
    let Some(window) = opts.context_window else {
        let (system, user, ids) = render_prompts(prompts, input, chunk, single, opts)?;
        return Ok((
            system,
            user,
            ids,
            opts.max_tokens,
            None,
            input.retrieved.len(),
        ));
    };
    // (baseline threats listed, retrieved passages, description budget) per step.
    let all = input.retrieved.len();
    let steps = [
        (opts.baseline_limit, all, opts.budget_tokens),
        (opts.baseline_limit.min(20), all.min(8), opts.budget_tokens),
        (
            opts.baseline_limit.min(8),
            all.min(3),
            opts.budget_tokens / 2,
        ),
        (0, 0, opts.budget_tokens / 4),
    ];
    let mut need = 0;
    for (i, &(baseline_limit, passages, budget_tokens)) in steps.iter().enumerate() {
        let o = CopilotOptions {
            baseline_limit,
            budget_tokens,
            ..opts.clone()
        };
        let cut = CopilotInput {
            retrieved: &input.retrieved[..passages],
            ..*input
        };
        let (system, user, ids) = render_prompts(prompts, &cut, chunk, single, &o)?;
        need = fitted_tokens(&system) + fitted_tokens(&user) + FRAMING_TOKENS;
        let room = window.saturating_sub(need);
        if room >= MIN_ANSWER_TOKENS.min(opts.max_tokens as usize) {
            let max_tokens = opts.max_tokens.min(u32::try_from(room).unwrap_or(u32::MAX));
            let note = (i > 0).then(|| {
                format!(
                    "{}: prompt shortened to fit the {window}-token context window (baseline threats listed: up to {baseline_limit}, retrieved passages: {passages} of {all}, answer up to {max_tokens} tokens)",
                    chunk.label
                )
            });
            return Ok((system, user, ids, max_tokens, note, passages));
        }
    }
    Err(LlmError::Config(format!(
        "{}: the prompt needs about {need} tokens even shortened, more than the {window}-token context window leaves for an answer; use a model with a larger window or a smaller prompt_budget_tokens so the system is split into smaller parts",
        chunk.label
    )))
}

fn run_chunk(
    client: &Client,
    prompts: &Prompts,
    input: &CopilotInput<'_>,
    chunk: &Chunk,
    single: bool,
    opts: &CopilotOptions,
) -> Result<ChunkResult, LlmError> {
    let mut res = ChunkResult::default();
    let (system, user, ids, max_tokens, note, shown) =
        match fit_prompts(prompts, input, chunk, single, opts) {
            Ok(f) => f,
            Err(e) => {
                res.failed = true;
                res.warnings.push(format!("{e}; baseline kept"));
                return Ok(res);
            }
        };
    res.warnings.extend(note);
    let mut redactor = if opts.redact {
        Redactor::new(&opts.redact_patterns)?
    } else {
        Redactor::disabled()
    };
    let mut keep: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
    keep.extend(input.baseline.threats.iter().map(|t| t.id.as_str()));
    keep.extend(input.retrieved.iter().map(|c| c.id.as_str()));
    let user_sent = redactor.redact(&user, &keep);
    let ctx = CheckContext {
        element_ids: ids.clone(),
        cwe_ids: input.cwe_ids,
        baseline_ids: if input.show_baseline {
            input
                .baseline
                .threats
                .iter()
                .map(|t| t.id.clone())
                .collect()
        } else {
            BTreeSet::new()
        },
        sources: citation_map(&input.retrieved[..shown.min(input.retrieved.len())]),
        secret_phrases: secret_phrases(&system),
    };
    let mut req = ChatRequest {
        system,
        messages: vec![Message {
            role: Role::User,
            content: user_sent,
        }],
        max_tokens,
        temperature: opts.temperature,
        json_schema: Some(answer_schema()),
        images: Vec::new(),
        stream: false,
    };
    let label = &chunk.label;
    let first = match client.complete(&req, redactor.count) {
        Ok(r) => r,
        Err(e @ LlmError::PrivacyRefused { .. }) => return Err(e),
        Err(e) => {
            res.failed = true;
            res.warnings
                .push(format!("{label}: model call failed ({e}); baseline kept"));
            return Ok(res);
        }
    };
    res.calls += 1;
    res.usage.add(first.usage);
    if matches!(first.stop_reason.as_deref(), Some("length" | "max_tokens")) {
        res.warnings.push(format!(
            "{label}: the answer hit the token limit ({max_tokens}) and may be cut off"
        ));
    }
    let checked = check_answer(&redactor.restore(&first.text), &ctx);
    if checked.errors.is_empty() {
        res.threats = checked.threats;
        return Ok(res);
    }
    // One repair round with the errors fed back.
    let mut ev = BTreeMap::new();
    ev.insert(
        "errors",
        checked
            .errors
            .iter()
            .take(30)
            .map(|e| format!("- {e}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let repair = redactor.redact(&prompts.render("repair.md", &ev)?, &keep);
    let repair_fits = prepare_repair(
        &mut req,
        &first.text,
        repair,
        opts.context_window,
        max_tokens,
        MIN_ANSWER_TOKENS.min(max_tokens as usize),
    );
    let second = if !repair_fits {
        res.warnings.push(format!(
            "{label}: repair round skipped: the first answer and the errors would not fit the context window"
        ));
        None
    } else {
        match client.complete(&req, redactor.count) {
            Ok(r) => Some(r),
            Err(e @ LlmError::PrivacyRefused { .. }) => return Err(e),
            Err(e) => {
                res.warnings
                    .push(format!("{label}: repair call failed ({e})"));
                None
            }
        }
    };
    let rechecked = second.map(|r| {
        res.calls += 1;
        res.usage.add(r.usage);
        check_answer(&redactor.restore(&r.text), &ctx)
    });
    let best = match rechecked {
        Some(c) if !c.structural && c.threats.len() >= checked.threats.len() => c,
        Some(c) if checked.threats.is_empty() && c.threats.is_empty() => c,
        _ => checked,
    };
    if best.threats.is_empty() && best.structural {
        res.failed = true;
        res.warnings.push(format!(
            "{label}: {}; baseline kept",
            LlmError::Unusable(best.errors.join("; "))
        ));
        return Ok(res);
    }
    if !best.errors.is_empty() {
        res.warnings.push(format!(
            "{label}: after the repair round, {} problem(s) remained and those threats were dropped: {}",
            best.errors.len(),
            best.errors
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    res.threats = best.threats;
    Ok(res)
}

/// Runs the copilot over a model and merges the result into the baseline.
pub fn run(
    client: &Client,
    prompts: &Prompts,
    input: &CopilotInput<'_>,
    opts: &CopilotOptions,
) -> Result<Outcome, LlmError> {
    client.check_privacy()?;
    let chunks = match opts.prompt_mode {
        PromptMode::Full => plan_chunks(input.model, part_budget(prompts, input, opts)?),
        PromptMode::ProductOnly => vec![Chunk {
            label: "product description".into(),
            components: input
                .model
                .components
                .iter()
                .map(|c| c.id.clone())
                .collect(),
        }],
    };
    let single = chunks.len() == 1;
    let results: Mutex<Vec<(usize, Result<ChunkResult, LlmError>)>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..opts.workers.clamp(1, chunks.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(chunk) = chunks.get(i) else { break };
                    let r = run_chunk(client, prompts, input, chunk, single, opts);
                    let refused = matches!(r, Err(LlmError::PrivacyRefused { .. }));
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, r));
                    if refused {
                        next.store(usize::MAX / 2, Ordering::SeqCst);
                        break;
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let mut draft = input.baseline.clone();
    let mut out_threats = Vec::new();
    let mut warnings = Vec::new();
    let (mut usage, mut calls, mut failed) = (Usage::default(), 0, 0);
    for (_, r) in results {
        let r = r?;
        out_threats.extend(r.threats);
        warnings.extend(r.warnings);
        usage.add(r.usage);
        calls += r.calls;
        failed += usize::from(r.failed);
    }
    let origin = ModelOrigin {
        provider: client.provider.kind().as_str().into(),
        model: client.provider.model().into(),
        prompt_version: prompts.version().into(),
    };
    let stats = merge(
        &mut draft,
        input.model,
        &out_threats,
        &origin,
        &opts.mode_name,
    );
    let priced = client.pricing.input_per_mtok > 0.0 || client.pricing.output_per_mtok > 0.0;
    Ok(Outcome {
        draft,
        warnings,
        usage,
        cost_usd: priced.then(|| client.pricing.cost(usage)),
        calls,
        chunks: chunks.len(),
        chunks_failed: failed,
        stats,
        prompt_version: prompts.version().into(),
    })
}
