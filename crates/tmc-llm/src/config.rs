//! Settings: the `[llm]` table of `tmc.toml` (with named `[llm.profiles.NAME]`), then `TMC_*`
//! environment variables, then flags. Resolution lives here rather than in the CLI so the
//! server can share it and it is testable with a fake environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::audit::AuditLog;
use crate::client::{Client, Limiter, Pricing, RetryPolicy};
use crate::error::LlmError;
use crate::privacy::{PrivacyMode, check_endpoint};
use crate::provider::{
    ANTHROPIC_DEFAULT_URL, Anthropic, AwsCredentials, Bedrock, OPENAI_DEFAULT_URL, OpenAi,
    Provider, ProviderKind,
};
use crate::transport::{Transport, UreqTransport};

/// `[llm]` in `tmc.toml`; a profile has the same keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// `local-only` or `cloud`.
    pub privacy: Option<String>,
    /// Hosts allowed under `local-only` besides loopback: `host`, `host:port`, `*.suffix`.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    pub timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
    pub max_concurrency: Option<usize>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub prompt_budget_tokens: Option<usize>,
    /// The model's context window in tokens (prompt + answer). When set, prompts that would
    /// not fit are shortened (fewer baseline threats and passages, smaller parts) and the
    /// answer's `max_tokens` is capped to what is left; small local models need it.
    pub context_window_tokens: Option<usize>,
    /// Directory whose `*.md` files replace the built-in prompts of the same name.
    pub prompts_dir: Option<PathBuf>,
    /// Redaction is on unless set to false.
    pub redact: Option<bool>,
    #[serde(default)]
    pub redact_patterns: Vec<String>,
    /// Send a JSON schema as `response_format` (OpenAI-compatible servers).
    pub structured_output: Option<bool>,
    pub aws_region: Option<String>,
    pub aws_profile: Option<String>,
    pub price_input_per_mtok: Option<f64>,
    pub price_output_per_mtok: Option<f64>,
    /// MITRE CWE view CSV (e.g. `../shared/kb/cwe/1000.csv`): answers citing a CWE id missing
    /// from it are rejected as invented.
    pub cwe_csv: Option<PathBuf>,
    /// Profile used when none is chosen on the command line.
    pub profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, LlmConfig>,
}

/// Command-line flags (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub privacy: Option<String>,
    pub profile: Option<String>,
    pub context_window_tokens: Option<usize>,
}

/// Fully resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub provider: ProviderKind,
    pub model: String,
    pub base_url: Option<String>,
    pub privacy: PrivacyMode,
    pub allow_hosts: Vec<String>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub max_concurrency: usize,
    pub max_tokens: u32,
    pub temperature: f32,
    pub budget_tokens: usize,
    pub context_window_tokens: Option<usize>,
    pub prompts_dir: Option<PathBuf>,
    pub redact: bool,
    pub redact_patterns: Vec<String>,
    pub structured_output: bool,
    pub aws_region: Option<String>,
    pub aws_profile: Option<String>,
    pub pricing: Pricing,
    pub cwe_csv: Option<PathBuf>,
}

fn layer(base: &mut LlmConfig, top: &LlmConfig) {
    macro_rules! take {
        ($($f:ident),*) => { $( if top.$f.is_some() { base.$f = top.$f.clone(); } )* };
    }
    take!(
        provider,
        model,
        base_url,
        privacy,
        timeout_secs,
        max_retries,
        max_concurrency,
        max_tokens,
        temperature,
        prompt_budget_tokens,
        context_window_tokens,
        prompts_dir,
        redact,
        structured_output,
        aws_region,
        aws_profile,
        price_input_per_mtok,
        price_output_per_mtok
    );
    if !top.allow_hosts.is_empty() {
        base.allow_hosts = top.allow_hosts.clone();
    }
    base.redact_patterns
        .extend(top.redact_patterns.iter().cloned());
}

/// Default model per provider, so `--provider anthropic` alone works.
pub fn default_model(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "gpt-4o-mini",
        ProviderKind::Anthropic => "claude-sonnet-4-5",
        ProviderKind::Bedrock => "anthropic.claude-3-5-sonnet-20240620-v1:0",
    }
}

/// List prices (USD per million tokens) of a few well-known models; anything else is unpriced
/// unless the configuration gives a price.
fn known_price(model: &str) -> Option<Pricing> {
    let m = model.to_ascii_lowercase();
    let p = |i, o| {
        Some(Pricing {
            input_per_mtok: i,
            output_per_mtok: o,
        })
    };
    if m.contains("gpt-4o-mini") {
        p(0.15, 0.6)
    } else if m.contains("gpt-4o") {
        p(2.5, 10.0)
    } else if m.contains("haiku") {
        p(0.8, 4.0)
    } else if m.contains("sonnet") {
        p(3.0, 15.0)
    } else if m.contains("opus") {
        p(15.0, 75.0)
    } else {
        None
    }
}

impl Settings {
    pub fn resolve(
        cfg: &LlmConfig,
        flags: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, LlmError> {
        let mut c = cfg.clone();
        c.profiles.clear();
        let profile = flags
            .profile
            .clone()
            .or_else(|| env("TMC_LLM_PROFILE"))
            .or_else(|| cfg.profile.clone());
        if let Some(name) = &profile {
            let p = cfg.profiles.get(name).ok_or_else(|| {
                LlmError::Config(format!(
                    "no profile `{name}` under [llm.profiles]; known: {}",
                    cfg.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?;
            layer(&mut c, p);
        }
        let pick = |flag: &Option<String>, var: &str, file: &Option<String>| {
            flag.clone().or_else(|| env(var)).or_else(|| file.clone())
        };
        let provider_text =
            pick(&flags.provider, "TMC_LLM_PROVIDER", &c.provider).ok_or_else(|| {
                LlmError::Config(
                    "no provider: use --provider openai|anthropic|bedrock or llm.provider".into(),
                )
            })?;
        let provider = ProviderKind::parse(&provider_text).ok_or_else(|| {
            LlmError::Config(format!(
                "unknown provider `{provider_text}`; use openai, anthropic or bedrock"
            ))
        })?;
        let model = pick(&flags.model, "TMC_LLM_MODEL", &c.model)
            .unwrap_or_else(|| default_model(provider).to_string());
        let base_url = pick(&flags.base_url, "TMC_LLM_BASE_URL", &c.base_url);
        let privacy = match pick(&flags.privacy, "TMC_PRIVACY", &c.privacy) {
            Some(p) => PrivacyMode::parse(&p).ok_or_else(|| {
                LlmError::Config(format!("privacy `{p}`: use local-only or cloud"))
            })?,
            None => PrivacyMode::Cloud,
        };
        let num = |var: &str| env(var).and_then(|v| v.trim().parse::<u64>().ok());
        let timeout = Duration::from_secs(
            num("TMC_LLM_TIMEOUT_SECS")
                .or(c.timeout_secs)
                .unwrap_or(120)
                .max(1),
        );
        let pricing = match (c.price_input_per_mtok, c.price_output_per_mtok) {
            (None, None) => known_price(&model).unwrap_or_default(),
            (i, o) => Pricing {
                input_per_mtok: i.unwrap_or(0.0),
                output_per_mtok: o.unwrap_or(0.0),
            },
        };
        Ok(Settings {
            provider,
            model,
            base_url,
            privacy,
            allow_hosts: c.allow_hosts,
            timeout,
            retry: RetryPolicy {
                max_retries: num("TMC_LLM_MAX_RETRIES")
                    .map(|v| v as u32)
                    .or(c.max_retries)
                    .unwrap_or(3),
                ..RetryPolicy::default()
            },
            max_concurrency: c.max_concurrency.unwrap_or(2).max(1),
            max_tokens: c.max_tokens.unwrap_or(2_000),
            temperature: c.temperature.unwrap_or(0.2),
            budget_tokens: c.prompt_budget_tokens.unwrap_or(6_000),
            context_window_tokens: flags
                .context_window_tokens
                .or_else(|| num("TMC_LLM_CONTEXT_WINDOW").map(|v| v as usize))
                .or(c.context_window_tokens)
                .filter(|&w| w > 0),
            prompts_dir: c.prompts_dir,
            redact: c.redact.unwrap_or(true),
            redact_patterns: c.redact_patterns,
            structured_output: c.structured_output.unwrap_or(true),
            aws_region: env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .or(c.aws_region),
            aws_profile: c.aws_profile,
            pricing,
            cwe_csv: env("TMC_CWE_CSV").map(PathBuf::from).or(c.cwe_csv),
        })
    }

    /// The provider with its credentials. Keys come only from the environment, never from
    /// `tmc.toml`, so configuration files can be shared and committed.
    pub fn provider(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Provider>, LlmError> {
        Ok(match self.provider {
            ProviderKind::Openai => Box::new(OpenAi::new(
                self.base_url
                    .clone()
                    .unwrap_or_else(|| OPENAI_DEFAULT_URL.into()),
                self.model.clone(),
                env("OPENAI_API_KEY").filter(|k| !k.is_empty()),
                self.structured_output,
            )),
            ProviderKind::Anthropic => Box::new(Anthropic {
                base_url: self
                    .base_url
                    .clone()
                    .unwrap_or_else(|| ANTHROPIC_DEFAULT_URL.into()),
                model: self.model.clone(),
                api_key: env("ANTHROPIC_API_KEY")
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| LlmError::Credentials("ANTHROPIC_API_KEY is not set".into()))?,
            }),
            ProviderKind::Bedrock => Box::new(Bedrock {
                region: self.aws_region.clone().ok_or_else(|| {
                    LlmError::Config("no AWS region: set AWS_REGION or llm.aws_region".into())
                })?,
                base_url: self.base_url.clone(),
                model: self.model.clone(),
                credentials: AwsCredentials::resolve(env, self.aws_profile.as_deref())?,
            }),
        })
    }

    /// A ready client. The privacy check runs here first, before credentials are read or any
    /// connection exists; `data_dir` receives the audit log.
    pub fn client(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        data_dir: Option<&Path>,
    ) -> Result<Client, LlmError> {
        let provider = self.provider_checked(env)?;
        let transport: Box<dyn Transport> = Box::new(UreqTransport::new(
            self.timeout,
            self.privacy == PrivacyMode::Cloud,
        ));
        let mut client = Client::new(provider, transport);
        client.retry = self.retry;
        client.privacy = self.privacy;
        client.allow_hosts = self.allow_hosts.clone();
        client.audit = data_dir.map(|d| Arc::new(AuditLog::new(d)));
        client.limiter = Arc::new(Limiter::new(self.max_concurrency));
        client.pricing = self.pricing;
        Ok(client)
    }

    fn provider_checked(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Provider>, LlmError> {
        // Check the URL the provider would use before reading any key.
        let url = match (self.provider, &self.base_url) {
            (_, Some(u)) => u.clone(),
            (ProviderKind::Openai, None) => OPENAI_DEFAULT_URL.into(),
            (ProviderKind::Anthropic, None) => ANTHROPIC_DEFAULT_URL.into(),
            (ProviderKind::Bedrock, None) => format!(
                "https://bedrock-runtime.{}.amazonaws.com",
                self.aws_region.as_deref().unwrap_or("us-east-1")
            ),
        };
        check_endpoint(&url, self.privacy, &self.allow_hosts)?;
        let p = self.provider(env)?;
        check_endpoint(&p.endpoint(), self.privacy, &self.allow_hosts)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_file_profile_env_flags() {
        let cfg: LlmConfig = toml_like();
        let env_none = |_: &str| None;
        let s = Settings::resolve(&cfg, &Overrides::default(), &env_none)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.provider, ProviderKind::Openai);
        assert_eq!(s.model, "file-model");
        let flags = Overrides {
            profile: Some("claude".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&cfg, &flags, &env_none).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.provider, ProviderKind::Anthropic);
        assert_eq!(s.model, "claude-x");
        let env = |k: &str| (k == "TMC_LLM_MODEL").then(|| "env-model".to_string());
        let s = Settings::resolve(&cfg, &flags, &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.model, "env-model");
        let flags2 = Overrides {
            model: Some("flag-model".into()),
            privacy: Some("local-only".into()),
            ..flags
        };
        let s = Settings::resolve(&cfg, &flags2, &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.model, "flag-model");
        assert_eq!(s.privacy, PrivacyMode::LocalOnly);
        // local-only refuses the Anthropic cloud endpoint before reading any key.
        let err = s
            .client(&env_none, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("refuses"), "{err}");
    }

    fn toml_like() -> LlmConfig {
        let mut profiles = BTreeMap::new();
        profiles.insert(
            "claude".to_string(),
            LlmConfig {
                provider: Some("anthropic".into()),
                model: Some("claude-x".into()),
                ..Default::default()
            },
        );
        LlmConfig {
            provider: Some("openai".into()),
            model: Some("file-model".into()),
            profiles,
            ..Default::default()
        }
    }
}
