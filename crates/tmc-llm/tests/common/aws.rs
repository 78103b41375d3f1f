//! The AWS side of the fake servers: a SigV4 check and an event-stream encoder, both written here
//! from the specifications and sharing no code with the crate (no aws-sigv4, no crc32fast, no
//! `tmc_llm::eventstream`), so a bug in the crate cannot cancel out in the tests.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tmc_llm::provider::{AwsCredentials, Bedrock, Provider};

use super::Recorded;

pub const ACCESS_KEY: &str = "AKIDEXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const REGION: &str = "eu-west-1";
pub const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
/// `MODEL` as it appears in the request path.
pub const MODEL_IN_PATH: &str = "anthropic.claude-3-5-sonnet-20240620-v1%3A0";

/// The example credentials, read through the crate's own environment lookup.
pub fn credentials(session_token: Option<&str>) -> AwsCredentials {
    let token = session_token.map(str::to_string);
    AwsCredentials::resolve(
        &|k| match k {
            "AWS_ACCESS_KEY_ID" => Some(ACCESS_KEY.into()),
            "AWS_SECRET_ACCESS_KEY" => Some(SECRET.into()),
            "AWS_SESSION_TOKEN" => token.clone(),
            _ => None,
        },
        None,
    )
    .unwrap()
}

/// Bedrock in `REGION` with `MODEL`, sent to the fake server at `url`.
pub fn bedrock(url: &str, session_token: Option<&str>) -> Box<dyn Provider> {
    Box::new(Bedrock {
        region: REGION.into(),
        base_url: Some(url.to_string()),
        model: MODEL.into(),
        credentials: credentials(session_token),
    })
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Server-side SigV4 check, written from the AWS specification, independent of aws-sigv4.
pub fn verify_sigv4(q: &Recorded, secret: &str, region: &str) -> Result<(), String> {
    let auth = q.header("authorization").ok_or("no authorization")?;
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
    let scope: Vec<&str> = credential.splitn(2, '/').collect();
    let amz_date = q.header("x-amz-date").ok_or("no x-amz-date")?;
    let date = &amz_date[..8];
    if scope[1] != format!("{date}/{region}/bedrock/aws4_request") {
        return Err(format!("scope {}", scope[1]));
    }
    for must in ["host", "x-amz-date", "content-type"] {
        if !signed.split(';').any(|h| h == must) {
            return Err(format!("{must} not signed"));
        }
    }
    let canonical_headers: String = signed
        .split(';')
        .map(|h| format!("{h}:{}\n", q.header(h).unwrap_or_default().trim()))
        .collect();
    let canonical = format!(
        "{}\n{}\n\n{}\n{}\n{}",
        q.method,
        uri_encode(&q.path),
        canonical_headers,
        signed,
        hex(&Sha256::digest(&q.body))
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/bedrock/aws4_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac(&k, region);
    let k = hmac(&k, "bedrock");
    let k = hmac(&k, "aws4_request");
    let expected = hex(&hmac(&k, &to_sign));
    if expected != signature {
        return Err(format!("signature mismatch\n{canonical}"));
    }
    Ok(())
}

/// CRC-32 (IEEE, reflected, as zlib and the event-stream spec use it), bit by bit: slow and
/// obviously the textbook algorithm, unlike the table-driven crate the decoder uses.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A header value for [`frame`]: strings are what Bedrock sends; the others check that the
/// decoder steps over every type correctly.
pub enum Value<'a> {
    Str(&'a str),
    Bool(bool),
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One event-stream message: prelude, headers, payload, message CRC.
pub fn frame(headers: &[(&str, Value<'_>)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(u8::try_from(name.len()).unwrap());
        h.extend_from_slice(name.as_bytes());
        match value {
            Value::Str(s) => {
                h.push(7);
                h.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
                h.extend_from_slice(s.as_bytes());
            }
            Value::Bool(b) => h.push(if *b { 0 } else { 1 }),
            Value::Timestamp(t) => {
                h.push(8);
                h.extend_from_slice(&t.to_be_bytes());
            }
            Value::Uuid(u) => {
                h.push(9);
                h.extend_from_slice(u);
            }
        }
    }
    let total = u32::try_from(12 + h.len() + payload.len() + 4).unwrap();
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&u32::try_from(h.len()).unwrap().to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let message_crc = crc32(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// A Converse stream event (`:message-type` event) with a JSON payload.
pub fn event(event_type: &str, payload: serde_json::Value) -> Vec<u8> {
    frame(
        &[
            (":event-type", Value::Str(event_type)),
            (":content-type", Value::Str("application/json")),
            (":message-type", Value::Str("event")),
        ],
        payload.to_string().as_bytes(),
    )
}

/// A modelled exception, as Bedrock sends `throttlingException` mid-stream.
pub fn exception(exception_type: &str, message: &str) -> Vec<u8> {
    frame(
        &[
            (":exception-type", Value::Str(exception_type)),
            (":content-type", Value::Str("application/json")),
            (":message-type", Value::Str("exception")),
        ],
        serde_json::json!({ "message": message })
            .to_string()
            .as_bytes(),
    )
}

/// The frames of a complete ConverseStream answer whose text is `pieces` joined, with the
/// given stop reason and token counts (what Bedrock sends, in its order).
pub fn converse_stream(pieces: &[&str], stop: &str, input: u64, output: u64) -> Vec<Vec<u8>> {
    let mut frames = vec![event(
        "messageStart",
        serde_json::json!({"role": "assistant", "p": "abcd"}),
    )];
    for p in pieces {
        frames.push(event(
            "contentBlockDelta",
            serde_json::json!({"contentBlockIndex": 0, "delta": {"text": p}, "p": "ab"}),
        ));
    }
    frames.push(event(
        "contentBlockStop",
        serde_json::json!({"contentBlockIndex": 0}),
    ));
    frames.push(event(
        "messageStop",
        serde_json::json!({"stopReason": stop}),
    ));
    frames.push(event(
        "metadata",
        serde_json::json!({
            "usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output},
            "metrics": {"latencyMs": 321}
        }),
    ));
    frames
}

/// The media type Bedrock streams in.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";
