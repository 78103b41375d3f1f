//! `tmc init`: scaffold a commented model, from flags or by asking on a terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

/// The scaffold lives in a data file so its comments can be edited without touching code.
const TEMPLATE: &str = include_str!("../templates/init.yaml");

#[derive(Args)]
pub struct InitArgs {
    /// Product name (asked for on a terminal when missing).
    #[arg(long)]
    name: Option<String>,
    /// One-paragraph description of what the product does.
    #[arg(long)]
    description: Option<String>,
    /// Owning team.
    #[arg(long)]
    owner: Option<String>,
    /// low | medium | high | mission-critical
    #[arg(long, default_value = "medium")]
    criticality: String,
    /// Where to write the model.
    #[arg(long, short, default_value = "threatmodel.yaml")]
    output: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
    /// Never prompt, even on a terminal.
    #[arg(long)]
    no_input: bool,
}

pub fn run(args: InitArgs, quiet: bool) -> Result<()> {
    if args.output.exists() && !args.force {
        anyhow::bail!(
            "{} already exists; pass --force to overwrite",
            args.output.display()
        );
    }
    let interactive = !args.no_input && std::io::stdin().is_terminal();
    let ask = |label: &str, given: Option<String>, default: &str| -> Result<String> {
        if let Some(v) = given {
            return Ok(v);
        }
        if !interactive {
            return Ok(default.to_string());
        }
        eprint!("{label} [{default}]: ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let line = line.trim();
        Ok(if line.is_empty() {
            default.to_string()
        } else {
            line.to_string()
        })
    };
    let name = ask("Product name", args.name, "My product")?;
    let description = ask(
        "What does it do (one sentence)",
        args.description,
        "Describe what the product does, who uses it and which data it handles.",
    )?;
    let owner = ask("Owning team", args.owner, "product-team")?;
    let criticality = args.criticality;
    if !["low", "medium", "high", "mission-critical"].contains(&criticality.as_str()) {
        anyhow::bail!("--criticality must be low, medium, high or mission-critical");
    }
    let file = args.output.display().to_string();
    let text = TEMPLATE
        .replace("{{FILE}}", &file)
        .replace("{{NAME}}", &yaml_scalar(&name))
        .replace("{{DESCRIPTION}}", &description.replace('\n', " "))
        .replace("{{OWNER}}", &yaml_scalar(&owner))
        .replace("{{CRITICALITY}}", &criticality);
    // The scaffold must itself be a valid model; check before writing.
    if let Err(e) = tmc_dsl::load_checked(text.as_bytes(), &file) {
        anyhow::bail!("internal error: the scaffold does not validate:\n{e}");
    }
    std::fs::write(&args.output, text)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if !quiet {
        eprintln!("wrote {file}; next: edit it, then `tmc validate {file}` and `tmc draft {file}`");
    }
    Ok(())
}

/// Quotes a value for YAML when it would otherwise change meaning.
fn yaml_scalar(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}
