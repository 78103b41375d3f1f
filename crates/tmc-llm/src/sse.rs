//! Server-sent events (`stream: true`) for the OpenAI-compatible and Anthropic APIs. The body is
//! read as it arrives only to show progress; the answer is assembled from the complete body
//! afterwards, so a streamed and a non-streamed call give the same [`ChatResponse`].

use serde_json::Value;

use crate::provider::{ChatResponse, Usage};
use crate::transport::HttpResponse;

/// True when the response is an event stream (by content type, or by its first bytes for servers
/// that send SSE without the header).
pub fn is_event_stream(resp: &HttpResponse) -> bool {
    if resp
        .header("content-type")
        .is_some_and(|v| v.to_ascii_lowercase().contains("text/event-stream"))
    {
        return true;
    }
    let start = String::from_utf8_lossy(&resp.body[..resp.body.len().min(64)]).into_owned();
    let start = start.trim_start();
    start.starts_with("data:") || start.starts_with("event:")
}

/// Splits bytes into `data:` payloads; bytes may arrive cut anywhere, even inside a UTF-8
/// character, so only complete lines are decoded.
#[derive(Debug, Default)]
pub struct SseLines {
    pending: Vec<u8>,
}

impl SseLines {
    /// Feeds bytes and returns the payloads of the `data:` lines completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(data) = line.trim_end_matches(['\r', '\n']).strip_prefix("data:") {
                out.push(data.trim_start().to_string());
            }
        }
        out
    }

    /// The last line when the body did not end with a newline.
    pub fn finish(&mut self) -> Vec<String> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        self.push(b"\n")
    }
}

fn payloads(body: &[u8]) -> Vec<Value> {
    let mut lines = SseLines::default();
    let mut all = lines.push(body);
    all.extend(lines.finish());
    all.iter()
        .filter(|d| d.as_str() != "[DONE]" && !d.is_empty())
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

/// The text a payload adds, for the progress counter (either dialect).
pub fn delta_text(payload: &str) -> Option<String> {
    let v: Value = serde_json::from_str(payload).ok()?;
    let t = v["choices"][0]["delta"]["content"]
        .as_str()
        .or_else(|| v["delta"]["text"].as_str())?;
    Some(t.to_string())
}

fn error_of(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    Some(
        e["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string()),
    )
}

/// Assembles an OpenAI chat-completion stream: `choices[0].delta.content` pieces, the last
/// `finish_reason`, and `usage` from the final chunk when `include_usage` was honoured.
pub fn parse_openai(resp: &HttpResponse) -> Result<ChatResponse, String> {
    let mut text = String::new();
    let mut stop_reason = None;
    let mut usage = Usage::default();
    let all = payloads(&resp.body);
    if all.is_empty() {
        return Err("an event stream without any JSON event".into());
    }
    for v in all {
        if let Some(e) = error_of(&v) {
            return Err(format!("error event in the stream: {e}"));
        }
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(c);
        }
        if let Some(r) = v["choices"][0]["finish_reason"].as_str() {
            stop_reason = Some(r.to_string());
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            usage = Usage {
                input_tokens: u["prompt_tokens"].as_u64().unwrap_or(0),
                output_tokens: u["completion_tokens"].as_u64().unwrap_or(0),
            };
        }
    }
    Ok(ChatResponse {
        text,
        usage,
        stop_reason,
    })
}

/// Assembles an Anthropic Messages stream: `content_block_delta` text, input tokens from
/// `message_start`, output tokens and stop reason from `message_delta`.
pub fn parse_anthropic(resp: &HttpResponse) -> Result<ChatResponse, String> {
    let mut text = String::new();
    let mut stop_reason = None;
    let mut usage = Usage::default();
    let all = payloads(&resp.body);
    if all.is_empty() {
        return Err("an event stream without any JSON event".into());
    }
    for v in all {
        match v["type"].as_str() {
            Some("error") => {
                return Err(format!(
                    "error event in the stream: {}",
                    error_of(&v).unwrap_or_default()
                ));
            }
            Some("message_start") => {
                let u = &v["message"]["usage"];
                usage.input_tokens = u["input_tokens"].as_u64().unwrap_or(0);
                usage.output_tokens = u["output_tokens"].as_u64().unwrap_or(0);
            }
            Some("content_block_delta") => {
                if let Some(t) = v["delta"]["text"].as_str() {
                    text.push_str(t);
                }
            }
            Some("message_delta") => {
                if let Some(r) = v["delta"]["stop_reason"].as_str() {
                    stop_reason = Some(r.to_string());
                }
                if let Some(n) = v["usage"]["output_tokens"].as_u64() {
                    usage.output_tokens = n;
                }
            }
            _ => {}
        }
    }
    Ok(ChatResponse {
        text,
        usage,
        stop_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_anywhere() {
        let mut l = SseLines::default();
        assert!(l.push(b"data: {\"a\"").is_empty());
        assert_eq!(l.push(b": 1}\r\n\r\ndata: [DONE]"), vec!["{\"a\": 1}"]);
        assert_eq!(l.finish(), vec!["[DONE]"]);
    }

    #[test]
    fn anthropic_stream() {
        let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"he\"}}\n\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"llo\"}}\n\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":4}}\n\n";
        let resp = HttpResponse {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        assert!(is_event_stream(&resp));
        let r = parse_anthropic(&resp);
        assert_eq!(
            r.map(|r| (
                r.text,
                r.usage.input_tokens,
                r.usage.output_tokens,
                r.stop_reason
            )),
            Ok(("hello".into(), 9, 4, Some("end_turn".into())))
        );
    }
}
