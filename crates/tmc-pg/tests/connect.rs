#![allow(clippy::unwrap_used)]
//! Connections against real servers. `TMC_TEST_PG_URL` is the plain server
//! (`bash ../shared/scripts/start-postgres.sh` prints it); `TMC_TEST_PG_TLS_URL` and
//! `TMC_TEST_PG_TLS_CA` come from `scripts/pg-tls.sh`: the same server behind a TLS endpoint
//! whose certificate (for 127.0.0.1 and localhost) a throwaway CA signed, with an unrelated
//! `other-ca.pem` beside it. A test prints SKIPPED and passes when its server is not configured.

use std::path::PathBuf;
use std::time::Duration;

use tmc_pg::{Pool, connect, postgres};

fn var(name: &str, test: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!("SKIPPED {test}: set {name} (bash scripts/pg-tls.sh prints both URLs)");
            None
        }
    }
}

fn tls_server(test: &str) -> Option<(String, PathBuf)> {
    let url = var("TMC_TEST_PG_TLS_URL", test)?;
    let ca = PathBuf::from(var("TMC_TEST_PG_TLS_CA", test)?);
    assert!(
        ca.is_file(),
        "TMC_TEST_PG_TLS_CA {} is not a file",
        ca.display()
    );
    Some((url, ca))
}

fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

fn connect_err(url: &str) -> String {
    match connect(url) {
        Ok(_) => panic!("connected, but should not have"),
        Err(e) => e.to_string(),
    }
}

/// A round trip on the connection.
fn one(client: &mut postgres::Client) -> i32 {
    client.query_one("SELECT 1", &[]).unwrap().get(0)
}

#[test]
fn verify_full_with_the_right_ca_connects_by_address_and_by_name() {
    let Some((base, ca)) =
        tls_server("verify_full_with_the_right_ca_connects_by_address_and_by_name")
    else {
        return;
    };
    let url = with_query(
        &base,
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    assert_eq!(one(&mut connect(&url).unwrap()), 1);
    let by_name = url.replace("127.0.0.1", "localhost");
    assert!(by_name.contains("@localhost:"));
    assert_eq!(one(&mut connect(&by_name).unwrap()), 1);
}

#[test]
fn an_untrusted_certificate_fails_clearly() {
    let Some((base, ca)) = tls_server("an_untrusted_certificate_fails_clearly") else {
        return;
    };
    let other = ca.with_file_name("other-ca.pem");
    assert!(other.is_file(), "{} missing", other.display());
    for (query, roots) in [
        (
            format!("sslmode=verify-full&sslrootcert={}", other.display()),
            other.display().to_string(),
        ),
        ("sslmode=verify-full".to_string(), "Mozilla".to_string()),
        (
            format!("sslmode=verify-ca&sslrootcert={}", other.display()),
            other.display().to_string(),
        ),
        (
            format!("sslmode=require&sslrootcert={}", other.display()),
            other.display().to_string(),
        ),
    ] {
        let err = connect_err(&with_query(&base, &query));
        assert!(
            err.contains("not trusted") && err.contains("UnknownIssuer") && err.contains(&roots),
            "{query}: {err}"
        );
        assert!(err.contains("127.0.0.1:"), "names the server: {err}");
    }
}

#[test]
fn verify_ca_skips_the_name_check_that_verify_full_makes() {
    let Some((base, ca)) = tls_server("verify_ca_skips_the_name_check_that_verify_full_makes")
    else {
        return;
    };
    let renamed = base.replace("127.0.0.1", "db.tmc.invalid");
    let query = |mode: &str| {
        format!(
            "hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={}",
            ca.display()
        )
    };
    let err = connect_err(&with_query(&renamed, &query("verify-full")));
    assert!(
        err.contains("not valid for name") && err.contains("does not name the host"),
        "{err}"
    );
    assert_eq!(
        one(&mut connect(&with_query(&renamed, &query("verify-ca"))).unwrap()),
        1
    );
}

#[test]
fn require_without_roots_encrypts_without_checking() {
    let Some((base, _ca)) = tls_server("require_without_roots_encrypts_without_checking") else {
        return;
    };
    assert_eq!(
        one(&mut connect(&with_query(&base, "sslmode=require")).unwrap()),
        1
    );
    assert!(
        connect(&with_query(&base, "sslmode=disable")).is_err(),
        "clear text reached a TLS-only port"
    );
}

#[test]
fn the_plain_server_works_without_tls_and_refuses_to_fake_it() {
    let Some(plain) = var(
        "TMC_TEST_PG_URL",
        "the_plain_server_works_without_tls_and_refuses_to_fake_it",
    ) else {
        return;
    };
    assert_eq!(
        one(&mut connect(&with_query(&plain, "sslmode=disable")).unwrap()),
        1
    );
    for mode in ["require", "verify-full"] {
        let err = connect_err(&with_query(&plain, &format!("sslmode={mode}")));
        assert!(
            err.contains("does not accept TLS") && err.contains(&format!("sslmode={mode}")),
            "{mode}: {err}"
        );
    }
    let err = connect_err(&with_query(
        &plain,
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ));
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn the_pool_bounds_connections_runs_setup_and_replaces_broken_ones() {
    let Some(plain) = var(
        "TMC_TEST_PG_URL",
        "the_pool_bounds_connections_runs_setup_and_replaces_broken_ones",
    ) else {
        return;
    };
    let pool = Pool::new(
        &plain,
        2,
        Duration::from_millis(300),
        Box::new(|c| c.batch_execute("SET application_name = 'tmc_pg_pool_test'")),
    )
    .unwrap();
    assert_eq!(pool.open_connections(), 1, "one opened to check the URL");
    let mut a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    assert_eq!(pool.open_connections(), 2);
    // Both on loan: the third caller waits, then gets a clear error.
    let err = pool.get().map(|_| ()).unwrap_err().to_string();
    assert!(
        err.contains("all 2 PostgreSQL connections stayed busy"),
        "{err}"
    );
    let name: String = a
        .query_one("SELECT current_setting('application_name')", &[])
        .unwrap()
        .get(0);
    assert_eq!(name, "tmc_pg_pool_test", "setup ran on each connection");
    // Break `b` from the server side: its next use fails, and the pool drops it.
    let pid: i32 = b.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    a.execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    drop(a);

    assert!(b.query_one("SELECT 1", &[]).is_err());
    assert!(b.is_closed());
    drop(b);
    assert_eq!(pool.open_connections(), 1, "the broken connection is gone");
    // What the pool hands out now works.
    let mut c = pool.get().unwrap();
    let mut d = pool.get().unwrap();
    assert_eq!(one(&mut c) + one(&mut d), 2);
}

#[test]
fn a_wrong_password_or_port_is_an_error_without_the_password() {
    let err = connect_err("postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2");
    assert!(
        err.contains("127.0.0.1:1") && err.contains("sslmode=disable"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let err = match Pool::new(
        "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2",
        4,
        Duration::from_secs(1),
        Box::new(|_| Ok(())),
    ) {
        Ok(_) => panic!("a pool to a closed port"),
        Err(e) => e.to_string(),
    };
    assert!(
        !err.contains("hunter2") && err.contains("127.0.0.1:1"),
        "{err}"
    );
}
