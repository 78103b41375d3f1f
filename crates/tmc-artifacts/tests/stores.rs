#![allow(clippy::unwrap_used)]
//! One round-trip body run against the local-directory store and, when `TMC_TEST_S3_URL` is
//! set (`shared/scripts/start-s3.sh` prints one), against a real S3-compatible server.

use std::time::SystemTime;

use tmc_artifacts::{ArtifactError, ArtifactStore, LocalDirStore, S3Config, S3Store};

fn round_trip(store: &dyn ArtifactStore) {
    assert!(store.list("").unwrap().is_empty(), "{}", store.location());
    store.put("reports/app.html", b"<html>1</html>").unwrap();
    store.put("reports/app.html", b"<html>2</html>").unwrap();
    store.put("reports/sub/app.json", b"{}").unwrap();
    store.put("exports/app.tm7", b"x").unwrap();
    assert_eq!(store.get("reports/app.html").unwrap(), b"<html>2</html>");
    assert_eq!(
        store.list("reports").unwrap(),
        vec!["reports/app.html", "reports/sub/app.json"]
    );
    assert_eq!(store.list("").unwrap().len(), 3);
    // Whole segments only: `report` is not a prefix of `reports/…`.
    assert!(store.list("report").unwrap().is_empty());
    store.delete("reports/app.html").unwrap();
    store.delete("reports/app.html").unwrap();
    assert!(matches!(
        store.get("reports/app.html"),
        Err(ArtifactError::NotFound(_))
    ));
    assert!(matches!(
        store.put("../escape", b""),
        Err(ArtifactError::InvalidKey { .. })
    ));
    assert_eq!(
        store.list("").unwrap(),
        vec!["exports/app.tm7", "reports/sub/app.json"]
    );
}

#[test]
fn local_dir_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(&LocalDirStore::new(dir.path().join("artifacts")));
}

/// `object_store` cannot create buckets: create one with a SigV4-signed `PUT /bucket`.
fn create_bucket(endpoint: &str, bucket: &str, key: &str, secret: &str) {
    use aws_sigv4::http_request::{
        PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;
    let url = format!("{}/{bucket}", endpoint.trim_end_matches('/'));
    let host = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let identity = aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let base = [("host".to_string(), host)];
    let signable = SignableRequest::new(
        "PUT",
        &url,
        base.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&[]),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.put(&url);
    for (k, v) in instructions.headers() {
        req = req.header(k, v);
    }
    let resp = req.send(&[] as &[u8]).unwrap();
    let status = resp.status().as_u16();
    // 409: it already exists (BucketAlreadyOwnedByYou), which is what we want too.
    assert!(
        status == 200 || status == 409,
        "create bucket: HTTP {status}"
    );
}

#[test]
fn s3_round_trip() {
    let Some(endpoint) = std::env::var("TMC_TEST_S3_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("SKIPPED s3_round_trip: set TMC_TEST_S3_URL (shared/scripts/start-s3.sh)");
        return;
    };
    let key = std::env::var("S3_ACCESS_KEY").unwrap_or_else(|_| "tmc-test-key".into());
    let secret = std::env::var("S3_SECRET_KEY").unwrap_or_else(|_| "tmc-test-secret".into());
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let bucket = format!("tmc-test-{}-{nanos}", std::process::id());
    create_bucket(&endpoint, &bucket, &key, &secret);
    let cfg = S3Config {
        bucket: bucket.clone(),
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: key.clone(),
        secret_access_key: secret.clone(),
        session_token: None,
        prefix: None,
    };
    let store = S3Store::new(&cfg).unwrap();
    round_trip(&store);
    // With a prefix, keys are relative to it and other prefixes are invisible.
    let scoped = S3Store::new(&S3Config {
        prefix: Some("team-a".into()),
        ..cfg
    })
    .unwrap();
    assert!(scoped.list("").unwrap().is_empty());
    scoped.put("r.html", b"a").unwrap();
    assert_eq!(scoped.list("").unwrap(), vec!["r.html"]);
    assert_eq!(store.get("team-a/r.html").unwrap(), b"a");
    for k in store.list("").unwrap() {
        store.delete(&k).unwrap();
    }
    assert!(store.list("").unwrap().is_empty());
}
