//! `tmc`: the Threat Model Copilot command line.
//!
//! Exit codes (documented in `tmc --help` and README): 0 success, 1 the input has errors (or a
//! CI gate failed), 2 usage error, 3 internal or I/O error.

mod artifacts_cmd;
mod config;
mod eval_cmd;
mod export_cmd;
mod import_cmd;
mod init;
mod kb_cmd;
mod llm_cmd;
mod review_cmd;
mod rules_cmd;
mod serve_cmd;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes: 0 success · 1 the model (or a gate) has errors · 2 usage error · 3 I/O or internal error

Getting started:
  tmc init --name \"My product\"         scaffold threatmodel.yaml
  tmc validate threatmodel.yaml        check it, with file:line:column errors
  tmc draft threatmodel.yaml           draft threats offline (rules engine)

Configuration: ./tmc.toml, else the user config dir; TMC_* variables override; flags win.";

#[derive(Parser)]
#[command(
    name = "tmc",
    version,
    about = "Threat Model Copilot: drafts STRIDE threat models from a system description and keeps security engineers in charge.",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Config file (default: ./tmc.toml, then the user config directory).
    #[arg(long, global = true, env = "TMC_CONFIG")]
    config: Option<PathBuf>,
    /// State directory for knowledge base, store and audit log.
    #[arg(long, global = true, env = "TMC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Print only errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DraftFormat {
    /// Markdown report for reviewers.
    Md,
    /// Canonical draft JSON (schema: `tmc schema draft`).
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Scaffold a commented threatmodel.yaml for a new product.
    Init(init::InitArgs),
    /// Check a model: syntax, references, boundaries, and design lints.
    Validate {
        /// Model files (YAML or JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// Treat warnings as errors (for CI).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print a JSON Schema: of the model DSL (for editors) or of the draft output.
    Schema {
        #[arg(value_enum, default_value = "model")]
        which: SchemaKind,
    },
    /// Draft a threat model offline with the rule engine.
    Draft {
        /// Model file (YAML or JSON).
        file: PathBuf,
        /// Output format on stdout or in --out.
        #[arg(long, value_enum)]
        format: Option<DraftFormat>,
        /// Write to this file (format from --format, else from the extension).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Write both `draft.json` and `report.md` into this directory.
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Leave out threats below this severity (info, low, medium, high, critical).
        #[arg(long)]
        min_severity: Option<String>,
        /// Add threats accepted in past reviews (knowledge base) and ASVS references.
        #[arg(long)]
        kb: bool,
        /// Apply these review decisions (default: `<model>.review.yaml` beside the model, when
        /// it exists).
        #[arg(long, value_name = "FILE")]
        review: Option<PathBuf>,
        /// Do not apply the decisions file beside the model.
        #[arg(long, conflicts_with = "review")]
        no_review: bool,
        /// Fail (exit 1, after writing the draft) when the validity lint finds threats that name
        /// things not in the model, web-only weaknesses on non-web interfaces, network threats on
        /// local flows, threats a declared control contradicts, or duplicates.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        llm: llm_cmd::ProviderArgs,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Review a draft: list, show, decide (accept, mitigate, transfer, avoid, reject), edit
    /// severity and mitigations, add threats; decisions live in `<model>.review.yaml`.
    Review {
        #[command(subcommand)]
        command: review_cmd::ReviewCommand,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// CI gate: exit 1 on unresolved threats at or above --fail-on, orphaned decisions, a model
    /// changed since its review, or expired acceptances.
    Check {
        #[command(flatten)]
        args: review_cmd::CheckArgs,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// What changed between two model versions (files or `--git REV`): elements, flows,
    /// controls, threats, and which review decisions carried over.
    Diff {
        #[command(flatten)]
        args: review_cmd::DiffArgs,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// The team server: web app and REST API for reviewers, signed in, with roles.
    Serve(serve_cmd::ServeArgs),
    /// Inspect, lint and test rules.
    Rules {
        #[command(subcommand)]
        command: rules_cmd::RulesCommand,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Import another tool's diagram or threat model into the DSL.
    Import(import_cmd::ImportArgs),
    /// Export a draft: SARIF, CSV, XLSX, OTM, Threat Dragon, Threagile, Mermaid, DOT, SVG.
    Export(export_cmd::ExportArgs),
    /// Score drafts against reference threat models (../shared/bench layout).
    Eval {
        #[command(flatten)]
        args: eval_cmd::EvalArgs,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Knowledge base: ingest reviewed models, documents and standards; search them.
    Kb {
        #[command(subcommand)]
        command: kb_cmd::KbCommand,
    },
    /// Artifact store (`[artifacts]`: local directory or S3): put, get, list, remove.
    Artifacts {
        #[command(subcommand)]
        command: artifacts_cmd::ArtifactsCommand,
    },
    /// Check the audit log of language-model calls (hash chain).
    Audit {
        #[command(subcommand)]
        command: llm_cmd::AuditCommand,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

#[derive(clap::Args, Clone)]
struct RuleArgs {
    /// Extra rule directory (organisation rules); repeatable. Same ids override built-ins.
    #[arg(long = "rules", value_name = "DIR", global = true)]
    dirs: Vec<PathBuf>,
    /// Use only the rules from --rules / config, not the built-in set.
    #[arg(long, global = true)]
    no_builtin_rules: bool,
}

impl RuleArgs {
    fn load(&self, cfg: &config::Config) -> Result<tmc_engine::RuleSet> {
        let mut dirs = cfg.rules.dirs.clone();
        dirs.extend(self.dirs.iter().cloned());
        rules_cmd::load_rules(&dirs, self.no_builtin_rules || cfg.rules.no_builtin)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaKind {
    Model,
    Draft,
    /// The review decisions file (`<model>.review.yaml`).
    Review,
}

/// An error that decides its own exit code.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Bad input the user can fix (an unknown threat id, a decisions file for another model, a
/// wrong value): printed as an error, exit 1 like a model with errors.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// An [`InputError`] as an `anyhow::Error`.
pub fn input_error(message: impl Into<String>) -> anyhow::Error {
    InputError(message.into()).into()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(Exit(code)) = e.downcast_ref::<Exit>() {
                return ExitCode::from(*code);
            }
            // A decisions file or an edit that does not validate is an input error (exit 1),
            // like a model that does not.
            if e.downcast_ref::<InputError>().is_some() {
                eprintln!("error: {e:#}");
                return ExitCode::from(1);
            }
            if let Some(r) = e.downcast_ref::<tmc_review::ReviewError>() {
                eprintln!("error: {e:#}");
                let io = matches!(r, tmc_review::ReviewError::Io { .. });
                return ExitCode::from(if io { 3 } else { 1 });
            }
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let loaded = config::load(cli.config.as_deref())?;
    let data_dir = config::data_dir(cli.data_dir.as_deref(), &loaded.config);
    match cli.command {
        Command::Init(args) => init::run(args, cli.quiet),
        Command::Validate {
            files,
            format,
            deny_warnings,
        } => validate(&files, format, deny_warnings, cli.quiet),
        Command::Schema { which } => {
            let schema = match which {
                SchemaKind::Model => tmc_dsl::schema::model_schema(),
                SchemaKind::Draft => tmc_dsl::schema::draft_schema(),
                SchemaKind::Review => tmc_review::schema(),
            };
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(())
        }
        Command::Draft {
            file,
            format,
            out,
            out_dir,
            min_severity,
            kb,
            review,
            no_review,
            strict,
            llm,
            rules,
        } => {
            let min = min_severity.or(loaded.config.draft.min_severity.clone());
            let min = match min {
                Some(m) => Some(tmc_model::Severity::parse(&m).ok_or_else(|| {
                    anyhow::anyhow!("--min-severity must be info, low, medium, high or critical")
                })?),
                None => None,
            };
            let set = rules.load(&loaded.config)?;
            let (model, model_bytes) = rules_cmd::load_model_and_bytes(&file)?;
            let kb = match kb {
                true => Some(kb_cmd::open_for_draft(
                    &data_dir,
                    &loaded.config.kb,
                    cli.quiet,
                )?),
                false => None,
            };
            let copilot = match llm.active() {
                true => Some(llm_cmd::copilot(&llm, &loaded.config.llm, &data_dir)?),
                false => None,
            };
            let mode =
                tmc_app::GeneratorMode::compose(kb.is_some(), copilot.is_some(), !llm.llm_only);
            let mut req = tmc_app::DraftRequest::new(&model, &set, mode);
            req.min_severity = min;
            req.source_file = Some(file.display().to_string());
            req.kb = kb.as_ref();
            req.copilot = copilot.as_ref();
            req.critic = !llm.no_critic;
            let decisions = review_cmd::draft_review(&file, review.as_deref(), no_review)?;
            if let Some((path, decisions)) = &decisions {
                let mut ctx = tmc_review::ApplyContext::from_model(
                    &model,
                    Some(tmc_review::model_hash(&model_bytes)),
                );
                ctx.file = Some(path.display().to_string());
                req.review = Some((decisions, ctx));
            }
            if let Some(c) = &copilot {
                llm_cmd::note_missing_cwe(c, cli.quiet);
            }
            let drafted = tmc_app::draft(&req)?;
            if let (Some(report), Some(kb)) = (&drafted.kb_report, &kb)
                && !cli.quiet
            {
                eprintln!("{}", kb_cmd::augment_summary(kb, report));
            }
            if let (Some(o), Some(c)) = (&drafted.copilot, &copilot) {
                llm_cmd::report(c, o, "", cli.quiet);
            }
            if let Some(c) = &drafted.critic {
                for w in &c.warnings {
                    eprintln!("warning: critic: {w}");
                }
                if !cli.quiet {
                    eprintln!("{}", c.summary());
                }
            }
            if let Some(r) = &drafted.review
                && !cli.quiet
            {
                eprintln!(
                    "review: {} decision(s) applied ({} by id, {} by pattern, {} by fingerprint, {} by similarity — {} need confirmation), {} manual threat(s), {} orphaned, {} threat(s) unreviewed",
                    r.applied,
                    r.by_id,
                    r.by_wildcard,
                    r.by_fingerprint,
                    r.by_similar,
                    r.needs_confirmation,
                    r.manual_added,
                    r.orphans,
                    r.unreviewed
                );
                for o in drafted.draft.review.iter().flat_map(|s| &s.orphaned) {
                    eprintln!("warning: orphaned decision {}: {}", o.key, o.reason);
                }
            }
            write_draft(
                &drafted.draft,
                format,
                out.as_deref(),
                out_dir.as_deref(),
                cli.quiet,
            )?;
            let findings = tmc_engine::validity::check(&model, &drafted.draft);
            if !findings.is_empty() && (strict || !cli.quiet) {
                let by_kind: Vec<String> = tmc_engine::validity::counts(&findings)
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(k, n)| format!("{n} {}", k.as_str()))
                    .collect();
                eprintln!(
                    "validity lint: {} finding(s): {}",
                    findings.len(),
                    by_kind.join(", ")
                );
                if strict {
                    for f in &findings {
                        eprintln!("  {f}");
                    }
                }
            }
            if strict && !findings.is_empty() {
                return Err(Exit(1).into());
            }
            Ok(())
        }
        Command::Review { command, rules } => {
            review_cmd::run(command, &rules.load(&loaded.config)?, cli.quiet)
        }
        Command::Check { args, rules } => {
            review_cmd::check(args, &rules.load(&loaded.config)?, cli.quiet)
        }
        Command::Diff { args, rules } => review_cmd::diff(args, &rules.load(&loaded.config)?),
        Command::Serve(args) => serve_cmd::run(args, &data_dir, &loaded.config.server, cli.quiet),
        Command::Rules { command, rules } => rules_cmd::run(command, rules.load(&loaded.config)),
        Command::Import(args) => import_cmd::run(args, cli.quiet, &loaded.config.llm, &data_dir),
        Command::Export(args) => export_cmd::run(args),
        Command::Eval { mut args, rules } => {
            args.llm_context = Box::new(llm_cmd::EvalContext {
                config: loaded.config.llm.clone(),
                data_dir: data_dir.clone(),
                embeddings: loaded.config.kb.embeddings.clone(),
            });
            let set = rules.load(&loaded.config)?;
            eval_cmd::run(args, &set, cli.quiet)
        }
        Command::Kb { command } => {
            let rules =
                rules_cmd::load_rules(&loaded.config.rules.dirs, loaded.config.rules.no_builtin)?;
            kb_cmd::run(command, &data_dir, &loaded.config.kb, &rules, cli.quiet)
        }
        Command::Artifacts { command } => {
            artifacts_cmd::run(command, &data_dir, &loaded.config.artifacts, cli.quiet)
        }
        Command::Audit { command } => llm_cmd::audit(command, &data_dir, cli.quiet),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tmc", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn write_draft(
    draft: &tmc_model::Draft,
    format: Option<DraftFormat>,
    out: Option<&Path>,
    out_dir: Option<&Path>,
    quiet: bool,
) -> Result<()> {
    let render = |f: DraftFormat| -> Result<String> {
        Ok(match f {
            DraftFormat::Json => tmc_report::to_json(draft)?,
            DraftFormat::Md => tmc_report::markdown::render(draft),
        })
    };
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, f) in [
            ("draft.json", DraftFormat::Json),
            ("report.md", DraftFormat::Md),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, render(f)?).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    if let Some(path) = out {
        let f = format.unwrap_or(
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                DraftFormat::Json
            } else {
                DraftFormat::Md
            },
        );
        std::fs::write(path, render(f)?).with_context(|| format!("writing {}", path.display()))?;
    }
    if out.is_none() && out_dir.is_none() {
        // `tmc draft … | head` closes the pipe early: that is the reader's choice, not an error.
        let text = render(format.unwrap_or(DraftFormat::Md))?;
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("writing the draft to stdout")?,
        }
    } else if !quiet {
        let crit = draft
            .threats
            .iter()
            .filter(|t| t.severity.level >= tmc_model::Severity::High)
            .count();
        eprintln!(
            "{} threats ({crit} high or critical), {} suppressed by declared controls",
            draft.threats.len(),
            draft.suppressed.len()
        );
    }
    Ok(())
}

/// Reads a file with the model size limit applied before reading it whole.
pub fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    if meta.len() > limit as u64 {
        anyhow::bail!(
            "{}: file is {} bytes; the limit is {limit} bytes",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn validate(
    files: &[PathBuf],
    format: OutputFormat,
    deny_warnings: bool,
    quiet: bool,
) -> Result<()> {
    let mut all = Vec::new();
    let mut failed = false;
    for path in files {
        let name = path.display().to_string();
        let bytes = match read_bounded(path, tmc_dsl::MAX_MODEL_BYTES) {
            Ok(b) => b,
            Err(e) => {
                all.push(tmc_dsl::Diagnostic {
                    level: tmc_dsl::Level::Error,
                    code: "io",
                    message: format!("{e:#}"),
                    file: name.clone(),
                    line: 0,
                    column: 0,
                    element: None,
                    help: None,
                });
                failed = true;
                continue;
            }
        };
        let diags = match tmc_dsl::parse_model(&bytes, &name) {
            Ok(parsed) => tmc_dsl::validate(&parsed),
            Err(errors) => errors.0,
        };
        if diags
            .iter()
            .any(|d| d.is_error() || (deny_warnings && d.level == tmc_dsl::Level::Warning))
        {
            failed = true;
        }
        all.extend(diags);
    }
    match format {
        OutputFormat::Json => {
            let report = serde_json::json!({
                "ok": !failed,
                "errors": all.iter().filter(|d| d.is_error()).count(),
                "warnings": all.iter().filter(|d| !d.is_error()).count(),
                "diagnostics": all,
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        OutputFormat::Text => {
            let mut err = std::io::stderr().lock();
            for d in &all {
                if quiet && !d.is_error() {
                    continue;
                }
                writeln!(err, "{d}")?;
            }
            let errors = all.iter().filter(|d| d.is_error()).count();
            let warnings = all.len() - errors;
            if !quiet {
                let color = std::io::stderr().is_terminal();
                let (on, off) = if color && errors > 0 {
                    ("\x1b[31m", "\x1b[0m")
                } else {
                    ("", "")
                };
                writeln!(
                    err,
                    "{on}{} file(s): {errors} error(s), {warnings} warning(s){off}",
                    files.len()
                )?;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}
