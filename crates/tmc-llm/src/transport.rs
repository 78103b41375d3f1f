//! The only module of tmc-llm that touches the network. Everything else builds and reads
//! [`HttpRequest`]/[`HttpResponse`] values, so prompting, parsing, merging and redaction are
//! pure functions tested without sockets, and tests can swap in a scripted [`Transport`].

use std::time::{Duration, Instant};

use crate::error::TransportError;

/// A request as the provider wants it on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What came back; any status, so the caller decides about retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header of that name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request. Implementations must not follow redirects: a redirect could lead to a
/// host the privacy policy never checked.
pub trait Transport: Send + Sync {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
    /// Like [`Transport::send`], also handing the body to `on_bytes` as it arrives, for progress
    /// on streamed answers. The default (scripted transports) hands over the whole body at once.
    fn send_with_progress(
        &self,
        request: &HttpRequest,
        on_bytes: &mut dyn FnMut(&[u8]),
    ) -> Result<HttpResponse, TransportError> {
        let resp = self.send(request)?;
        on_bytes(&resp.body);
        Ok(resp)
    }
}

/// Largest response body read; model answers are small, a bigger body is a broken server.
pub const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// Blocking HTTP over ureq with rustls.
pub struct UreqTransport {
    agent: ureq::Agent,
    timeout: Duration,
}

impl UreqTransport {
    /// `use_env_proxy` is false under `local-only`: a proxy from `HTTPS_PROXY` would carry the
    /// prompt to a host the policy never saw.
    pub fn new(timeout: Duration, use_env_proxy: bool) -> UreqTransport {
        let mut cfg = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("tmc/", env!("CARGO_PKG_VERSION")));
        if !use_env_proxy {
            cfg = cfg.proxy(None);
        }
        UreqTransport {
            agent: ureq::Agent::new_with_config(cfg.build()),
            timeout,
        }
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.send_with_progress(request, &mut |_| {})
    }

    fn send_with_progress(
        &self,
        request: &HttpRequest,
        on_bytes: &mut dyn FnMut(&[u8]),
    ) -> Result<HttpResponse, TransportError> {
        use std::io::Read;
        let started = Instant::now();
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (k, v) in &request.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let req = builder
            .body(request.body.clone())
            .map_err(|e| TransportError::Other(format!("bad request: {e}")))?;
        let map_err = |e: ureq::Error| match e {
            ureq::Error::Timeout(_) => TransportError::Timeout(started.elapsed().as_millis()),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                TransportError::Timeout(started.elapsed().as_millis())
            }
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                TransportError::Connect(e.to_string())
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                TransportError::Connect(io.to_string())
            }
            other => TransportError::Other(other.to_string()),
        };
        let resp = self.agent.run(req).map_err(map_err)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut reader = resp
            .into_body()
            .into_with_config()
            .limit(MAX_RESPONSE_BYTES)
            .reader();
        let mut body = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(map_err(ureq::Error::Io(e))),
            };
            on_bytes(&buf[..n]);
            body.extend_from_slice(&buf[..n]);
        }
        if started.elapsed() > self.timeout {
            return Err(TransportError::Timeout(started.elapsed().as_millis()));
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}
