//! Load bench (not a timed test): 50 reviewers on one product for a bounded time, over real
//! HTTP on loopback, against SQLite and then PostgreSQL (when `TMC_TEST_PG_URL` is set).
//!
//! `cargo bench -p tmc-server --bench load -- [--seconds 60] [--clients 50] [--backend
//! sqlite|postgres|both]`
//!
//! Each client loops: GET the review page (session cookie), GET the decisions (ETag), POST one
//! decision with `If-Match`, and on 409 reads the decisions again and retries. At the end every
//! acknowledged decision is looked up in the store (its event at the acknowledged version, and
//! the newest acknowledged decision of each threat in the current view); a missing one is a lost
//! update. Prints requests served, p50/p95 latency per kind, 409s, 5xx, lost updates, `uptime`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tmc_server::{AppState, ServerConfig};
use tmc_store::{Role, SqliteStore, Store};

const WEBSHOP: &str = include_str!("../../../examples/webshop-payments.yaml");
const PASSWORD: &str = "correct horse battery";

struct Args {
    seconds: u64,
    clients: usize,
    backend: String,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 60,
        clients: 50,
        backend: "both".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => a.seconds = it.next().and_then(|v| v.parse().ok()).unwrap_or(60),
            "--clients" => a.clients = it.next().and_then(|v| v.parse().ok()).unwrap_or(50),
            "--backend" => a.backend = it.next().unwrap_or_else(|| "both".into()),
            // `cargo bench` passes `--bench`; anything else is ignored too.
            _ => {}
        }
    }
    a
}

#[derive(Default)]
struct Stats {
    /// Latency in microseconds per request kind.
    latency: BTreeMap<&'static str, Vec<u64>>,
    conflicts: u64,
    server_errors: u64,
    other_errors: u64,
    /// (threat, justification, acknowledged version)
    acked: Vec<(String, String, i64)>,
}

struct Reply {
    status: u16,
    etag: Option<String>,
    body: String,
}

fn call(
    stats: &mut Stats,
    kind: &'static str,
    req: impl FnOnce() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Option<Reply> {
    let t = Instant::now();
    let r = req();
    let out = match r {
        Ok(mut r) => {
            let etag = r
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let status = r.status().as_u16();
            let body = r.body_mut().read_to_string().unwrap_or_default();
            Some(Reply { status, etag, body })
        }
        Err(_) => None,
    };
    stats
        .latency
        .entry(kind)
        .or_default()
        .push(t.elapsed().as_micros() as u64);
    match &out {
        Some(r) if r.status >= 500 => stats.server_errors += 1,
        Some(r) if r.status == 409 => stats.conflicts += 1,
        Some(r) if r.status >= 400 => stats.other_errors += 1,
        None => stats.other_errors += 1,
        _ => {}
    }
    out
}

struct Client {
    cookie: String,
    auth: String,
}

fn run(label: &str, store: Arc<dyn Store>, cfg: ServerConfig, a: &Args) {
    let setup = Instant::now();
    let admin = store
        .create_user("admin", "Admin", PASSWORD, false)
        .unwrap();
    let pid = store.create_product("Webshop", "bench", admin).unwrap();
    let (admin_token, _) = store
        .create_api_token(admin, "bench", Role::Admin, None)
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let cookie_name = cfg.session_cookie();
    let state = AppState::new(store.clone(), cfg);
    std::thread::spawn(move || tmc_server::serve_listener(listener, state));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let api = format!("http://{addr}/api/v1/products/{pid}");
    let auth = format!("Bearer {admin_token}");
    let r = agent
        .post(&format!("{api}/versions?file_name=webshop-payments.yaml"))
        .header("Authorization", &auth)
        .send(WEBSHOP)
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = agent
        .post(&format!("{api}/draft"))
        .header("Authorization", &auth)
        .send(&b""[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let draft: serde_json::Value = serde_json::from_str(
        &agent
            .get(&format!("{api}/draft"))
            .header("Authorization", &auth)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let threats: Arc<Vec<String>> = Arc::new(
        draft["threats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect(),
    );
    // Reviewer accounts, created in parallel (each is an Argon2id hash).
    let clients: Vec<Client> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..a.clients)
            .map(|i| {
                let store = store.clone();
                s.spawn(move || {
                    let uid = store
                        .create_user(&format!("rev{i:02}"), "Reviewer", PASSWORD, false)
                        .unwrap();
                    store.set_membership(uid, pid, Role::Reviewer).unwrap();
                    let secret = store.create_session(uid, 3600).unwrap();
                    let (token, _) = store
                        .create_api_token(uid, "bench", Role::Reviewer, None)
                        .unwrap();
                    Client {
                        cookie: format!("{cookie_name}={secret}"),
                        auth: format!("Bearer {token}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!(
        "[{label}] setup: {} threats, {} reviewers in {:.1} s; running {} s",
        threats.len(),
        clients.len(),
        setup.elapsed().as_secs_f64(),
        a.seconds
    );

    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let all = Arc::new(Mutex::new(Stats::default()));
    let started = Instant::now();
    std::thread::scope(|s| {
        for (i, c) in clients.iter().enumerate() {
            let (threats, all) = (threats.clone(), all.clone());
            let base = format!("http://{addr}");
            s.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .build()
                    .into();
                let mut st = Stats::default();
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64 + 1);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let threat = &threats[(seed % threats.len() as u64) as usize];
                    let _ = call(&mut st, "GET review page", || {
                        agent
                            .get(&format!("{base}/p/{pid}/review"))
                            .header("Cookie", &c.cookie)
                            .call()
                    });
                    n += 1;
                    let just = format!("client {i} edit {n}");
                    let status = ["accepted", "mitigated", "transferred", "not-applicable"]
                        [(seed >> 8) as usize % 4];
                    let body = serde_json::json!({"op": "decide", "threat": threat,
                        "status": status, "justification": just})
                    .to_string();
                    for _attempt in 0..50 {
                        let Some(r) = call(&mut st, "GET decisions", || {
                            agent
                                .get(&format!("{base}/api/v1/products/{pid}/decisions"))
                                .header("Authorization", &c.auth)
                                .call()
                        }) else {
                            break;
                        };
                        let Some(etag) = r.etag else { break };
                        let Some(r) = call(&mut st, "POST decision", || {
                            agent
                                .post(&format!("{base}/api/v1/products/{pid}/decisions"))
                                .header("Authorization", &c.auth)
                                .header("Content-Type", "application/json")
                                .header("If-Match", &etag)
                                .send(body.as_bytes())
                        }) else {
                            break;
                        };
                        if r.status == 200 {
                            let v = serde_json::from_str::<serde_json::Value>(&r.body)
                                .ok()
                                .and_then(|j| j["version"].as_i64())
                                .unwrap_or(-1);
                            st.acked.push((threat.clone(), just.clone(), v));
                            break;
                        }
                        if r.status != 409 || Instant::now() >= deadline {
                            break;
                        }
                    }
                }
                let mut all = all.lock().unwrap();
                for (k, v) in st.latency {
                    all.latency.entry(k).or_default().extend(v);
                }
                all.conflicts += st.conflicts;
                all.server_errors += st.server_errors;
                all.other_errors += st.other_errors;
                all.acked.extend(st.acked);
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let stats = all.lock().unwrap();

    // Every acknowledged decision must be in the store.
    let events = store.decision_events_since(pid, 0).unwrap();
    let by_version: BTreeMap<i64, &tmc_store::DecisionEvent> =
        events.iter().map(|e| (e.version_after, e)).collect();
    let view = store.decisions(pid).unwrap();
    let current: serde_json::Value =
        serde_json::from_str(view.json.as_deref().unwrap_or("{}")).unwrap();
    let mut newest: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
    let mut lost = 0;
    for (threat, just, v) in &stats.acked {
        match by_version.get(v) {
            Some(e) if e.threat_key == *threat && e.payload.contains(just.as_str()) => {}
            _ => lost += 1,
        }
        let slot = newest.entry(threat.as_str()).or_insert((*v, just.as_str()));
        if *v > slot.0 {
            *slot = (*v, just.as_str());
        }
    }
    for (threat, (_, just)) in &newest {
        if current["threats"][*threat]["justification"].as_str() != Some(*just) {
            lost += 1;
        }
    }

    let total: usize = stats.latency.values().map(Vec::len).sum();
    println!("\n== {label}: {} clients, {elapsed:.1} s ==", clients.len());
    println!(
        "requests served: {total} ({:.0}/s); decisions acknowledged: {} (store version {}); 409: {}; 5xx: {}; other errors: {}; lost updates: {lost}",
        total as f64 / elapsed,
        stats.acked.len(),
        view.version,
        stats.conflicts,
        stats.server_errors,
        stats.other_errors,
    );
    let mut everything: Vec<u64> = Vec::new();
    for (kind, v) in &stats.latency {
        let mut v = v.clone();
        v.sort_unstable();
        everything.extend(&v);
        println!(
            "  {kind:<16} n={:<7} p50={:>7.1} ms  p95={:>7.1} ms",
            v.len(),
            pct(&v, 50) as f64 / 1000.0,
            pct(&v, 95) as f64 / 1000.0
        );
    }
    everything.sort_unstable();
    println!(
        "  {:<16} n={:<7} p50={:>7.1} ms  p95={:>7.1} ms",
        "all",
        everything.len(),
        pct(&everything, 50) as f64 / 1000.0,
        pct(&everything, 95) as f64 / 1000.0
    );
    if let Ok(out) = std::process::Command::new("uptime").output() {
        print!("  uptime: {}", String::from_utf8_lossy(&out.stdout));
    }
}

fn pct(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) * p) / 100]
}

fn main() {
    let a = args();
    let base = ServerConfig {
        cookie_secure: false,
        ..ServerConfig::default()
    };
    if a.backend == "sqlite" || a.backend == "both" {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bench.sqlite");
        let store = Arc::new(SqliteStore::open(&db).unwrap());
        let cfg = ServerConfig {
            db_path: db,
            ..base.clone()
        };
        run("SQLite", store, cfg, &a);
    }
    if a.backend == "postgres" || a.backend == "both" {
        match std::env::var("TMC_TEST_PG_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("tmc_bench_{}", std::process::id());
                let cfg = ServerConfig {
                    store_url: Some(url.clone()),
                    pg_schema: schema.clone(),
                    ..base
                };
                let store = cfg.open_store().unwrap();
                run(
                    &format!("PostgreSQL ({} connections)", cfg.pg_max_connections),
                    store,
                    cfg,
                    &a,
                );
                if let Ok(mut c) = tmc_pg::connect(&url) {
                    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
            _ => eprintln!("PostgreSQL skipped: set TMC_TEST_PG_URL"),
        }
    }
}
