//! `tmc rules list|show|lint|test` and loading the rule set for `draft`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use tmc_engine::{DraftOptions, RuleSet};

use crate::{Exit, read_bounded};

#[derive(Subcommand)]
pub enum RulesCommand {
    /// List rules: id, STRIDE, target, title.
    List {
        #[arg(long, value_enum, default_value = "text")]
        format: crate::OutputFormat,
    },
    /// Show one rule in full.
    Show { id: String },
    /// Check rule files: syntax, unknown attributes and values, missing mappings.
    Lint,
    /// Run rule tests (must / must-not trigger) from YAML files.
    Test {
        /// Test files or directories (default: rules/tests).
        paths: Vec<PathBuf>,
    },
}

/// Built-in rules (unless disabled), then each directory's `*.yaml` in name order.
pub fn load_rules(dirs: &[PathBuf], no_builtin: bool) -> Result<RuleSet> {
    let mut set = if no_builtin {
        RuleSet::default()
    } else {
        RuleSet::builtin().map_err(|errs| anyhow::anyhow!(render(&errs)))?
    };
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading rules directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml") && p.is_file())
            .collect();
        files.sort();
        for f in files {
            let bytes = read_bounded(&f, tmc_engine::rules::MAX_RULE_FILE_BYTES)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("{}: not UTF-8", f.display()))?;
            set.add_file(&text, &f.display().to_string())
                .map_err(|errs| anyhow::anyhow!(render(&errs)))?;
        }
    }
    Ok(set)
}

fn render(errs: &[tmc_engine::RuleError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn run(cmd: RulesCommand, set_result: Result<RuleSet>) -> Result<()> {
    if let RulesCommand::Lint = cmd {
        let set = match set_result {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e:#}");
                return Err(Exit(1).into());
            }
        };
        let warnings = tmc_engine::lint::lint(&set);
        for w in &warnings {
            eprintln!("{w}");
        }
        eprintln!("{} rules: {} problem(s)", set.len(), warnings.len());
        if !warnings.is_empty() {
            return Err(Exit(1).into());
        }
        return Ok(());
    }
    let set = set_result?;
    match cmd {
        RulesCommand::List { format } => {
            if format == crate::OutputFormat::Json {
                let rows: Vec<_> = set
                    .rules()
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.spec.id,
                            "title": r.spec.title,
                            "stride": r.stride,
                            "target": r.spec.target,
                            "origin": r.origin,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in set.rules() {
                    let stride: String = r.stride.iter().map(|s| s.letter()).collect();
                    println!(
                        "{:<18} {:<6} {:<9} {}",
                        r.spec.id,
                        stride,
                        format!("{:?}", r.spec.target).to_lowercase(),
                        r.spec.title
                    );
                }
            }
            Ok(())
        }
        RulesCommand::Show { id } => {
            let Some(r) = set.get(&id) else {
                eprintln!("no rule `{id}`; `tmc rules list` shows them");
                return Err(Exit(1).into());
            };
            println!("{}  ({})", r.spec.id, r.origin);
            println!("title:       {}", r.spec.title);
            println!(
                "stride:      {}",
                r.stride
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("target:      {:?}", r.spec.target);
            println!("when:        {}", r.spec.when.trim());
            println!(
                "likelihood:  {}  impact: {}",
                r.spec.likelihood, r.spec.impact
            );
            println!("description: {}", r.spec.description.trim());
            for c in &r.spec.controls {
                println!(
                    "control:     {:?} when {} — {}",
                    c.effect,
                    c.when.trim(),
                    c.note
                );
            }
            for m in &r.spec.mitigations {
                println!(
                    "mitigation:  {} {} [ASVS {}]",
                    m.id,
                    m.text.trim(),
                    m.asvs.join(", ")
                );
            }
            let refs = &r.references;
            println!(
                "references:  CWE {:?} CAPEC {:?} OWASP2021 {:?} OWASP2025 {:?} API {:?} LLM {:?}",
                refs.cwe,
                refs.capec,
                refs.owasp_top10_2021,
                refs.owasp_top10_2025,
                refs.owasp_api_2023,
                refs.owasp_llm_2025
            );
            Ok(())
        }
        RulesCommand::Test { paths } => run_tests(&set, &paths),
        RulesCommand::Lint => Ok(()),
    }
}

fn run_tests(set: &RuleSet, paths: &[PathBuf]) -> Result<()> {
    let defaults = [PathBuf::from("rules/tests")];
    let paths = if paths.is_empty() {
        &defaults[..]
    } else {
        paths
    };
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
                .collect();
            v.sort();
            files.extend(v);
        } else {
            files.push(p.clone());
        }
    }
    let (mut cases, mut failed) = (0, 0);
    for f in files {
        let text = String::from_utf8(read_bounded(&f, tmc_dsl::MAX_MODEL_BYTES)?)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8", f.display()))?;
        let file = tmc_engine::ruletest::parse_tests(&text)
            .map_err(|e| anyhow::anyhow!("{}:{e}", f.display()))?;
        for case in file.tests {
            cases += 1;
            let model = match (&case.inline, &case.model) {
                (Some(m), _) => m.clone(),
                (None, Some(rel)) => load_model(&f.parent().unwrap_or(Path::new(".")).join(rel))?,
                (None, None) => {
                    anyhow::bail!("{}: case `{}` names no model", f.display(), case.name)
                }
            };
            let d = tmc_engine::draft(&model, set, &DraftOptions::default());
            let problems = tmc_engine::ruletest::check(&d, &case);
            if problems.is_empty() {
                println!("ok   {}", case.name);
            } else {
                failed += 1;
                for p in problems {
                    println!("FAIL {p}");
                }
            }
        }
    }
    println!("{} passed, {failed} failed", cases - failed);
    if failed > 0 {
        return Err(Exit(1).into());
    }
    Ok(())
}

pub fn load_model(path: &Path) -> Result<tmc_model::SystemModel> {
    Ok(load_model_and_bytes(path)?.0)
}

/// The model and the bytes it was read from (for its hash), reading the file once.
pub fn load_model_and_bytes(path: &Path) -> Result<(tmc_model::SystemModel, Vec<u8>)> {
    let bytes = read_bounded(path, tmc_dsl::MAX_MODEL_BYTES)?;
    Ok((parse_checked(path, &bytes)?.model, bytes))
}

/// Parses and validates model bytes read from `path`; errors are printed with their places
/// and end the command with exit 1.
pub fn parse_checked(path: &Path, bytes: &[u8]) -> Result<tmc_dsl::ParsedModel> {
    match tmc_dsl::load_checked(bytes, &path.display().to_string()) {
        Ok((parsed, _warnings)) => Ok(parsed),
        Err(e) => {
            eprintln!("{e}");
            Err(Exit(1).into())
        }
    }
}
