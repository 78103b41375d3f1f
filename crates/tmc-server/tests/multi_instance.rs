//! Two server instances on one PostgreSQL schema behave as one server: a session started on
//! one works on the other (and signing out on one ends it on both), the CSRF token is the
//! session's own wherever the form is posted, the sign-in rate limit counts failures from both,
//! and concurrent decisions through both with If-Match lose no acknowledged write. Runs when
//! `TMC_TEST_PG_URL` is set; prints SKIPPED otherwise.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{PgSchema, WEBSHOP, form_urlencoded_pairs};
use tmc_server::{AppState, ServerConfig};
use tmc_store::Role;

struct Instance {
    addr: SocketAddr,
    cfg: ServerConfig,
}

fn start(pg: &PgSchema) -> Instance {
    let cfg = ServerConfig {
        cookie_secure: false,
        store_url: Some(pg.url.clone()),
        pg_schema: pg.schema.clone(),
        pg_max_connections: 4,
        ..ServerConfig::default()
    };
    // Its own store, so its own connection pool: nothing shared in memory with the other.
    let store = cfg.open_store().expect("store");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = AppState::new(store, cfg.clone());
    std::thread::spawn(move || tmc_server::serve_listener(listener, state));
    Instance { addr, cfg }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .max_redirects(0)
        .build()
        .into()
}

struct Reply {
    status: u16,
    set_cookie: Vec<String>,
    etag: Option<String>,
    body: String,
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("request");
    let set_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Reply {
        status: r.status().as_u16(),
        set_cookie,
        etag,
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn post_form(a: &ureq::Agent, url: &str, cookie: &str, fields: &[(&str, &str)]) -> Reply {
    reply(
        a.post(url)
            .header("Cookie", cookie)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(form_urlencoded_pairs(fields).as_bytes()),
    )
}

fn get(a: &ureq::Agent, url: &str, cookie: &str) -> Reply {
    reply(a.get(url).header("Cookie", cookie).call())
}

/// A sign-in attempt on `inst`, as a browser makes it (pre-session cookie, then the form).
fn sign_in(a: &ureq::Agent, inst: &Instance, user: &str, password: &str) -> Reply {
    let pre = "cd".repeat(32);
    let jar = format!("{}={pre}", inst.cfg.presession_cookie());
    post_form(
        a,
        &format!("http://{}/signin", inst.addr),
        &jar,
        &[("csrf", &pre), ("username", user), ("password", password)],
    )
}

#[test]
fn two_instances_share_sessions_csrf_rate_limits_and_decisions() {
    let Some(pg) = PgSchema::new("two_instances_share_sessions_csrf_rate_limits_and_decisions")
    else {
        return;
    };
    let store = pg.open();
    let admin = store
        .create_user("admin", "Admin", "correct horse battery", false)
        .expect("admin");
    let rev = store
        .create_user("rev", "Rev", "correct horse battery", false)
        .expect("rev");
    let pid = store.create_product("Webshop", "", admin).expect("product");
    store
        .set_membership(rev, pid, Role::Reviewer)
        .expect("member");
    let (a, b) = (start(&pg), start(&pg));
    let http = agent();

    // A model and its draft, uploaded through A.
    let (token, _) = store
        .create_api_token(admin, "t", Role::Admin, None)
        .expect("token");
    let auth = format!("Bearer {token}");
    let r = reply(
        http.post(&format!(
            "http://{}/api/v1/products/{pid}/versions?file_name=webshop.yaml",
            a.addr
        ))
        .header("Authorization", &auth)
        .send(WEBSHOP),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = reply(
        http.post(&format!("http://{}/api/v1/products/{pid}/draft", a.addr))
            .header("Authorization", &auth)
            .send(&b""[..]),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // ...and visible through B at once.
    let r = reply(
        http.get(&format!("http://{}/api/v1/products/{pid}/draft", b.addr))
            .header("Authorization", &auth)
            .call(),
    );
    assert_eq!(r.status, 200);
    let draft: serde_json::Value = serde_json::from_str(&r.body).expect("draft json");
    let threats: Vec<String> = draft["threats"]
        .as_array()
        .expect("threats")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect();
    assert!(threats.len() >= 8);

    // Sign in on A; the session works on B.
    let r = sign_in(&http, &a, "rev", "correct horse battery");
    assert_eq!(r.status, 303, "{}", r.body);
    let name = a.cfg.session_cookie();
    let session = r
        .set_cookie
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    let cookie = format!("{name}={session}");
    let r = get(&http, &format!("http://{}/products", b.addr), &cookie);
    assert_eq!(r.status, 200, "B knows A's session");
    assert!(r.body.contains("Webshop"));
    // The CSRF token is the session's, in the store: a form posted to B with the token A's
    // page carried is accepted, a wrong one is not.
    let csrf = store
        .session(&session)
        .expect("db")
        .expect("session")
        .csrf_token;
    let review_a = get(&http, &format!("http://{}/p/{pid}/review", a.addr), &cookie);
    assert!(review_a.body.contains(&csrf), "A's page carries the token");
    let decide = |inst: &Instance, csrf: &str, threat: &str| {
        post_form(
            &http,
            &format!("http://{}/p/{pid}/decide", inst.addr),
            &cookie,
            &[
                ("csrf", csrf),
                ("threat", threat),
                ("status", "mitigated"),
                ("justification", "TLS everywhere"),
            ],
        )
    };
    assert_eq!(decide(&b, &"0".repeat(64), &threats[0]).status, 403);
    let r = decide(&b, &csrf, &threats[0]);
    assert!(
        r.status == 303 || r.status == 200,
        "{} {}",
        r.status,
        r.body
    );
    assert_eq!(store.decisions(pid).expect("db").version, 1);
    // Signing out on B ends the session on A too.
    let r = post_form(
        &http,
        &format!("http://{}/signout", b.addr),
        &cookie,
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status, 303);
    let r = get(&http, &format!("http://{}/products", a.addr), &cookie);
    assert_eq!(r.status, 303, "signed out everywhere");

    // The rate limit adds failures from both instances: 3 on A and 2 on B, then the right
    // password on A is refused.
    for inst in [&a, &a, &a, &b, &b] {
        assert_eq!(sign_in(&http, inst, "admin", "wrong password").status, 401);
    }
    assert_eq!(
        sign_in(&http, &a, "admin", "correct horse battery").status,
        429,
        "five failures across two instances reach the limit"
    );

    // Concurrent reviewers, half on each instance, each deciding its own threat with
    // If-Match and retrying on 409: every acknowledged write is in the final decisions.
    let acked: Arc<Mutex<Vec<(String, String, i64)>>> = Arc::default();
    let conflicts = Arc::new(Mutex::new(0u32));
    let workers: Vec<_> = threats
        .iter()
        .skip(1)
        .take(8)
        .enumerate()
        .map(|(i, threat)| {
            let base = format!(
                "http://{}/api/v1/products/{pid}/decisions",
                if i % 2 == 0 { a.addr } else { b.addr }
            );
            let (http, auth, threat, acked, conflicts) = (
                http.clone(),
                auth.clone(),
                threat.clone(),
                acked.clone(),
                conflicts.clone(),
            );
            std::thread::spawn(move || {
                for round in 0..3 {
                    let just = format!("worker {i} round {round}");
                    loop {
                        let r = reply(http.get(&base).header("Authorization", &auth).call());
                        assert_eq!(r.status, 200, "{}", r.body);
                        let etag = r.etag.expect("ETag");
                        let body = serde_json::json!({"op": "decide", "threat": threat,
                            "status": "accepted", "justification": just})
                        .to_string();
                        let r = reply(
                            http.post(&base)
                                .header("Authorization", &auth)
                                .header("Content-Type", "application/json")
                                .header("If-Match", &etag)
                                .send(body.as_bytes()),
                        );
                        match r.status {
                            200 => {
                                let v = serde_json::from_str::<serde_json::Value>(&r.body)
                                    .expect("json")["version"]
                                    .as_i64()
                                    .expect("version");
                                acked
                                    .lock()
                                    .expect("lock")
                                    .push((threat.clone(), just.clone(), v));
                                break;
                            }
                            409 => *conflicts.lock().expect("lock") += 1,
                            s => panic!("unexpected {s}: {}", r.body),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let acked = acked.lock().expect("lock").clone();
    assert_eq!(acked.len(), 24);
    let mut versions: Vec<i64> = acked.iter().map(|x| x.2).collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(
        versions.len(),
        24,
        "no two acknowledged writes share a version"
    );
    let view = store.decisions(pid).expect("db");
    assert_eq!(view.version, 25, "1 page decision + 24 API writes");
    let decisions: serde_json::Value =
        serde_json::from_str(view.json.as_deref().expect("json")).expect("decisions");
    for (threat, just, _) in acked.iter().filter(|x| x.1.ends_with("round 2")) {
        assert_eq!(
            decisions["threats"][threat]["justification"],
            just.as_str(),
            "last acknowledged decision on {threat}"
        );
    }
    eprintln!(
        "multi-instance: 24 writes acknowledged, {} conflicts retried",
        conflicts.lock().expect("lock")
    );
}
