//! The server as a child process for tests and manual runs:
//! `tmc-server-test --db PATH|postgres://… [--pg-schema NAME] [--bind 127.0.0.1:0]
//! [--max-upload BYTES]`.
//! Cookies are not Secure (plain HTTP on loopback). Prints `listening on ADDR` once bound.

use std::io::Write;
use std::process::ExitCode;

use tmc_server::{AppState, ServerConfig, serve_listener};

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
            ("--db", Some(v)) if tmc_store::is_postgres_url(&v) => {
                cfg.store_url = Some(v);
                true
            }
            ("--db", Some(v)) => {
                cfg.db_path = v.into();
                true
            }
            ("--pg-schema", Some(v)) => {
                cfg.pg_schema = v;
                true
            }
            ("--bind", Some(v)) => v.parse().map(|b| cfg.bind = b).is_ok(),
            ("--max-upload", Some(v)) => v.parse().map(|b| cfg.max_upload_bytes = b).is_ok(),
            _ => false,
        };
        if !ok {
            eprintln!(
                "usage: tmc-server-test --db PATH|postgres://... [--pg-schema NAME] [--bind ADDR] [--max-upload BYTES]"
            );
            return ExitCode::from(2);
        }
    }
    let store = match cfg.open_store() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tmc-server-test: {e}");
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
    match serve_listener(listener, AppState::new(store, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tmc-server-test: {e}");
            ExitCode::FAILURE
        }
    }
}
