//! `privacy = "local-only"`: decide from the URL alone, before any socket is opened, whether an
//! endpoint may receive a prompt. Host names are not resolved on purpose: DNS answers can change
//! between the check and the connection, so only literal loopback addresses, `localhost` and
//! hosts the organisation listed explicitly pass.

use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::error::LlmError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrivacyMode {
    /// Any endpoint the configuration names.
    #[default]
    Cloud,
    /// Only loopback and allow-listed hosts.
    LocalOnly,
}

impl PrivacyMode {
    pub fn parse(text: &str) -> Option<PrivacyMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "local-only" | "local" | "localonly" => Some(PrivacyMode::LocalOnly),
            "cloud" | "any" | "off" | "none" => Some(PrivacyMode::Cloud),
            _ => None,
        }
    }
}

/// Host (without brackets) and port of a URL, parsed by hand so the check does not depend on
/// how an HTTP library would interpret an odd URL differently.
pub fn host_and_port(url: &str) -> Option<(String, Option<u16>)> {
    let rest = url.split_once("://").map(|(_, r)| r)?;
    let authority = rest.split(['/', '?', '#']).next()?;
    // userinfo@host: the host is after the LAST '@'.
    let hostport = authority.rsplit('@').next()?;
    if let Some(stripped) = hostport.strip_prefix('[') {
        let (host, after) = stripped.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((host.to_ascii_lowercase(), port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Some((h.to_ascii_lowercase(), Some(p.parse().ok()?))),
        None => Some((hostport.to_ascii_lowercase(), None)),
    }
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6 == Ipv6Addr::LOCALHOST || v6.to_ipv4_mapped().is_some_and(|m| m.is_loopback())
        }
        Err(_) => false,
    }
}

/// Checks an endpoint against the policy. `allow` entries are `host`, `host:port` or
/// `*.suffix`.
pub fn check_endpoint(url: &str, mode: PrivacyMode, allow: &[String]) -> Result<(), LlmError> {
    if mode == PrivacyMode::Cloud {
        return Ok(());
    }
    let refuse = |reason: &str| LlmError::PrivacyRefused {
        endpoint: url.to_string(),
        reason: reason.to_string(),
    };
    let (host, port) = host_and_port(url).ok_or_else(|| refuse("cannot read a host from it"))?;
    if host.is_empty() {
        return Err(refuse("no host"));
    }
    if is_loopback(&host) {
        return Ok(());
    }
    for entry in allow {
        let entry = entry.trim().to_ascii_lowercase();
        let (eh, ep) = match host_and_port(&format!("x://{entry}")) {
            Some(v) => v,
            None => continue,
        };
        let host_ok = match eh.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => eh == host,
        };
        if host_ok && (ep.is_none() || ep == port) {
            return Ok(());
        }
    }
    Err(refuse(
        "it is neither loopback nor on the allow-list (llm.allow_hosts)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_allow_list() {
        let lo = PrivacyMode::LocalOnly;
        for ok in [
            "http://127.0.0.1:58080/v1",
            "http://localhost/v1",
            "http://[::1]:8080/",
            "http://127.3.4.5",
        ] {
            assert!(check_endpoint(ok, lo, &[]).is_ok(), "{ok}");
        }
        for bad in [
            "https://api.openai.com/v1",
            "http://127.0.0.1.evil.com/",
            "http://localhost@evil.com/",
            "http://10.0.0.1/",
            "not a url",
            "https://bedrock-runtime.us-east-1.amazonaws.com",
        ] {
            assert!(check_endpoint(bad, lo, &[]).is_err(), "{bad}");
        }
        let allow = vec!["llm.corp.example".to_string(), "*.internal".to_string()];
        assert!(check_endpoint("https://llm.corp.example/v1", lo, &allow).is_ok());
        assert!(check_endpoint("https://a.b.internal:443/", lo, &allow).is_ok());
        assert!(check_endpoint("https://internal.evil.com/", lo, &allow).is_err());
        let allow_port = vec!["gpu-box:8000".to_string()];
        assert!(check_endpoint("http://gpu-box:8000/v1", lo, &allow_port).is_ok());
        assert!(check_endpoint("http://gpu-box:9000/v1", lo, &allow_port).is_err());
        assert!(check_endpoint("https://api.openai.com", PrivacyMode::Cloud, &[]).is_ok());
    }
}
