//! Durability: the server as a child process gets a burst of decisions, is killed with
//! SIGKILL mid-burst, restarts on the same database, and still has every decision it
//! acknowledged with a 2xx. Against SQLite always, against PostgreSQL when `TMC_TEST_PG_URL`
//! is set (the database server stays up; the tmc server is what dies).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use tmc_store::{Role, SqliteStore, Store};

fn spawn(args: &[String]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tmc-server-test"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn server");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("read address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_string();
    (child, addr)
}

#[test]
fn acknowledged_decisions_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("tmc.sqlite");
    let store = SqliteStore::open(&db).expect("store");
    burst_and_kill(&store, &["--db".into(), db.display().to_string()]);
}

#[test]
fn acknowledged_decisions_survive_kill_9_on_postgres() {
    let Some(pg) = common::PgSchema::new("acknowledged_decisions_survive_kill_9_on_postgres")
    else {
        return;
    };
    let store = pg.open();
    burst_and_kill(
        store.as_ref(),
        &[
            "--db".into(),
            pg.url.clone(),
            "--pg-schema".into(),
            pg.schema.clone(),
        ],
    );
}

fn burst_and_kill(store: &dyn Store, args: &[String]) {
    let token = {
        let uid = store
            .create_user("rev", "Rev", "correct horse battery", false)
            .expect("user");
        let pid = store.create_product("Webshop", "", uid).expect("product");
        assert_eq!(pid, 1);
        store
            .create_api_token(uid, "burst", Role::Admin, None)
            .expect("token")
            .0
    };
    let (mut child, addr) = spawn(args);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let base = format!("http://{addr}/api/v1/products/1");
    let r = agent
        .post(&format!("{base}/versions?file_name=webshop.yaml"))
        .header("Authorization", &auth)
        .send(common::WEBSHOP)
        .expect("upload");
    assert_eq!(r.status().as_u16(), 201);
    let mut r = agent
        .post(&format!("{base}/draft"))
        .header("Authorization", &auth)
        .send(&b""[..])
        .expect("draft");
    assert_eq!(r.status().as_u16(), 201);
    let _ = r.body_mut().read_to_string();
    let mut r = agent
        .get(&format!("{base}/draft"))
        .header("Authorization", &auth)
        .call()
        .expect("get draft");
    let draft: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
    let threats: Vec<String> = draft["threats"]
        .as_array()
        .expect("threats")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect();
    assert!(threats.len() >= 10, "enough threats for a burst");

    // The burst: each request decides a different threat with a justification naming it.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let worker = {
        let (acked, agent, auth, base, threats) = (
            acked.clone(),
            agent.clone(),
            auth.clone(),
            base.clone(),
            threats.clone(),
        );
        std::thread::spawn(move || {
            for (i, t) in threats.iter().enumerate() {
                let just = format!("burst {i}");
                let body = serde_json::json!({"op": "decide", "threat": t, "status": "accepted", "justification": just}).to_string();
                match agent
                    .post(&format!("{base}/decisions"))
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .send(body.as_bytes())
                {
                    Ok(r) if r.status().is_success() => {
                        acked.lock().expect("lock").push((t.clone(), just))
                    }
                    _ => break,
                }
            }
        })
    };
    // Kill once a few writes are acknowledged, while the rest are still being sent.
    let half = threats.len() / 2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.lock().expect("lock").len() < half.max(3) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    worker.join().expect("worker");
    let acked = acked.lock().expect("lock").clone();
    assert!(
        !acked.is_empty(),
        "some writes were acknowledged before the kill"
    );
    assert!(
        acked.len() < threats.len(),
        "the kill came mid-burst ({} of {})",
        acked.len(),
        threats.len()
    );

    // Restart and read back through the API.
    let (mut child, addr) = spawn(args);
    let mut r = agent
        .get(&format!("http://{addr}/api/v1/products/1/decisions"))
        .header("Authorization", &auth)
        .call()
        .expect("decisions");
    let body: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
    let _ = child.kill();
    let _ = child.wait();
    for (threat, just) in &acked {
        let d = &body["decisions"]["threats"][threat];
        assert_eq!(
            d["status"], "accepted",
            "acknowledged decision on {threat} lost after kill -9"
        );
        assert_eq!(d["justification"], just.as_str());
    }
    assert!(body["version"].as_i64().unwrap_or(0) >= acked.len() as i64);
}
