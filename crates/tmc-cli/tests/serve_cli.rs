//! `tmc serve` and `tmc check --server` end to end: real processes, the real server on a
//! loopback port, the embedded SQLite store, real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmc(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tmc"));
    c.current_dir(repo())
        .env_remove("TMC_CONFIG")
        .env_remove("TMC_SERVER_TOKEN")
        .env("TMC_DATA_DIR", data);
    c
}

fn run(c: &mut Command) -> Output {
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(data: &Path, port: u16) -> Server {
    let child = tmc(data)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--insecure-cookies",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "tmc serve did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .build()
        .into()
}

#[test]
fn serve_add_user_token_then_check_against_the_server() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    // A short password is refused; nothing is created.
    let mut short = tmc(d)
        .args(["serve", "add-user", "alice", "--site-admin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    short.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let o = short.wait_with_output().unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("at least 12"),
        "{}",
        text(&o.stderr)
    );

    let o = run(tmc(d)
        .args(["serve", "add-user", "alice", "--site-admin"])
        .env("TMC_SERVER_PASSWORD", "correct horse battery"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(d.join("server.sqlite3").is_file());
    let o = run(tmc(d).args(["serve", "token", "nobody"]));
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("no user `nobody`"));
    let o = run(tmc(d).args(["serve", "token", "alice", "--role", "admin", "--name", "ci"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let token = text(&o.stdout).trim().to_string();
    assert!(token.len() >= 32, "token {token:?}");

    let port = free_port();
    let _server = start(d, port);
    let base = format!("http://127.0.0.1:{port}");
    let a = agent();
    let auth = format!("Bearer {token}");
    // A wrong token is refused by the server, and the CLI says so with the status.
    let o = run(tmc(d).args([
        "check",
        "examples/webshop-payments.yaml",
        "--server",
        &base,
        "--product",
        "1",
        "--token",
        "tmc_not-a-real-token",
    ]));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("401"), "{}", text(&o.stderr));

    let mut r = a
        .post(format!("{base}/api/v1/products"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(r#"{"name":"Web shop","description":"payments"}"#)
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let pid = created["id"].as_i64().unwrap().to_string();

    // Push + draft + verdict: nothing is reviewed, so the gate fails with unresolved threats.
    let o = run(tmc(d)
        .args([
            "check",
            "examples/webshop-payments.yaml",
            "--server",
            &base,
            "--product",
            &pid,
            "--push",
            "--format",
            "json",
        ])
        .env("TMC_SERVER_TOKEN", &token));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let verdict: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(verdict["pass"], false);
    let kinds: Vec<&str> = verdict["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"unresolved"), "{kinds:?}");

    // A reviewer accepts everything through the API (the decisions file format), recording the
    // model version: now the same command passes.
    let bytes = std::fs::read(repo().join("examples/webshop-payments.yaml")).unwrap();
    let hash = tmc_review::model_hash(&bytes);
    let r = a
        .get(format!("{base}/api/v1/products/{pid}/decisions"))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let etag = r
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let file = format!(
        "review_version: 1\nmodel_hash: {hash}\nthreats:\n  \"*@*\":\n    status: accepted\n    justification: accepted for the test of the gate\n"
    );
    let mut r = a
        .put(format!("{base}/api/v1/products/{pid}/decisions"))
        .header("Authorization", &auth)
        .header("If-Match", &etag)
        .send(file.as_bytes())
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    let o = run(tmc(d)
        .args([
            "check",
            "examples/webshop-payments.yaml",
            "--server",
            &base,
            "--product",
            &pid,
        ])
        .env("TMC_SERVER_TOKEN", &token));
    assert!(
        o.status.success(),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(text(&o.stdout).starts_with("PASS"), "{}", text(&o.stdout));
}

#[test]
fn check_refuses_plain_http_to_a_remote_host() {
    let data = tempfile::tempdir().unwrap();
    let o = run(tmc(data.path()).args([
        "check",
        "examples/webshop-payments.yaml",
        "--server",
        "http://tmc.example.internal",
        "--product",
        "1",
        "--token",
        "x",
    ]));
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("https"), "{}", text(&o.stderr));
}
