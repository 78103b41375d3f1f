//! The store's promises: migrations apply once, secrets are stored only as digests, decision
//! events are append-only, a stale decisions version is refused.

use tmc_store::{Role, SqliteStore, Store, StoreError};

#[test]
fn promises_hold_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("s.sqlite");
    let (secret, token) = {
        let s = SqliteStore::open(&db).expect("open");
        assert_eq!(s.schema_version().expect("v"), 1);
        let uid = s
            .create_user("ann", "Ann", "long enough pw", false)
            .expect("user");
        assert!(matches!(
            s.create_user("ann", "Ann", "long enough pw", false),
            Err(StoreError::Duplicate(_))
        ));
        assert!(
            s.check_password("ann", "wrong pw!")
                .expect("check")
                .is_none()
        );
        assert!(
            s.check_password("nobody", "wrong pw!")
                .expect("check")
                .is_none()
        );
        assert_eq!(
            s.check_password("ann", "long enough pw")
                .expect("check")
                .map(|u| u.id),
            Some(uid)
        );
        let pid = s.create_product("P", "", uid).expect("product");
        assert_eq!(s.membership(uid, pid).expect("m"), Some(Role::Admin));
        assert_eq!(
            s.record_decision(
                pid,
                uid,
                0,
                &[("T@x".into(), "{}".into())],
                "{\"review_version\":1}"
            )
            .expect("write"),
            1
        );
        assert!(matches!(
            s.record_decision(pid, uid, 0, &[], "{}"),
            Err(StoreError::Conflict {
                expected: 0,
                current: 1
            })
        ));
        (
            s.create_session(uid, 60).expect("session"),
            s.create_api_token(uid, "t", Role::Viewer, None)
                .expect("token")
                .0,
        )
    };
    // Reopening applies no migration twice and finds everything.
    let s = SqliteStore::open(&db).expect("reopen");
    assert_eq!(s.schema_version().expect("v"), 1);
    assert!(s.session(&secret).expect("db").is_some());
    assert_eq!(
        s.api_token(&token).expect("db").map(|t| t.max_role),
        Some(Role::Viewer)
    );
    assert_eq!(s.decisions(1).expect("db").version, 1);
    assert_eq!(s.decision_events_since(1, 0).expect("db").len(), 1);
    drop(s);
    // The raw file holds neither secret, and the event log refuses changes.
    let raw = std::fs::read(&db).expect("read db");
    let wal = std::fs::read(dir.path().join("s.sqlite-wal")).unwrap_or_default();
    for hay in [&raw, &wal] {
        assert!(
            !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "session id stored in clear"
        );
        assert!(
            !hay.windows(token.len()).any(|w| w == token.as_bytes()),
            "API token stored in clear"
        );
    }
    let conn = rusqlite::Connection::open(&db).expect("raw open");
    assert!(
        conn.execute("UPDATE decision_events SET payload = 'x'", [])
            .is_err()
    );
    assert!(
        conn.execute("DELETE FROM audit_events", []).is_err()
            || conn
                .query_row("SELECT COUNT(*) FROM audit_events", [], |r| r
                    .get::<_, i64>(0))
                .expect("count")
                == 0
    );
}
