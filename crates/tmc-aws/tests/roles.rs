#![allow(clippy::unwrap_used)]
//! Role credentials over real HTTP on 127.0.0.1: a fake container credentials endpoint and a
//! fake EC2 instance-metadata service that check method, path and token headers the way the
//! real ones do (the fake IMDS refuses a `GET` without the session token from its `PUT`), and
//! the order of the chain around them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tmc_aws::{AwsCredentials, AwsError, Request, sign};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// Answers every request with `answer(request)` = (status, body), on its own thread.
    fn start(answer: impl Fn(&Seen) -> (u16, String) + Send + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.is_empty() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_string();
                let path = parts.next().unwrap_or_default().to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let len = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let request = Seen {
                    method,
                    path,
                    headers,
                };
                let (status, body) = answer(&request);
                record.lock().unwrap().push(request);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Fake { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn document(id: &str, token: &str) -> String {
    format!(
        r#"{{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"{id}","SecretAccessKey":"role-secret","Token":"{token}","Expiration":"2030-01-01T00:00:00Z","LastUpdated":"2029-12-31T18:00:00Z"}}"#
    )
}

/// A container endpoint at `/creds` that wants `Authorization: <token>`.
fn container(token: &'static str) -> Fake {
    Fake::start(move |r| {
        if r.method != "GET" || r.path != "/creds" {
            (404, "not here".into())
        } else if r.header("authorization") != Some(token) {
            (401, r#"{"code":"Unauthorized"}"#.into())
        } else {
            (200, document("ASIACONTAINER", "container-session"))
        }
    })
}

const IMDS_TOKEN: &str = "imds-session-token";
const ROLES: &str = "/latest/meta-data/iam/security-credentials/";

/// An IMDSv2-only instance-metadata service with role `app-role`: a token from `PUT` (which
/// must ask for a TTL), every `GET` refused without it, as on an instance that requires v2.
fn imds() -> Fake {
    Fake::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("PUT", "/latest/api/token") => match r.header("x-aws-ec2-metadata-token-ttl-seconds") {
            Some(ttl) if ttl.parse::<u32>().is_ok_and(|t| (1..=21600).contains(&t)) => {
                (200, IMDS_TOKEN.into())
            }
            _ => (400, "missing or bad TTL".into()),
        },
        ("GET", _) if r.header("x-aws-ec2-metadata-token") != Some(IMDS_TOKEN) => {
            (401, String::new())
        }
        ("GET", ROLES) => (200, "app-role\n".into()),
        ("GET", p) if p == format!("{ROLES}app-role") => {
            (200, document("ASIAINSTANCE", "instance-session"))
        }
        _ => (404, String::new()),
    })
}

/// An environment lookup from pairs, plus an empty `HOME` directory so the developer's own
/// `~/.aws/credentials` is never read.
fn env_of(
    pairs: Vec<(&'static str, String)>,
) -> (tempfile::TempDir, impl Fn(&str) -> Option<String>) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().display().to_string();
    let lookup = move |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .or_else(|| (k == "HOME").then(|| h.clone()))
    };
    (home, lookup)
}

#[test]
fn container_full_uri_with_a_token() {
    let fake = container("task-token");
    let imds = imds();
    let (_home, env) = env_of(vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", fake.url),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "task-token".into()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url.clone()),
    ]);
    let c = AwsCredentials::resolve(&env, None).unwrap();
    assert_eq!(c.access_key_id, "ASIACONTAINER");
    assert_eq!(c.secret_access_key, "role-secret");
    assert_eq!(c.session_token.as_deref(), Some("container-session"));
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/creds")
    );
    assert!(imds.seen().is_empty(), "the chain stops at the container");

    // The fake's check can fail: a wrong token is refused, and that is an error, not a reason
    // to go on to the instance role.
    let (_home, wrong) = env_of(vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", fake.url),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "other".into()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url.clone()),
    ]);
    let err = AwsCredentials::resolve(&wrong, None).unwrap_err();
    assert!(matches!(err, AwsError::Container { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 401") && text.contains(&fake.url),
        "{text}"
    );
    assert!(
        imds.seen().is_empty(),
        "a failing container does not fall back"
    );
}

#[test]
fn container_token_file_wins_over_the_variable() {
    let fake = container("pod-identity-token");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("eks-pod-identity-token");
    std::fs::write(&file, "pod-identity-token\n").unwrap();
    let (_home, env) = env_of(vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", fake.url),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            file.display().to_string(),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]);
    let c = AwsCredentials::resolve(&env, None).unwrap();
    assert_eq!(c.session_token.as_deref(), Some("container-session"));
    assert_eq!(
        fake.seen()[0].header("authorization"),
        Some("pod-identity-token"),
        "the file's token, without its newline"
    );
}

#[test]
fn a_full_uri_to_another_host_is_refused_before_connecting() {
    let imds = imds();
    let (_home, env) = env_of(vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://192.0.2.10/creds".into(),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "secret-token".into()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url.clone()),
    ]);
    let started = Instant::now();
    let err = AwsCredentials::resolve(&env, None).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "no connection attempt: {:?}",
        started.elapsed()
    );
    assert!(matches!(err, AwsError::ContainerEndpoint { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("http://192.0.2.10/creds") && text.contains("loopback"),
        "{text}"
    );
    assert!(!text.contains("secret-token"), "{text}");
    assert!(imds.seen().is_empty());
}

#[test]
fn imds_v2_token_then_role_then_credentials() {
    let fake = imds();
    let (_home, env) = env_of(vec![(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        format!("{}/", fake.url),
    )]);
    let c = AwsCredentials::resolve(&env, None).unwrap();
    assert_eq!(c.access_key_id, "ASIAINSTANCE");
    assert_eq!(c.session_token.as_deref(), Some("instance-session"));
    let seen = fake.seen();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("PUT", "/latest/api/token"),
            ("GET", ROLES),
            ("GET", "/latest/meta-data/iam/security-credentials/app-role"),
        ]
    );
    assert!(
        seen[1..]
            .iter()
            .all(|r| r.header("x-aws-ec2-metadata-token") == Some(IMDS_TOKEN))
    );
}

#[test]
fn imds_without_a_role_or_disabled_ends_in_no_credentials() {
    let no_role = Fake::start(|r| match r.method.as_str() {
        "PUT" => (200, IMDS_TOKEN.into()),
        _ => (404, String::new()),
    });
    let (_home, env) = env_of(vec![(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        no_role.url.clone(),
    )]);
    let err = AwsCredentials::resolve(&env, None).unwrap_err();
    assert!(matches!(err, AwsError::NoCredentials { .. }), "{err:?}");
    assert!(err.to_string().contains("no IAM role is attached"), "{err}");

    let fake = imds();
    let (_home, env) = env_of(vec![
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]);
    let err = AwsCredentials::resolve(&env, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("disabled by AWS_EC2_METADATA_DISABLED"),
        "{err}"
    );
    assert!(fake.seen().is_empty(), "disabled means not asked");
}

#[test]
fn imds_down_falls_through_quickly_listing_what_was_tried() {
    // Nothing listens: refused at once.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    // Accepts connections (the kernel's backlog) but never answers: the read timeout decides.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());

    for (url, bound) in [
        (closed, Duration::from_secs(2)),
        (silent_url, Duration::from_secs(5)),
    ] {
        let (home, env) = env_of(vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.clone())]);
        let started = Instant::now();
        let err = AwsCredentials::resolve(&env, None).unwrap_err();
        let took = started.elapsed();
        assert!(took < bound, "{url}: {took:?}");
        let AwsError::NoCredentials { tried } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(tried.len(), 4, "{tried:?}");
        let text = err.to_string();
        for part in [
            "environment".to_string(),
            format!("{}", home.path().join(".aws/credentials").display()),
            "container credentials".to_string(),
            format!("EC2 instance metadata at {url}"),
        ] {
            assert!(text.contains(&part), "{part}: {text}");
        }
    }
    drop(silent);
}

#[test]
fn environment_and_file_still_win_over_roles() {
    let fake = container("t");
    let imds = imds();
    let roles = vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", fake.url),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t".into()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url.clone()),
    ];

    let mut with_env = roles.clone();
    with_env.push(("AWS_ACCESS_KEY_ID", "AKIDENV".into()));
    with_env.push(("AWS_SECRET_ACCESS_KEY", "env-secret".into()));
    let (_home, env) = env_of(with_env);
    assert_eq!(
        AwsCredentials::resolve(&env, None).unwrap().access_key_id,
        "AKIDENV"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n",
    )
    .unwrap();
    let mut with_file = roles.clone();
    with_file.push(("AWS_SHARED_CREDENTIALS_FILE", file.display().to_string()));
    let (_home, env) = env_of(with_file);
    assert_eq!(
        AwsCredentials::resolve(&env, None).unwrap().access_key_id,
        "AKIDFILE"
    );

    // A profile chosen by name that is not in the file is an error, not the container's role.
    let mut chosen = roles.clone();
    chosen.push(("AWS_SHARED_CREDENTIALS_FILE", file.display().to_string()));
    chosen.push(("AWS_PROFILE", "prod".into()));
    let (_home, env) = env_of(chosen);
    let err = AwsCredentials::resolve(&env, None).unwrap_err();
    assert!(matches!(err, AwsError::IncompleteProfile { .. }), "{err:?}");

    assert!(fake.seen().is_empty() && imds.seen().is_empty());
}

#[test]
fn role_credentials_sign_with_their_session_token() {
    let fake = container("t");
    let (_home, env) = env_of(vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", fake.url),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]);
    let c = AwsCredentials::resolve(&env, None).unwrap();
    let headers = sign(
        &Request {
            method: "POST",
            url: "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/converse",
            headers: &[],
            body: b"{}",
        },
        "eu-west-1",
        "bedrock",
        &c,
        std::time::SystemTime::now(),
    )
    .unwrap();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("x-amz-security-token"), Some("container-session"));
    let auth = get("authorization").unwrap();
    assert!(auth.contains("Credential=ASIACONTAINER/"), "{auth}");
    assert!(
        auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"),
        "{auth}"
    );
}
