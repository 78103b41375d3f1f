//! Opening what the settings point at: the knowledge-base index (embedded SQLite or
//! PostgreSQL), the artifact store (a local directory or S3) and the copilot (provider client,
//! prompts, CWE catalogue). Every front end opens them here, so a setting means the same thing
//! in the CLI, `tmc eval` and the server. Reads prompt overrides and the CWE catalogue from
//! files named in the settings; opens no connection the settings did not ask for.

use std::collections::HashSet;
use std::path::Path;

use tmc_artifacts::{ArtifactStore, LocalDirStore, S3Config, S3Store};
use tmc_kb::index::{Index, SqliteIndex};
use tmc_kb::{KnowledgeBase, PgIndex};
use tmc_llm::{CopilotOptions, LlmConfig, Overrides, PromptMode, Prompts, Settings};

use crate::settings::{ArtifactBackend, ArtifactsConfig, KbBackend, KbConfig};
use crate::{AppError, Env};

type Result<T> = std::result::Result<T, AppError>;

/// Where the knowledge base lives, for messages (never shows a password from the URL).
pub fn kb_location(data_dir: &Path, cfg: &KbConfig, env: Env<'_>) -> String {
    match cfg.backend {
        KbBackend::Sqlite => tmc_kb::index_path(data_dir).display().to_string(),
        KbBackend::Postgres => {
            let url = cfg.postgres_url(env).unwrap_or_default();
            let host = url.rsplit('@').next().unwrap_or_default();
            format!(
                "postgres {host} schema {}",
                cfg.postgres_schema
                    .as_deref()
                    .unwrap_or(tmc_kb::pg::DEFAULT_SCHEMA)
            )
        }
    }
}

/// Opens the configured knowledge base with the configured embedder (if any).
pub fn open_kb(data_dir: &Path, cfg: &KbConfig, env: Env<'_>) -> Result<KnowledgeBase> {
    let index: Box<dyn Index> = match cfg.backend {
        KbBackend::Sqlite => {
            let path = tmc_kb::index_path(data_dir);
            Box::new(SqliteIndex::open(&path).map_err(|e| {
                AppError::Config(format!(
                    "opening the knowledge base at {}: {e}",
                    path.display()
                ))
            })?)
        }
        KbBackend::Postgres => {
            let url = cfg.postgres_url(env).ok_or_else(|| {
                AppError::Config(
                    "[kb] backend = \"postgres\" needs postgres_url in tmc.toml or TMC_KB_POSTGRES_URL"
                        .into(),
                )
            })?;
            let schema = cfg
                .postgres_schema
                .as_deref()
                .unwrap_or(tmc_kb::pg::DEFAULT_SCHEMA);
            Box::new(PgIndex::connect(&url, schema).map_err(|e| {
                AppError::Config(format!(
                    "opening {}: {e}",
                    kb_location(Path::new(""), cfg, env)
                ))
            })?)
        }
    };
    let embedder = match cfg.embeddings.as_ref() {
        Some(e) => Some(
            e.build_with_env(env)
                .map_err(|e| AppError::Config(format!("kb.embeddings in tmc.toml: {e}")))?,
        ),
        None => None,
    };
    Ok(KnowledgeBase::new(index, embedder))
}

/// Opens the configured artifact store.
pub fn open_artifacts(
    data_dir: &Path,
    cfg: &ArtifactsConfig,
    env: Env<'_>,
) -> Result<Box<dyn ArtifactStore>> {
    let var = |name: &str| {
        env(name).ok_or_else(|| {
            AppError::Config(format!(
                "[artifacts] backend = \"s3\" reads its key from ${name}, which is not set"
            ))
        })
    };
    Ok(match cfg.backend {
        ArtifactBackend::Local => Box::new(LocalDirStore::new(
            cfg.dir
                .clone()
                .unwrap_or_else(|| data_dir.join("artifacts")),
        )),
        ArtifactBackend::S3 => {
            let bucket = cfg.bucket.clone().ok_or_else(|| {
                AppError::Config("[artifacts] backend = \"s3\" needs bucket".into())
            })?;
            let s3 = S3Config {
                bucket,
                endpoint: cfg.endpoint.clone(),
                region: cfg.region.clone().unwrap_or_else(|| "us-east-1".into()),
                access_key_id: var(cfg.access_key_env.as_deref().unwrap_or("AWS_ACCESS_KEY_ID"))?,
                secret_access_key: var(cfg
                    .secret_key_env
                    .as_deref()
                    .unwrap_or("AWS_SECRET_ACCESS_KEY"))?,
                session_token: env("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()),
                prefix: cfg.prefix.clone(),
            };
            Box::new(S3Store::new(&s3)?)
        }
    })
}

/// A ready copilot: resolved settings, a client, prompts and the CWE catalogue.
pub struct Copilot {
    pub settings: Settings,
    pub client: tmc_llm::Client,
    pub prompts: Prompts,
    pub cwe_ids: Option<HashSet<u32>>,
}

impl Copilot {
    /// Resolves the `[llm]` settings with the flags and the environment, builds the client
    /// (the privacy check runs first, before credentials are read) and loads prompts and the
    /// CWE catalogue. `progress`, when given, streams answers and reports pieces received.
    pub fn new(
        overrides: &Overrides,
        cfg: &LlmConfig,
        data_dir: &Path,
        env: Env<'_>,
        progress: Option<tmc_llm::client::Progress>,
    ) -> Result<Copilot> {
        let settings = Settings::resolve(cfg, overrides, env)?;
        let mut client = settings.client(env, Some(data_dir))?;
        if let Some(p) = progress {
            client.stream = true;
            client.progress = Some(p);
        }
        let prompts = match &settings.prompts_dir {
            Some(dir) => Prompts::with_overrides(dir)?,
            None => Prompts::builtin(),
        };
        let cwe_ids = match &settings.cwe_csv {
            Some(p) => Some(load_cwe(p)?),
            None => None,
        };
        Ok(Copilot {
            settings,
            client,
            prompts,
            cwe_ids,
        })
    }

    /// Options for one run, named by the generator mode it serves.
    pub fn options(&self, mode_name: &str, prompt_mode: PromptMode) -> CopilotOptions {
        CopilotOptions {
            max_tokens: self.settings.max_tokens,
            temperature: self.settings.temperature,
            budget_tokens: self.settings.budget_tokens,
            redact: self.settings.redact,
            redact_patterns: self.settings.redact_patterns.clone(),
            prompt_mode,
            workers: self.settings.max_concurrency,
            mode_name: mode_name.into(),
            context_window: self.settings.context_window_tokens,
            ..CopilotOptions::default()
        }
    }

    /// One line about what the model cost and contributed.
    pub fn summary(&self, out: &tmc_llm::Outcome) -> String {
        let cost = match out.cost_usd {
            Some(v) => format!("${v:.4}"),
            None => "unpriced (set llm.price_input_per_mtok / price_output_per_mtok)".into(),
        };
        format!(
            "copilot: {} {} (prompts {}): {} call(s) over {} part(s), {} failed; tokens {} in / {} out, cost {cost}; {} threat(s) added, {} refined, {} duplicate(s)",
            self.settings.provider.as_str(),
            self.settings.model,
            out.prompt_version,
            out.calls,
            out.chunks,
            out.chunks_failed,
            out.usage.input_tokens,
            out.usage.output_tokens,
            out.stats.added,
            out.stats.refined,
            out.stats.duplicates
        )
    }
}

/// Reads a CWE id set from MITRE's CSV.
pub fn load_cwe(path: &Path) -> Result<HashSet<u32>> {
    let text = std::fs::read_to_string(path).map_err(|source| AppError::Io {
        path: format!("the CWE catalogue {}", path.display()),
        source,
    })?;
    let set = tmc_llm::parse_cwe_csv(&text);
    if set.is_empty() {
        return Err(AppError::Config(format!(
            "{} holds no CWE ids",
            path.display()
        )));
    }
    Ok(set)
}
