//! The one draft pipeline: rules → knowledge base → copilot. `tmc draft`, `tmc eval`, the team
//! server and `examples/` all call [`draft`]; what differs between them (where the model came
//! from, what is printed) stays in the front end.
//!
//! Order and its reasons:
//! 1. the rule engine always runs: it is the baseline, and even a model-only draft takes its
//!    coverage table (element × STRIDE) from it;
//! 2. the knowledge base augments the rule draft (past reviewed threats, ASVS references, past
//!    rejections lowering rule threats) when the mode says so;
//! 3. the copilot gets the baseline (or none, for the `llm` and `prompt-only` ablations) plus
//!    passages retrieved for each element, and its answer is merged — never removing a
//!    baseline threat;
//! 4. review decisions are applied (a reviewer's word beats every generator);
//! 5. with a model, the critic judges the undecided baseline threats: marks (named severity
//!    factors with no effect on the score), never removals.

use tmc_engine::{DraftOptions, RuleSet};
use tmc_kb::KnowledgeBase;
use tmc_kb::augment::{AugmentOptions, AugmentReport};
use tmc_model::{Draft, Severity, SystemModel};

use crate::AppError;
use crate::backends::Copilot;
use crate::mode::GeneratorMode;

/// Everything one draft needs. Build it with [`DraftRequest::new`] and set what applies.
pub struct DraftRequest<'a> {
    pub model: &'a SystemModel,
    pub rules: &'a RuleSet,
    pub mode: GeneratorMode,
    /// Leave out threats below this severity.
    pub min_severity: Option<Severity>,
    /// The model file as the user named it, recorded in the draft.
    pub source_file: Option<String>,
    /// Needed by modes that augment with the knowledge base; with a model, it also supplies
    /// the passages of the prompt.
    pub kb: Option<&'a KnowledgeBase>,
    /// Needed by modes that call a model.
    pub copilot: Option<&'a Copilot>,
    /// Knowledge-base sources never to retrieve (leave-one-system-out in `tmc eval`).
    pub exclude_sources: Vec<String>,
    /// Review decisions to apply to the finished draft (last, so a reviewer's decision wins
    /// over everything a generator said), with the current model's elements and hash.
    pub review: Option<(&'a tmc_review::Decisions, tmc_review::ApplyContext)>,
    /// With a model and a baseline, let the model judge the baseline's threats (the critic
    /// pass: marks only, never removes; `--no-critic` turns it off).
    pub critic: bool,
}

impl<'a> DraftRequest<'a> {
    pub fn new(model: &'a SystemModel, rules: &'a RuleSet, mode: GeneratorMode) -> Self {
        DraftRequest {
            model,
            rules,
            mode,
            min_severity: None,
            source_file: None,
            kb: None,
            copilot: None,
            exclude_sources: Vec::new(),
            review: None,
            critic: true,
        }
    }
}

/// A draft and what each stage reported.
pub struct DraftOutcome {
    pub draft: Draft,
    /// What the knowledge base added, lowered and enriched (when it augmented).
    pub kb_report: Option<AugmentReport>,
    /// Calls, tokens, cost, warnings and merge statistics of the copilot (when it ran).
    pub copilot: Option<tmc_llm::Outcome>,
    /// Passages retrieved for the prompt.
    pub passages: usize,
    /// What applying the review decisions did (when a review was given).
    pub review: Option<tmc_review::ApplyReport>,
    /// The critic's verdicts, cost and warnings (when it ran).
    pub critic: Option<tmc_llm::CriticOutcome>,
}

/// Drafts `req.model` in `req.mode`. Offline modes touch nothing but the rule set; the others
/// need the knowledge base or the copilot in the request and say so if it is missing.
pub fn draft(req: &DraftRequest<'_>) -> Result<DraftOutcome, AppError> {
    let mode = req.mode;
    if mode.augments_with_kb() && req.kb.is_none() {
        return Err(AppError::MissingPart {
            mode: mode.as_str(),
            needs: "a knowledge base",
        });
    }
    let copilot = match (mode.uses_model(), req.copilot) {
        (true, Some(c)) => Some(c),
        (true, None) => {
            return Err(AppError::MissingPart {
                mode: mode.as_str(),
                needs: "a language model (--provider openai|anthropic|bedrock)",
            });
        }
        (false, _) => None,
    };
    let opts = DraftOptions {
        min_severity: req.min_severity,
        source_file: req.source_file.clone(),
    };
    let mut draft = tmc_engine::draft(req.model, req.rules, &opts);
    let mut kb_report = None;
    if mode.augments_with_kb()
        && let Some(kb) = req.kb
    {
        let aopts = AugmentOptions {
            exclude_sources: req.exclude_sources.clone(),
            ..AugmentOptions::default()
        };
        kb_report = Some(tmc_kb::augment::augment_draft(
            kb, req.model, &mut draft, &aopts,
        )?);
        draft.generator.mode = GeneratorMode::RulesKb.as_str().into();
    }
    let Some(copilot) = copilot else {
        let review = apply_review(&mut draft, req);
        return Ok(DraftOutcome {
            draft,
            kb_report,
            copilot: None,
            passages: 0,
            review,
            critic: None,
        });
    };
    let retrieved = match req.kb {
        Some(kb) => prompt_context(kb, req.model, &req.exclude_sources)?,
        None => Vec::new(),
    };
    let show_baseline = mode.keeps_rules();
    if !show_baseline {
        draft.threats.clear();
        draft.suppressed.clear();
        for row in &mut draft.coverage {
            row.counts.values_mut().for_each(|v| *v = 0);
        }
    }
    let out = tmc_llm::run(
        &copilot.client,
        &copilot.prompts,
        &tmc_llm::CopilotInput {
            model: req.model,
            baseline: &draft,
            show_baseline,
            retrieved: &retrieved,
            cwe_ids: copilot.cwe_ids.as_ref(),
        },
        &copilot.options(mode.as_str(), mode.prompt_mode()),
    )?;
    let mut draft = out.draft.clone();
    let review = apply_review(&mut draft, req);
    // After the review: the critic skips threats a reviewer decided, so a reviewer's decision
    // always wins and no tokens are spent on them.
    let critic = if req.critic && show_baseline {
        let c = tmc_llm::run_critic(
            &copilot.client,
            &copilot.prompts,
            &tmc_llm::CriticInput {
                model: req.model,
                draft: &draft,
            },
            &tmc_llm::CriticOptions::from(&copilot.options(mode.as_str(), mode.prompt_mode())),
        )?;
        draft = c.draft.clone();
        Some(c)
    } else {
        None
    };
    Ok(DraftOutcome {
        draft,
        kb_report,
        copilot: Some(out),
        passages: retrieved.len(),
        review,
        critic,
    })
}

fn apply_review(draft: &mut Draft, req: &DraftRequest<'_>) -> Option<tmc_review::ApplyReport> {
    req.review
        .as_ref()
        .map(|(decisions, ctx)| tmc_review::apply(draft, decisions, ctx))
}

/// Passages for the copilot's prompt, in the copilot's type (the knowledge base and the
/// copilot do not know each other; this layer joins them).
pub fn prompt_context(
    kb: &KnowledgeBase,
    model: &SystemModel,
    exclude_sources: &[String],
) -> Result<Vec<tmc_llm::RetrievedChunk>, AppError> {
    let opts = tmc_kb::context::ContextOptions {
        exclude_sources: exclude_sources.to_vec(),
        ..tmc_kb::context::ContextOptions::default()
    };
    Ok(tmc_kb::context::retrieve_context(kb, model, &opts)?
        .into_iter()
        .map(|c| tmc_llm::RetrievedChunk {
            id: c.id,
            text: c.text,
        })
        .collect())
}
