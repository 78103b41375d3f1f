//! The tmc team server: security engineers review drafted threat models together.
//!
//! - [`serve`] runs it (blocking); [`router`] builds the axum router for tests.
//! - Every route is declared once in [`routes::ROUTES`] with its minimum access; the one guard
//!   middleware ([`guard`]) authenticates, checks CSRF and authorises before any handler runs,
//!   and a route missing from the table is refused (deny by default).
//! - Pages are server-rendered (askama templates in `templates/`), work without JavaScript, and
//!   are served under a strict Content-Security-Policy; the JSON API lives under `/api/v1`.
//! - Storage is a [`tmc_store::Store`]; calls run on `spawn_blocking`.
//! - Drafting goes through [`drafting::draft`] (the shared `tmc_app` pipeline) only; review
//!   edits through [`review`], everything else about decisions through `tmc_review`.

pub mod api;
pub mod drafting;
pub mod error;
pub mod guard;
pub mod pages;
pub mod review;
pub mod routes;
pub mod service;
pub mod upload;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tmc_store::{SqliteStore, Store, StoreError};

pub use tmc_store::DEFAULT_PG_SCHEMA;

pub use error::AppError;
pub use routes::{Access, ROUTES, RouteSpec};

/// How to run the server. `Default` is the production setting: loopback, Secure cookies.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; `127.0.0.1:8470` by default (put a TLS proxy in front for a team).
    pub bind: SocketAddr,
    /// The SQLite database file (created with its schema when missing); used when
    /// `store_url` is not a PostgreSQL URL.
    pub db_path: PathBuf,
    /// `postgres://…` or `postgresql://…` (libpq URL; TLS per its `sslmode`/`sslrootcert`)
    /// stores everything in PostgreSQL, which several instances may share: sessions, CSRF
    /// tokens and sign-in rate limits all live in the store, none in memory. `None` (or any
    /// other value) keeps the SQLite file at `db_path`.
    pub store_url: Option<String>,
    /// The PostgreSQL schema for the tables (created when missing); `tmc_server` by default.
    pub pg_schema: String,
    /// Most PostgreSQL connections this instance opens (on demand).
    pub pg_max_connections: usize,
    /// Mark cookies `Secure` and name the session cookie `__Host-tmc_session`. Turn off only
    /// for plain-HTTP tests on loopback: browsers drop Secure cookies over http.
    pub cookie_secure: bool,
    /// Largest model upload in bytes (the whole request may carry 64 KiB more of form fields).
    pub max_upload_bytes: usize,
    /// Lifetime of a browser session.
    pub session_ttl_seconds: i64,
    /// Failed sign-ins allowed per account and address within `login_window_seconds`.
    pub login_max_failures: u32,
    pub login_window_seconds: i64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8470)),
            db_path: PathBuf::from("tmc-server.sqlite"),
            store_url: None,
            pg_schema: DEFAULT_PG_SCHEMA.to_string(),
            pg_max_connections: 16,
            cookie_secure: true,
            max_upload_bytes: tmc_dsl::MAX_MODEL_BYTES,
            session_ttl_seconds: 12 * 3600,
            login_max_failures: 5,
            login_window_seconds: 15 * 60,
        }
    }
}

impl ServerConfig {
    /// Name of the session cookie: the `__Host-` prefix (Secure, Path=/, no Domain) when
    /// cookies are Secure; browsers refuse that prefix without Secure, hence the plain name.
    pub fn session_cookie(&self) -> &'static str {
        if self.cookie_secure {
            "__Host-tmc_session"
        } else {
            "tmc_session"
        }
    }

    /// Where the store is, for messages: the PostgreSQL server and schema (never the URL's
    /// user or password) or the SQLite path.
    pub fn store_location(&self) -> String {
        match self
            .store_url
            .as_deref()
            .filter(|u| tmc_store::is_postgres_url(u))
        {
            Some(url) => {
                let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
                let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
                let host = host.split(['?', '#']).next().unwrap_or(host);
                format!("postgres://{host} (schema {})", self.pg_schema)
            }
            None => self.db_path.display().to_string(),
        }
    }

    /// Opens the store this configuration names: [`tmc_store::PgStore`] for a PostgreSQL
    /// `store_url`, else [`SqliteStore`] at `db_path`.
    pub fn open_store(&self) -> Result<Arc<dyn Store>, ServerError> {
        let wrap = |source| ServerError::Store {
            location: self.store_location(),
            source,
        };
        match self
            .store_url
            .as_deref()
            .filter(|u| tmc_store::is_postgres_url(u))
        {
            Some(url) => Ok(Arc::new(
                tmc_store::PgStore::connect(url, &self.pg_schema, self.pg_max_connections)
                    .map_err(wrap)?,
            )),
            None => Ok(Arc::new(SqliteStore::open(&self.db_path).map_err(wrap)?)),
        }
    }

    /// Name of the pre-sign-in anti-CSRF cookie (double-submit on the sign-in form).
    pub fn presession_cookie(&self) -> &'static str {
        if self.cookie_secure {
            "__Host-tmc_pre"
        } else {
            "tmc_pre"
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("opening the store {location}: {source}")]
    Store {
        /// [`ServerConfig::store_location`]: no password in it.
        location: String,
        source: StoreError,
    },
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub cfg: Arc<ServerConfig>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, cfg: ServerConfig) -> AppState {
        AppState {
            store,
            cfg: Arc::new(cfg),
        }
    }

    /// Runs a store call on the blocking pool (SQLite and Argon2 block).
    pub async fn db<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| AppError::internal(format!("store task failed: {e}")))?
            .map_err(AppError::from)
    }
}

/// The whole application: routes, the guard, the security headers.
pub fn router(state: AppState) -> axum::Router {
    routes::build(state)
}

/// Opens the store ([`ServerConfig::open_store`]), listens on `cfg.bind` and serves until the
/// process ends. Blocking: it owns its multi-threaded runtime.
pub fn serve(cfg: ServerConfig) -> Result<(), ServerError> {
    let store = cfg.open_store()?;
    let listener = std::net::TcpListener::bind(cfg.bind).map_err(|source| ServerError::Bind {
        addr: cfg.bind,
        source,
    })?;
    serve_listener(listener, AppState::new(store, cfg))
}

/// Serves on an already bound listener (tests bind port 0 and read the address first).
pub fn serve_listener(listener: std::net::TcpListener, state: AppState) -> Result<(), ServerError> {
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServerError::Bind { addr, source })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(ServerError::Serve)?;
        let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.map_err(ServerError::Serve)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_location_names_the_server_but_not_the_password() {
        let cfg = ServerConfig {
            store_url: Some(
                "postgres://tmc:hunter2@db.internal:5433/teams?sslmode=verify-full".into(),
            ),
            ..ServerConfig::default()
        };
        assert_eq!(
            cfg.store_location(),
            "postgres://db.internal:5433/teams (schema tmc_server)"
        );
        let sqlite = ServerConfig {
            store_url: Some("/var/lib/tmc.sqlite".into()),
            db_path: "/var/lib/tmc/x.sqlite".into(),
            ..ServerConfig::default()
        };
        assert_eq!(sqlite.store_location(), "/var/lib/tmc/x.sqlite");
        // A bad URL fails on opening, and the error hides the password too.
        let bad = ServerConfig {
            store_url: Some("postgres://tmc:hunter2@127.0.0.1:1/x?connect_timeout=2".into()),
            ..ServerConfig::default()
        };
        let err = bad.open_store().map(|_| ()).unwrap_err().to_string();
        assert!(
            err.contains("127.0.0.1:1") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
