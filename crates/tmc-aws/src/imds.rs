//! EC2 instance metadata (IMDSv2 only): the credentials of the role attached to the instance.
//!
//! A session token is obtained with `PUT /latest/api/token`, then sent with both reads (the
//! role name under `/latest/meta-data/iam/security-credentials/`, then that role's
//! credentials). IMDSv1, plain `GET`s without a token, is never used: instances that require
//! IMDSv2 refuse it, and a `PUT` with a custom header is what stops a server-side request
//! forgery from reading the credentials through a vulnerable web application.
//!
//! This is the last source of the chain and is tried on every machine, as in the SDKs, so a
//! failure here is not an error of its own: it becomes one line of the final "no AWS
//! credentials" message. The timeouts are short because a machine that is not on EC2 pays them
//! on the way to that message: one connection attempt of at most a second, usually refused or
//! unreachable at once.

use std::time::Duration;

use crate::AwsCredentials;
use crate::http::{self, Timeouts};

/// The IPv4 endpoint, present on every EC2 instance.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// The IPv6 endpoint (Nitro instances with IPv6 metadata enabled).
const IPV6_ENDPOINT: &str = "http://[fd00:ec2::254]";
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(1),
    read: Duration::from_secs(2),
};
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The token is used for the two reads that follow at once, so it need not outlive them.
const TTL_SECONDS: &str = "60";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const ROLES_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// `AWS_EC2_METADATA_DISABLED=true` (any case) turns instance metadata off, as in the SDKs.
pub(crate) fn disabled(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the IPv6 endpoint when
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` is `IPv6`, else the IPv4 one; without a trailing
/// slash, since paths are appended.
pub(crate) fn endpoint(env: &dyn Fn(&str) -> Option<String>) -> String {
    if let Some(url) = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").filter(|u| !u.trim().is_empty()) {
        return url.trim().trim_end_matches('/').to_string();
    }
    let ipv6 = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("ipv6"));
    if ipv6 {
        IPV6_ENDPOINT
    } else {
        DEFAULT_ENDPOINT
    }
    .to_string()
}

/// The instance role's credentials; `Err` is the line for the "no AWS credentials" message
/// (disabled, unreachable, no role attached, a malformed answer).
pub(crate) fn credentials(env: &dyn Fn(&str) -> Option<String>) -> Result<AwsCredentials, String> {
    if disabled(env) {
        return Err("EC2 instance metadata: disabled by AWS_EC2_METADATA_DISABLED".into());
    }
    let base = endpoint(env);
    fetch(&base).map_err(|why| format!("EC2 instance metadata at {base}: {why}"))
}

fn fetch(base: &str) -> Result<AwsCredentials, String> {
    let reply = http::send(
        "PUT",
        &format!("{base}/latest/api/token"),
        &[(TTL_HEADER, TTL_SECONDS)],
        TIMEOUTS,
    )
    .map_err(|e| format!("no session token ({e})"))?;
    if reply.status != 200 {
        return Err(format!(
            "the session token was refused (HTTP {})",
            reply.status
        ));
    }
    let token = reply.body.trim();
    let get = |path: &str| {
        http::send(
            "GET",
            &format!("{base}{path}"),
            &[(TOKEN_HEADER, token)],
            TIMEOUTS,
        )
    };

    let reply = get(ROLES_PATH).map_err(|e| format!("listing the instance role: {e}"))?;
    match reply.status {
        200 => {}
        404 => return Err("no IAM role is attached to this instance (HTTP 404)".into()),
        status => return Err(format!("listing the instance role answered HTTP {status}")),
    }
    let role = reply
        .body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or("no IAM role is attached to this instance")?;
    if !is_role_name(role) {
        return Err("the instance role's name is not an IAM role name".into());
    }

    let reply = get(&format!("{ROLES_PATH}{role}"))
        .map_err(|e| format!("credentials of role {role}: {e}"))?;
    if reply.status != 200 {
        return Err(format!("credentials of role {role}: HTTP {}", reply.status));
    }
    http::parse_document(&reply.body).map_err(|e| format!("credentials of role {role}: {e}"))
}

/// IAM role names: 1 to 64 of letters, digits and `+=,.@_-`. Checked because the name is put
/// into the next request's path.
fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_override_mode_and_default() {
        let none = |_: &str| None;
        assert_eq!(endpoint(&none), "http://169.254.169.254");
        let over = |k: &str| {
            (k == "AWS_EC2_METADATA_SERVICE_ENDPOINT").then(|| "http://127.0.0.1:8/".to_string())
        };
        assert_eq!(endpoint(&over), "http://127.0.0.1:8");
        let v6 = |k: &str| (k == "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE").then(|| "IPv6".into());
        assert_eq!(endpoint(&v6), "http://[fd00:ec2::254]");
    }

    #[test]
    fn disabled_only_by_true() {
        let with = |v: &'static str| {
            move |k: &str| (k == "AWS_EC2_METADATA_DISABLED").then(|| v.to_string())
        };
        assert!(disabled(&with("true")));
        assert!(disabled(&with("TRUE ")));
        assert!(!disabled(&with("false")));
        assert!(!disabled(&with("1")), "the SDKs accept only `true`");
        assert!(!disabled(&|_| None));
    }

    #[test]
    fn role_names_cannot_change_the_path() {
        assert!(is_role_name("my-role_1+=,.@"));
        assert!(!is_role_name("../../user-data"));
        assert!(!is_role_name("a/b"));
        assert!(!is_role_name("a?b"));
        assert!(!is_role_name(""));
        assert!(!is_role_name(&"r".repeat(65)));
    }
}
