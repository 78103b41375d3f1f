//! `tmc import`: another tool's diagram or threat model → our DSL, with the importer's guesses
//! written as comments at the top of the model so a person confirms them before drafting.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tmc_import::Format;

use crate::Exit;

#[derive(Args)]
pub struct ImportArgs {
    /// Input file (.drawio, .drawio.png, .drawio.svg, .mmd, .puml, Threagile .yaml, OTM,
    /// Threat Dragon, Threat Composer .tc.json, OWASP Threat Model Library .json).
    file: PathBuf,
    /// Input format; detected from the name and content when absent.
    #[arg(long, value_enum)]
    from: Option<FromFormat>,
    /// Where to write the model (YAML); stdout when absent.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Also write the threats the source carried (as reviewed threats, JSON).
    #[arg(long)]
    threats: Option<PathBuf>,
    /// Read a PNG/JPEG diagram with a vision-capable model (needs --provider or [llm]); every
    /// element of the result is tagged `inferred` and must be confirmed.
    #[arg(long)]
    vision: bool,
    #[command(flatten)]
    llm: crate::llm_cmd::ProviderArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum FromFormat {
    ThreatDragon,
    ThreatComposer,
    Otm,
    Tml,
    Threagile,
    Drawio,
    Mermaid,
    Plantuml,
}

impl From<FromFormat> for Format {
    fn from(f: FromFormat) -> Format {
        match f {
            FromFormat::ThreatDragon => Format::ThreatDragon,
            FromFormat::ThreatComposer => Format::ThreatComposer,
            FromFormat::Otm => Format::Otm,
            FromFormat::Tml => Format::ThreatModelLibrary,
            FromFormat::Threagile => Format::Threagile,
            FromFormat::Drawio => Format::Drawio,
            FromFormat::Mermaid => Format::Mermaid,
            FromFormat::Plantuml => Format::PlantUml,
        }
    }
}

pub fn run(
    args: ImportArgs,
    quiet: bool,
    llm_config: &tmc_llm::LlmConfig,
    data_dir: &Path,
) -> Result<()> {
    let name = args.file.display().to_string();
    if args.vision {
        let bytes = crate::read_bounded(&args.file, tmc_llm::provider::MAX_IMAGE_BYTES)?;
        let out = crate::llm_cmd::vision_import(&args.llm, llm_config, data_dir, bytes, quiet)?;
        let notes = out
            .notes
            .into_iter()
            .map(|(el, message)| tmc_import::ImportNote {
                element: Some(el),
                message,
            })
            .collect();
        let result = tmc_import::ImportResult {
            model: out.model,
            threats: Vec::new(),
            notes,
            id_map: out
                .renamed
                .into_iter()
                .map(|(old, new)| (new, old))
                .collect(),
        };
        return write(&args, &name, &result, quiet);
    }
    let bytes = crate::read_bounded(&args.file, tmc_import::MAX_IMPORT_BYTES)?;
    let result = match tmc_import::import(&bytes, &name, args.from.map(Format::from)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: {e}");
            return Err(Exit(1).into());
        }
    };
    write(&args, &name, &result, quiet)
}

/// Writes the model with its notes as comments, after checking it reads back valid.
fn write(
    args: &ImportArgs,
    name: &str,
    result: &tmc_import::ImportResult,
    quiet: bool,
) -> Result<()> {
    let mut text = String::new();
    text.push_str(&format!("# Imported by tmc from {name}.\n"));
    if !result.notes.is_empty() {
        text.push_str("# Confirm these guesses before drafting:\n");
        for n in &result.notes {
            let line = match &n.element {
                Some(el) => format!("#  - {el}: {}\n", n.message),
                None => format!("#  - {}\n", n.message),
            };
            text.push_str(&line.replace(['\r'], " "));
        }
    }
    let yaml = serde_saphyr::to_string(&result.model).context("writing the model as YAML")?;
    text.push_str(&yaml);
    // What we write must read back as a valid model; a failure here is our bug, not the input's.
    if let Err(e) = tmc_dsl::load_checked(text.as_bytes(), name) {
        anyhow::bail!("internal error: the imported model does not validate:\n{e}");
    }
    match &args.output {
        Some(p) => std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    if let Some(p) = &args.threats {
        let json = serde_json::to_string_pretty(&result.threats)?;
        std::fs::write(p, json + "\n").with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(out) = &args.output
        && !result.threats.is_empty()
    {
        write_decisions(out, result, quiet)?;
    }
    if !quiet {
        let m = &result.model;
        eprintln!(
            "imported {} components, {} flows, {} boundaries, {} data assets, {} threats; {} note(s) to confirm",
            m.components.len(),
            m.flows.len(),
            m.trust_boundaries.len(),
            m.data.len(),
            result.threats.len(),
            result.notes.len()
        );
    }
    Ok(())
}

/// The source's threats and their review state (Threat Dragon statuses, Threagile
/// `risk_tracking`, OTM states, Threat Composer statuses) become a decisions file beside the
/// imported model: each source threat a manual threat (`MANUAL-<source id>`) with its status,
/// justification and mitigation states, so nothing the source's reviewers decided is lost and
/// `tmc draft` shows them beside the rule threats. An existing decisions file is never
/// overwritten.
fn write_decisions(model_out: &Path, result: &tmc_import::ImportResult, quiet: bool) -> Result<()> {
    let path = crate::review_cmd::default_review_path(model_out);
    if path.exists() {
        if !quiet {
            eprintln!(
                "note: {} exists; the source's threat statuses were not written (use --threats FILE to see them)",
                path.display()
            );
        }
        return Ok(());
    }
    let threats: Vec<tmc_model::Threat> = result
        .threats
        .iter()
        .map(|t| {
            let mut t = t.clone();
            let (format, source) = match &t.provenance {
                tmc_model::Provenance::Import { format, source_id } => {
                    (format.clone(), source_id.clone())
                }
                _ => ("import".to_string(), t.id.clone()),
            };
            let slug: String = source
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            t.id = format!("{}{slug}", tmc_review::decisions::MANUAL_PREFIX);
            t.provenance = tmc_model::Provenance::Manual {
                author: Some(format!("imported from {format}")),
            };
            t
        })
        .collect();
    let holder = tmc_model::Draft {
        draft_version: tmc_model::DRAFT_VERSION,
        product: result.model.product.clone(),
        source_file: None,
        generator: tmc_model::Generator {
            tool: "tmc import".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            mode: "import".into(),
            rules_loaded: 0,
            ruleset_digest: String::new(),
        },
        threats,
        suppressed: Vec::new(),
        coverage: Vec::new(),
        review: None,
    };
    let mut decisions = tmc_review::decisions_from_statuses(&holder);
    decisions.model = model_out
        .file_name()
        .map(|n| n.to_string_lossy().to_string());
    let kept = decisions.manual_threats.len();
    let mut file = tmc_review::ReviewFile::open(&path)?;
    file.save(&decisions)?;
    if !quiet {
        eprintln!(
            "{kept} of {} source threat(s) with their review state written to {}{}",
            result.threats.len(),
            path.display(),
            if kept < result.threats.len() {
                " (the rest name no element of the imported model)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
