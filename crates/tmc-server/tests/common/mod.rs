//! Test harness: a real server on 127.0.0.1 (random port) over a real SQLite file in a temp
//! dir, users for every role, and a small HTTP client that keeps status, headers and body.
//!
//! With `TMC_TEST_SERVER_STORE=postgres` and `TMC_TEST_PG_URL` set, every harness uses a
//! PostgreSQL schema of its own instead (dropped afterwards), so the whole suite runs against
//! PostgreSQL: `TMC_TEST_SERVER_STORE=postgres cargo test -p tmc-server`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::sync::atomic::{AtomicUsize, Ordering};
use tmc_server::{AppState, ServerConfig};

use tmc_store::{PgStore, Role, SqliteStore, Store};

pub const WEBSHOP: &str = include_str!("../../../../examples/webshop-payments.yaml");

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A signed-in identity: its session cookie and CSRF token, and its API token.
#[derive(Clone, Debug)]
pub struct Who {
    pub name: &'static str,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub token: Option<String>,
}

/// A PostgreSQL schema for one test, dropped when the guard goes.
pub struct PgSchema {
    pub url: String,
    pub schema: String,
}

static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

impl PgSchema {
    /// A fresh schema name on `TMC_TEST_PG_URL`, or `None` (with a SKIPPED line) when unset.
    pub fn new(test: &str) -> Option<PgSchema> {
        match std::env::var("TMC_TEST_PG_URL") {
            Ok(url) if !url.is_empty() => Some(PgSchema {
                url,
                schema: format!(
                    "tmc_server_t{}_{}",
                    std::process::id(),
                    SCHEMAS.fetch_add(1, Ordering::SeqCst)
                ),
            }),
            _ => {
                eprintln!(
                    "SKIPPED {test}: set TMC_TEST_PG_URL (bash ../shared/scripts/start-postgres.sh prints it)"
                );
                None
            }
        }
    }

    pub fn open(&self) -> Arc<dyn Store> {
        Arc::new(PgStore::connect(&self.url, &self.schema, 8).expect("PostgreSQL store"))
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = tmc_pg::connect(&self.url) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

pub struct Harness {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgSchema>,
    pub product: i64,
    pub other_product: i64,
    pub agent: ureq::Agent,
    pub cfg: ServerConfig,
}

pub const ROLES: [&str; 6] = [
    "anonymous",
    "viewer",
    "developer",
    "reviewer",
    "admin",
    "other-admin",
];

impl Harness {
    pub fn start(max_upload: usize) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let db: PathBuf = dir.path().join("tmc.sqlite");
        let pg = match std::env::var("TMC_TEST_SERVER_STORE").as_deref() {
            Ok("postgres") => Some(PgSchema::new("harness").expect("TMC_TEST_PG_URL")),
            _ => None,
        };
        let store: Arc<dyn Store> = match &pg {
            Some(p) => p.open(),
            None => Arc::new(SqliteStore::open(&db).expect("open store")),
        };
        let mut ids = std::collections::BTreeMap::new();
        for name in &ROLES[1..] {
            let id = store
                .create_user(name, name, "correct horse battery", false)
                .expect("user");
            ids.insert(*name, id);
        }
        store
            .create_user("carol", "Carol", "correct horse battery", false)
            .expect("carol");
        let product = store
            .create_product("Webshop", "payments", ids["admin"])
            .expect("product");
        for (name, role) in [
            ("viewer", Role::Viewer),
            ("developer", Role::Developer),
            ("reviewer", Role::Reviewer),
        ] {
            store
                .set_membership(ids[name], product, role)
                .expect("member");
        }
        let other_product = store
            .create_product("Other", "", ids["other-admin"])
            .expect("other");
        let cfg = ServerConfig {
            cookie_secure: false,
            max_upload_bytes: max_upload,
            db_path: db,
            store_url: pg.as_ref().map(|p| p.url.clone()),
            pg_schema: pg
                .as_ref()
                .map(|p| p.schema.clone())
                .unwrap_or_else(|| tmc_server::DEFAULT_PG_SCHEMA.into()),
            ..ServerConfig::default()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = AppState::new(store.clone(), cfg.clone());
        std::thread::spawn(move || tmc_server::serve_listener(listener, state));
        // No pooled connections: a kept-alive connection the server closed while idle made a
        // request fail with "peer disconnected" under load; one connection per request is what
        // the assertions are about anyway.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .build()
            .into();
        let h = Harness {
            addr,
            store,
            dir,
            pg,
            product,
            other_product,
            agent,
            cfg,
        };
        // Version 1 and its draft, through the API as the admin.
        let admin = h.who("admin");
        let r = h.api(
            "POST",
            "/api/v1/products/{pid}/versions?file_name=webshop-payments.yaml",
            &admin,
            WEBSHOP.as_bytes(),
            None,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let r = h.api("POST", "/api/v1/products/{pid}/draft", &admin, b"", None);
        assert_eq!(r.status, 201, "{}", r.body);
        h
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://{}{}",
            self.addr,
            path.replace("{pid}", &self.product.to_string())
        )
    }

    /// A fresh session and API token for a role name from [`ROLES`].
    pub fn who(&self, name: &'static str) -> Who {
        if name == "anonymous" {
            return Who {
                name,
                cookie: None,
                csrf: None,
                token: None,
            };
        }
        let user = self.store.user_by_name(name).expect("db").expect("user");
        let secret = self.store.create_session(user.id, 3600).expect("session");
        let csrf = self
            .store
            .session(&secret)
            .expect("db")
            .expect("live")
            .csrf_token;
        let (token, _) = self
            .store
            .create_api_token(user.id, "test", Role::Admin, None)
            .expect("token");
        Who {
            name,
            cookie: Some(format!("{}={secret}", self.cfg.session_cookie())),
            csrf: Some(csrf),
            token: Some(token),
        }
    }

    fn finish(&self, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        let mut r = r.expect("request");
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A page request with the session cookie (and any extra cookie).
    pub fn page(
        &self,
        method: &str,
        path: &str,
        who: &Who,
        body: Option<(&str, Vec<u8>)>,
        extra_cookie: Option<&str>,
    ) -> Resp {
        let url = self.url(path);
        let cookie = [who.cookie.as_deref(), extra_cookie]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        match method {
            "GET" => {
                let mut req = self.agent.get(&url);
                if !cookie.is_empty() {
                    req = req.header("Cookie", &cookie);
                }
                self.finish(req.call())
            }
            _ => {
                let (ctype, bytes) =
                    body.unwrap_or(("application/x-www-form-urlencoded", Vec::new()));
                let mut req = self.agent.post(&url).header("Content-Type", ctype);
                if !cookie.is_empty() {
                    req = req.header("Cookie", &cookie);
                }
                self.finish(req.send(&bytes[..]))
            }
        }
    }

    /// A urlencoded form POST carrying `who`'s CSRF token.
    pub fn form(&self, path: &str, who: &Who, fields: &[(&str, &str)]) -> Resp {
        let mut s = form_urlencoded_pairs(fields);
        if let Some(c) = &who.csrf {
            s = format!("csrf={c}&{s}");
        }
        self.page(
            "POST",
            path,
            who,
            Some(("application/x-www-form-urlencoded", s.into_bytes())),
            None,
        )
    }

    /// An API request with `who`'s bearer token.
    pub fn api(
        &self,
        method: &str,
        path: &str,
        who: &Who,
        body: &[u8],
        if_match: Option<&str>,
    ) -> Resp {
        let url = self.url(path);
        let auth = who.token.as_ref().map(|t| format!("Bearer {t}"));
        match method {
            "GET" => {
                let mut req = self.agent.get(&url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                self.finish(req.call())
            }
            m => {
                let mut req = match m {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                }
                .header("Content-Type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                if let Some(v) = if_match {
                    req = req.header("If-Match", v);
                }
                self.finish(req.send(body))
            }
        }
    }

    pub fn first_threat(&self) -> String {
        let r = self.api(
            "GET",
            "/api/v1/products/{pid}/draft",
            &self.who("admin"),
            b"",
            None,
        );
        r.json()["threats"][0]["id"]
            .as_str()
            .expect("a threat")
            .to_string()
    }
}

pub fn form_urlencoded_pairs(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A multipart body with text fields and one file field `model`.
pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "tmcTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"model\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
