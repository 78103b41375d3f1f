//! Settings: `tmc.toml` in the current directory, else in the user's config directory, then
//! `TMC_*` environment variables (looked up through the [`Env`] the front end passes in), then
//! command-line flags (highest). The one module of this crate that reads a file (`tmc.toml`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{AppError, Env};

type Result<T> = std::result::Result<T, AppError>;

/// The whole `tmc.toml`. Unknown keys are errors, for the same reason as in the DSL.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// State directory (knowledge base, store, audit log).
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub draft: DraftConfig,
    #[serde(default)]
    pub kb: KbConfig,
    #[serde(default)]
    pub artifacts: ArtifactsConfig,
    /// `[llm]`: the copilot's provider, privacy and prompt settings (and `[llm.profiles.*]`).
    #[serde(default)]
    pub llm: tmc_llm::LlmConfig,
    /// `[server]`: `tmc serve`.
    #[serde(default)]
    pub server: ServerSettings,
}

/// `[server]` in `tmc.toml`: where `tmc serve` listens and keeps its store.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address (default `127.0.0.1:8470`).
    pub bind: Option<String>,
    /// `postgres://…` for a team store shared by several instances (`TMC_SERVER_STORE_URL`
    /// overrides it, so a password need not be committed); default: SQLite in the data dir.
    pub store_url: Option<String>,
    /// PostgreSQL schema (default `tmc_server`).
    pub postgres_schema: Option<String>,
}

impl ServerSettings {
    /// The store URL: environment (`TMC_SERVER_STORE_URL`) first, then the file.
    pub fn store_url(&self, env: Env<'_>) -> Option<String> {
        env("TMC_SERVER_STORE_URL")
            .filter(|u| !u.is_empty())
            .or_else(|| self.store_url.clone())
    }
}

/// `[kb]`: the knowledge base. Without `embeddings`, retrieval is BM25 only.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbConfig {
    pub embeddings: Option<tmc_kb::EmbeddingConfig>,
    /// `sqlite` (default: one file under the data dir) or `postgres` (a shared server).
    #[serde(default)]
    pub backend: KbBackend,
    /// `postgres://user@host:port/db`; `TMC_KB_POSTGRES_URL` overrides it, so a password in
    /// the URL need not be written in a committed file. TLS as libpq spells it:
    /// `?sslmode=verify-full&sslrootcert=/path/ca.pem` (managed PostgreSQL in a cloud).
    pub postgres_url: Option<String>,
    /// Schema holding the tables (default `tmc_kb`).
    pub postgres_schema: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KbBackend {
    #[default]
    Sqlite,
    Postgres,
}

impl KbConfig {
    /// The PostgreSQL URL: environment (`TMC_KB_POSTGRES_URL`) first, then the config file.
    pub fn postgres_url(&self, env: Env<'_>) -> Option<String> {
        env("TMC_KB_POSTGRES_URL")
            .filter(|u| !u.is_empty())
            .or_else(|| self.postgres_url.clone())
    }
}

/// `[artifacts]`: where `tmc artifacts` keeps reports and exports.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactsConfig {
    /// `local` (default: `<data dir>/artifacts`, or `dir`) or `s3`.
    #[serde(default)]
    pub backend: ArtifactBackend,
    /// Directory of the local store.
    pub dir: Option<PathBuf>,
    pub bucket: Option<String>,
    /// Endpoint of an S3-compatible server (`http://127.0.0.1:59001`); unset for AWS S3.
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Key prefix inside the bucket.
    pub prefix: Option<String>,
    /// Names of the environment variables holding the keys (never the keys themselves, so
    /// the file can be committed); default `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub access_key_env: Option<String>,
    pub secret_key_env: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactBackend {
    #[default]
    Local,
    S3,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Extra rule directories (organisation rules), added after the built-in set.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// Leave the built-in rules out (an organisation that maintains its own full set).
    #[serde(default)]
    pub no_builtin: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftConfig {
    pub min_severity: Option<String>,
}

/// Where the configuration came from, for `tmc config`-style diagnostics.
pub struct Loaded {
    pub config: Config,
    pub path: Option<PathBuf>,
}

pub fn load(explicit: Option<&Path>) -> Result<Loaded> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_path_buf()],
        None => {
            let mut v = vec![PathBuf::from("tmc.toml")];
            if let Some(dirs) = directories::ProjectDirs::from("dev", "tmc", "tmc") {
                v.push(dirs.config_dir().join("tmc.toml"));
            }
            v
        }
    };
    for path in candidates {
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|source| AppError::Io {
                path: format!("config {}", path.display()),
                source,
            })?;
            let config: Config = toml::from_str(&text)
                .map_err(|e| AppError::Config(format!("in config {}: {e}", path.display())))?;
            return Ok(Loaded {
                config,
                path: Some(path),
            });
        }
        if explicit.is_some() {
            return Err(AppError::Config(format!(
                "config file {} not found",
                path.display()
            )));
        }
    }
    Ok(Loaded {
        config: Config::default(),
        path: None,
    })
}

/// The data directory: flag or `TMC_DATA_DIR` (clap fills both), then config, then platform.
pub fn data_dir(flag: Option<&Path>, config: &Config) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = &config.data_dir {
        return p.clone();
    }
    directories::ProjectDirs::from("dev", "tmc", "tmc")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".tmc"))
}
