//! SigV4 signing with `aws-sigv4`: the caller describes the request, gets back the headers to
//! add, and sends it with whatever HTTP client it uses. The time is a parameter so a request can
//! be re-signed per retry (the signature covers it) and tests can use AWS's published vectors.

use std::time::SystemTime;

use crate::{AwsCredentials, AwsError};

/// The parts of an HTTP request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The full URL, query string included, exactly as it will be sent.
    pub url: &'a str,
    /// Headers the request will carry; all are signed except those `aws-sigv4` leaves out
    /// because proxies change them (`user-agent`, `transfer-encoding`, ...). A `host` header
    /// here is signed as given; without one, the host is taken from the URL.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The headers that make `request` signed for `service` in `region` at `time`, in the order to
/// append them: `host` (only when `request.headers` has none), `x-amz-date`, `authorization`
/// and, with a session token, `x-amz-security-token`. Names are lowercase.
///
/// The host is returned when derived, rather than left to the HTTP client, because the value
/// sent must be byte-for-byte the value signed.
pub fn sign(
    request: &Request<'_>,
    region: &str,
    service: &str,
    credentials: &AwsCredentials,
    time: SystemTime,
) -> Result<Vec<(String, String)>, AwsError> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    let mut added = Vec::new();
    if !request
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("host"))
    {
        let host = host_header(request.url).ok_or_else(|| AwsError::BadUrl(request.url.into()))?;
        added.push(("host".to_string(), host));
    }
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "tmc",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| AwsError::Signing(format!("parameters: {e}")))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request
            .headers
            .iter()
            .chain(&added)
            .map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| AwsError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| AwsError::Signing(e.to_string()))?
        .into_parts();
    for (k, v) in instructions.headers() {
        added.push((k.to_string(), v.to_string()));
    }
    Ok(added)
}

/// `host[:port]` of a URL as the `Host` header carries it: lowercase, without user info, the
/// port left out when it is the scheme's default (SigV4 signs the header, so it must match what
/// the server receives). `None` when the URL has no scheme or no host.
pub fn host_header(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?.to_ascii_lowercase();
    let default = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    let host = authority.strip_suffix(default).unwrap_or(&authority);
    (!host.is_empty() && !host.starts_with(':')).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_keeps_only_non_default_ports() {
        assert_eq!(
            host_header("https://bedrock-runtime.eu-west-1.amazonaws.com:443/x").as_deref(),
            Some("bedrock-runtime.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            host_header("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host_header("HTTP://User@Example.COM:80/p?q#f").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            host_header("https://example.com:80/").as_deref(),
            Some("example.com:80"),
            "80 is not https's default"
        );
        assert_eq!(host_header("http://[::1]:9/").as_deref(), Some("[::1]:9"));
        assert_eq!(host_header("nope"), None);
        assert_eq!(host_header("http:///path"), None);
        assert_eq!(host_header("http://:8080/"), None);
    }

    #[test]
    fn a_url_without_host_is_refused_before_signing() {
        let creds = AwsCredentials {
            access_key_id: "A".into(),
            secret_access_key: "B".into(),
            session_token: None,
        };
        let req = Request {
            method: "POST",
            url: "not a url",
            headers: &[],
            body: b"",
        };
        let err =
            sign(&req, "eu-west-1", "bedrock", &creds, SystemTime::now()).expect_err("no host");
        assert!(matches!(err, AwsError::BadUrl(_)), "{err:?}");
    }
}
