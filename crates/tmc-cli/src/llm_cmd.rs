//! The copilot on the command line: provider flags shared by `tmc draft` and `tmc eval`, the
//! run-and-merge step with its summary on stderr, and `tmc audit verify`.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};
use tmc_llm::{LlmConfig, Overrides};

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
    /// Skip the critic pass (with a model, it marks baseline threats it thinks do not apply;
    /// it never removes one).
    #[arg(long)]
    pub no_critic: bool,
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

pub use tmc_app::backends::Copilot;

/// Builds the copilot from the flags, `[llm]` and the environment; on a terminal (or with
/// `--stream`) answers stream with a progress line.
pub fn copilot(args: &ProviderArgs, cfg: &LlmConfig, data_dir: &Path) -> Result<Copilot> {
    // A terminal user sees a long answer arrive; pipes and CI get the quiet, plain call.
    let progress: Option<tmc_llm::client::Progress> =
        if args.stream || std::io::stderr().is_terminal() {
            Some(std::sync::Arc::new(progress_line))
        } else {
            None
        };
    Ok(Copilot::new(
        &args.overrides(),
        cfg,
        data_dir,
        &crate::config::env,
        progress,
    )?)
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
    let copilot = copilot(args, cfg, data_dir)?;
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
    Ok(tmc_app::backends::load_cwe(path)?)
}

/// One line for stderr about what the model cost and contributed.
pub fn summary(c: &Copilot, out: &tmc_llm::Outcome) -> String {
    c.summary(out)
}

/// Prints what the copilot warned about and, unless quiet, what it cost and added.
pub fn report(copilot: &Copilot, out: &tmc_llm::Outcome, prefix: &str, quiet: bool) {
    for w in &out.warnings {
        eprintln!("warning: {prefix}{w}");
    }
    if !quiet {
        eprintln!("{prefix}{}", summary(copilot, out));
    }
}

/// The note printed when answers' CWE ids cannot be checked.
pub fn note_missing_cwe(copilot: &Copilot, quiet: bool) {
    if copilot.cwe_ids.is_none() && !quiet {
        eprintln!(
            "note: no CWE catalogue configured (llm.cwe_csv or TMC_CWE_CSV); CWE ids in answers are not checked"
        );
    }
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

/// Builds the copilot for an eval run; the CWE catalogue defaults to `<bench>/../kb/cwe/1000.csv`.
pub fn eval_copilot(args: &ProviderArgs, ctx: &EvalContext, bench: &Path) -> Result<Copilot> {
    let mut c = copilot(args, &ctx.config, &ctx.data_dir)?;
    if c.cwe_ids.is_none() {
        let p = bench.join("../kb/cwe/1000.csv");
        if p.is_file() {
            c.cwe_ids = Some(load_cwe(&p)?);
        }
    }
    Ok(c)
}
