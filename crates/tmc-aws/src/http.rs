//! The only HTTP in this crate: one request to a credential endpoint (the container credentials
//! endpoint or EC2 instance metadata), plus the JSON document both return.
//!
//! Both endpoints are link-local or loopback services of the machine the process runs on, so
//! every request is sent without a proxy (as the AWS SDKs do: a proxy cannot reach them, and
//! it would see the credentials), without following redirects (a redirect could carry the
//! authorization token elsewhere), and with short timeouts, because the EC2 endpoint is also
//! tried on machines that have none.

use std::time::Duration;

use serde::Deserialize;

use crate::AwsCredentials;

/// Largest response body read. Credential documents are well under a kilobyte; anything
/// bigger is not a credential endpoint.
const MAX_BODY_BYTES: u64 = 64 * 1024;

/// How long one request may take: to connect, then to answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}

/// Status and body of an answered request.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
}

/// Sends one request with an empty body. `Err` is a sentence for an error message (connection
/// refused, timed out, ...); any HTTP status is an `Ok` for the caller to judge.
pub(crate) fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    timeouts: Timeouts,
) -> Result<Reply, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_connect(Some(timeouts.connect))
        .timeout_recv_response(Some(timeouts.read))
        .timeout_recv_body(Some(timeouts.read))
        // One bound for the whole exchange, so a server that answers byte by byte cannot
        // stretch the per-phase timeouts.
        .timeout_per_call(Some(timeouts.connect + timeouts.read))
        .user_agent(concat!("tmc/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Vec::<u8>::new())
        .map_err(|e| format!("bad request: {e}"))?;
    let response = agent.run(request).map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .into_with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok(Reply { status, body })
}

/// The credential document of both endpoints. Every field is optional so that a document
/// with an error `Code` is reported as such rather than as a missing key.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    code: Option<String>,
    message: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
}

/// Credentials from an endpoint's JSON (`AccessKeyId`, `SecretAccessKey`, `Token`; EC2 adds
/// `Code`, which must be `Success`). The token is required: role credentials are always
/// temporary, and signing without the token would be refused by AWS with a less clear message.
/// `Expiration` is not kept: credentials are fetched once per client, and a client lives for one
/// command.
///
/// Errors never quote the body, which may hold a secret.
pub(crate) fn parse_document(body: &str) -> Result<AwsCredentials, String> {
    let doc: Document = serde_json::from_str(body).map_err(|e| {
        format!(
            "the answer is not a credentials document (JSON error at line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    if let Some(code) = doc.code.as_deref().filter(|c| *c != "Success") {
        return Err(format!(
            "the endpoint answered Code {code}: {}",
            doc.message.as_deref().unwrap_or("no message")
        ));
    }
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    match (
        present(doc.access_key_id),
        present(doc.secret_access_key),
        present(doc.token),
    ) {
        (Some(access_key_id), Some(secret_access_key), Some(token)) => Ok(AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token: Some(token),
        }),
        _ => Err("the answer lacks AccessKeyId, SecretAccessKey or Token".into()),
    }
}

/// At most `max` characters of a body, for an error message about a refused request (such
/// bodies hold an error description, never credentials).
pub(crate) fn excerpt(body: &str, max: usize) -> String {
    let body = body.trim();
    match body.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_need_all_three_keys_and_a_success_code() {
        let ok = parse_document(
            r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"A","SecretAccessKey":"S","Token":"T","Expiration":"2030-01-01T00:00:00Z"}"#,
        )
        .expect("a complete document");
        assert_eq!(ok.access_key_id, "A");
        assert_eq!(ok.secret_access_key, "S");
        assert_eq!(ok.session_token.as_deref(), Some("T"));

        let failed = parse_document(r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"nope"}"#)
            .expect_err("an error code");
        assert!(
            failed.contains("AssumeRoleUnauthorizedAccess") && failed.contains("nope"),
            "{failed}"
        );
        let no_token =
            parse_document(r#"{"AccessKeyId":"A","SecretAccessKey":"S"}"#).expect_err("no token");
        assert!(no_token.contains("Token"), "{no_token}");
        let empty = parse_document(r#"{"AccessKeyId":"A","SecretAccessKey":"","Token":"T"}"#)
            .expect_err("an empty secret is no secret");
        assert!(empty.contains("SecretAccessKey"), "{empty}");
    }

    #[test]
    fn a_broken_document_is_not_quoted() {
        let err = parse_document(r#"{"AccessKeyId":"A","SecretAccessKey":"s3cr3t","Token":"#)
            .expect_err("truncated");
        assert!(err.contains("not a credentials document"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn excerpts_cut_at_a_character_boundary() {
        assert_eq!(excerpt("  short \n", 10), "short");
        assert_eq!(excerpt("ééééé", 3), "ééé…");
    }
}
