//! `tmc eval`: import each benchmark system's input, draft it with the chosen mode, and score
//! the draft against that system's reference threats. Accuracy is measured, never claimed.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tmc_eval::bench::{ReferenceThreat, group_by_system, load_references};
use tmc_eval::matching::{EmbeddingSimilarity, Similarity, StructuredSimilarity};
use tmc_eval::score::{EvalReport, SystemScore, aggregate, score_system};

use tmc_app::GeneratorMode;

use crate::Exit;

#[derive(Args)]
pub struct EvalArgs {
    /// Benchmark directory (layout of ../shared/bench: references.jsonl + sources/).
    #[arg(long, default_value = "../shared/bench")]
    bench: PathBuf,
    /// Only systems whose name contains this text (case-insensitive).
    #[arg(long)]
    system: Option<String>,
    /// How drafts are made.
    #[arg(long, value_enum, default_value = "rules")]
    mode: Mode,
    /// What decides that a generated threat matches a reference.
    #[arg(long, value_enum, default_value = "structured")]
    matcher: Matcher,
    /// Sentence-embedding model directory (model.safetensors, tokenizer.json, config.json) for
    /// `--matcher embedding`; without it, `[kb.embeddings]` from tmc.toml.
    #[arg(long, value_name = "DIR")]
    embeddings_dir: Option<PathBuf>,
    /// Also score every draft against another system's references (the next one in order):
    /// what the matcher gives for threats that cannot be right. A matcher whose control is
    /// close to its real figures is measuring topic, not threats.
    #[arg(long)]
    control: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: EvalFormat,
    /// Append one JSON line (date, git revision, mode, figures) to this file.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Reproduce a published table instead: `uavthreatbench`.
    #[arg(long)]
    calibrate: Option<String>,
    /// Score the matcher against judges' labels instead of drafting: agreement per reference
    /// (covered vs none), the confusion table, recall beside the judges' strict and lenient
    /// recall, a mismatched-system control and inter-reader agreement. DIR holds the frozen
    /// drafts and readings (default `calibration/`, else `../shared/bench/judged`).
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    agreement: Option<Option<PathBuf>>,
    /// Compare the last lines of two --save files: A then B.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    compare: Option<Vec<PathBuf>>,
    /// Provider for modes `llm`, `rules+kb+llm` and `prompt-only`.
    #[command(flatten)]
    pub llm: crate::llm_cmd::ProviderArgs,
    /// Set by main from tmc.toml and the data directory.
    #[arg(skip)]
    pub llm_context: Box<crate::llm_cmd::EvalContext>,
}

/// Drafting modes, from the offline engine alone to the full copilot; the ablations
/// (`llm`, `prompt-only`) show what each part adds.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
pub enum Mode {
    /// The offline rule engine.
    Rules,
    /// Rules plus knowledge-base retrieval: past accepted threats from the other benchmark
    /// systems (leave-one-system-out: the scored system is never retrievable).
    #[value(name = "rules+kb")]
    RulesKb,
    /// A language model alone, with the full prompt (needs --provider).
    Llm,
    /// Rules + knowledge base + language model: the rules+kb draft is the baseline, and the
    /// prompt carries passages retrieved from the other benchmark systems.
    #[value(name = "rules+kb+llm")]
    RulesKbLlm,
    /// Ablation: a language model with only the product description (needs --provider).
    #[value(name = "prompt-only")]
    PromptOnly,
}

impl Mode {
    /// The generator mode the shared pipeline drafts in.
    fn generator(self) -> GeneratorMode {
        match self {
            Mode::Rules => GeneratorMode::Rules,
            Mode::RulesKb => GeneratorMode::RulesKb,
            Mode::Llm => GeneratorMode::Llm,
            Mode::RulesKbLlm => GeneratorMode::RulesKbLlm,
            Mode::PromptOnly => GeneratorMode::PromptOnly,
        }
    }

    fn uses_kb(self) -> bool {
        self.generator().augments_with_kb()
    }

    fn uses_model(self) -> bool {
        self.generator().uses_model()
    }

    fn name(self) -> &'static str {
        self.generator().as_str()
    }
}

/// Matchers of the benchmark protocol. Both are recorded with the scores (`describe`).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
pub enum Matcher {
    /// Deterministic: lexical similarity of the mechanism plus a bonus for the same element
    /// and STRIDE category; needs no model.
    Structured,
    /// Cosine of sentence embeddings, pairs below 0.4 unmatched (the Threat Composer
    /// consistency method); catches paraphrases the lexical matcher misses.
    Embedding,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalFormat {
    Table,
    Json,
    Md,
}

pub fn run(args: EvalArgs, rules: &tmc_engine::RuleSet, quiet: bool) -> Result<()> {
    if let Some(files) = &args.compare {
        return compare(&files[0], &files[1]);
    }
    if let Some(name) = &args.calibrate {
        return calibrate(name, &args.bench, args.format);
    }
    let refs = load_references(&args.bench)
        .with_context(|| format!("loading the benchmark at {}", args.bench.display()))?;
    let sim = similarity(&args, &refs)?;
    if let Some(dir) = &args.agreement {
        return agreement(dir.as_deref(), &refs, sim.as_ref(), args.format);
    }
    let groups = group_by_system(&refs);
    let kb = if args.mode.uses_kb() {
        Some(bench_kb(&args.bench)?)
    } else {
        None
    };
    if args.mode.uses_model() && !args.llm.active() {
        eprintln!(
            "mode `{}` needs a language model: add --provider openai|anthropic|bedrock (or --llm / --llm-profile NAME with tmc.toml)",
            args.mode.name()
        );
        return Err(Exit(2).into());
    }
    let copilot = if args.mode.uses_model() {
        Some(crate::llm_cmd::eval_copilot(
            &args.llm,
            &args.llm_context,
            &args.bench,
        )?)
    } else {
        None
    };
    let mut scores: Vec<SystemScore> = Vec::new();
    let mut critic_scores: Vec<SystemScore> = Vec::new();
    let mut critic_marked = 0usize;
    let mut findings: Vec<tmc_engine::Finding> = Vec::new();
    let mut lint_threats = 0usize;
    let mut drafts: Vec<Vec<tmc_model::Threat>> = Vec::new();
    let mut scored_refs: Vec<&[ReferenceThreat]> = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    for ((_dataset, system), system_refs) in &groups {
        if let Some(filter) = &args.system
            && !system.to_lowercase().contains(&filter.to_lowercase())
        {
            continue;
        }
        let drafted = draft_system(
            &args.bench,
            system_refs,
            rules,
            args.mode,
            kb.as_ref(),
            copilot.as_ref(),
            !args.llm.no_critic,
        );
        match drafted {
            Ok(d) => {
                lint_threats += d.threats.len();
                findings.extend(d.findings);
                scores.push(score_system(&d.threats, system_refs, sim.as_ref()));
                if let Some(kept) = &d.without_inapplicable {
                    critic_scores.push(score_system(kept, system_refs, sim.as_ref()));
                    critic_marked += d.threats.len() - kept.len();
                }
                if args.control {
                    drafts.push(d.threats);
                    scored_refs.push(system_refs.as_slice());
                }
            }
            Err(reason) => skipped.push((system.clone(), reason)),
        }
    }
    if scores.is_empty() && skipped.is_empty() {
        eprintln!("no system matched");
        return Err(Exit(1).into());
    }
    let report = aggregate(scores);
    match args.format {
        EvalFormat::Json => println!("{}", report.to_json()?),
        EvalFormat::Table => print!("{}", tmc_eval::score::render_table(&report)),
        EvalFormat::Md => print!("{}", tmc_eval::score::render_markdown(&report)),
    }
    for (system, reason) in &skipped {
        eprintln!("skipped {system}: {reason}");
    }
    if !quiet {
        eprintln!("{}", summary_line(&report, args.mode));
        let by_kind: Vec<String> = tmc_engine::validity::counts(&findings)
            .into_iter()
            .map(|(k, n)| format!("{n} {}", k.as_str()))
            .collect();
        eprintln!(
            "validity lint (a proxy, not relevance): {} finding(s) over {lint_threats} drafted threats: {}",
            findings.len(),
            by_kind.join(", ")
        );
    }
    if !critic_scores.is_empty() {
        let kept = aggregate(critic_scores);
        eprintln!(
            "without the {critic_marked} threat(s) the critic thinks do not apply: {}",
            summary_line(&kept, args.mode)
        );
    }
    if args.control && drafts.len() > 1 {
        let n = drafts.len();
        let control = aggregate(
            (0..n)
                .map(|i| score_system(&drafts[i], scored_refs[(i + 1) % n], sim.as_ref()))
                .collect(),
        );
        eprintln!(
            "control, each draft against the next system's references: {}",
            summary_line(&control, args.mode)
        );
    }
    if let Some(path) = &args.save {
        save(path, &report, args.mode)?;
    }
    Ok(())
}

/// The matcher `--matcher` names; `tmc eval` and `tmc eval --agreement` build it the same way
/// (the structured matcher's IDF over all reference texts), so the agreement measures the
/// matcher the figures come from.
fn similarity(args: &EvalArgs, refs: &[ReferenceThreat]) -> Result<Box<dyn Similarity>> {
    Ok(match args.matcher {
        Matcher::Structured => Box::new(StructuredSimilarity::for_references(refs)),
        Matcher::Embedding => {
            let cfg = match (&args.embeddings_dir, &args.llm_context.embeddings) {
                (Some(dir), _) => {
                    serde_json::from_value(serde_json::json!({"provider": "local", "path": dir}))?
                }
                (None, Some(cfg)) => cfg.clone(),
                (None, None) => {
                    eprintln!(
                        "--matcher embedding needs an embedding model: --embeddings-dir DIR or [kb.embeddings] in tmc.toml"
                    );
                    return Err(Exit(2).into());
                }
            };
            let embedder = cfg
                .build()
                .context("building the embedder for --matcher embedding")?;
            Box::new(EmbeddingSimilarity::new(CachedEmbedder::new(embedder)))
        }
    })
}

/// The default calibration directory: `calibration/` in the repository, else the shared
/// judged drafts.
const CALIBRATION_DIRS: [&str; 2] = ["calibration", "../shared/bench/judged"];

/// `--agreement DIR` as given, else the first of `candidates` that is a directory.
fn calibration_dir(dir: Option<&Path>, candidates: &[&str]) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
        None => candidates
            .iter()
            .map(PathBuf::from)
            .find(|d| d.is_dir())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no calibration directory: neither {} exists; pass --agreement DIR",
                    candidates.join(" nor ")
                )
            }),
    }
}

fn agreement(
    dir: Option<&Path>,
    refs: &[ReferenceThreat],
    sim: &dyn Similarity,
    format: EvalFormat,
) -> Result<()> {
    let dir = calibration_dir(dir, &CALIBRATION_DIRS)?;
    let readings = tmc_eval::bench::load_readings(&dir)
        .with_context(|| format!("loading the calibration readings in {}", dir.display()))?;
    let systems = tmc_eval::agreement::calibrated_systems(&readings, refs)
        .with_context(|| format!("checking the calibration readings in {}", dir.display()))?;
    // No validity lint exists yet (issue 16, point 6); the report says so.
    let report = tmc_eval::agreement::agreement(&systems, sim, None);
    match format {
        EvalFormat::Json => println!("{}", report.to_json()?),
        EvalFormat::Table | EvalFormat::Md => {
            print!("{}", tmc_eval::agreement::render_markdown(&report))
        }
    }
    Ok(())
}

/// Imports the system's input and drafts it in `mode`. The reference threats that come
/// along with the import are dropped here: the draft must not see the answers. With a
/// knowledge base, the scored system's own source is excluded (leave-one-system-out).
fn draft_system(
    bench: &Path,
    refs: &[ReferenceThreat],
    rules: &tmc_engine::RuleSet,
    mode: Mode,
    kb: Option<&tmc_kb::KnowledgeBase>,
    copilot: Option<&crate::llm_cmd::Copilot>,
    critic: bool,
) -> std::result::Result<Drafted, String> {
    let Some(first) = refs.first() else {
        return Err("no references".into());
    };
    let source = first.source_file.as_str();
    let path = bench.join("sources").join(source);
    if source.ends_with(".xls") {
        return Err(
            "its architecture is only prose and a picture (README + PNG); no importer reads it"
                .into(),
        );
    }
    let bytes =
        crate::read_bounded(&path, tmc_import::MAX_IMPORT_BYTES).map_err(|e| format!("{e:#}"))?;
    let imported = tmc_import::import(&bytes, source, None).map_err(|e| e.to_string())?;
    let model = &imported.model;
    let mut req = tmc_app::DraftRequest::new(model, rules, mode.generator());
    req.kb = kb;
    req.copilot = copilot;
    req.exclude_sources = vec![source.to_string()];
    req.critic = critic;
    let out = tmc_app::draft(&req).map_err(|e| e.to_string())?;
    if let (Some(c), Some(o)) = (copilot, &out.copilot) {
        crate::llm_cmd::report(c, o, &format!("{source}: "), false);
    }
    if let Some(c) = &out.critic {
        for w in &c.warnings {
            eprintln!("warning: {source}: critic: {w}");
        }
        eprintln!("{source}: {}", c.summary());
    }
    let findings = tmc_engine::validity::check(model, &out.draft);
    let without_inapplicable = out
        .critic
        .as_ref()
        .map(|_| tmc_llm::critic::without_not_applicable(&out.draft).threats);
    Ok(Drafted {
        threats: out.draft.threats,
        findings,
        without_inapplicable,
    })
}

/// One benchmark system as drafted: its threats, what the validity lint found in them, and —
/// when the critic ran — the threats without those it thinks do not apply (scored apart, never
/// removed from the draft).
struct Drafted {
    threats: Vec<tmc_model::Threat>,
    findings: Vec<tmc_engine::Finding>,
    without_inapplicable: Option<Vec<tmc_model::Threat>>,
}

/// Adapts the knowledge base's embedder to the matcher's one-text interface, embedding each
/// distinct text once (the matcher asks for every generated × reference pair).
struct CachedEmbedder {
    inner: Box<dyn tmc_kb::Embedder>,
    cache: RefCell<HashMap<String, Option<Vec<f32>>>>,
    warned: RefCell<bool>,
}

impl CachedEmbedder {
    fn new(inner: Box<dyn tmc_kb::Embedder>) -> Self {
        CachedEmbedder {
            inner,
            cache: RefCell::new(HashMap::new()),
            warned: RefCell::new(false),
        }
    }
}

impl tmc_eval::matching::Embedder for CachedEmbedder {
    fn embed(&self, text: &str) -> Option<Vec<f32>> {
        if let Some(v) = self.cache.borrow().get(text) {
            return v.clone();
        }
        let v = match self.inner.embed(&[text.to_string()]) {
            Ok(mut vs) => vs.pop(),
            Err(e) => {
                // One warning, not one per pair; the pair scores 0 (unmatched), which can only
                // lower the figures, never inflate them.
                if !self.warned.replace(true) {
                    eprintln!("warning: embedding failed, pairs score 0: {e}");
                }
                None
            }
        };
        self.cache.borrow_mut().insert(text.to_string(), v.clone());
        v
    }

    fn model_name(&self) -> String {
        self.inner.model_id()
    }
}

/// The knowledge base for `rules+kb`: every reviewed model under `<bench>/sources`, in memory,
/// BM25 only so the figures are deterministic. Built from the benchmark rather than the user's
/// data directory so runs are reproducible; [`draft_system`] excludes the scored system's own
/// source file.
fn bench_kb(bench: &Path) -> Result<tmc_kb::KnowledgeBase> {
    let mut index = tmc_kb::SqliteIndex::in_memory()?;
    tmc_kb::ingest_paths(
        &mut index,
        &[bench.join("sources")],
        None,
        &tmc_kb::ingest::NoProgress,
    )?;
    Ok(tmc_kb::KnowledgeBase::new(Box::new(index), None))
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

/// One line for CI logs and the README.
pub fn summary_line(report: &EvalReport, mode: Mode) -> String {
    let part = |label: &str, m: Option<&tmc_eval::score::MacroSummary>| match m {
        Some(m) => {
            let f1 = match (m.strict_precision, m.strict_recall) {
                (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
                _ => None,
            };
            format!(
                "{label}: {} systems, recall {}, reference precision {}, strict F1 {}, relevance not judged",
                m.systems,
                pct(m.recall),
                pct(m.reference_precision),
                pct(f1)
            )
        }
        None => format!("{label}: none"),
    };
    format!(
        "eval summary (mode {}, {}): {} | {}",
        mode.name(),
        if mode.uses_model() {
            "with a language model"
        } else {
            "offline"
        },
        part("expert", report.expert.as_ref()),
        part("tool baselines", report.tool_baselines.as_ref())
    )
}

fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn save(path: &Path, report: &EvalReport, mode: Mode) -> Result<()> {
    let line = serde_json::json!({
        "date": now_rfc3339(),
        "git_revision": git_revision(),
        "mode": mode.name(),
        "expert": report.expert,
        "tool_baselines": report.tool_baselines,
        "datasets": report.datasets,
    });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{}", serde_json::to_string(&line)?)?;
    Ok(())
}

/// UTC time without a date-time dependency: days-from-civil on the Unix clock.
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn last_line(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| anyhow::anyhow!("{} is empty", path.display()))?;
    serde_json::from_str(line).with_context(|| format!("{}: last line is not JSON", path.display()))
}

fn compare(a: &Path, b: &Path) -> Result<()> {
    let (va, vb) = (last_line(a)?, last_line(b)?);
    let mut rows: BTreeMap<String, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for group in ["expert", "tool_baselines"] {
        for metric in [
            "recall",
            "reference_precision",
            "strict_precision",
            "strict_recall",
            "severity_exact",
            "cwe_exact",
        ] {
            let get = |v: &serde_json::Value| {
                v.get(group)
                    .and_then(|g| g.get(metric))
                    .and_then(|x| x.as_f64())
            };
            rows.insert(format!("{group}.{metric}"), (get(&va), get(&vb)));
        }
    }
    println!(
        "A: {} {} {}\nB: {} {} {}",
        va["date"], va["git_revision"], va["mode"], vb["date"], vb["git_revision"], vb["mode"]
    );
    println!("{:<36} {:>8} {:>8} {:>8}", "metric", "A", "B", "B-A");
    for (k, (x, y)) in rows {
        let diff = match (x, y) {
            (Some(x), Some(y)) => format!("{:+.1}", (y - x) * 100.0),
            _ => "n/a".into(),
        };
        println!("{k:<36} {:>8} {:>8} {diff:>8}", pct(x), pct(y));
    }
    Ok(())
}

fn calibrate(name: &str, bench: &Path, format: EvalFormat) -> Result<()> {
    if name != "uavthreatbench" {
        eprintln!("unknown calibration `{name}`; available: uavthreatbench");
        return Err(Exit(2).into());
    }
    let c = tmc_eval::calibrate::calibrate_uav(bench)
        .with_context(|| format!("UAVThreatBench files under {}", bench.display()))?;
    if format == EvalFormat::Json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    println!(
        "UAVThreatBench calibration ({} scenarios, GPT-4o)",
        c.scenarios
    );
    println!("rule: {}", c.rule);
    println!(
        "matched scenarios: {:.1}% (published {})",
        c.matched_pct,
        c.published_matched_pct
            .map(|v| format!("{v:.1}%"))
            .unwrap_or_else(|| "n/a".into())
    );
    println!(
        "perfect scenarios: {:.1}% (published {})",
        c.perfect_pct,
        c.published_perfect_pct
            .map(|v| format!("{v:.1}%"))
            .unwrap_or_else(|| "n/a".into())
    );
    println!(
        "per-scenario agreement with the authors' log: {}/{}",
        c.log_agreement, c.log_scenarios
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_dir_falls_back_in_order() {
        let tmp = std::env::temp_dir();
        let here = tmp.to_string_lossy().into_owned();
        let missing = tmp.join("tmc-no-such-calibration-dir");
        let missing = missing.to_string_lossy().into_owned();
        let got = calibration_dir(None, &[missing.as_str(), here.as_str()]);
        assert_eq!(got.ok(), Some(PathBuf::from(&here)));
        let err = calibration_dir(None, &[missing.as_str()]).err();
        assert!(err.is_some_and(|e| e.to_string().contains("--agreement DIR")));
        let given = calibration_dir(Some(Path::new("x")), &[here.as_str()]);
        assert_eq!(given.ok(), Some(PathBuf::from("x")));
    }
}
