//! Embeddings. The knowledge base works without them (BM25 alone); with an embedder
//! configured, chunks are embedded at ingest and queries at search time, and both rankings are
//! fused.
//!
//! The HTTP client is `ureq` (blocking, rustls, no async runtime): embedding calls are
//! sequential batches from a CLI, so an async stack would only add build time.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::KbError;

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
    /// `openai` (any OpenAI-compatible `/v1/embeddings` server).
    pub provider: String,
    /// Base URL up to and including `/v1`, e.g. `https://api.openai.com/v1`.
    #[serde(default)]
    pub url: Option<String>,
    pub model: String,
    /// Name of the environment variable holding the API key (never the key itself, so config
    /// files can be committed).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Texts per request.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Request timeout in seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

impl EmbeddingConfig {
    /// Builds the configured embedder.
    pub fn build(&self) -> Result<Box<dyn Embedder>, KbError> {
        match self.provider.as_str() {
            "openai" | "openai-compatible" => {
                let url = self
                    .url
                    .clone()
                    .unwrap_or_else(|| "https://api.openai.com/v1".to_string());
                let key = match &self.api_key_env {
                    Some(var) => Some(std::env::var(var).map_err(|_| {
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
            other => Err(KbError::Embedding(format!(
                "unknown embeddings provider `{other}`; available: openai (OpenAI-compatible HTTP)"
            ))),
        }
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
