//! Providers turn a [`ChatRequest`] into the HTTP request of their API and read the answer back.
//! They do no I/O themselves (Bedrock reads credentials once, at construction), so the wire
//! formats are unit-testable and the retry, audit and privacy logic lives once, in
//! [`crate::client`].

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::LlmError;
use crate::transport::{HttpRequest, HttpResponse};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Bedrock,
}

impl ProviderKind {
    pub fn parse(text: &str) -> Option<ProviderKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "openai" | "openai-compatible" | "local" => Some(ProviderKind::Openai),
            "anthropic" | "claude" => Some(ProviderKind::Anthropic),
            "bedrock" | "aws-bedrock" | "amazon-bedrock" => Some(ProviderKind::Bedrock),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Bedrock => "bedrock",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// A provider-neutral request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub system: String,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub temperature: f32,
    /// JSON Schema for structured output, used where the API supports it.
    pub json_schema: Option<serde_json::Value>,
    /// Images attached to the first user message (diagram import); empty for text calls.
    pub images: Vec<ImageInput>,
    /// Ask for a streamed answer (server-sent events; Bedrock's binary event stream). Set by
    /// [`crate::client::Client`] (not by callers) so only providers that can stream are asked
    /// to; the assembled response is the same.
    pub stream: bool,
}

/// Largest image sent: Anthropic's per-image limit (5 MB); Bedrock caps at 3.75 MB and says so
/// in its own error, which is reported as is.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// A PNG or JPEG, checked by its magic bytes rather than its file name so a renamed file of
/// another kind is refused before any bytes leave the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInput {
    /// `image/png` or `image/jpeg`.
    pub media_type: &'static str,
    pub data: Vec<u8>,
}

impl ImageInput {
    pub fn from_bytes(data: Vec<u8>) -> Result<ImageInput, LlmError> {
        if data.len() > MAX_IMAGE_BYTES {
            return Err(LlmError::Config(format!(
                "the image has {} bytes; at most {MAX_IMAGE_BYTES} are sent to a model",
                data.len()
            )));
        }
        let media_type = if data.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "image/jpeg"
        } else {
            return Err(LlmError::Config(
                "the image is neither PNG nor JPEG (checked by its first bytes)".into(),
            ));
        };
        Ok(ImageInput { media_type, data })
    }

    /// `png` or `jpeg`, the names Bedrock's `format` field uses.
    pub fn format(&self) -> &'static str {
        self.media_type.trim_start_matches("image/")
    }

    pub fn base64(&self) -> String {
        base64_encode(&self.data)
    }
}

/// Standard base64 with padding; a dozen lines do not justify another dependency.
pub fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [
            c[0],
            c.get(1).copied().unwrap_or(0),
            c.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Index of the message that carries the images: the first user message.
fn image_slot(req: &ChatRequest) -> Option<usize> {
    if req.images.is_empty() {
        return None;
    }
    req.messages.iter().position(|m| m.role == Role::User)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub text: String,
    pub usage: Usage,
    /// `max_tokens`/`length` means the answer was cut off.
    pub stop_reason: Option<String>,
}

/// One API dialect.
pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    fn model(&self) -> &str;
    /// The URL requests go to, for the privacy check and the audit log.
    fn endpoint(&self) -> String;
    /// Builds the request; called again for every retry (Bedrock signs with the current time).
    fn build(&self, req: &ChatRequest) -> Result<HttpRequest, LlmError>;
    /// Reads a 2xx response.
    fn parse(&self, resp: &HttpResponse) -> Result<ChatResponse, LlmError>;
    /// Called with an error response; returns true when the provider switched to a simpler
    /// request form (e.g. a server that rejects `response_format`) and the call should be
    /// repeated at once.
    fn degrade(&self, _resp: &HttpResponse) -> bool {
        false
    }
    /// Whether the provider can stream its answer. All three can; the hook stays so a provider
    /// added later can opt out until its stream format is implemented.
    fn supports_stream(&self) -> bool {
        true
    }
    /// How a streamed body is framed, so the client can count text pieces for the progress
    /// line while the bytes arrive.
    fn stream_format(&self) -> StreamFormat {
        StreamFormat::Sse
    }
}

/// The framing of a streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// Server-sent events (`text/event-stream`): OpenAI-compatible servers and Anthropic.
    Sse,
    /// AWS's binary event stream (`application/vnd.amazon.eventstream`): Bedrock ConverseStream.
    AwsEventStream,
}

fn protocol(kind: ProviderKind, message: impl Into<String>) -> LlmError {
    LlmError::Protocol {
        provider: kind.as_str().into(),
        message: message.into(),
    }
}

fn to_json(kind: ProviderKind, v: &serde_json::Value) -> Result<Vec<u8>, LlmError> {
    serde_json::to_vec(v).map_err(|e| protocol(kind, e.to_string()))
}

fn parse_json<T: for<'de> Deserialize<'de>>(
    kind: ProviderKind,
    resp: &HttpResponse,
) -> Result<T, LlmError> {
    serde_json::from_slice(&resp.body).map_err(|e| {
        let snippet: String = String::from_utf8_lossy(&resp.body)
            .chars()
            .take(200)
            .collect();
        protocol(kind, format!("{e}; body starts {snippet:?}"))
    })
}

// ---------------------------------------------------------------- OpenAI-compatible

/// OpenAI chat completions, and every server that copies it (llama.cpp, vLLM, LM Studio).
///
/// Structured output is tried in three forms, falling back when a server rejects one:
/// OpenAI's `json_schema` (strict), llama.cpp's `json_object` with a `schema` (grammar
/// constrained), then none (the prompt still carries the schema).
#[derive(Debug)]
pub struct OpenAi {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    /// 0 = json_schema, 1 = json_object + schema, 2 = no response_format.
    format_level: std::sync::atomic::AtomicU8,
}

impl OpenAi {
    /// `structured_output = false` never sends `response_format`.
    pub fn new(
        base_url: impl Into<String>,
        model: impl Into<String>,
        api_key: Option<String>,
        structured_output: bool,
    ) -> OpenAi {
        OpenAi {
            base_url: base_url.into(),
            model: model.into(),
            api_key,
            format_level: std::sync::atomic::AtomicU8::new(if structured_output { 0 } else { 2 }),
        }
    }

    fn level(&self) -> u8 {
        self.format_level.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub const OPENAI_DEFAULT_URL: &str = "https://api.openai.com/v1";

#[derive(Deserialize)]
struct OaResponse {
    choices: Vec<OaChoice>,
    #[serde(default)]
    usage: Option<OaUsage>,
}
#[derive(Deserialize)]
struct OaChoice {
    message: OaMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}
#[derive(Deserialize)]
struct OaMessage {
    #[serde(default)]
    content: Option<String>,
}
#[derive(Deserialize)]
struct OaUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl Provider for OpenAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Openai
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }
    fn build(&self, req: &ChatRequest) -> Result<HttpRequest, LlmError> {
        let mut messages = vec![json!({"role": "system", "content": req.system})];
        let slot = image_slot(req);
        for (i, m) in req.messages.iter().enumerate() {
            if Some(i) == slot {
                let mut parts = vec![json!({"type": "text", "text": m.content})];
                for img in &req.images {
                    parts.push(json!({"type": "image_url", "image_url": {
                        "url": format!("data:{};base64,{}", img.media_type, img.base64())
                    }}));
                }
                messages.push(json!({"role": m.role, "content": parts}));
            } else {
                messages.push(json!({"role": m.role, "content": m.content}));
            }
        }
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
        });
        if req.stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        match (&req.json_schema, self.level()) {
            (Some(schema), 0) => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": "threats", "strict": true, "schema": schema}
                });
            }
            (Some(schema), 1) => {
                body["response_format"] = json!({"type": "json_object", "schema": schema});
            }
            _ => {}
        }
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(k) = &self.api_key {
            headers.push(("authorization".into(), format!("Bearer {k}")));
        }
        Ok(HttpRequest {
            method: "POST".into(),
            url: self.endpoint(),
            headers,
            body: to_json(self.kind(), &body)?,
        })
    }
    fn parse(&self, resp: &HttpResponse) -> Result<ChatResponse, LlmError> {
        if crate::sse::is_event_stream(resp) {
            return crate::sse::parse_openai(resp).map_err(|m| protocol(self.kind(), m));
        }
        let r: OaResponse = parse_json(self.kind(), resp)?;
        let choice = r
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| protocol(self.kind(), "no choices"))?;
        Ok(ChatResponse {
            text: choice.message.content.unwrap_or_default(),
            usage: r
                .usage
                .map(|u| Usage {
                    input_tokens: u.prompt_tokens,
                    output_tokens: u.completion_tokens,
                })
                .unwrap_or_default(),
            stop_reason: choice.finish_reason,
        })
    }
    fn degrade(&self, resp: &HttpResponse) -> bool {
        let text = String::from_utf8_lossy(&resp.body);
        let level = self.level();
        if (400..=599).contains(&resp.status) && level < 2 && text.contains("response_format") {
            self.format_level
                .store(level + 1, std::sync::atomic::Ordering::SeqCst);
            return true;
        }
        false
    }
}

// ---------------------------------------------------------------- Anthropic

/// Anthropic Messages API.
#[derive(Debug, Clone)]
pub struct Anthropic {
    pub base_url: String,
    pub model: String,
    pub api_key: String,
}

pub const ANTHROPIC_DEFAULT_URL: &str = "https://api.anthropic.com";
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Deserialize)]
struct AnResponse {
    content: Vec<AnBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<AnUsage>,
}
#[derive(Deserialize)]
struct AnBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}
#[derive(Deserialize)]
struct AnUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

impl Provider for Anthropic {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn endpoint(&self) -> String {
        format!("{}/v1/messages", self.base_url.trim_end_matches('/'))
    }
    fn build(&self, req: &ChatRequest) -> Result<HttpRequest, LlmError> {
        let slot = image_slot(req);
        let messages: Vec<serde_json::Value> = req
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if Some(i) != slot {
                    return json!({"role": m.role, "content": m.content});
                }
                // Images before the text, as Anthropic recommends.
                let mut blocks: Vec<serde_json::Value> = req
                    .images
                    .iter()
                    .map(|img| {
                        json!({"type": "image", "source": {
                            "type": "base64", "media_type": img.media_type, "data": img.base64()
                        }})
                    })
                    .collect();
                blocks.push(json!({"type": "text", "text": m.content}));
                json!({"role": m.role, "content": blocks})
            })
            .collect();
        let mut body = json!({
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "system": req.system,
            "messages": messages,
        });
        if req.stream {
            body["stream"] = json!(true);
        }
        Ok(HttpRequest {
            method: "POST".into(),
            url: self.endpoint(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-api-key".into(), self.api_key.clone()),
                ("anthropic-version".into(), ANTHROPIC_VERSION.into()),
            ],
            body: to_json(self.kind(), &body)?,
        })
    }
    fn parse(&self, resp: &HttpResponse) -> Result<ChatResponse, LlmError> {
        if crate::sse::is_event_stream(resp) {
            return crate::sse::parse_anthropic(resp).map_err(|m| protocol(self.kind(), m));
        }
        let r: AnResponse = parse_json(self.kind(), resp)?;
        let text: String = r
            .content
            .iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text.as_deref())
            .collect();
        Ok(ChatResponse {
            text,
            usage: r
                .usage
                .map(|u| Usage {
                    input_tokens: u.input_tokens,
                    output_tokens: u.output_tokens,
                })
                .unwrap_or_default(),
            stop_reason: r.stop_reason,
        })
    }
}

// ---------------------------------------------------------------- Bedrock

/// Bedrock credentials: resolved by [`AwsCredentials::resolve`] (environment lookup, shared
/// credentials file, container or EC2 instance role); the same type the knowledge base's
/// Bedrock embeddings use.
pub use tmc_aws::AwsCredentials;

/// Amazon Bedrock Converse API, signed with SigV4 (service `bedrock`). A streamed request goes
/// to `converse-stream` with the same body and is answered in AWS's binary event stream
/// ([`crate::eventstream`]).
#[derive(Debug, Clone)]
pub struct Bedrock {
    pub region: String,
    /// Overrides `https://bedrock-runtime.<region>.amazonaws.com` (VPC endpoints, tests).
    pub base_url: Option<String>,
    pub model: String,
    pub credentials: AwsCredentials,
}

impl Bedrock {
    fn base(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| format!("https://bedrock-runtime.{}.amazonaws.com", self.region))
            .trim_end_matches('/')
            .to_string()
    }
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters stay), as Bedrock expects for
/// model ids such as `anthropic.claude-3-5-sonnet-20240620-v1:0`.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Deserialize)]
struct BrResponse {
    output: BrOutput,
    #[serde(rename = "stopReason", default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<BrUsage>,
}
#[derive(Deserialize)]
struct BrOutput {
    message: BrMessage,
}
#[derive(Deserialize)]
struct BrMessage {
    content: Vec<BrBlock>,
}
#[derive(Deserialize)]
struct BrBlock {
    #[serde(default)]
    text: Option<String>,
}
#[derive(Deserialize)]
struct BrUsage {
    #[serde(rename = "inputTokens", default)]
    input_tokens: u64,
    #[serde(rename = "outputTokens", default)]
    output_tokens: u64,
}

impl Provider for Bedrock {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Bedrock
    }
    fn stream_format(&self) -> StreamFormat {
        StreamFormat::AwsEventStream
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn endpoint(&self) -> String {
        format!(
            "{}/model/{}/converse",
            self.base(),
            encode_segment(&self.model)
        )
    }
    fn build(&self, req: &ChatRequest) -> Result<HttpRequest, LlmError> {
        let slot = image_slot(req);
        let messages: Vec<serde_json::Value> = req
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut blocks: Vec<serde_json::Value> = Vec::new();
                if Some(i) == slot {
                    for img in &req.images {
                        blocks.push(json!({"image": {
                            "format": img.format(), "source": {"bytes": img.base64()}
                        }}));
                    }
                }
                blocks.push(json!({"text": m.content}));
                json!({"role": m.role, "content": blocks})
            })
            .collect();
        let body = json!({
            "system": [{"text": req.system}],
            "messages": messages,
            "inferenceConfig": {"maxTokens": req.max_tokens, "temperature": req.temperature},
        });
        let body = to_json(self.kind(), &body)?;
        // Same host as `endpoint()` (which the privacy check and the audit log see); only the
        // operation differs.
        let url = if req.stream {
            format!(
                "{}/model/{}/converse-stream",
                self.base(),
                encode_segment(&self.model)
            )
        } else {
            self.endpoint()
        };
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        let signed = tmc_aws::sign(
            &tmc_aws::Request {
                method: "POST",
                url: &url,
                headers: &headers,
                body: &body,
            },
            &self.region,
            "bedrock",
            &self.credentials,
            SystemTime::now(),
        )?;
        headers.extend(signed);
        Ok(HttpRequest {
            method: "POST".into(),
            url,
            headers,
            body,
        })
    }
    fn parse(&self, resp: &HttpResponse) -> Result<ChatResponse, LlmError> {
        let binary = resp.header("content-type").is_some_and(|v| {
            v.to_ascii_lowercase()
                .contains(crate::eventstream::CONTENT_TYPE)
        });
        if binary || crate::eventstream::starts_with_prelude(&resp.body) {
            return crate::eventstream::parse_converse_stream(&resp.body);
        }
        let r: BrResponse = parse_json(self.kind(), resp)?;
        Ok(ChatResponse {
            text: r
                .output
                .message
                .content
                .iter()
                .filter_map(|b| b.text.as_deref())
                .collect(),
            usage: r
                .usage
                .map(|u| Usage {
                    input_tokens: u.input_tokens,
                    output_tokens: u.output_tokens,
                })
                .unwrap_or_default(),
            stop_reason: r.stop_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_images_and_path_segments() {
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
        assert_eq!(base64_encode(b"M"), "TQ==");
        assert_eq!(base64_encode(b""), "");
        assert!(ImageInput::from_bytes(b"GIF89a".to_vec()).is_err());
        assert_eq!(
            ImageInput::from_bytes(vec![0xFF, 0xD8, 0xFF, 0xE0])
                .map(|i| i.format())
                .ok(),
            Some("jpeg")
        );
        assert_eq!(
            encode_segment("anthropic.claude-3:0"),
            "anthropic.claude-3%3A0"
        );
    }
}
