//! The copilot on the command line: provider flags shared by `tmc draft` and `tmc eval`, the
//! run-and-merge step with its summary on stderr, and `tmc audit verify`.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use tmc_llm::{CopilotInput, CopilotOptions, LlmConfig, Overrides, PromptMode, Prompts, Settings};

use crate::Exit;

/// Flags that switch the copilot on. Without any of them `tmc` stays fully offline.
#[derive(Args, Clone, Default, Debug)]
pub struct ProviderArgs {
    /// Language-model provider: bedrock, anthropic or openai (any OpenAI-compatible server).
    /// Adds model-suggested threats to the rule baseline.
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// Model name or id (default per provider; `TMC_LLM_MODEL`).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// API base URL, e.g. http://127.0.0.1:58080/v1 (`TMC_LLM_BASE_URL`).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// `local-only` refuses any endpoint that is not loopback or allow-listed (`TMC_PRIVACY`).
    #[arg(long, value_name = "MODE")]
    pub privacy: Option<String>,
    /// Use the named `[llm.profiles.NAME]` of tmc.toml (`TMC_LLM_PROFILE`).
    #[arg(long, value_name = "NAME")]
    pub llm_profile: Option<String>,
    /// Use the `[llm]` settings of tmc.toml without naming a provider on the command line.
    #[arg(long)]
    pub llm: bool,
    /// The model alone, without the rule baseline (mode `llm` instead of `rules+llm`).
    #[arg(long)]
    pub llm_only: bool,
    /// Stream answers (OpenAI-compatible, Anthropic, Bedrock) with a progress line on stderr; on by
    /// default when stderr is a terminal.
    #[arg(long)]
    pub stream: bool,
    /// The model's context window in tokens (`llm.context_window_tokens`,
    /// `TMC_LLM_CONTEXT_WINDOW`): prompts are shortened and answers capped to fit it.
    #[arg(long, value_name = "TOKENS")]
    pub context_window: Option<usize>,
}

impl ProviderArgs {
    /// Whether the user asked for the copilot on this run.
    pub fn active(&self) -> bool {
        self.provider.is_some()
            || self.llm_profile.is_some()
            || self.llm
            || self.llm_only
            || std::env::var_os("TMC_LLM_PROVIDER").is_some()
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            provider: self.provider.clone(),
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            privacy: self.privacy.clone(),
            profile: self.llm_profile.clone(),
            context_window_tokens: self.context_window,
        }
    }
}

/// One overwritten stderr line with the pieces received so far; 0 clears it.
fn progress_line(pieces: u64) {
    if pieces == 0 {
        eprint!("\r\x1b[2K");
    } else if pieces == 1 || pieces.is_multiple_of(8) {
        eprint!("\r\x1b[2Kcopilot: receiving answer, ~{pieces} tokens");
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// A ready copilot: settings, client and prompts.
pub struct Copilot {
    pub settings: Settings,
    pub client: tmc_llm::Client,
    pub prompts: Prompts,
    pub cwe_ids: Option<HashSet<u32>>,
}

impl Copilot {
    pub fn new(args: &ProviderArgs, cfg: &LlmConfig, data_dir: &Path) -> Result<Copilot> {
        let settings = Settings::resolve(cfg, &args.overrides(), &env)?;
        let mut client = settings.client(&env, Some(data_dir))?;
        // A terminal user sees a long answer arrive; pipes and CI get the quiet, plain call.
        if args.stream || std::io::stderr().is_terminal() {
            client.stream = true;
            client.progress = Some(std::sync::Arc::new(progress_line));
        }
        let prompts = match &settings.prompts_dir {
            Some(dir) => Prompts::with_overrides(dir)?,
            None => Prompts::builtin(),
        };
        let cwe_ids = match &settings.cwe_csv {
            Some(p) => Some(load_cwe(p)?),
            None => None,
        };
        Ok(Copilot {
            settings,
            client,
            prompts,
            cwe_ids,
        })
    }

    pub fn options(&self, mode_name: &str, prompt_mode: PromptMode) -> CopilotOptions {
        CopilotOptions {
            max_tokens: self.settings.max_tokens,
            temperature: self.settings.temperature,
            budget_tokens: self.settings.budget_tokens,
            redact: self.settings.redact,
            redact_patterns: self.settings.redact_patterns.clone(),
            prompt_mode,
            workers: self.settings.max_concurrency,
            mode_name: mode_name.into(),
            context_window: self.settings.context_window_tokens,
            ..CopilotOptions::default()
        }
    }
}

/// `tmc import --vision`: a diagram image → a validated draft model through a vision model.
/// The outcome's notes also say which ids were renamed.
pub fn vision_import(
    args: &ProviderArgs,
    cfg: &LlmConfig,
    data_dir: &Path,
    image: Vec<u8>,
    quiet: bool,
) -> Result<tmc_llm::vision::VisionOutcome> {
    // Checked before the client exists so a wrong file fails without any network setup.
    let image = tmc_llm::ImageInput::from_bytes(image)?;
    let copilot = Copilot::new(args, cfg, data_dir)?;
    copilot.client.check_privacy()?;
    let opts = tmc_llm::vision::VisionOptions {
        max_tokens: copilot.settings.max_tokens.max(4000),
        temperature: copilot.settings.temperature,
    };
    let mut out = tmc_llm::vision::import_image(&copilot.client, &copilot.prompts, image, &opts)?;
    for (old, new) in &out.renamed {
        out.notes
            .push((new.clone(), format!("id renamed from {old:?}")));
    }
    if !quiet {
        eprintln!(
            "copilot: {} {}: {} call(s), tokens {} in / {} out",
            copilot.settings.provider.as_str(),
            copilot.settings.model,
            out.calls,
            out.usage.input_tokens,
            out.usage.output_tokens
        );
    }
    Ok(out)
}

/// Reads a CWE id set from MITRE's CSV.
pub fn load_cwe(path: &Path) -> Result<HashSet<u32>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the CWE catalogue {}", path.display()))?;
    let set = tmc_llm::parse_cwe_csv(&text);
    if set.is_empty() {
        anyhow::bail!("{} holds no CWE ids", path.display());
    }
    Ok(set)
}

/// One line for stderr about what the model cost and contributed.
pub fn summary(c: &Copilot, out: &tmc_llm::Outcome) -> String {
    let cost = match out.cost_usd {
        Some(v) => format!("${v:.4}"),
        None => "unpriced (set llm.price_input_per_mtok / price_output_per_mtok)".into(),
    };
    format!(
        "copilot: {} {} (prompts {}): {} call(s) over {} part(s), {} failed; tokens {} in / {} out, cost {cost}; {} threat(s) added, {} refined, {} duplicate(s)",
        c.settings.provider.as_str(),
        c.settings.model,
        out.prompt_version,
        out.calls,
        out.chunks,
        out.chunks_failed,
        out.usage.input_tokens,
        out.usage.output_tokens,
        out.stats.added,
        out.stats.refined,
        out.stats.duplicates
    )
}

/// `tmc draft --provider ...`: runs the model over the model and merges into `baseline`.
pub fn draft(
    args: &ProviderArgs,
    cfg: &LlmConfig,
    data_dir: &Path,
    model: &tmc_model::SystemModel,
    baseline: tmc_model::Draft,
    retrieved: &[tmc_llm::RetrievedChunk],
    quiet: bool,
) -> Result<tmc_model::Draft> {
    let copilot = Copilot::new(args, cfg, data_dir)?;
    let (base, mode) = if args.llm_only {
        let mut empty = baseline.clone();
        empty.threats.clear();
        empty.suppressed.clear();
        for row in &mut empty.coverage {
            row.counts.values_mut().for_each(|v| *v = 0);
        }
        (empty, "llm")
    } else {
        let mode = if baseline.generator.mode.ends_with("+kb") {
            "rules+kb+llm"
        } else {
            "rules+llm"
        };
        (baseline, mode)
    };
    if copilot.cwe_ids.is_none() && !quiet {
        eprintln!(
            "note: no CWE catalogue configured (llm.cwe_csv or TMC_CWE_CSV); CWE ids in answers are not checked"
        );
    }
    let out = tmc_llm::run(
        &copilot.client,
        &copilot.prompts,
        &CopilotInput {
            model,
            baseline: &base,
            show_baseline: !args.llm_only,
            retrieved,
            cwe_ids: copilot.cwe_ids.as_ref(),
        },
        &copilot.options(mode, PromptMode::Full),
    )?;
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    if !quiet {
        eprintln!("{}", summary(&copilot, &out));
    }
    Ok(out.draft)
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain of the model-call audit log in the data directory.
    Verify {
        /// Audit directory (default: the data directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

pub fn audit(command: AuditCommand, data_dir: &Path, quiet: bool) -> Result<()> {
    match command {
        AuditCommand::Verify { dir } => {
            let log = tmc_llm::audit::AuditLog::new(dir.as_deref().unwrap_or(data_dir));
            let v = log.verify()?;
            for p in &v.problems {
                eprintln!("{}: {p}", log.path().display());
            }
            if !v.problems.is_empty() {
                eprintln!(
                    "audit log TAMPERED or damaged: {} problem(s) in {} entries",
                    v.problems.len(),
                    v.entries
                );
                return Err(Exit(1).into());
            }
            if !quiet {
                eprintln!(
                    "audit log intact: {} entries, hash chain verified ({})",
                    v.entries,
                    log.path().display()
                );
            }
            Ok(())
        }
    }
}

/// What `tmc eval` needs from the configuration besides its arguments: the model for the
/// model modes, the embedder for `--matcher embedding`.
#[derive(Clone, Default, Debug)]
pub struct EvalContext {
    pub config: LlmConfig,
    pub data_dir: PathBuf,
    pub embeddings: Option<tmc_kb::EmbeddingConfig>,
}

/// One benchmark system as the copilot sees it in `tmc eval`.
pub struct EvalSystem<'a> {
    pub model: &'a tmc_model::SystemModel,
    /// The system's source file, for messages.
    pub source: &'a str,
    /// The draft to merge into: empty for `llm` / `prompt-only`, the rules+kb draft for
    /// `rules+kb+llm`.
    pub base: tmc_model::Draft,
    pub show_baseline: bool,
    pub retrieved: &'a [tmc_llm::RetrievedChunk],
    pub mode: &'static str,
    pub prompt: PromptMode,
}

/// Drafts one benchmark system with the model. The reference threats that come with the
/// import were dropped by the caller: the model must not see the answers.
pub fn eval_draft(
    copilot: &Copilot,
    system: EvalSystem<'_>,
) -> std::result::Result<Vec<tmc_model::Threat>, String> {
    let out = tmc_llm::run(
        &copilot.client,
        &copilot.prompts,
        &CopilotInput {
            model: system.model,
            baseline: &system.base,
            show_baseline: system.show_baseline,
            retrieved: system.retrieved,
            cwe_ids: copilot.cwe_ids.as_ref(),
        },
        &copilot.options(system.mode, system.prompt),
    )
    .map_err(|e| e.to_string())?;
    for w in &out.warnings {
        eprintln!("warning: {}: {w}", system.source);
    }
    eprintln!("{}: {}", system.source, summary(copilot, &out));
    Ok(out.draft.threats)
}

/// Builds the copilot for an eval run; the CWE catalogue defaults to `<bench>/../kb/cwe/1000.csv`.
pub fn eval_copilot(args: &ProviderArgs, ctx: &EvalContext, bench: &Path) -> Result<Copilot> {
    let mut c = Copilot::new(args, &ctx.config, &ctx.data_dir)?;
    if c.cwe_ids.is_none() {
        let p = bench.join("../kb/cwe/1000.csv");
        if p.is_file() {
            c.cwe_ids = Some(load_cwe(&p)?);
        }
    }
    Ok(c)
}
