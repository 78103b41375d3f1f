#![allow(clippy::unwrap_used)]
//! TLS to PostgreSQL against real servers. `TMC_TEST_PG_TLS_URL` and `TMC_TEST_PG_TLS_CA` come
//! from `scripts/pg-tls.sh` (via `scripts/services.sh`): the pgvector server behind a TLS
//! endpoint whose certificate (for 127.0.0.1 and localhost) a throwaway CA signed; `other-ca.pem`
//! beside that CA is an unrelated one. `TMC_TEST_PG_URL` is the plain server. Tests print
//! SKIPPED and pass when their server is not configured.

use std::path::{Path, PathBuf};

use tmc_kb::ingest::{NoProgress, Outcome};
use tmc_kb::search::{KnowledgeBase, SearchOptions};
use tmc_kb::{Index, PgIndex, ingest_paths};

fn var(name: &str, test: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!("SKIPPED {test}: set {name} (scripts/services.sh)");
            None
        }
    }
}

/// The TLS endpoint's URL (no query) and its CA file.
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

fn unique_schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("tmc_tls_{test}_{}_{nanos}", std::process::id())
}

/// Drops the test schema even when an assertion fails.
struct Dropper(String, String);
impl Drop for Dropper {
    fn drop(&mut self) {
        if let Ok(idx) = PgIndex::connect(&self.0, &self.1) {
            let _ = idx.drop_schema();
        }
    }
}

fn connect_err(url: &str) -> String {
    match PgIndex::connect(url, "tmc_tls_never_created") {
        Ok(_) => panic!("connected, but should not have: {url}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn verify_full_with_the_right_ca_connects_and_the_index_works() {
    let Some((base, ca)) = tls_server("verify_full_with_the_right_ca_connects_and_the_index_works")
    else {
        return;
    };
    let url = with_query(
        &base,
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let schema = unique_schema("full");
    let _guard = Dropper(url.clone(), schema.clone());
    let mut kb = KnowledgeBase::new(Box::new(PgIndex::connect(&url, &schema).unwrap()), None);

    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("tls-policy.md");
    std::fs::write(
        &doc,
        "# Database access\n\nConnections to the ledger database use the osprey gateway.\n",
    )
    .unwrap();
    let s = ingest_paths(kb.index.as_mut(), &[doc], None, &NoProgress).unwrap();
    assert_eq!(s.count(Outcome::Added), 1);
    let hits = kb
        .search("osprey gateway", &SearchOptions::default())
        .unwrap()
        .hits;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].chunk.title, "Database access");

    // The certificate also names `localhost`: a DNS name verifies like the IP address.
    let by_name = url.replace("127.0.0.1", "localhost");
    assert!(by_name.contains("@localhost:"));
    let again = PgIndex::connect(&by_name, &schema).unwrap();
    assert_eq!(again.stats().unwrap().chunks, 1, "same server, same index");
}

#[test]
fn an_untrusted_certificate_fails_clearly() {
    let Some((base, ca)) = tls_server("an_untrusted_certificate_fails_clearly") else {
        return;
    };
    let other = ca.with_file_name("other-ca.pem");
    assert!(other.is_file(), "{} missing", other.display());
    for (query, roots) in [
        // A CA that did not sign the server's certificate.
        (
            format!("sslmode=verify-full&sslrootcert={}", other.display()),
            other.display().to_string(),
        ),
        // The bundled public roots do not know a private CA.
        ("sslmode=verify-full".to_string(), "Mozilla".to_string()),
        // verify-ca checks the chain too, and so does require once roots are named (libpq).
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
    // Connect to 127.0.0.1 while presenting a host name the certificate does not list.
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
    let schema = unique_schema("ca");
    let url = with_query(&renamed, &query("verify-ca"));
    let _guard = Dropper(url.clone(), schema.clone());
    let idx = PgIndex::connect(&url, &schema).unwrap();
    assert_eq!(idx.stats().unwrap().chunks, 0);
}

#[test]
fn require_without_roots_encrypts_without_checking() {
    let Some((base, _ca)) = tls_server("require_without_roots_encrypts_without_checking") else {
        return;
    };
    // libpq's `require`: a certificate from an unknown CA is accepted, the channel encrypted.
    let schema = unique_schema("req");
    let url = with_query(&base, "sslmode=require");
    let _guard = Dropper(url.clone(), schema.clone());
    let idx = PgIndex::connect(&url, &schema).unwrap();
    assert_eq!(idx.stats().unwrap().sources, 0);
    // The TLS port speaks only TLS: clear text to it is refused by the endpoint.
    assert!(
        PgIndex::connect(&with_query(&base, "sslmode=disable"), &schema).is_err(),
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
    let schema = unique_schema("plain");
    let url = with_query(&plain, "sslmode=disable");
    let _guard = Dropper(url.clone(), schema.clone());
    let idx = PgIndex::connect(&url, &schema).unwrap();
    assert_eq!(idx.stats().unwrap().chunks, 0);

    for mode in ["require", "verify-full"] {
        let err = connect_err(&with_query(&plain, &format!("sslmode={mode}")));
        assert!(
            err.contains("does not accept TLS") && err.contains(&format!("sslmode={mode}")),
            "{mode}: {err}"
        );
    }
    // A root file that does not exist is reported before any connection is tried.
    let err = connect_err(&with_query(
        &plain,
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ));
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    assert!(!Path::new("/nonexistent/ca.pem").exists());
}
