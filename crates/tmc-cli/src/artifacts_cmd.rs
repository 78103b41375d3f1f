//! `tmc artifacts`: put, get, list and remove reports and exports in the configured artifact
//! store (`[artifacts]` in `tmc.toml`: a local directory by default, or S3-compatible storage),
//! so CI can publish drafts where reviewers find them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use tmc_artifacts::ArtifactStore;

use crate::config::ArtifactsConfig;

#[derive(Subcommand)]
pub enum ArtifactsCommand {
    /// Store a file under KEY (default: the file name).
    Put { file: PathBuf, key: Option<String> },
    /// Write the artifact KEY to --out, or to stdout.
    Get {
        key: String,
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// List keys under PREFIX (whole path segments).
    Ls {
        #[arg(default_value = "")]
        prefix: String,
    },
    /// Remove artifacts.
    Rm {
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

/// Opens the configured store.
pub fn open(data_dir: &Path, cfg: &ArtifactsConfig) -> Result<Box<dyn ArtifactStore>> {
    Ok(tmc_app::backends::open_artifacts(
        data_dir,
        cfg,
        &crate::config::env,
    )?)
}

pub fn run(
    cmd: ArtifactsCommand,
    data_dir: &Path,
    cfg: &ArtifactsConfig,
    quiet: bool,
) -> Result<()> {
    let store = open(data_dir, cfg)?;
    match cmd {
        ArtifactsCommand::Put { file, key } => {
            let key = match key {
                Some(k) => k,
                None => file
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .context("give a KEY for this path")?,
            };
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            store.put(&key, &bytes)?;
            if !quiet {
                eprintln!(
                    "stored {key} ({} bytes) in {}",
                    bytes.len(),
                    store.location()
                );
            }
        }
        ArtifactsCommand::Get { key, out } => {
            let bytes = store.get(&key)?;
            match out {
                Some(path) => std::fs::write(&path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(&bytes)?,
            }
        }
        ArtifactsCommand::Ls { prefix } => {
            for k in store.list(&prefix)? {
                println!("{k}");
            }
        }
        ArtifactsCommand::Rm { keys } => {
            for k in &keys {
                store.delete(k)?;
                if !quiet {
                    eprintln!("removed {k}");
                }
            }
        }
    }
    Ok(())
}
