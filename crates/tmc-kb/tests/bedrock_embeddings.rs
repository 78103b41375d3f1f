#![allow(clippy::unwrap_used)]
//! The Bedrock Titan v2 embeddings client against a real HTTP server on 127.0.0.1 that checks
//! what Bedrock checks: the SigV4 signature (recomputed here from the AWS specification with
//! hmac/sha2, independent of `aws-sigv4`), the path, and the JSON body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tmc_kb::embed::bedrock::{AwsCredentials, BedrockEmbedder, DEFAULT_MODEL};
use tmc_kb::{Embedder, EmbeddingConfig};

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "eu-central-1";

#[derive(Clone, Debug)]
struct Recorded {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SigV4 for services other than S3 encodes the already-encoded path once more.
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

/// Recomputes the signature of a POST without query string and compares.
fn verify_sigv4(q: &Recorded, secret: &str) -> Result<(), String> {
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
    let amz_date = q.header("x-amz-date").ok_or("no x-amz-date")?;
    let date = &amz_date[..8];
    let scope = format!("{date}/{REGION}/bedrock/aws4_request");
    if credential != format!("{KEY_ID}/{scope}") {
        return Err(format!("credential {credential}"));
    }
    for must in ["host", "x-amz-date", "content-type", "x-amz-security-token"] {
        if !signed.split(';').any(|h| h == must) {
            return Err(format!("{must} not signed"));
        }
    }
    let canonical_headers: String = signed
        .split(';')
        .map(|h| format!("{h}:{}\n", q.header(h).unwrap_or_default().trim()))
        .collect();
    let canonical = format!(
        "POST\n{}\n\n{canonical_headers}\n{signed}\n{}",
        canonical_uri(&q.path),
        hex(&Sha256::digest(&q.body))
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac(&k, REGION);
    let k = hmac(&k, "bedrock");
    let k = hmac(&k, "aws4_request");
    if hex(&hmac(&k, &to_sign)) != signature {
        return Err(format!("signature mismatch\n{canonical}"));
    }
    Ok(())
}

/// A deterministic unit vector per text.
fn fake_vector(text: &str, dims: usize) -> Vec<f32> {
    let seed = Sha256::digest(text.as_bytes());
    let v: Vec<f32> = (0..dims)
        .map(|i| f32::from(seed[i % 32]) - 127.5 + i as f32 * 0.01)
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

/// Answers like Bedrock: 403 when the signature does not verify, 400 when the body is not a
/// Titan v2 request, else the embedding. The first `throttle` requests get 429.
fn start(throttle: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut n = 0usize;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            n += 1;
            handle(stream, n <= throttle, &log);
        }
    });
    Server { url, seen }
}

fn respond(mut stream: TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn handle(stream: TcpStream, throttle: bool, log: &Mutex<Vec<Recorded>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
            break;
        }
        let (k, v) = h.trim_end().split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut q = Recorded {
        path,
        headers,
        body: Vec::new(),
    };
    let len: usize = q
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    q.body = vec![0u8; len];
    reader.read_exact(&mut q.body).unwrap();
    log.lock().unwrap().push(q.clone());
    let msg = |m: &str| json!({ "message": m }).to_string();
    if throttle {
        return respond(stream, "429 Too Many Requests", &msg("ThrottlingException"));
    }
    if method != "POST" || q.path != "/model/amazon.titan-embed-text-v2%3A0/invoke" {
        return respond(
            stream,
            "404 Not Found",
            &msg(&format!("{method} {}", q.path)),
        );
    }
    if let Err(why) = verify_sigv4(&q, SECRET) {
        return respond(stream, "403 Forbidden", &msg(&why));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&q.body) else {
        return respond(stream, "400 Bad Request", &msg("body is not JSON"));
    };
    let (Some(text), Some(dims), Some(true)) = (
        body["inputText"].as_str(),
        body["dimensions"].as_u64(),
        body["normalize"].as_bool(),
    ) else {
        return respond(stream, "400 Bad Request", &msg(&format!("body {body}")));
    };
    if body.as_object().map(|o| o.len()) != Some(3) {
        return respond(stream, "400 Bad Request", &msg("extraneous key"));
    }
    let reply = json!({
        "embedding": fake_vector(text, dims as usize),
        "inputTextTokenCount": text.split_whitespace().count(),
        "embeddingsByType": {"float": fake_vector(text, dims as usize)}
    });
    respond(stream, "200 OK", &reply.to_string());
}

fn creds(secret: &str) -> AwsCredentials {
    AwsCredentials::resolve(
        &|k| match k {
            "AWS_ACCESS_KEY_ID" => Some(KEY_ID.into()),
            "AWS_SECRET_ACCESS_KEY" => Some(secret.into()),
            "AWS_SESSION_TOKEN" => Some("session-token-1".into()),
            _ => None,
        },
        None,
    )
    .unwrap()
}

#[test]
fn titan_v2_requests_are_sigv4_signed_and_vectors_keep_their_order() {
    let server = start(0);
    let e =
        BedrockEmbedder::new(REGION, Some(&server.url), DEFAULT_MODEL, 256, creds(SECRET)).unwrap();
    let texts: Vec<String> = (0..7).map(|i| format!("text number {i}")).collect();
    let vectors = e.embed(&texts).unwrap();
    assert_eq!(vectors.len(), 7);
    for (t, v) in texts.iter().zip(&vectors) {
        assert_eq!(v, &fake_vector(t, 256), "vector of {t:?} in its place");
    }
    assert_eq!(e.model_id(), "bedrock:amazon.titan-embed-text-v2:0@256");
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.len(), 7, "one text per call");
    for q in seen.iter() {
        // The server answered 200 only if this verifies; check again so a failure says why.
        verify_sigv4(q, SECRET).unwrap();
        assert!(
            verify_sigv4(q, "another-secret").is_err(),
            "the check is real"
        );
        assert_eq!(q.header("x-amz-security-token"), Some("session-token-1"));
        assert_eq!(q.header("content-type"), Some("application/json"));
        for (_, v) in &q.headers {
            assert!(!v.contains(SECRET), "secret sent in a header");
        }
    }
    let mut inputs: Vec<String> = seen
        .iter()
        .map(|q| {
            let b: Value = serde_json::from_slice(&q.body).unwrap();
            assert_eq!(b["dimensions"], 256);
            assert_eq!(b["normalize"], true);
            b["inputText"].as_str().unwrap().to_string()
        })
        .collect();
    inputs.sort();
    assert_eq!(inputs, texts);
}

#[test]
fn long_text_is_cut_to_the_titan_limit() {
    let server = start(0);
    let e =
        BedrockEmbedder::new(REGION, Some(&server.url), DEFAULT_MODEL, 512, creds(SECRET)).unwrap();
    let long = "é".repeat(60_000);
    let v = e.embed(std::slice::from_ref(&long)).unwrap();
    assert_eq!(v[0].len(), 512);
    let seen = server.seen.lock().unwrap();
    let b: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(b["inputText"].as_str().unwrap().chars().count(), 50_000);
}

#[test]
fn throttling_is_retried_and_a_bad_signature_is_reported() {
    let server = start(2);
    let mut e = BedrockEmbedder::new(
        REGION,
        Some(&server.url),
        DEFAULT_MODEL,
        1024,
        creds(SECRET),
    )
    .unwrap();
    e.concurrency = 1;
    e.retry_pause = Duration::from_millis(10);
    let v = e.embed(&["retried".to_string()]).unwrap();
    assert_eq!(v[0], fake_vector("retried", 1024));
    assert_eq!(server.seen.lock().unwrap().len(), 3, "two 429s, then 200");

    // Throttled on every try: gives up after `attempts` and says so.
    let always = start(usize::MAX);
    let mut e = BedrockEmbedder::new(
        REGION,
        Some(&always.url),
        DEFAULT_MODEL,
        1024,
        creds(SECRET),
    )
    .unwrap();
    e.retry_pause = Duration::from_millis(1);
    let err = e.embed(&["x".to_string()]).unwrap_err().to_string();
    assert!(err.contains("429") && err.contains("attempt 4"), "{err}");
    assert_eq!(always.seen.lock().unwrap().len(), 4);

    // A wrong secret: the server's signature check fails, 403 is not retried.
    let server = start(0);
    let e = BedrockEmbedder::new(
        REGION,
        Some(&server.url),
        DEFAULT_MODEL,
        1024,
        creds("wrong-secret"),
    )
    .unwrap();
    let err = e.embed(&["x".to_string()]).unwrap_err().to_string();
    assert!(
        err.contains("403") && err.contains("signature mismatch"),
        "{err}"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[test]
fn config_builds_bedrock_from_the_environment() {
    let server = start(0);
    let cfg: EmbeddingConfig = serde_json::from_value(json!({
        "provider": "bedrock",
        "url": server.url,
        "dimensions": 256
    }))
    .unwrap();
    let env = |k: &str| match k {
        "AWS_REGION" => Some(REGION.to_string()),
        "AWS_ACCESS_KEY_ID" => Some(KEY_ID.into()),
        "AWS_SECRET_ACCESS_KEY" => Some(SECRET.into()),
        "AWS_SESSION_TOKEN" => Some("session-token-1".into()),
        _ => None,
    };
    let e = cfg.build_with_env(&env).unwrap();
    assert_eq!(e.model_id(), "bedrock:amazon.titan-embed-text-v2:0@256");
    assert_eq!(e.embed(&["a".into()]).unwrap()[0], fake_vector("a", 256));

    // No region anywhere; no credentials anywhere; a size Titan does not offer.
    let err = cfg.build_with_env(&|_| None).err().unwrap().to_string();
    assert!(err.contains("region"), "{err}");
    // Instance metadata off: the chain would otherwise ask 169.254.169.254 last.
    let err = cfg
        .build_with_env(&|k| match k {
            "AWS_REGION" => Some(REGION.to_string()),
            "AWS_EC2_METADATA_DISABLED" => Some("true".into()),
            _ => None,
        })
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no AWS credentials"), "{err}");
    let bad: EmbeddingConfig = serde_json::from_value(json!({
        "provider": "bedrock", "region": REGION, "dimensions": 384
    }))
    .unwrap();
    let err = bad.build_with_env(&env).err().unwrap().to_string();
    assert!(err.contains("256, 512 or 1024"), "{err}");
}

#[test]
fn credentials_come_from_the_shared_file_when_not_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[profile team]\naws_access_key_id = AKIDTEAM\naws_secret_access_key = team-secret\n",
    )
    .unwrap();
    let env = |k: &str| (k == "AWS_SHARED_CREDENTIALS_FILE").then(|| file.display().to_string());
    let c = AwsCredentials::resolve(&env, Some("team")).unwrap();
    assert_eq!(c.access_key_id, "AKIDTEAM");
    assert_eq!(c.session_token, None);
    assert_eq!(
        AwsCredentials::resolve(&env, None).unwrap().access_key_id,
        "A"
    );
    let err = AwsCredentials::resolve(&env, Some("missing")).unwrap_err();
    assert!(err.to_string().contains("[missing]"), "{err}");
}
