//! Browser end-to-end: headless Chromium over WebDriver signs in, creates a product from
//! `examples/webshop-payments.yaml`, drafts, accepts a threat with a justification, changes
//! another's severity, decides two more in bulk, adds a manual threat, reads the Insights tab,
//! exports SARIF and signs out; a developer sees no decision forms and is
//! refused a decision. Needs `TMC_TEST_CHROMEDRIVER` (see `scripts/chromium.sh`); skips without.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Harness;
use serde_json::{Value, json};
use tmc_store::Role;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    shots: std::path::PathBuf,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(&format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start(path: &str) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().expect("profile");
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
            format!("--user-data-dir={}", profile.path().display())
        ]}}}});
        let mut r = agent
            .post(&format!("{base}/session"))
            .send_json(&caps)
            .expect("new session");
        let v: Value = r.body_mut().read_json().expect("json");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        let shots =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-screens");
        std::fs::create_dir_all(&shots).expect("screens dir");
        Driver {
            child,
            base,
            session,
            agent,
            shots,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut r = match method {
            "GET" => self.agent.get(&url).call(),
            _ => self.agent.post(&url).send_json(&body),
        }
        .expect("webdriver");
        let v: Value = r.body_mut().read_json().expect("json");
        assert!(v["value"].get("error").is_none(), "{method} {path}: {v}");
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url}));
    }
    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| {
                panic!(
                    "element {css}: {v} at {}",
                    self.source().chars().take(300).collect::<String>()
                )
            })
            .to_string()
    }
    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), json!({}));
    }
    fn typ(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        );
    }
    fn source(&self) -> String {
        self.cmd("GET", "/source", json!({}))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    fn current_url(&self) -> String {
        self.cmd("GET", "/url", json!({}))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    fn cookie(&self, name: &str) -> String {
        self.cmd("GET", &format!("/cookie/{name}"), json!({}))["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    fn shot(&self, name: &str) {
        let b64 = self.cmd("GET", "/screenshot", json!({}));
        let png = base64_decode(b64.as_str().expect("png"));
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }
    /// Waits (up to 10 s) until the page source contains `text`: form posts navigate after
    /// the click returns.
    fn wait_text(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let src = self.source();
            if src.contains(text) {
                return src;
            }
            assert!(
                Instant::now() < deadline,
                "page never showed `{text}`: {}",
                self.current_url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    fn sign_in(&self, base: &str, user: &str) {
        self.go(&format!("{base}/signin"));
        self.typ("#username", user);
        self.typ("#password", "correct horse battery");
        self.click("#signin");
        self.wait_text("id=\"whoami\"");
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
            acc | (u32::from(val(*c)) << (18 - 6 * i))
        });
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

#[test]
fn review_flow_in_a_real_browser() {
    let Ok(path) = std::env::var("TMC_TEST_CHROMEDRIVER") else {
        eprintln!(
            "SKIPPED e2e: set TMC_TEST_CHROMEDRIVER=$(scripts/chromium.sh) to run the browser test"
        );
        return;
    };
    let h = Harness::start(1 << 20);
    let base = format!("http://{}", h.addr);
    let d = Driver::start(&path);

    d.sign_in(&base, "admin");
    assert!(
        d.current_url().ends_with("/products"),
        "signed in: {}",
        d.current_url()
    );
    d.click("#new-product");
    d.typ("#name", "Payments (e2e)");
    d.typ("#description", "Created from the browser test");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/webshop-payments.yaml");
    d.typ(
        "#model",
        &example
            .canonicalize()
            .expect("example")
            .display()
            .to_string(),
    );
    d.click("#create");
    d.wait_text("Product created.");
    let url = d.current_url();
    let pid: i64 = url
        .split("/p/")
        .nth(1)
        .and_then(|s| s.split('?').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("product url: {url}"));
    assert!(d.source().contains("Product created."));
    d.shot("01-model");
    d.click("#run-draft");
    d.wait_text("Draft ready.");
    assert!(d.current_url().contains("/review"), "{}", d.current_url());

    // Accept the first threat with a justification.
    let row = "#threats tbody tr:nth-of-type(1)";
    d.click(&format!("{row} summary"));
    d.click(&format!("{row} select[name=status] option[value=accepted]"));
    d.typ(
        &format!("{row} textarea[name=justification]"),
        "Compensated by the WAF rule set; revisit in Q3",
    );
    d.click(&format!("{row} button[type=submit]"));
    let src = d.wait_text("Compensated by the WAF rule set; revisit");
    assert!(
        src.contains("Decision saved."),
        "saved: {} {}",
        d.current_url(),
        src.split("<main>")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take(600)
            .collect::<String>()
    );
    assert!(
        src.contains("Compensated by the WAF rule set"),
        "justification shown"
    );
    // Lower the second threat's severity.
    let row = "#threats tbody tr:nth-of-type(2)";
    d.click(&format!("{row} summary"));
    d.click(&format!("{row} select[name=severity] option[value=low]"));
    d.typ(
        &format!("{row} input[name=severity_reason]"),
        "Only reachable from the VPN",
    );
    d.shot("02-decide");
    d.click(&format!("{row} button[type=submit]"));
    let src = d.wait_text("Severity changed from");
    assert!(
        src.contains("Only reachable from the VPN"),
        "severity reason shown"
    );
    d.shot("03-review");

    // Bulk: tick the third and fourth rows, one status for both (checkboxes bound to the
    // bulk form by `form="bulk"`, no script involved).
    for n in [3, 4] {
        d.click(&format!(
            "#threats tbody tr:nth-of-type({n}) input[type=checkbox]"
        ));
    }
    d.click("#bulk-status option[value=mitigated]");
    d.click("#bulk-submit");
    d.wait_text("Decisions saved.");
    let api_draft = h
        .api(
            "GET",
            &format!("/api/v1/products/{pid}/draft"),
            &h.who("admin"),
            b"",
            None,
        )
        .json();
    for n in [2, 3] {
        assert_eq!(
            api_draft["threats"][n]["status"],
            "mitigated",
            "row {}",
            n + 1
        );
    }
    assert_ne!(
        api_draft["threats"][4]["status"], "mitigated",
        "row 5 untouched"
    );

    // A manual threat from the form at the end of the Review tab.
    d.typ("#manual-title", "Refund endpoint replays (e2e)");
    d.click("#manual-stride-T");
    d.click("#manual-severity option[value=high]");
    d.click("#manual-form button[type=submit]");
    d.wait_text("Manual threat added.");
    assert!(d.source().contains("Refund endpoint replays (e2e)"));

    // Insights: the counts of the decisions just made.
    d.click("#tab-insights");
    let src = d.wait_text("id=\"n-reviewed\"");
    let t = tmc_review::tally(
        &serde_json::from_value::<tmc_model::Draft>(
            h.api(
                "GET",
                &format!("/api/v1/products/{pid}/draft"),
                &h.who("admin"),
                b"",
                None,
            )
            .json(),
        )
        .expect("draft"),
    );
    assert!(
        src.contains(&format!("id=\"n-reviewed\">{}<", t.reviewed)),
        "insights shows {} reviewed",
        t.reviewed
    );
    d.shot("05-insights");
    d.go(&format!("{base}/p/{pid}/review"));

    // SARIF export with the browser's own session cookie.
    let cookie = format!(
        "{}={}",
        h.cfg.session_cookie(),
        d.cookie(h.cfg.session_cookie())
    );
    let mut r = h
        .agent
        .get(&format!("{base}/p/{pid}/export/sarif"))
        .header("Cookie", &cookie)
        .call()
        .expect("export");
    assert_eq!(r.status().as_u16(), 200);
    let sarif: Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("sarif json");
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        d.source().contains("export/sarif"),
        "export link on the page"
    );

    d.click("#signout");
    d.wait_text("id=\"signin\"");
    assert!(
        d.current_url().ends_with("/signin"),
        "signed out: {}",
        d.current_url()
    );
    d.go(&format!("{base}/p/{pid}/review"));
    assert!(
        d.current_url().ends_with("/signin"),
        "pages need sign-in again"
    );

    // A developer sees the review but no decision forms, and a decision is refused.
    let dev = h
        .store
        .user_by_name("developer")
        .expect("db")
        .expect("user");
    h.store
        .set_membership(dev.id, pid, Role::Developer)
        .expect("member");
    d.sign_in(&base, "developer");
    d.go(&format!("{base}/p/{pid}/review"));
    let src = d.source();
    assert!(src.contains("Compensated by the WAF rule set"));
    assert!(
        !src.contains("Save decision"),
        "no decision form for a developer"
    );
    d.shot("04-developer");
    let who = h.who("developer");
    let threat = h
        .api(
            "GET",
            &format!("/api/v1/products/{pid}/draft"),
            &h.who("admin"),
            b"",
            None,
        )
        .json()["threats"][2]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = h.form(
        &format!("/p/{pid}/decide"),
        &who,
        &[("threat", &threat), ("status", "mitigated")],
    );
    assert_eq!(r.status, 403);
}
