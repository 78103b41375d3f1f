//! A provider plus the policies every call obeys: the privacy check before connecting, retries
//! with backoff on 429/5xx and timeouts (honouring `retry-after`), a concurrency limit shared by
//! all threads, the audit log, and token accounting.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::audit::{AuditEvent, AuditLog, current_user, hex, now_rfc3339};
use crate::error::{LlmError, TransportError};
use crate::privacy::{PrivacyMode, check_endpoint};
use crate::provider::{ChatRequest, ChatResponse, Provider, StreamFormat, Usage};
use crate::transport::{HttpResponse, Transport};

/// Retry behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub base_delay: Duration,
    /// Longest single wait, also the cap on a server's `retry-after`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Wait before retry `attempt` (1-based): `retry-after` when the server sent one, else
    /// exponential backoff with a little jitter so parallel workers do not retry in lockstep.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let jitter_ms = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            % 100) as u64;
        (exp + Duration::from_millis(jitter_ms)).min(self.max_delay)
    }
}

/// `retry-after` in seconds (the HTTP-date form is rare for these APIs and treated as absent).
pub fn retry_after(resp: &HttpResponse) -> Option<Duration> {
    let v = resp
        .header("retry-after-ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    v.or_else(|| {
        resp.header("retry-after")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    })
}

/// Counting semaphore: at most `limit` calls in flight across threads.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<usize>,
    cv: Condvar,
    limit: usize,
}

impl Limiter {
    pub fn new(limit: usize) -> Limiter {
        Limiter {
            state: Mutex::new(0),
            cv: Condvar::new(),
            limit: limit.max(1),
        }
    }

    fn acquire(&self) -> LimiterGuard<'_> {
        let mut n = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= self.limit {
            n = self.cv.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
        LimiterGuard { limiter: self }
    }
}

struct LimiterGuard<'a> {
    limiter: &'a Limiter,
}

impl Drop for LimiterGuard<'_> {
    fn drop(&mut self) {
        let mut n = self.limiter.state.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        self.limiter.cv.notify_one();
    }
}

/// Price per million tokens, for the cost line of a draft.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pricing {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Pricing {
    pub fn cost(&self, u: Usage) -> f64 {
        (u.input_tokens as f64 * self.input_per_mtok
            + u.output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// Everything one call needs besides the request.
pub struct Client {
    pub provider: Box<dyn Provider>,
    pub transport: Box<dyn Transport>,
    pub retry: RetryPolicy,
    pub privacy: PrivacyMode,
    pub allow_hosts: Vec<String>,
    pub audit: Option<Arc<AuditLog>>,
    pub limiter: Arc<Limiter>,
    pub pricing: Pricing,
    /// Injected so tests of retry-after do not depend on wall-clock sleeps.
    pub sleep: fn(Duration),
    /// Ask streaming-capable providers for server-sent events, so a long answer shows progress
    /// instead of a silent wait; the assembled answer is the same either way.
    pub stream: bool,
    /// Called with the number of text pieces received so far while a streamed answer arrives
    /// (roughly one per token), and with 0 when the answer is complete.
    pub progress: Option<Progress>,
}

/// Progress callback for streamed answers; shared so worker threads can report.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

impl Client {
    pub fn new(provider: Box<dyn Provider>, transport: Box<dyn Transport>) -> Client {
        Client {
            provider,
            transport,
            retry: RetryPolicy::default(),
            privacy: PrivacyMode::Cloud,
            allow_hosts: Vec::new(),
            audit: None,
            limiter: Arc::new(Limiter::new(2)),
            pricing: Pricing::default(),
            sleep: std::thread::sleep,
            stream: false,
            progress: None,
        }
    }

    /// The privacy check alone; callers run it up front to fail before any work.
    pub fn check_privacy(&self) -> Result<(), LlmError> {
        check_endpoint(&self.provider.endpoint(), self.privacy, &self.allow_hosts)
    }

    fn audit(
        &self,
        req: &ChatRequest,
        body: &[u8],
        usage: Usage,
        redactions: usize,
        outcome: &str,
    ) -> Result<(), LlmError> {
        if let Some(log) = &self.audit {
            // Images are not redacted; their hash and size show what left the machine.
            let (image_sha256, image_bytes) = if req.images.is_empty() {
                (None, None)
            } else {
                let mut h = Sha256::new();
                let mut n = 0u64;
                for img in &req.images {
                    h.update(&img.data);
                    n += img.data.len() as u64;
                }
                (Some(hex(&h.finalize())), Some(n))
            };
            log.append(AuditEvent {
                time: now_rfc3339(),
                user: current_user(),
                provider: self.provider.kind().as_str().into(),
                endpoint: self.provider.endpoint(),
                model: self.provider.model().into(),
                prompt_sha256: hex(&Sha256::digest(body)),
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                redactions,
                outcome: outcome.into(),
                image_sha256,
                image_bytes,
            })?;
        }
        Ok(())
    }

    /// One logical call with retries. `redactions` is recorded in the audit log.
    pub fn complete(&self, req: &ChatRequest, redactions: usize) -> Result<ChatResponse, LlmError> {
        if let Err(e) = self.check_privacy() {
            self.audit(
                req,
                b"",
                Usage::default(),
                redactions,
                "refused by privacy policy",
            )?;
            return Err(e);
        }
        let _slot = self.limiter.acquire();
        let streamed;
        let req = if self.stream && self.provider.supports_stream() {
            streamed = ChatRequest {
                stream: true,
                ..req.clone()
            };
            &streamed
        } else {
            req
        };
        let mut attempt = 0;
        loop {
            let http = self.provider.build(req)?;
            let result = match (&self.progress, req.stream) {
                (Some(progress), true) => {
                    let mut counter = PieceCounter::new(self.provider.stream_format());
                    let mut pieces = 0u64;
                    let r = self.transport.send_with_progress(&http, &mut |bytes| {
                        for _ in 0..counter.push(bytes) {
                            pieces += 1;
                            progress(pieces);
                        }
                    });
                    progress(0);
                    r
                }
                _ => self.transport.send(&http),
            };
            let (retryable, wait_hint, err, outcome) = match result {
                Ok(resp) if (200..300).contains(&resp.status) => {
                    match self.provider.parse(&resp) {
                        Ok(r) => {
                            self.audit(req, &http.body, r.usage, redactions, "ok")?;
                            return Ok(r);
                        }
                        // An error inside a streamed 2xx answer (Bedrock's throttlingException)
                        // is what a 429 or 5xx would have been before the stream started.
                        Err(
                            e @ LlmError::StreamException {
                                retryable: true, ..
                            },
                        ) => {
                            let outcome = stream_outcome(&e);
                            (true, None, e, outcome)
                        }
                        Err(e) => {
                            let outcome = match &e {
                                LlmError::StreamException { .. } => stream_outcome(&e),
                                _ => "unreadable response".to_string(),
                            };
                            self.audit(req, &http.body, Usage::default(), redactions, &outcome)?;
                            return Err(e);
                        }
                    }
                }
                Ok(resp) if self.provider.degrade(&resp) => {
                    self.audit(
                        req,
                        &http.body,
                        Usage::default(),
                        redactions,
                        &format!("http {}, retrying in a simpler request form", resp.status),
                    )?;
                    continue;
                }
                Ok(resp) => {
                    let retryable = resp.status == 429 || resp.status == 529 || resp.status >= 500;
                    let message: String = String::from_utf8_lossy(&resp.body)
                        .chars()
                        .take(300)
                        .collect();
                    (
                        retryable,
                        retry_after(&resp),
                        LlmError::Http {
                            provider: self.provider.kind().as_str().into(),
                            status: resp.status,
                            message,
                        },
                        format!("http {}", resp.status),
                    )
                }
                Err(e) => {
                    let retryable =
                        matches!(e, TransportError::Timeout(_) | TransportError::Connect(_));
                    let outcome = match e {
                        TransportError::Timeout(_) => "timeout".to_string(),
                        _ => "network error".to_string(),
                    };
                    (retryable, None, LlmError::Transport(e), outcome)
                }
            };
            self.audit(req, &http.body, Usage::default(), redactions, &outcome)?;
            if !retryable || attempt >= self.retry.max_retries {
                return Err(err);
            }
            attempt += 1;
            (self.sleep)(self.retry.delay(attempt, wait_hint));
        }
    }
}

/// The audit outcome of an in-stream error: its exception name, so throttling shows in the log.
fn stream_outcome(e: &LlmError) -> String {
    match e {
        LlmError::StreamException { exception, .. } => format!("stream exception {exception}"),
        _ => "unreadable response".into(),
    }
}

/// Counts the non-empty text pieces of a streamed body as its bytes arrive, in either framing.
/// Only for the progress line: a decoding error stops the counting and is reported by the
/// provider's `parse` of the complete body, which sees the same bytes.
enum PieceCounter {
    Sse(crate::sse::SseLines),
    AwsEventStream(crate::eventstream::Decoder),
}

impl PieceCounter {
    fn new(format: StreamFormat) -> PieceCounter {
        match format {
            StreamFormat::Sse => PieceCounter::Sse(Default::default()),
            StreamFormat::AwsEventStream => PieceCounter::AwsEventStream(Default::default()),
        }
    }

    /// The number of text pieces completed by `bytes`.
    fn push(&mut self, bytes: &[u8]) -> usize {
        match self {
            PieceCounter::Sse(lines) => lines
                .push(bytes)
                .iter()
                .filter(|d| crate::sse::delta_text(d).is_some_and(|t| !t.is_empty()))
                .count(),
            PieceCounter::AwsEventStream(decoder) => decoder
                .push(bytes)
                .iter()
                .filter(|m| crate::eventstream::delta_text(m).is_some_and(|t| !t.is_empty()))
                .count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn limiter_caps_calls_in_flight() {
        let limiter = Limiter::new(2);
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let _g = limiter.acquire();
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn backoff_honours_retry_after_and_caps() {
        let p = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(2)
        );
        assert!(p.delay(3, None) >= Duration::from_millis(400));
        assert!(p.delay(30, None) <= Duration::from_secs(2));
        let resp = HttpResponse {
            status: 429,
            headers: vec![("Retry-After".into(), "7".into())],
            body: vec![],
        };
        assert_eq!(retry_after(&resp), Some(Duration::from_secs(7)));
        let p = Pricing {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
        };
        let cost = p.cost(Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
        });
        assert!((cost - 4.5).abs() < 1e-9);
    }
}
