//! `tmc kb`: ingest, search, remove and count what the knowledge base holds.
//!
//! The index is `<data dir>/kb/index.sqlite3`, or a PostgreSQL + pgvector server with
//! `[kb] backend = "postgres"`. Embeddings come from `[kb.embeddings]` in `tmc.toml`; without
//! it the knowledge base is BM25 only and every command says so.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
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
    /// (CWE/CAPEC CSV, ASVS JSON/CSV, OWASP mappings). Unchanged files are skipped.
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
        /// system, element, version, source); repeatable, all must match.
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

pub fn run(cmd: KbCommand, data_dir: &Path, cfg: &KbConfig, quiet: bool) -> Result<()> {
    let mut kb = open(data_dir, cfg)?;
    let no_embedder_note = "no embedder configured ([kb.embeddings] in tmc.toml): BM25 only";
    match cmd {
        KbCommand::Ingest { paths, format } => {
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
        "knowledge base ({}): {} threats added from past reviews, {} lowered by past rejections, {} mitigations given ASVS references",
        report.mode.as_deref().unwrap_or(if kb.embedder.is_some() {
            "hybrid"
        } else {
            "bm25"
        }),
        report.threats_added,
        report.threats_lowered,
        report.mitigations_enriched
    )
}
