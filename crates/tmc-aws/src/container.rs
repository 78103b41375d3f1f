//! Container credentials: the role of an ECS task or, with EKS Pod Identity, of a pod, served
//! over HTTP by an agent on the host. The container runtime announces it through
//! `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (ECS: a path on `169.254.170.2`) or
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI` (EKS Pod Identity, ECS Anywhere, local emulators), with
//! an authorization token in `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read at every resolution,
//! never cached, because EKS rotates it) or `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
//!
//! A full URI over plain `http` may only name a loopback address or the ECS/EKS link-local
//! hosts, as the AWS SDKs require: the token goes out in the request and the credentials come
//! back unencrypted, so an arbitrary host would receive both. `https` may name any host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::http::{self, Timeouts};
use crate::{AwsCredentials, AwsError};

/// The ECS credentials endpoint that a relative URI is appended to.
pub(crate) const ECS_BASE: &str = "http://169.254.170.2";
/// Link-local hosts of the ECS and EKS Pod Identity agents, allowed over plain `http`.
const ECS_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
const EKS_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
const EKS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23);
/// The SDKs' values: the agent is on the same host, but may be busy right after a task starts.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(5),
};

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// The URL to ask, when container credentials are configured: the relative URI on the ECS
/// host (it wins when both are set, as in the SDKs), else the full URI once its host is
/// allowed. `None` when neither variable is set.
pub(crate) fn endpoint(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, AwsError> {
    if let Some(relative) = non_empty(env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
        // Without a leading slash the value would extend the host name instead of the path.
        let slash = if relative.starts_with('/') { "" } else { "/" };
        return Ok(Some(format!("{ECS_BASE}{slash}{relative}")));
    }
    let Some(full) = non_empty(env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) else {
        return Ok(None);
    };
    check_full_uri(&full).map_err(|reason| AwsError::ContainerEndpoint {
        url: full.clone(),
        reason,
    })?;
    Ok(Some(full))
}

/// Whether a full URI may receive the token: any `https` URL; an `http` URL only to a loopback
/// address, a name that resolves to loopback addresses only, or the ECS/EKS hosts. User
/// information (`user@host`) is refused outright, since it is the classic way to make a URL
/// look as if it named another host.
fn check_full_uri(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("not an absolute http or https URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("user information in the URL is not allowed".into());
    }
    let (host, port) = split_authority(authority)?;
    if scheme.eq_ignore_ascii_case("https") {
        return Ok(());
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("scheme {scheme} is neither http nor https"));
    }
    let allowed = match host.parse::<IpAddr>() {
        Ok(ip) => allowed_ip(ip),
        // A name is allowed when every address it resolves to is loopback (the SDKs' rule);
        // one that does not resolve is refused here rather than failing later.
        Err(_) => (host, port.unwrap_or(80))
            .to_socket_addrs()
            .map(|addrs| {
                let addrs: Vec<_> = addrs.collect();
                !addrs.is_empty() && addrs.iter().all(|a| a.ip().to_canonical().is_loopback())
            })
            .unwrap_or(false),
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "plain http may only go to a loopback address or the ECS/EKS hosts \
             {ECS_V4}, {EKS_V4}, [{EKS_V6}], not {host} (the token and the credentials would \
             cross the network unencrypted); use https for another host"
        ))
    }
}

fn allowed_ip(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip.is_loopback() || ip == IpAddr::V4(ECS_V4) || ip == IpAddr::V4(EKS_V4) || ip == EKS_V6
}

/// Host (brackets removed from an IPv6 literal) and port of `host[:port]`.
fn split_authority(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err("no host in the URL".into());
    }
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| format!("bad port {p}")))
        .transpose()?;
    Ok((host, port))
}

/// The value of the `Authorization` header: the token file wins over the token variable, as in
/// the SDKs. Surrounding white space (a trailing newline in the file) is dropped; a line break
/// inside would end the header early, so it is refused.
fn authorization(
    env: &dyn Fn(&str) -> Option<String>,
    url: &str,
) -> Result<Option<String>, AwsError> {
    let token = if let Some(path) = non_empty(env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
        let path = PathBuf::from(path);
        std::fs::read_to_string(&path)
            .map_err(|source| AwsError::TokenFile { path, source })?
            .trim()
            .to_string()
    } else if let Some(token) = non_empty(env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        token.trim().to_string()
    } else {
        return Ok(None);
    };
    if token.contains(['\r', '\n']) {
        return Err(AwsError::Container {
            url: url.into(),
            reason: "the authorization token contains a line break".into(),
        });
    }
    Ok(Some(token))
}

/// Credentials from the container endpoint, or `None` when none is configured. Once one is
/// configured, its failure is an error rather than a reason to try EC2 instance metadata: the
/// runtime said where the credentials are, and the instance's role would be another identity.
pub(crate) fn credentials(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<AwsCredentials>, AwsError> {
    let Some(url) = endpoint(env)? else {
        return Ok(None);
    };
    let token = authorization(env, &url)?;
    let headers: Vec<(&str, &str)> = token
        .as_deref()
        .map(|t| ("authorization", t))
        .into_iter()
        .collect();
    let fail = |reason: String| AwsError::Container {
        url: url.clone(),
        reason,
    };
    let reply = http::send("GET", &url, &headers, TIMEOUTS).map_err(fail)?;
    if reply.status != 200 {
        return Err(fail(format!(
            "HTTP {}: {}",
            reply.status,
            http::excerpt(&reply.body, 200)
        )));
    }
    http::parse_document(&reply.body).map(Some).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn url(pairs: &[(&str, &str)]) -> Result<Option<String>, AwsError> {
        endpoint(&env_of(pairs))
    }

    const REL: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
    const FULL: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";

    #[test]
    fn a_relative_uri_is_a_path_on_the_ecs_host() {
        assert_eq!(
            url(&[(REL, "/v2/credentials/1b2c-3d")]).expect("ok"),
            Some("http://169.254.170.2/v2/credentials/1b2c-3d".into())
        );
        // No leading slash: still a path, the host cannot be extended ("…170.2.evil.com").
        assert_eq!(
            url(&[(REL, ".evil.com/x")]).expect("ok"),
            Some("http://169.254.170.2/.evil.com/x".into())
        );
        assert_eq!(
            url(&[(REL, "/v2/credentials/r"), (FULL, "http://127.0.0.1:9/x")]).expect("ok"),
            Some("http://169.254.170.2/v2/credentials/r".into()),
            "the relative URI wins over the full one"
        );
        assert_eq!(url(&[]).expect("ok"), None);
        assert_eq!(url(&[(REL, "  "), (FULL, "")]).expect("ok"), None);
    }

    #[test]
    fn full_uris_over_http_only_to_loopback_and_the_agents() {
        for allowed in [
            "http://127.0.0.1:51679/creds",
            "http://127.8.9.10/creds",
            "http://[::1]:8080/creds",
            "http://169.254.170.2/v2/credentials",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "HTTP://LOCALHOST:1234/",
            "https://credentials.example.com/role",
        ] {
            assert_eq!(
                url(&[(FULL, allowed)]).expect(allowed),
                Some(allowed.to_string())
            );
        }
        for refused in [
            "http://192.0.2.1/creds",
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1@192.0.2.1/creds",
            "http://[fd00:ec2::24]/",
            "http://[::ffff:192.0.2.1]/",
            "ftp://127.0.0.1/creds",
            "127.0.0.1/creds",
            "http://127.0.0.1:80x/",
            "http://:80/",
        ] {
            let err = url(&[(FULL, refused)]).expect_err(refused);
            assert!(
                matches!(&err, AwsError::ContainerEndpoint { url, .. } if url == refused),
                "{refused}: {err:?}"
            );
            assert!(
                err.to_string()
                    .contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
                "{err}"
            );
        }
        let err = url(&[(FULL, "http://192.0.2.1/creds")]).expect_err("refused");
        assert!(
            err.to_string().contains("use https"),
            "the message says what to do: {err}"
        );
        // An IPv4-mapped loopback address is loopback.
        assert!(url(&[(FULL, "http://[::ffff:127.0.0.1]:9/")]).is_ok());
    }

    #[test]
    fn the_token_file_wins_and_line_breaks_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").expect("write");
        let f = file.display().to_string();
        let both = env_of(&[
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &f),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "from-variable"),
        ]);
        assert_eq!(
            authorization(&both, "u").expect("ok").as_deref(),
            Some("from-file")
        );
        let variable = env_of(&[("AWS_CONTAINER_AUTHORIZATION_TOKEN", "from-variable")]);
        assert_eq!(
            authorization(&variable, "u").expect("ok").as_deref(),
            Some("from-variable")
        );
        assert_eq!(authorization(&env_of(&[]), "u").expect("ok"), None);

        let injected = env_of(&[("AWS_CONTAINER_AUTHORIZATION_TOKEN", "a\r\nX-Evil: 1")]);
        let err = authorization(&injected, "u").expect_err("line break");
        assert!(err.to_string().contains("line break"), "{err}");

        let missing = dir.path().join("absent").display().to_string();
        let gone = env_of(&[("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &missing)]);
        let err = authorization(&gone, "u").expect_err("unreadable");
        assert!(matches!(err, AwsError::TokenFile { .. }), "{err:?}");
        assert!(err.to_string().contains(&missing), "{err}");
    }
}
