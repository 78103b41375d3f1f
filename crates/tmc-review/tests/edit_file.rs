//! Edits validate like the parser; the file saves under a lock, refuses to overwrite changes
//! made underneath, and loses nothing.

mod common;

use tmc_model::{MitigationStatus, Severity, Stride, ThreatStatus};
use tmc_review::{
    Decisions, ManualThreat, MitigationUpdate, ReviewError, ReviewFile, model_hash, parse,
};

const NOW: &str = "2025-03-01T10:00:00Z";

#[test]
fn edits_validate_and_leave_the_decisions_unchanged_on_error() {
    let draft = common::draft("draft-v1.json");
    let threat = &draft.threats[0];
    let mut d = Decisions::default();
    let key = threat.id.as_str();

    let err = d
        .decide(
            key,
            Some(threat),
            ThreatStatus::Accepted,
            None,
            None,
            NOW,
            None,
        )
        .expect_err("needs a justification");
    assert!(
        err.to_string()
            .starts_with(&format!("threat `{key}`: status `accepted` needs")),
        "{err}"
    );
    assert!(d.threats.is_empty(), "nothing stored on error");

    let err = d
        .decide(
            key,
            Some(threat),
            ThreatStatus::Open,
            None,
            None,
            NOW,
            Some("2025-01-01".into()),
        )
        .expect_err("expiry only on acceptance");
    assert!(
        err.to_string()
            .contains("only allowed with status `accepted`"),
        "{err}"
    );
    let err = d
        .decide(
            key,
            Some(threat),
            ThreatStatus::Open,
            None,
            None,
            "yesterday",
            None,
        )
        .expect_err("bad time");
    assert!(err.to_string().contains("RFC 3339"), "{err}");

    d.decide(
        key,
        Some(threat),
        ThreatStatus::Accepted,
        Some("behind the VPN".into()),
        Some("alice".into()),
        NOW,
        Some("2025-12-31".into()),
    )
    .expect("valid");
    let dec = &d.threats[key];
    assert_eq!(
        dec.was.as_ref().map(|w| w.fingerprint.clone()),
        Some(tmc_model::identity::fingerprint(threat))
    );
    assert_eq!(dec.reviewed_at.as_deref(), Some(NOW));

    let err = d
        .set_severity(key, Severity::Low, " ", None, NOW)
        .expect_err("reason");
    assert!(err.to_string().contains("needs a `reason`"), "{err}");
    d.set_severity(key, Severity::Low, "internal only", None, NOW)
        .expect("ok");
    d.edit_text(key, Some("Reworded".into()), None).expect("ok");
    let err = d
        .edit_text("*@x", Some("t".into()), None)
        .expect_err("pattern");
    assert!(
        err.to_string()
            .contains("not allowed on a wildcard pattern"),
        "{err}"
    );

    d.add_mitigation(key, "M-NEW", "Do the thing.", MitigationStatus::Planned)
        .expect("ok");
    assert!(
        d.add_mitigation(key, "M-NEW", "again", MitigationStatus::Planned)
            .is_err()
    );
    d.set_mitigation(
        key,
        "M-AUTHN-REQUIRE",
        MitigationUpdate {
            status: Some(MitigationStatus::Verified),
            owner: Some("team".into()),
            ..MitigationUpdate::default()
        },
    )
    .expect("ok");
    let err = d
        .set_mitigation(
            key,
            "M-AUTHN-REQUIRE",
            MitigationUpdate {
                due: Some("soon".into()),
                ..Default::default()
            },
        )
        .expect_err("bad due");
    assert!(err.to_string().contains("`due` must be a date"), "{err}");

    let manual = ManualThreat {
        id: "MANUAL-1".into(),
        title: "By hand".into(),
        description: String::new(),
        stride: vec![Stride::Tampering],
        targets: vec!["orders-db".into()],
        severity: Severity::Medium,
        cwe: vec![],
        status: ThreatStatus::Open,
        justification: None,
        expires: None,
        reviewer: None,
        reviewed_at: None,
        tickets: vec![],
        mitigations: vec![],
    };
    d.add_manual_threat(manual.clone()).expect("ok");
    assert!(d.add_manual_threat(manual.clone()).is_err(), "duplicate id");
    let bad = ManualThreat {
        id: "X@y".into(),
        ..manual
    };
    assert!(d.add_manual_threat(bad).is_err());

    // Everything written is a valid file that reads back the same.
    let yaml = d.to_yaml().expect("yaml");
    assert_eq!(parse(yaml.as_bytes(), "x").expect("valid"), d);

    assert!(d.remove_decision(key).is_ok());
    assert!(d.remove_decision("MANUAL-1").is_ok());
    let err = d.remove_decision(key).expect_err("gone");
    assert!(err.to_string().contains(key));
}

#[test]
fn open_missing_file_is_empty_and_save_creates_it() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("threatmodel.review.yaml");
    let mut f = ReviewFile::open(&path).expect("open");
    assert_eq!(f.decisions, Decisions::default());
    assert_eq!(f.stamp, None);
    let mut d = common::decisions("review.yaml");
    f.save(&d).expect("save");
    let bytes = std::fs::read(&path).expect("written");
    assert_eq!(f.stamp, Some(model_hash(&bytes)));
    assert_eq!(ReviewFile::open(&path).expect("reopen").decisions, d);
    // A second save through the same handle works (its stamp moved on).
    d.threats.remove("*@gone-thing");
    f.save(&d).expect("second save");
    assert!(!path.with_extension("yaml.lock").exists(), "lock removed");
    assert!(
        !dir.path().join("threatmodel.review.yaml.tmp").exists(),
        "no temp file left"
    );
}

#[test]
fn two_writers_the_second_is_refused_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("r.yaml");
    std::fs::write(&path, common::read("review.yaml")).expect("seed");
    let mut a = ReviewFile::open(&path).expect("a");
    let mut b = ReviewFile::open(&path).expect("b");

    let mut da = a.decisions.clone();
    da.threats.remove("KB-12");
    a.save(&da).expect("first writer wins");

    let mut db = b.decisions.clone();
    db.threats.remove("TMC-FLOW-004@web-api");
    match b.save(&db) {
        Err(ReviewError::ChangedUnderneath {
            path: p,
            expected,
            found,
        }) => {
            assert_eq!(p, path);
            assert_ne!(expected, found);
        }
        other => panic!("{other:?}"),
    }
    // A's change is on disk; B reloads, redoes its change, and both survive.
    let mut b = ReviewFile::open(&path).expect("reload");
    assert!(!b.decisions.threats.contains_key("KB-12"));
    let mut db = b.decisions.clone();
    db.threats.remove("TMC-FLOW-004@web-api");
    b.save(&db).expect("after reload");
    let last = ReviewFile::open(&path).expect("final").decisions;
    assert!(
        !last.threats.contains_key("KB-12") && !last.threats.contains_key("TMC-FLOW-004@web-api")
    );
    assert_eq!(last.threats.len(), 7);
}

#[test]
fn a_file_changed_by_hand_is_not_overwritten() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("r.yaml");
    std::fs::write(&path, "review_version: 1\n").expect("seed");
    let mut f = ReviewFile::open(&path).expect("open");
    let edited = "review_version: 1\nthreats:\n  A-1@x: {status: open}\n";
    std::fs::write(&path, edited).expect("edit underneath");
    let err = f.save(&Decisions::default()).expect_err("refused");
    assert!(
        err.to_string().contains("changed since it was read"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        edited,
        "the edit survives"
    );
    // Also when the file appeared after a missing-file open.
    let other = dir.path().join("new.yaml");
    let mut g = ReviewFile::open(&other).expect("missing");
    std::fs::write(&other, edited).expect("created underneath");
    assert!(matches!(
        g.save(&Decisions::default()),
        Err(ReviewError::ChangedUnderneath { .. })
    ));
}

#[test]
fn a_held_or_stale_lock_refuses_with_its_name_and_is_left_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("r.yaml");
    let mut f = ReviewFile::open(&path).expect("open");
    let lock = f.lock_path();
    std::fs::write(&lock, "pid 1\n").expect("stale lock");
    let err = f.save(&Decisions::default()).expect_err("locked");
    match &err {
        ReviewError::Locked { lock: l } => assert_eq!(l, &lock),
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&lock.display().to_string()) && text.contains("delete the lock file"),
        "{text}"
    );
    assert!(lock.exists(), "someone else's lock is not removed");
    assert!(!path.exists(), "nothing written");
    std::fs::remove_file(&lock).expect("unlock");
    f.save(&Decisions::default())
        .expect("saves once the lock is gone");
}

#[test]
fn concurrent_writers_in_threads_never_lose_a_save() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("r.yaml");
    ReviewFile::open(&path)
        .expect("open")
        .save(&Decisions::default())
        .expect("seed");
    // Each thread retries open+edit+save until it succeeds; every key must end up in the file.
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    let mut f = ReviewFile::open(&path).expect("open");
                    let mut d = f.decisions.clone();
                    d.threats.insert(format!("T-{i}@x"), Default::default());
                    match f.save(&d) {
                        Ok(()) => return true,
                        Err(ReviewError::Locked { .. } | ReviewError::ChangedUnderneath { .. }) => {
                            std::thread::yield_now();
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                false
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().expect("thread"), "a writer never got through");
    }
    let d = ReviewFile::open(&path).expect("final").decisions;
    assert_eq!(
        d.threats.len(),
        4,
        "{:?}",
        d.threats.keys().collect::<Vec<_>>()
    );
}
