//! `tmc export`: a draft (plus the model it came from) → interchange formats and diagrams.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use clap::Args;
use tmc_export::{ExportOptions, Format};

#[derive(Args)]
pub struct ExportArgs {
    /// Draft JSON written by `tmc draft --format json`.
    draft: PathBuf,
    /// sarif, csv, xlsx, otm, threat-dragon, threagile, mermaid, dot, svg (via Graphviz `dot`).
    #[arg(long)]
    to: String,
    /// The model file; defaults to the draft's `source_file`.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output file; stdout when absent (not for xlsx).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let bytes = crate::read_bounded(&args.draft, 64 * 1024 * 1024)?;
    let draft: tmc_model::Draft = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a tmc draft (JSON)", args.draft.display()))?;
    let model_path = match (&args.model, &draft.source_file) {
        (Some(p), _) => p.clone(),
        (None, Some(s)) => PathBuf::from(s),
        (None, None) => anyhow::bail!("the draft names no model file; pass --model FILE"),
    };
    let model_bytes = crate::read_bounded(&model_path, tmc_dsl::MAX_MODEL_BYTES)?;
    let parsed = crate::rules_cmd::parse_checked(&model_path, &model_bytes)?;
    let svg = args.to == "svg";
    let format = if svg {
        Format::Dot
    } else {
        Format::parse(&args.to).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown format `{}`; one of: {}, svg",
                args.to,
                Format::ALL
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?
    };
    let options = ExportOptions {
        model_uri: std::path::absolute(&model_path)
            .unwrap_or_else(|_| model_path.clone())
            .display()
            .to_string(),
        positions: positions(&parsed),
        repo_root: repo_root(),
    };
    let mut out = tmc_export::export(format, &parsed.model, &draft, &options)?;
    if svg {
        out = render_svg(&out)?;
    }
    match &args.output {
        Some(p) => std::fs::write(p, &out).with_context(|| format!("writing {}", p.display()))?,
        None if format.is_binary() => {
            anyhow::bail!("{} is binary; pass --output FILE", format.name())
        }
        None => std::io::stdout().write_all(&out)?,
    }
    Ok(())
}

/// Element id → (line, column) where it is defined, for SARIF locations.
pub(crate) fn positions(parsed: &tmc_dsl::ParsedModel) -> BTreeMap<String, (u64, u64)> {
    let m = &parsed.model;
    let idx = &parsed.index;
    let mut out = BTreeMap::new();
    let mut add = |ids: Vec<&String>, pos: &[tmc_dsl::load::ElementPos]| {
        for (id, p) in ids.into_iter().zip(pos) {
            if p.id.line > 0 {
                out.insert(id.clone(), (p.id.line, p.id.column));
            }
        }
    };
    add(
        m.components.iter().map(|c| &c.id).collect(),
        &idx.components,
    );
    add(m.flows.iter().map(|f| &f.id).collect(), &idx.flows);
    add(m.data.iter().map(|d| &d.id).collect(), &idx.data);
    add(
        m.trust_boundaries.iter().map(|b| &b.id).collect(),
        &idx.trust_boundaries,
    );
    out
}

/// Lays out the DOT with Graphviz: we do not write a layout engine of our own.
fn render_svg(dot: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("SVG needs Graphviz's `dot` on PATH (e.g. `apt-get install graphviz`); `--to dot` writes the graph without it")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot)?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        anyhow::bail!("dot failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(output.stdout)
}

/// The repository root SARIF paths are relative to: `git rev-parse --show-toplevel`, else the
/// current directory (a model outside any repository).
pub fn repo_root() -> Option<std::path::PathBuf> {
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| std::path::PathBuf::from(s.trim()));
    git.or_else(|| std::env::current_dir().ok())
}
