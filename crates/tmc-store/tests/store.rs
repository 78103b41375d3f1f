#![allow(clippy::unwrap_used)]
//! The store's promises, checked on both backends by the same test functions over
//! `&dyn Store`: migrations apply once and give the tables in `tests/data/schema.txt`, secrets
//! are stored only as digests, decision and audit events are append-only, a stale decisions
//! version is refused and concurrent writers (also through two store instances, like two
//! servers) never both win.
//!
//! PostgreSQL tests run when `TMC_TEST_PG_URL` is set (`bash ../shared/scripts/start-postgres.sh`
//! prints it), each in a schema of its own that is dropped afterwards, so they run in
//! parallel; without it they print SKIPPED and pass.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tmc_store::{NewVersion, PgStore, Role, SqliteStore, Store, StoreError};

enum Backend {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Pg {
        url: String,
        schema: String,
    },
}

struct Fixture {
    store: Arc<dyn Store>,
    backend: Backend,
}

static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

impl Fixture {
    fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        Fixture {
            store,
            backend: Backend::Sqlite { _dir: dir, path },
        }
    }

    fn pg(test: &str) -> Option<Fixture> {
        let url = match std::env::var("TMC_TEST_PG_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                eprintln!(
                    "SKIPPED postgres::{test}: set TMC_TEST_PG_URL (bash ../shared/scripts/start-postgres.sh prints it)"
                );
                return None;
            }
        };
        let schema = format!(
            "tmc_store_t{}_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::SeqCst),
            test.chars().take(30).collect::<String>()
        );
        let store = Arc::new(PgStore::connect(&url, &schema, 4).unwrap());
        Some(Fixture {
            store,
            backend: Backend::Pg { url, schema },
        })
    }

    /// A second store on the same database, as a second server instance (or a restart) opens it.
    fn reopen(&self) -> Arc<dyn Store> {
        match &self.backend {
            Backend::Sqlite { path, .. } => Arc::new(SqliteStore::open(path).unwrap()),
            Backend::Pg { url, schema } => Arc::new(PgStore::connect(url, schema, 4).unwrap()),
        }
    }

    fn schema_version(&self) -> i64 {
        match &self.backend {
            Backend::Sqlite { path, .. } => SqliteStore::open(path).unwrap().schema_version(),
            Backend::Pg { url, schema } => {
                PgStore::connect(url, schema, 1).unwrap().schema_version()
            }
        }
        .unwrap()
    }

    /// Runs one statement on a raw connection, as an operator with SQL access would.
    fn raw_exec(&self, sql: &str) -> Result<u64, String> {
        match &self.backend {
            Backend::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .unwrap()
                .execute(sql, [])
                .map(|n| n as u64)
                .map_err(|e| e.to_string()),
            Backend::Pg { url, schema } => {
                let mut c = tmc_pg::connect(url).unwrap();
                c.batch_execute(&format!("SET search_path TO {schema}"))
                    .unwrap();
                c.execute(sql, &[]).map_err(|e| tmc_pg::db_message(&e))
            }
        }
    }

    /// `table.column not-null|null` for every column of the store's tables, sorted; primary-key
    /// columns count as NOT NULL (SQLite reports a non-integer key as nullable, a legacy quirk
    /// the store never relies on).
    fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.backend {
            Backend::Sqlite { path, .. } => {
                let c = rusqlite::Connection::open(path).unwrap();
                let mut tables = c
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                    .unwrap();
                let names: Vec<String> = tables
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                for t in names {
                    let mut info = c.prepare(&format!("PRAGMA table_info({t})")).unwrap();
                    let cols: Vec<(String, bool)> = info
                        .query_map([], |r| {
                            Ok((
                                r.get::<_, String>(1)?,
                                r.get::<_, i64>(3)? != 0 || r.get::<_, i64>(5)? != 0,
                            ))
                        })
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    for (col, notnull) in cols {
                        out.push(format!("{t}.{col} {}", null_word(notnull)));
                    }
                }
            }
            Backend::Pg { url, schema } => {
                let mut c = tmc_pg::connect(url).unwrap();
                for r in c
                    .query(
                        "SELECT table_name::text, column_name::text, is_nullable::text
                         FROM information_schema.columns WHERE table_schema = $1",
                        &[schema],
                    )
                    .unwrap()
                {
                    let (t, col, nullable): (String, String, String) =
                        (r.get(0), r.get(1), r.get(2));
                    out.push(format!("{t}.{col} {}", null_word(nullable == "NO")));
                }
            }
        }
        out.sort();
        out
    }
}

fn null_word(notnull: bool) -> &'static str {
    if notnull { "not-null" } else { "null" }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Backend::Pg { url, schema } = &self.backend
            && let Ok(mut c) = tmc_pg::connect(url)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::Fixture::sqlite()); } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                if let Some(f) = super::Fixture::pg(stringify!($name)) { super::$name(&f); }
            } )*
        }
    };
}

on_both_backends!(
    schema_matches_the_expected_tables_and_migrates_once,
    users_and_passwords,
    sessions_and_tokens_expire_and_revoke,
    login_failures_count_until_a_success,
    products_members_and_listings,
    versions_and_drafts,
    decisions_refuse_a_stale_version,
    concurrent_writers_never_both_win,
    event_logs_are_append_only,
    comments_and_audit,
    everything_survives_a_reopen,
);

const PW: &str = "long enough pw";

fn schema_matches_the_expected_tables_and_migrates_once(f: &Fixture) {
    let expected: Vec<String> = include_str!("data/schema.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert_eq!(f.columns(), expected, "tables and columns");
    assert_eq!(f.schema_version(), tmc_store::known_schema_version());
    let _second = f.reopen();
    assert_eq!(f.schema_version(), 1, "reopening applies nothing twice");
}

fn users_and_passwords(f: &Fixture) {
    let s = f.store.as_ref();
    let uid = s.create_user("ann", "Ann", PW, false).unwrap();
    assert!(matches!(
        s.create_user("ann", "Other", PW, false),
        Err(StoreError::Duplicate(m)) if m.contains("ann")
    ));
    assert!(matches!(
        s.create_user("bob", "Bob", "short", false),
        Err(StoreError::Invalid(m)) if m.contains("password")
    ));
    assert!(matches!(
        s.create_user("  ", "Bob", PW, false),
        Err(StoreError::Invalid(m)) if m.contains("username")
    ));
    assert!(s.check_password("ann", "wrong pw!").unwrap().is_none());
    assert!(s.check_password("nobody", "wrong pw!").unwrap().is_none());
    let ann = s.check_password("ann", PW).unwrap().unwrap();
    assert_eq!((ann.id, ann.site_admin), (uid, false));
    assert_eq!(s.user_by_name("ann").unwrap(), Some(ann));
    assert_eq!(s.user_by_name("nobody").unwrap(), None);
    let root = s.create_user("root", "Root", PW, true).unwrap();
    assert!(s.user_by_name("root").unwrap().unwrap().site_admin);
    assert_ne!(root, uid);
}

fn sessions_and_tokens_expire_and_revoke(f: &Fixture) {
    let s = f.store.as_ref();
    let uid = s.create_user("ann", "Ann", PW, false).unwrap();
    let secret = s.create_session(uid, 60).unwrap();
    let sess = s.session(&secret).unwrap().unwrap();
    assert_eq!(sess.user.id, uid);
    assert_eq!(sess.csrf_token.len(), 64);
    assert!(s.session("not-a-session").unwrap().is_none());
    s.delete_session(&secret).unwrap();
    assert!(s.session(&secret).unwrap().is_none(), "signed out");
    let expired = s.create_session(uid, -1).unwrap();
    assert!(s.session(&expired).unwrap().is_none(), "expired");

    let (token, id) = s
        .create_api_token(uid, "ci", Role::Developer, None)
        .unwrap();
    assert!(token.starts_with("tmc_"));
    let t = s.api_token(&token).unwrap().unwrap();
    assert_eq!(
        (t.id, t.max_role, t.name.as_str()),
        (id, Role::Developer, "ci")
    );
    let other = s.create_user("bob", "Bob", PW, false).unwrap();
    assert!(matches!(
        s.revoke_api_token(other, id),
        Err(StoreError::NotFound(_))
    ));
    s.revoke_api_token(uid, id).unwrap();
    assert!(s.api_token(&token).unwrap().is_none(), "revoked");
    assert!(matches!(
        s.revoke_api_token(uid, id),
        Err(StoreError::NotFound(_))
    ));
    let (old, _) = s
        .create_api_token(uid, "old", Role::Viewer, Some(-1))
        .unwrap();
    assert!(s.api_token(&old).unwrap().is_none(), "expired token");
}

fn login_failures_count_until_a_success(f: &Fixture) {
    let s = f.store.as_ref();
    for _ in 0..3 {
        s.record_login_attempt("ann", "10.0.0.1", false).unwrap();
    }
    s.record_login_attempt("ann", "10.0.0.2", false).unwrap();
    assert_eq!(s.recent_login_failures("ann", "10.0.0.1", 0).unwrap(), 3);
    assert_eq!(s.recent_login_failures("ann", "10.0.0.2", 0).unwrap(), 1);
    assert_eq!(
        s.recent_login_failures("ann", "10.0.0.1", i64::MAX)
            .unwrap(),
        0,
        "outside the window"
    );
    s.record_login_attempt("ann", "10.0.0.1", true).unwrap();
    s.record_login_attempt("ann", "10.0.0.1", false).unwrap();
    assert_eq!(s.recent_login_failures("ann", "10.0.0.1", 0).unwrap(), 1);
}

fn products_members_and_listings(f: &Fixture) {
    let s = f.store.as_ref();
    let ann = s.create_user("ann", "Ann", PW, false).unwrap();
    let bob = s.create_user("bob", "Bob", PW, false).unwrap();
    let root = s.create_user("root", "Root", PW, true).unwrap();
    let p = s.create_product("Webshop", "payments", ann).unwrap();
    let q = s.create_product("Another", "", bob).unwrap();
    assert_eq!(s.membership(ann, p).unwrap(), Some(Role::Admin));
    assert_eq!(s.membership(bob, p).unwrap(), None);
    let row = s.product(p).unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.description.as_str()),
        ("Webshop", "payments")
    );
    assert!(s.product(9999).unwrap().is_none());
    s.set_membership(bob, p, Role::Viewer).unwrap();
    s.set_membership(bob, p, Role::Reviewer).unwrap();
    assert_eq!(s.membership(bob, p).unwrap(), Some(Role::Reviewer));
    let members: Vec<(String, Role)> = s
        .members(p)
        .unwrap()
        .into_iter()
        .map(|m| (m.user.username, m.role))
        .collect();
    assert_eq!(
        members,
        vec![("ann".into(), Role::Admin), ("bob".into(), Role::Reviewer)]
    );
    let ann_user = s.user_by_name("ann").unwrap().unwrap();
    let listed: Vec<(i64, Role)> = s
        .products_for(&ann_user)
        .unwrap()
        .iter()
        .map(|l| (l.product.id, l.role))
        .collect();
    assert_eq!(listed, vec![(p, Role::Admin)], "only her products");
    let root_user = s.user_by_name("root").unwrap().unwrap();
    let all = s.products_for(&root_user).unwrap();
    assert_eq!(
        all.iter()
            .map(|l| (l.product.name.as_str(), l.role))
            .collect::<Vec<_>>(),
        vec![("Another", Role::Admin), ("Webshop", Role::Admin)],
        "a site admin sees every product, by name"
    );
    assert!(all.iter().all(|l| l.latest_version.is_none()));
    let _ = (q, root);
}

fn versions_and_drafts(f: &Fixture) {
    let s = f.store.as_ref();
    let ann = s.create_user("ann", "Ann", PW, false).unwrap();
    let p = s.create_product("P", "", ann).unwrap();
    let v1 = s
        .add_version(
            p,
            ann,
            &NewVersion {
                dsl_text: "name: a\n",
                original_name: "a.yaml",
                original_bytes: None,
                artifact_key: None,
            },
        )
        .unwrap();
    let v2 = s
        .add_version(
            p,
            ann,
            &NewVersion {
                dsl_text: "name: b\n",
                original_name: "b.drawio",
                original_bytes: Some(b"<mxfile>\x00\xff</mxfile>"),
                artifact_key: Some("k/1"),
            },
        )
        .unwrap();
    assert_eq!((v1.number, v2.number), (1, 2));
    assert_eq!(v1.sha256, tmc_store::sha256_hex(b"name: a\n"));
    assert_eq!(
        v2.original_bytes.as_deref(),
        Some(&b"<mxfile>\x00\xff</mxfile>"[..])
    );
    assert_eq!(v2.artifact_key.as_deref(), Some("k/1"));
    assert_eq!(v2.uploaded_by.as_deref(), Some("ann"));
    assert!(!v1.has_draft);
    assert!(s.draft(v1.id).unwrap().is_none());
    s.save_draft(v1.id, ann, "{\"threats\":[]}").unwrap();
    s.save_draft(v1.id, ann, "{\"threats\":[1]}").unwrap();
    assert_eq!(
        s.draft(v1.id).unwrap().as_deref(),
        Some("{\"threats\":[1]}")
    );
    let numbers: Vec<(i64, bool)> = s
        .versions(p)
        .unwrap()
        .iter()
        .map(|v| (v.number, v.has_draft))
        .collect();
    assert_eq!(numbers, vec![(2, false), (1, true)], "newest first");
    assert_eq!(s.version(p, 1).unwrap().unwrap().dsl_text, "name: a\n");
    assert!(s.version(p, 3).unwrap().is_none());
    assert_eq!(s.latest_version(p).unwrap().unwrap().id, v2.id);
    let ann_user = s.user_by_name("ann").unwrap().unwrap();
    assert_eq!(
        s.products_for(&ann_user).unwrap()[0].latest_version,
        Some(2)
    );
    let missing = NewVersion {
        dsl_text: "x",
        original_name: "x",
        original_bytes: None,
        artifact_key: None,
    };
    assert!(
        s.add_version(9999, ann, &missing).is_err(),
        "no such product"
    );
}

fn decisions_refuse_a_stale_version(f: &Fixture) {
    let s = f.store.as_ref();
    let uid = s.create_user("ann", "Ann", PW, false).unwrap();
    let pid = s.create_product("P", "", uid).unwrap();
    assert_eq!(s.decisions(pid).unwrap().version, 0);
    assert!(s.decisions(pid).unwrap().json.is_none());
    let events = [
        ("T@a".to_string(), "{\"e\":1}".to_string()),
        ("T@b".into(), "{\"e\":2}".into()),
    ];
    assert_eq!(
        s.record_decision(pid, uid, 0, &events, "{\"v\":1}")
            .unwrap(),
        1
    );
    assert!(matches!(
        s.record_decision(pid, uid, 0, &[], "{}"),
        Err(StoreError::Conflict {
            expected: 0,
            current: 1
        })
    ));
    assert!(matches!(
        s.record_decision(pid, uid, 5, &[], "{}"),
        Err(StoreError::Conflict {
            expected: 5,
            current: 1
        })
    ));
    assert_eq!(
        s.record_decision(
            pid,
            uid,
            1,
            &[("T@c".into(), "{\"e\":3}".into())],
            "{\"v\":2}"
        )
        .unwrap(),
        2
    );
    let view = s.decisions(pid).unwrap();
    assert_eq!((view.json.as_deref(), view.version), (Some("{\"v\":2}"), 2));
    let all = s.decision_events_since(pid, 0).unwrap();
    assert_eq!(
        all.iter()
            .map(|e| (e.threat_key.as_str(), e.version_after, e.actor.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            ("T@a", 1, Some("ann")),
            ("T@b", 1, Some("ann")),
            ("T@c", 2, Some("ann"))
        ]
    );
    assert_eq!(s.decision_events_since(pid, 1).unwrap().len(), 1);
}

fn concurrent_writers_never_both_win(f: &Fixture) {
    let uid = f.store.create_user("ann", "Ann", PW, false).unwrap();
    let pid = f.store.create_product("P", "", uid).unwrap();
    // Half the writers go through a second store instance, as a second server would.
    let stores = [f.store.clone(), f.reopen()];
    let wins = Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let s = stores[i % 2].clone();
            let wins = wins.clone();
            std::thread::spawn(move || {
                let mut mine = 0;
                while mine < 5 {
                    let v = s.decisions(pid).unwrap().version;
                    let ev = [(format!("T@{i}"), format!("{{\"w\":{i},\"n\":{mine}}}"))];
                    match s.record_decision(pid, uid, v, &ev, &format!("{{\"by\":{i}}}")) {
                        Ok(next) => {
                            assert_eq!(next, v + 1);
                            wins.lock().unwrap().push(next);
                            mine += 1;
                        }
                        Err(StoreError::Conflict { expected, .. }) => assert_eq!(expected, v),
                        Err(e) => panic!("writer {i}: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut wins = wins.lock().unwrap().clone();
    wins.sort_unstable();
    assert_eq!(
        wins,
        (1..=40).collect::<Vec<i64>>(),
        "each version won exactly once"
    );
    assert_eq!(f.store.decisions(pid).unwrap().version, 40);
    let events = f.store.decision_events_since(pid, 0).unwrap();
    let mut versions: Vec<i64> = events.iter().map(|e| e.version_after).collect();
    versions.dedup();
    assert_eq!(
        versions,
        (1..=40).collect::<Vec<i64>>(),
        "one event per win, in order"
    );
}

fn event_logs_are_append_only(f: &Fixture) {
    let s = f.store.as_ref();
    let uid = s.create_user("ann", "Ann", PW, false).unwrap();
    let pid = s.create_product("P", "", uid).unwrap();
    s.record_decision(pid, uid, 0, &[("T@a".into(), "{}".into())], "{}")
        .unwrap();
    s.audit(Some(uid), Some(pid), "x", "y").unwrap();
    for sql in [
        "UPDATE decision_events SET payload = 'x'",
        "DELETE FROM decision_events",
        "UPDATE audit_events SET detail = 'x'",
        "DELETE FROM audit_events",
    ] {
        let err = f.raw_exec(sql).unwrap_err();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if matches!(f.backend, Backend::Pg { .. }) {
        for t in ["decision_events", "audit_events"] {
            let err = f.raw_exec(&format!("TRUNCATE {t}")).unwrap_err();
            assert!(err.contains("append-only"), "TRUNCATE {t}: {err}");
        }
    }
    assert_eq!(s.decision_events_since(pid, 0).unwrap().len(), 1);
    assert_eq!(s.audit_events(Some(pid), 10).unwrap().len(), 1);
    // The current view is not a log: it may be replaced.
    assert_eq!(
        f.raw_exec("UPDATE decisions_current SET version = version")
            .unwrap(),
        1
    );
}

fn comments_and_audit(f: &Fixture) {
    let s = f.store.as_ref();
    let uid = s.create_user("ann", "Ann", PW, false).unwrap();
    let p = s.create_product("P", "", uid).unwrap();
    let q = s.create_product("Q", "", uid).unwrap();
    let c1 = s.add_comment(p, uid, "T@a", "first <b>").unwrap();
    let c2 = s.add_comment(p, uid, "T@b", "second").unwrap();
    s.add_comment(q, uid, "T@a", "elsewhere").unwrap();
    assert!(c2 > c1);
    let cs = s.comments(p).unwrap();
    assert_eq!(
        cs.iter()
            .map(|c| (c.threat_key.as_str(), c.body.as_str(), c.author.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            ("T@a", "first <b>", Some("ann")),
            ("T@b", "second", Some("ann"))
        ]
    );
    s.audit(Some(uid), Some(p), "a1", "d1").unwrap();
    s.audit(None, None, "signin.fail", "who?").unwrap();
    s.audit(Some(uid), Some(p), "a2", "d2").unwrap();
    s.audit(Some(uid), Some(q), "a3", "d3").unwrap();
    let ev = s.audit_events(Some(p), 10).unwrap();
    assert_eq!(
        ev.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["a2", "a1"],
        "newest first, one product"
    );
    let all = s.audit_events(None, 3).unwrap();
    assert_eq!(
        all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["a3", "a2", "signin.fail"],
        "every product, limited"
    );
    assert_eq!(all[2].actor, None);
}

fn everything_survives_a_reopen(f: &Fixture) {
    let (secret, token, pid) = {
        let s = f.store.as_ref();
        let uid = s.create_user("ann", "Ann", PW, false).unwrap();
        let pid = s.create_product("P", "", uid).unwrap();
        s.record_decision(
            pid,
            uid,
            0,
            &[("T@x".into(), "{}".into())],
            "{\"review_version\":1}",
        )
        .unwrap();
        (
            s.create_session(uid, 60).unwrap(),
            s.create_api_token(uid, "t", Role::Viewer, None).unwrap().0,
            pid,
        )
    };
    let s = f.reopen();
    assert!(s.session(&secret).unwrap().is_some());
    assert_eq!(
        s.api_token(&token).unwrap().map(|t| t.max_role),
        Some(Role::Viewer)
    );
    assert_eq!(s.decisions(pid).unwrap().version, 1);
    assert_eq!(s.decision_events_since(pid, 0).unwrap().len(), 1);
    // What is stored for each secret is its SHA-256 digest.
    let hex = |t: &str| tmc_store::sha256_hex(t.as_bytes());
    let digest = |col: &str| match f.backend {
        Backend::Sqlite { .. } => format!("lower(hex({col}))"),
        Backend::Pg { .. } => format!("encode({col}, 'hex')"),
    };
    let touch_session = format!(
        "UPDATE sessions SET created_at = created_at WHERE {} = '{}'",
        digest("id_sha256"),
        hex(&secret)
    );
    let touch_token = format!(
        "UPDATE api_tokens SET created_at = created_at WHERE {} = '{}'",
        digest("token_sha256"),
        hex(&token)
    );
    assert_eq!(
        f.raw_exec(&touch_session).unwrap(),
        1,
        "session stored as its digest"
    );
    assert_eq!(
        f.raw_exec(&touch_token).unwrap(),
        1,
        "token stored as its digest"
    );
}

/// SQLite only: the raw database file and its WAL hold neither secret.
#[test]
fn sqlite_files_hold_no_secret() {
    let f = Fixture::sqlite();
    let uid = f.store.create_user("ann", "Ann", PW, false).unwrap();
    let secret = f.store.create_session(uid, 60).unwrap();
    let token = f
        .store
        .create_api_token(uid, "t", Role::Viewer, None)
        .unwrap()
        .0;
    let Backend::Sqlite { path, .. } = &f.backend else {
        unreachable!()
    };
    let raw = std::fs::read(path).unwrap();
    let wal = std::fs::read(path.with_extension("sqlite-wal")).unwrap_or_default();
    assert!(!raw.is_empty() || !wal.is_empty());
    for hay in [&raw, &wal] {
        assert!(
            !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "session id in clear"
        );
        assert!(
            !hay.windows(token.len()).any(|w| w == token.as_bytes()),
            "API token in clear"
        );
    }
}
