#![allow(clippy::unwrap_used)]
//! Signing checked two ways that share nothing with `aws-sigv4`: AWS's published SigV4 test
//! vectors (`aws-signing-test-suite/v4`: `get-vanilla`, `get-vanilla-with-session-token`,
//! `post-vanilla`), and a signature recomputed here from the specification with hmac/sha2 for a
//! request shaped like the Bedrock calls (JSON body, model id with `:` in the path, session
//! token, non-default port).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tmc_aws::{AwsCredentials, Request, sign};

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z, the time of the AWS test suite.
const SUITE_TIME: u64 = 1_440_938_160;

fn creds(token: Option<&str>) -> AwsCredentials {
    AwsCredentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET.into(),
        session_token: token.map(str::to_string),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn suite(method: &str, token: Option<&str>) -> Vec<(String, String)> {
    let req = Request {
        method,
        url: "https://example.amazonaws.com/",
        headers: &[],
        body: b"",
    };
    sign(
        &req,
        "us-east-1",
        "service",
        &creds(token),
        UNIX_EPOCH + Duration::from_secs(SUITE_TIME),
    )
    .unwrap()
}

#[test]
fn aws_test_suite_get_vanilla() {
    let h = suite("GET", None);
    assert_eq!(header(&h, "host"), Some("example.amazonaws.com"));
    assert_eq!(header(&h, "x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(header(&h, "x-amz-security-token"), None);
    assert_eq!(
        header(&h, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    );
}

#[test]
fn aws_test_suite_get_vanilla_with_session_token() {
    let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    let h = suite("GET", Some(token));
    assert_eq!(header(&h, "x-amz-security-token"), Some(token));
    assert_eq!(
        header(&h, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-security-token, \
             Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        )
    );
}

#[test]
fn aws_test_suite_post_vanilla() {
    let h = suite("POST", None);
    assert!(
        header(&h, "authorization").is_some_and(|a| a.ends_with(
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        )),
        "{h:?}"
    );
}

#[test]
fn a_given_host_header_is_signed_and_not_repeated() {
    let given = vec![("Host".to_string(), "example.amazonaws.com".to_string())];
    let req = Request {
        method: "GET",
        url: "https://example.amazonaws.com/",
        headers: &given,
        body: b"",
    };
    let h = sign(
        &req,
        "us-east-1",
        "service",
        &creds(None),
        UNIX_EPOCH + Duration::from_secs(SUITE_TIME),
    )
    .unwrap();
    assert_eq!(header(&h, "host"), None, "{h:?}");
    assert!(
        header(&h, "authorization").is_some_and(|a| a.ends_with(
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )),
        "{h:?}"
    );
}

// ------------------------------------------------------------ independent recomputation

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Services other than S3 URI-encode the (already encoded) path once more.
fn canonical_uri(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What a server does: rebuild the canonical request from what it received (method, path,
/// the headers the client sent, body) and compare signatures.
fn verify(
    method: &str,
    path: &str,
    sent: &[(String, String)],
    body: &[u8],
    secret: &str,
    region: &str,
    service: &str,
) -> Result<(), String> {
    let auth = header(sent, "authorization").ok_or("no authorization")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
            .ok_or(format!("no {name}"))
    };
    let (credential, signed, signature) = (
        field("Credential")?,
        field("SignedHeaders")?,
        field("Signature")?,
    );
    let amz_date = header(sent, "x-amz-date").ok_or("no x-amz-date")?;
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    if credential != format!("{ACCESS_KEY}/{scope}") {
        return Err(format!("credential {credential}"));
    }
    let canonical_headers: String = signed
        .split(';')
        .map(|h| format!("{h}:{}\n", header(sent, h).unwrap_or_default().trim()))
        .collect();
    let canonical = format!(
        "{method}\n{}\n\n{canonical_headers}\n{signed}\n{}",
        canonical_uri(path),
        hex(&Sha256::digest(body))
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac(&k, region);
    let k = hmac(&k, service);
    let k = hmac(&k, "aws4_request");
    if hex(&hmac(&k, &to_sign)) != signature {
        return Err(format!("signature mismatch\n{canonical}"));
    }
    Ok(())
}

#[test]
fn a_bedrock_shaped_post_verifies_against_an_independent_signature() {
    let path = "/model/amazon.titan-embed-text-v2%3A0/invoke";
    let url = format!("http://127.0.0.1:8080{path}");
    let body = br#"{"inputText":"hello","dimensions":256,"normalize":true}"#;
    let base = vec![("content-type".to_string(), "application/json".to_string())];
    let req = Request {
        method: "POST",
        url: &url,
        headers: &base,
        body,
    };
    let added = sign(
        &req,
        "eu-central-1",
        "bedrock",
        &creds(Some("session-token-1")),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(header(&added, "host"), Some("127.0.0.1:8080"));
    assert_eq!(
        header(&added, "x-amz-security-token"),
        Some("session-token-1")
    );
    let sent: Vec<(String, String)> = base.iter().chain(&added).cloned().collect();
    let signed = header(&sent, "authorization")
        .and_then(|a| a.split("SignedHeaders=").nth(1))
        .and_then(|s| s.split(',').next())
        .unwrap();
    assert_eq!(signed, "content-type;host;x-amz-date;x-amz-security-token");
    verify("POST", path, &sent, body, SECRET, "eu-central-1", "bedrock").unwrap();

    // The check can fail: another body, another secret, another region each break it.
    let tampered = br#"{"inputText":"hellO","dimensions":256,"normalize":true}"#;
    assert!(
        verify(
            "POST",
            path,
            &sent,
            tampered,
            SECRET,
            "eu-central-1",
            "bedrock"
        )
        .is_err()
    );
    assert!(
        verify(
            "POST",
            path,
            &sent,
            body,
            "other",
            "eu-central-1",
            "bedrock"
        )
        .is_err()
    );
    assert!(verify("POST", path, &sent, body, SECRET, "us-east-1", "bedrock").is_err());
}
