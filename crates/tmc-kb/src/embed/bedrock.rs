//! Amazon Bedrock embeddings: Titan Text Embeddings v2 (`amazon.titan-embed-text-v2:0`) through
//! `POST /model/{id}/invoke`, SigV4-signed through `tmc-aws`.
//!
//! The model takes one text per call, so calls run on a few threads at once: an ingest of a few
//! thousand chunks would otherwise wait for thousands of sequential round trips. Throttling
//! (HTTP 429) and transient server errors are retried with a doubling pause.
//!
//! Credentials and signing come from `tmc-aws`, which the copilot's Bedrock provider uses too:
//! the knowledge base must not depend on the copilot, so the shared part sits below both.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::Embedder;
use crate::error::KbError;

/// Re-exported so callers build an embedder without naming `tmc-aws`.
pub use tmc_aws::AwsCredentials;

/// Titan Text Embeddings v2.
pub const DEFAULT_MODEL: &str = "amazon.titan-embed-text-v2:0";
/// Output sizes Titan v2 accepts.
pub const TITAN_V2_DIMENSIONS: [usize; 3] = [256, 512, 1024];
/// Titan v2 refuses longer input (its other limit is 8 192 tokens); longer text is cut here
/// so one long chunk cannot fail the ingest of its whole file.
pub const MAX_INPUT_CHARS: usize = 50_000;

/// Credential and signing errors as embedding errors, prefixed like every other message of
/// this client.
pub(crate) fn aws_error(e: tmc_aws::AwsError) -> KbError {
    KbError::Embedding(format!("bedrock: {e}"))
}

/// Client for Titan Text Embeddings v2 on Bedrock.
pub struct BedrockEmbedder {
    region: String,
    base_url: String,
    model: String,
    dimensions: usize,
    credentials: AwsCredentials,
    pub timeout: Duration,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Tries per text (throttling, 5xx, connection errors); pauses double from `retry_pause`.
    pub attempts: u32,
    pub retry_pause: Duration,
}

#[derive(Serialize)]
struct TitanRequest<'a> {
    #[serde(rename = "inputText")]
    input_text: &'a str,
    dimensions: usize,
    normalize: bool,
}

#[derive(Deserialize)]
struct TitanResponse {
    embedding: Vec<f32>,
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters stay): model ids hold `:`.
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Cuts `text` to at most `max` characters, on a character boundary.
fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

impl BedrockEmbedder {
    /// `base_url` overrides `https://bedrock-runtime.<region>.amazonaws.com` (VPC endpoints,
    /// tests). `dimensions` must be one Titan v2 accepts.
    pub fn new(
        region: &str,
        base_url: Option<&str>,
        model: &str,
        dimensions: usize,
        credentials: AwsCredentials,
    ) -> Result<Self, KbError> {
        if !TITAN_V2_DIMENSIONS.contains(&dimensions) {
            return Err(KbError::Embedding(format!(
                "bedrock: dimensions = {dimensions}; Titan Text Embeddings v2 accepts 256, 512 or 1024"
            )));
        }
        if region.trim().is_empty() {
            return Err(KbError::Embedding("bedrock: empty AWS region".into()));
        }
        let base_url = base_url
            .map(str::to_string)
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_string();
        Ok(BedrockEmbedder {
            region: region.to_string(),
            base_url,
            model: model.to_string(),
            dimensions,
            credentials,
            timeout: Duration::from_secs(60),
            concurrency: 4,
            attempts: 4,
            retry_pause: Duration::from_millis(500),
        })
    }

    fn endpoint(&self) -> String {
        format!(
            "{}/model/{}/invoke",
            self.base_url,
            encode_segment(&self.model)
        )
    }

    /// Headers for a signed JSON POST: content type, host, x-amz-date, authorization and the
    /// session token if any.
    fn sign(&self, url: &str, body: &[u8]) -> Result<Vec<(String, String)>, KbError> {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        let signed = tmc_aws::sign(
            &tmc_aws::Request {
                method: "POST",
                url,
                headers: &headers,
                body,
            },
            &self.region,
            "bedrock",
            &self.credentials,
            SystemTime::now(),
        )
        .map_err(aws_error)?;
        headers.extend(signed);
        Ok(headers)
    }

    /// One call; `Err((retryable, message))`.
    fn call(&self, agent: &ureq::Agent, text: &str) -> Result<Vec<f32>, (bool, String)> {
        let url = self.endpoint();
        let body = serde_json::to_vec(&TitanRequest {
            input_text: truncate_chars(text, MAX_INPUT_CHARS),
            dimensions: self.dimensions,
            normalize: true,
        })
        .map_err(|e| (false, format!("request body: {e}")))?;
        // Signed per attempt: the signature covers the time.
        let headers = self.sign(&url, &body).map_err(|e| (false, e.to_string()))?;
        let mut req = agent.post(&url);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = req
            .send(&body[..])
            .map_err(|e| (true, format!("POST {url}: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp
                .body_mut()
                .with_config()
                .limit(4096)
                .read_to_string()
                .unwrap_or_default();
            let code = status.as_u16();
            return Err((
                code == 429 || code >= 500,
                format!("POST {url}: HTTP {status}: {}", text.trim()),
            ));
        }
        let parsed: TitanResponse = resp
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_json()
            .map_err(|e| (false, format!("POST {url}: unexpected response: {e}")))?;
        if parsed.embedding.len() != self.dimensions {
            return Err((
                false,
                format!(
                    "POST {url}: asked for {} dimensions, got {}",
                    self.dimensions,
                    parsed.embedding.len()
                ),
            ));
        }
        Ok(parsed.embedding)
    }

    fn embed_one(&self, agent: &ureq::Agent, text: &str) -> Result<Vec<f32>, KbError> {
        let mut pause = self.retry_pause;
        let mut attempt = 1;
        loop {
            match self.call(agent, text) {
                Ok(v) => return Ok(v),
                Err((true, _)) if attempt < self.attempts.max(1) => {
                    std::thread::sleep(pause);
                    pause = pause.saturating_mul(2);
                    attempt += 1;
                }
                Err((_, msg)) => {
                    return Err(KbError::Embedding(format!(
                        "bedrock: {msg} (attempt {attempt})"
                    )));
                }
            }
        }
    }
}

/// A text's position and its vector (or why there is none).
type Slot = (usize, Result<Vec<f32>, KbError>);

impl Embedder for BedrockEmbedder {
    fn model_id(&self) -> String {
        format!("bedrock:{}@{}", self.model, self.dimensions)
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KbError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let workers = self.concurrency.clamp(1, 16).min(texts.len().max(1));
        // Worker w takes texts w, w + workers, ...; the first error stops the others early.
        let failed = std::sync::atomic::AtomicBool::new(false);
        let results: Vec<Vec<Slot>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let (agent, failed) = (&agent, &failed);
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for i in (w..texts.len()).step_by(workers) {
                            if failed.load(std::sync::atomic::Ordering::Relaxed) {
                                break;
                            }
                            let r = self.embed_one(agent, &texts[i]);
                            if r.is_err() {
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            }
                            out.push((i, r));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![(
                            usize::MAX,
                            Err(KbError::Embedding("bedrock: a worker panicked".into())),
                        )]
                    })
                })
                .collect()
        });
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (i, r) in results.into_iter().flatten() {
            let v = r?;
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(v);
            }
        }
        out.into_iter()
            .map(|v| v.ok_or_else(|| KbError::Embedding("bedrock: a text was not embedded".into())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            encode_segment("amazon.titan-embed-text-v2:0"),
            "amazon.titan-embed-text-v2%3A0"
        );
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("hé", 5), "hé");
        let creds = AwsCredentials {
            access_key_id: "A".into(),
            secret_access_key: "s3cr3t".into(),
            session_token: None,
        };
        assert!(!format!("{creds:?}").contains("s3cr3t"));
        assert!(BedrockEmbedder::new("eu-west-1", None, DEFAULT_MODEL, 300, creds).is_err());
    }
}
