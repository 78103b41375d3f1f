//! The server as a child process for tests and manual runs:
//! `tmc-server-test --db PATH [--bind 127.0.0.1:0] [--max-upload BYTES]`.
//! Cookies are not Secure (plain HTTP on loopback). Prints `listening on ADDR` once bound.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use tmc_server::{AppState, ServerConfig, serve_listener};
use tmc_store::SqliteStore;

fn main() -> ExitCode {
    let mut cfg = ServerConfig {
        cookie_secure: false,
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServerConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        let ok = match (a.as_str(), value) {
            ("--db", Some(v)) => {
                cfg.db_path = v.into();
                true
            }
            ("--bind", Some(v)) => v.parse().map(|b| cfg.bind = b).is_ok(),
            ("--max-upload", Some(v)) => v.parse().map(|b| cfg.max_upload_bytes = b).is_ok(),
            _ => false,
        };
        if !ok {
            eprintln!("usage: tmc-server-test --db PATH [--bind ADDR] [--max-upload BYTES]");
            return ExitCode::from(2);
        }
    }
    let store = match SqliteStore::open(&cfg.db_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tmc-server-test: {}: {e}", cfg.db_path.display());
            return ExitCode::FAILURE;
        }
    };
    let listener = match std::net::TcpListener::bind(cfg.bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tmc-server-test: listening on {}: {e}", cfg.bind);
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("listening on {addr}");
        let _ = std::io::stdout().flush();
    }
    match serve_listener(listener, AppState::new(Arc::new(store), cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tmc-server-test: {e}");
            ExitCode::FAILURE
        }
    }
}
