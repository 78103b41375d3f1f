//! `tmc kb`: ingest, search, remove and count what the knowledge base holds.
//!
//! The index is `<data dir>/kb/index.sqlite3`, or a PostgreSQL + pgvector server with
//! `[kb] backend = "postgres"`. Embeddings come from `[kb.embeddings]` in `tmc.toml`; without
//! it the knowledge base is BM25 only and every command says so.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use tmc_kb::ingest::{NoProgress, Outcome, Progress};
use tmc_kb::search::{SearchMode, SearchOptions};
use tmc_kb::{Filter, KnowledgeBase};

use crate::config::KbConfig;
use crate::{Exit, OutputFormat};

#[derive(Subcommand)]
pub enum KbCommand {
    /// Ingest reviewed threat models, documents (Markdown, text, HTML) and standards
    /// (CWE/CAPEC CSV, ASVS JSON/CSV, OWASP mappings). Unchanged files are skipped. A model with
    /// its decisions file beside it (`X.yaml` + `X.review.yaml`) is ingested as one reviewed draft.
    Ingest {
        /// Files or directories (walked recursively; hidden entries skipped).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Search: ranked hits with scores and sources.
    Search {
        query: String,
        /// Number of hits.
        #[arg(long, short, default_value_t = 10)]
        k: usize,
        /// Metadata filter `key=value[,value]` (kind, tech, stride, cwe, capec, asvs, status,
        /// rule, system, element, version, source); repeatable, all must match.
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        /// Ranking: hybrid when embeddings are configured, else bm25.
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Remove sources: a file, a directory (everything under it) or a file name.
    Rm {
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// How reviews judged each rule: drafted, confirmed, rejected (not applicable), edited, over
    /// reviewed models (pairs under PATHS, or everything `kb ingest` took in as a pair).
    Feedback {
        /// Reviewed models (`X.yaml` + `X.review.yaml`), reviewed draft JSON files, or
        /// directories; default: the reviewed drafts in the data directory.
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Sources, chunks per kind, and the embedding model.
    Stats {
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// List every source.
        #[arg(long)]
        sources: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Bm25,
    Dense,
    Hybrid,
}

/// Where the knowledge base lives, for messages (never shows a password from the URL).
pub fn location(data_dir: &Path, cfg: &KbConfig) -> String {
    tmc_app::backends::kb_location(data_dir, cfg, &crate::config::env)
}

/// Opens the configured knowledge base with the configured embedder (if any).
pub fn open(data_dir: &Path, cfg: &KbConfig) -> Result<KnowledgeBase> {
    Ok(tmc_app::backends::open_kb(
        data_dir,
        cfg,
        &crate::config::env,
    )?)
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, files: usize) {
        self.0.set_length(files as u64);
    }
    fn file(&self, path: &Path) {
        self.0.inc(1);
        self.0.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        );
    }
    fn done(&self) {
        self.0.finish_and_clear();
    }
}

/// A reviewed model (`X.yaml` with `X.review.yaml` beside it) becomes one reviewed draft for
/// the knowledge base: drafted with the rules, decisions applied, written under
/// `<data dir>/kb/reviewed/` (a stable source id per model), and ingested in place of the pair.
/// Other paths pass through unchanged.
pub fn reviewed_pairs(
    paths: &[PathBuf],
    data_dir: &Path,
    rules: &tmc_engine::RuleSet,
) -> Result<Vec<PathBuf>> {
    let mut models: Vec<PathBuf> = Vec::new();
    let mut out: Vec<PathBuf> = Vec::new();
    fn model_beside(review: &Path) -> Option<PathBuf> {
        let name = review.file_name()?.to_string_lossy().to_string();
        let stem = name.strip_suffix(".review.yaml")?;
        ["yaml", "yml", "json"]
            .iter()
            .map(|ext| review.with_file_name(format!("{stem}.{ext}")))
            .find(|p| p.is_file())
    }
    fn walk(dir: &Path, depth: usize, models: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && depth < 8 {
                walk(&p, depth + 1, models);
            } else if let Some(m) = model_beside(&p) {
                models.push(m);
            }
        }
    }
    for p in paths {
        if p.is_dir() {
            walk(p, 0, &mut models);
            out.push(p.clone());
        } else if let Some(m) = model_beside(p) {
            models.push(m);
        } else if crate::review_cmd::default_review_path(p).is_file()
            && p.file_name()
                .is_some_and(|n| !n.to_string_lossy().ends_with(".review.yaml"))
        {
            models.push(p.clone());
        } else {
            out.push(p.clone());
        }
    }
    models.sort();
    models.dedup();
    let dir = data_dir.join("kb").join("reviewed");
    for model in models {
        let target = crate::review_cmd::Target {
            model: model.clone(),
            review: None,
            draft: None,
        };
        let l = crate::review_cmd::load(&target, rules)?;
        let review = crate::review_cmd::default_review_path(&model);
        let file = tmc_review::ReviewFile::open(&review)?;
        let (draft, _) = crate::review_cmd::reviewed(&l, &file.decisions, &review);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let abs = std::path::absolute(&model).unwrap_or_else(|_| model.clone());
        let slug: String = abs
            .display()
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!("{slug}.draft.json"));
        std::fs::write(&path, tmc_report::to_json(&draft)?)
            .with_context(|| format!("writing {}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}

pub fn run(
    cmd: KbCommand,
    data_dir: &Path,
    cfg: &KbConfig,
    rules: &tmc_engine::RuleSet,
    quiet: bool,
) -> Result<()> {
    let mut kb = open(data_dir, cfg)?;
    let no_embedder_note = "no embedder configured ([kb.embeddings] in tmc.toml): BM25 only";
    match cmd {
        KbCommand::Ingest { paths, format } => {
            let paths = reviewed_pairs(&paths, data_dir, rules)?;
            let show_bar = !quiet && std::io::stderr().is_terminal();
            let bar = Bar(if show_bar {
                let b = ProgressBar::new(0);
                b.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} files {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b
            } else {
                ProgressBar::hidden()
            });
            let progress: &dyn Progress = if show_bar { &bar } else { &NoProgress };
            let summary =
                tmc_kb::ingest_paths(kb.index.as_mut(), &paths, kb.embedder.as_deref(), progress)?;
            if format == OutputFormat::Json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
                return Ok(());
            }
            if !quiet {
                for f in &summary.files {
                    if let Some(reason) = &f.reason {
                        eprintln!("skipped {}: {reason}", f.path);
                    }
                }
            }
            let kinds: Vec<String> = summary
                .by_kind
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            println!(
                "{} files: {} added, {} updated, {} unchanged, {} skipped; {} chunks written{} in {:.1}s",
                summary.files.len(),
                summary.count(Outcome::Added),
                summary.count(Outcome::Updated),
                summary.count(Outcome::Unchanged),
                summary.count(Outcome::Skipped),
                summary.chunks_written,
                if kinds.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", kinds.join(", "))
                },
                summary.seconds
            );
            match &summary.embed_model {
                Some(m) => println!("embeddings: {m}"),
                None => println!("{no_embedder_note}"),
            }
            Ok(())
        }
        KbCommand::Feedback { paths, format } => {
            let paths = if paths.is_empty() {
                vec![data_dir.join("kb").join("reviewed")]
            } else {
                paths
            };
            let files = reviewed_pairs(&paths, data_dir, rules)?;
            let mut drafts = Vec::new();
            let mut stack = files;
            while let Some(p) = stack.pop() {
                if p.is_dir() {
                    for e in std::fs::read_dir(&p)
                        .with_context(|| format!("reading {}", p.display()))?
                        .flatten()
                    {
                        stack.push(e.path());
                    }
                } else if p.extension().is_some_and(|e| e == "json") {
                    let bytes = crate::read_bounded(&p, 64 * 1024 * 1024)?;
                    match serde_json::from_slice::<tmc_model::Draft>(&bytes) {
                        Ok(d) => drafts.push(d),
                        Err(e) => eprintln!("skipped {}: not a tmc draft ({e})", p.display()),
                    }
                }
            }
            let rows = feedback(&drafts);
            match format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                OutputFormat::Text => {
                    println!(
                        "{:<18} {:>7} {:>9} {:>8} {:>6} {:>10}",
                        "rule", "drafted", "confirmed", "rejected", "edited", "unreviewed"
                    );
                    for r in &rows {
                        println!(
                            "{:<18} {:>7} {:>9} {:>8} {:>6} {:>10}",
                            r.rule, r.drafted, r.confirmed, r.rejected, r.edited, r.unreviewed
                        );
                    }
                    if !quiet {
                        eprintln!("{} reviewed model(s), {} rule(s)", drafts.len(), rows.len());
                    }
                }
            }
            Ok(())
        }
        KbCommand::Search {
            query,
            k,
            filters,
            mode,
            format,
        } => {
            let mut filter = Filter::default();
            for f in &filters {
                let (key, values) = Filter::parse_clause(f).map_err(|e| {
                    eprintln!("{e}");
                    anyhow::Error::new(Exit(2))
                })?;
                filter.must.push((key, values));
            }
            let mode = mode.map(|m| match m {
                ModeArg::Bm25 => SearchMode::Lexical,
                ModeArg::Dense => SearchMode::Dense,
                ModeArg::Hybrid => SearchMode::Hybrid,
            });
            if mode.is_some_and(|m| m != SearchMode::Lexical) && kb.embedder.is_none() {
                eprintln!("--mode dense/hybrid needs [kb.embeddings] in tmc.toml");
                return Err(Exit(2).into());
            }
            let result = kb.search(&query, &SearchOptions { k, filter, mode })?;
            if format == OutputFormat::Json {
                println!("{}", serde_json::to_string_pretty(&result)?);
                return Ok(());
            }
            if kb.embedder.is_none() && !quiet {
                eprintln!("{no_embedder_note}");
            }
            if result.hits.is_empty() {
                println!("no hits (mode {})", result.mode.as_str());
                return Ok(());
            }
            println!("mode {}", result.mode.as_str());
            for h in &result.hits {
                let c = &h.chunk;
                let mut extra = Vec::new();
                if let Some(s) = &c.meta.status {
                    extra.push(format!("status {s}"));
                }
                if !c.meta.stride.is_empty() {
                    extra.push(format!("STRIDE {}", c.meta.stride.join("")));
                }
                if !c.meta.cwe.is_empty() && c.meta.cwe.len() <= 5 {
                    let cwes: Vec<String> = c.meta.cwe.iter().map(|x| format!("CWE-{x}")).collect();
                    extra.push(cwes.join(" "));
                }
                println!(
                    "{:>2}. {:.4}  [{}] {}",
                    h.rank,
                    h.score,
                    c.kind.as_str(),
                    c.title
                );
                println!(
                    "    {}#{}{}",
                    c.source_name,
                    c.key,
                    if extra.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", extra.join("; "))
                    }
                );
            }
            Ok(())
        }
        KbCommand::Rm { targets } => {
            let mut total = 0;
            for t in &targets {
                // Accept both the path as typed and its canonical form (how sources are stored).
                let canonical = tmc_kb::ingest::source_id(Path::new(t));
                let mut removed = kb.index.remove(&canonical)?;
                if removed.is_empty() && &canonical != t {
                    removed = kb.index.remove(t)?;
                }
                if removed.is_empty() {
                    eprintln!("no source matches `{t}`");
                }
                for s in &removed {
                    if !quiet {
                        println!("removed {} ({} chunks)", s.path, s.chunks);
                    }
                }
                total += removed.len();
            }
            if total == 0 {
                return Err(Exit(1).into());
            }
            Ok(())
        }
        KbCommand::Stats { format, sources } => {
            let stats = kb.index.stats()?;
            if format == OutputFormat::Json {
                let mut v = serde_json::to_value(&stats)?;
                if sources {
                    v["source_list"] = serde_json::to_value(kb.index.sources()?)?;
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!(
                "{}: {} sources, {} chunks ({} with embeddings)",
                location(data_dir, cfg),
                stats.sources,
                stats.chunks,
                stats.embedded_chunks
            );
            for (k, n) in &stats.by_kind {
                println!("  {k:<8} {n}");
            }
            if stats.embed_models.is_empty() {
                println!("embeddings: none (BM25 only)");
            } else {
                println!("embeddings: {}", stats.embed_models.join(", "));
            }
            if sources {
                for s in kb.index.sources()? {
                    println!("  {} [{}] {} chunks", s.path, s.format, s.chunks);
                }
            }
            Ok(())
        }
    }
}

/// Opens the knowledge base for `tmc draft --kb`, warning when it is empty.
pub fn open_for_draft(data_dir: &Path, cfg: &KbConfig, quiet: bool) -> Result<KnowledgeBase> {
    let kb = open(data_dir, cfg)?;
    if kb.index.stats()?.chunks == 0 && !quiet {
        eprintln!(
            "the knowledge base at {} is empty; `tmc kb ingest PATH…` fills it",
            location(data_dir, cfg)
        );
    }
    Ok(kb)
}

/// The line `tmc draft --kb` prints about what the knowledge base did.
pub fn augment_summary(kb: &KnowledgeBase, report: &tmc_kb::augment::AugmentReport) -> String {
    format!(
        "knowledge base ({}): {} threats backed by past reviews ({} past mitigations merged, {} refused as naming other systems), {} lowered by past rejections, {} moved and {} annotated by past severity overrides, {} mitigations given ASVS references",
        report.mode.as_deref().unwrap_or(if kb.embedder.is_some() {
            "hybrid"
        } else {
            "bm25"
        }),
        report.threats_corroborated,
        report.mitigations_merged,
        report.mitigations_refused,
        report.threats_lowered,
        report.severity_moved,
        report.severity_noted,
        report.mitigations_enriched
    )
}

/// How reviews judged one rule across reviewed drafts.
#[derive(Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct RuleFeedback {
    pub rule: String,
    pub drafted: usize,
    /// Kept as real: open, mitigated, accepted, transferred or avoided.
    pub confirmed: usize,
    /// Not applicable (a false positive).
    pub rejected: usize,
    /// Severity overridden or title reworded by a reviewer.
    pub edited: usize,
    pub unreviewed: usize,
}

/// Per-rule review outcomes, rules sorted by id. Counts come from the threats' statuses, the
/// same ones `tmc_review::tally` counts.
pub fn feedback(drafts: &[tmc_model::Draft]) -> Vec<RuleFeedback> {
    let mut by_rule: std::collections::BTreeMap<String, RuleFeedback> = Default::default();
    for d in drafts {
        for t in &d.threats {
            let tmc_model::Provenance::Rule { rule_id, .. } = &t.provenance else {
                continue;
            };
            let row = by_rule
                .entry(rule_id.clone())
                .or_insert_with(|| RuleFeedback {
                    rule: rule_id.clone(),
                    ..RuleFeedback::default()
                });
            row.drafted += 1;
            match t.status {
                tmc_model::ThreatStatus::Draft => row.unreviewed += 1,
                tmc_model::ThreatStatus::NotApplicable => row.rejected += 1,
                _ => row.confirmed += 1,
            }
            if t.review
                .as_ref()
                .is_some_and(|r| r.severity_override.is_some() || r.drafted_title.is_some())
            {
                row.edited += 1;
            }
        }
    }
    by_rule.into_values().collect()
}
