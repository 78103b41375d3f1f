//! Embeddings. The knowledge base works without them (BM25 alone); with an embedder
//! configured, chunks are embedded at ingest and queries at search time, and both rankings are
//! fused.
//!
//! Three providers: an OpenAI-compatible `/v1/embeddings` client (here), Amazon Bedrock Titan
//! v2 ([`bedrock`]) and, with the `local-embeddings` feature, a BERT sentence encoder run
//! in-process with candle (`local`).
//!
//! The HTTP client is `ureq` (blocking, rustls, no async runtime): embedding calls are
//! sequential batches from a CLI, so an async stack would only add build time.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::KbError;

pub mod bedrock;
#[cfg(feature = "local-embeddings")]
pub mod local;

/// Turns texts into vectors.
pub trait Embedder {
    /// Identity of the model, stored with the vectors: a query is only compared with chunks
    /// embedded by the same model (`openai:text-embedding-3-small`).
    fn model_id(&self) -> String;
    /// One vector per text, in order.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KbError>;
}

/// `[kb.embeddings]` in `tmc.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// `openai` (any OpenAI-compatible `/v1/embeddings` server), `local` (in-process, a model
    /// directory in `path`) or `bedrock` (Amazon Titan Text Embeddings v2).
    pub provider: String,
    /// Base URL: up to and including `/v1` for `openai` (`https://api.openai.com/v1`); the
    /// Bedrock runtime endpoint for `bedrock` (default `https://bedrock-runtime.<region>.amazonaws.com`).
    #[serde(default)]
    pub url: Option<String>,
    /// Model name; required for `openai`. For `bedrock` the default is
    /// `amazon.titan-embed-text-v2:0`; for `local` it only names the vectors (default: the
    /// directory's name).
    #[serde(default)]
    pub model: String,
    /// Name of the environment variable holding the API key (never the key itself, so config
    /// files can be committed).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Texts per request (`openai`) or per forward pass (`local`).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Request timeout in seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// `local`: directory holding `model.safetensors`, `tokenizer.json` and `config.json`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `bedrock`: AWS region (else `AWS_REGION` / `AWS_DEFAULT_REGION`).
    #[serde(default)]
    pub region: Option<String>,
    /// `bedrock`: profile in the shared credentials file when the key is not in the environment.
    #[serde(default)]
    pub aws_profile: Option<String>,
    /// `bedrock`: vector size, 256, 512 or 1024 (default 1024).
    #[serde(default)]
    pub dimensions: Option<usize>,
}

impl EmbeddingConfig {
    /// Builds the configured embedder, reading keys from the process environment. The CLI uses
    /// [`EmbeddingConfig::build_with_env`] so that only it touches the environment.
    pub fn build(&self) -> Result<Box<dyn Embedder>, KbError> {
        self.build_with_env(&|k| std::env::var(k).ok())
    }

    /// Builds the configured embedder; `env` looks up environment variables (API keys, AWS
    /// credentials and region).
    pub fn build_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Embedder>, KbError> {
        match self.provider.as_str() {
            "openai" | "openai-compatible" => {
                if self.model.trim().is_empty() {
                    return Err(KbError::Embedding(
                        "provider `openai` needs kb.embeddings.model (e.g. text-embedding-3-small)"
                            .into(),
                    ));
                }
                let url = self
                    .url
                    .clone()
                    .unwrap_or_else(|| "https://api.openai.com/v1".to_string());
                let key = match &self.api_key_env {
                    Some(var) => Some(env(var).ok_or_else(|| {
                        KbError::Embedding(format!(
                            "environment variable {var} (kb.embeddings.api_key_env) is not set"
                        ))
                    })?),
                    None => None,
                };
                let mut e = OpenAiEmbedder::new(&url, &self.model, key);
                if let Some(b) = self.batch_size {
                    e.batch_size = b.clamp(1, 2048);
                }
                if let Some(t) = self.timeout_secs {
                    e.timeout = Duration::from_secs(t.max(1));
                }
                Ok(Box::new(e))
            }
            "local" => self.build_local(),
            "bedrock" => {
                let region = self
                    .region
                    .clone()
                    .or_else(|| env("AWS_REGION"))
                    .or_else(|| env("AWS_DEFAULT_REGION"))
                    .ok_or_else(|| {
                        KbError::Embedding(
                            "provider `bedrock` needs a region: kb.embeddings.region or AWS_REGION"
                                .into(),
                        )
                    })?;
                let model = if self.model.trim().is_empty() {
                    bedrock::DEFAULT_MODEL
                } else {
                    self.model.as_str()
                };
                let creds = bedrock::AwsCredentials::resolve(env, self.aws_profile.as_deref())
                    .map_err(bedrock::aws_error)?;
                let mut e = bedrock::BedrockEmbedder::new(
                    &region,
                    self.url.as_deref(),
                    model,
                    self.dimensions.unwrap_or(1024),
                    creds,
                )?;
                if let Some(t) = self.timeout_secs {
                    e.timeout = Duration::from_secs(t.max(1));
                }
                Ok(Box::new(e))
            }
            other => Err(KbError::Embedding(format!(
                "unknown embeddings provider `{other}`; available: openai (OpenAI-compatible HTTP), local (in-process model directory), bedrock (Amazon Titan v2)"
            ))),
        }
    }

    #[cfg(feature = "local-embeddings")]
    fn build_local(&self) -> Result<Box<dyn Embedder>, KbError> {
        let dir = self.path.as_deref().ok_or_else(|| {
            KbError::Embedding(
                "provider `local` needs kb.embeddings.path: a directory holding model.safetensors, tokenizer.json and config.json".into(),
            )
        })?;
        let name = (!self.model.trim().is_empty()).then_some(self.model.as_str());
        let mut e = local::LocalEmbedder::load(dir, name)?;
        if let Some(b) = self.batch_size {
            e.batch_size = b.clamp(1, 1024);
        }
        Ok(Box::new(e))
    }

    #[cfg(not(feature = "local-embeddings"))]
    fn build_local(&self) -> Result<Box<dyn Embedder>, KbError> {
        Err(KbError::Embedding(
            "provider `local` is not available: this binary was built without the `local-embeddings` feature (rebuild tmc with default features, or use provider openai or bedrock)".into(),
        ))
    }
}

/// Client for `POST {base}/embeddings` (OpenAI, vLLM, llama.cpp, LocalAI, Azure-style proxies).
pub struct OpenAiEmbedder {
    base_url: String,
    model: String,
    api_key: Option<String>,
    pub batch_size: usize,
    pub timeout: Duration,
}

#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    pub fn new(base_url: &str, model: &str, api_key: Option<String>) -> Self {
        OpenAiEmbedder {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key,
            batch_size: 64,
            timeout: Duration::from_secs(60),
        }
    }

    fn embed_batch(&self, agent: &ureq::Agent, texts: &[String]) -> Result<Vec<Vec<f32>>, KbError> {
        let url = format!("{}/embeddings", self.base_url);
        let mut req = agent.post(&url).header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            req = req.header("Authorization", &format!("Bearer {key}"));
        }
        let body = EmbeddingRequest {
            model: &self.model,
            input: texts,
            encoding_format: "float",
        };
        let mut resp = req
            .send_json(&body)
            .map_err(|e| KbError::Embedding(format!("POST {url}: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp
                .body_mut()
                .with_config()
                .limit(4096)
                .read_to_string()
                .unwrap_or_default();
            return Err(KbError::Embedding(format!(
                "POST {url}: HTTP {status}: {}",
                text.trim()
            )));
        }
        let parsed: EmbeddingResponse = resp
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_json()
            .map_err(|e| KbError::Embedding(format!("POST {url}: unexpected response: {e}")))?;
        if parsed.data.len() != texts.len() {
            return Err(KbError::Embedding(format!(
                "POST {url}: asked for {} embeddings, got {}",
                texts.len(),
                parsed.data.len()
            )));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for item in parsed.data {
            let slot = out.get_mut(item.index).ok_or_else(|| {
                KbError::Embedding(format!(
                    "POST {url}: embedding index {} out of range",
                    item.index
                ))
            })?;
            *slot = Some(item.embedding);
        }
        let vectors: Vec<Vec<f32>> = out.into_iter().flatten().collect();
        if vectors.len() != texts.len() {
            return Err(KbError::Embedding(format!(
                "POST {url}: duplicate embedding indexes in the response"
            )));
        }
        let dim = vectors.first().map_or(0, Vec::len);
        if dim == 0 || vectors.iter().any(|v| v.len() != dim) {
            return Err(KbError::Embedding(format!(
                "POST {url}: embeddings are empty or of different lengths"
            )));
        }
        Ok(vectors)
    }
}

impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> String {
        format!("openai:{}", self.model)
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KbError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size.max(1)) {
            out.extend(self.embed_batch(&agent, batch)?);
        }
        Ok(out)
    }
}
