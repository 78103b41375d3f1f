//! The authorisation matrix: every declared route, called by every kind of caller, over real
//! HTTP, against the expected statuses in `tests/data/authz_matrix.txt`.

mod common;

use common::{Harness, ROLES, WEBSHOP, multipart};

fn dot_installed() -> bool {
    std::process::Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_route_for_every_role() {
    let h = Harness::start(1 << 20);
    let table = include_str!("data/authz_matrix.txt");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    // The table covers exactly the declared routes.
    let declared: Vec<(String, String)> = tmc_server::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let listed: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[0].to_string(), r[1].to_string()))
        .collect();
    for d in &declared {
        assert!(
            listed.contains(d),
            "route {d:?} is missing from authz_matrix.txt"
        );
    }
    assert_eq!(
        declared.len(),
        listed.len(),
        "authz_matrix.txt lists routes that are not declared"
    );

    let threat = h.first_threat();
    let diagram = if dot_installed() { 200 } else { 404 };
    let mut failures = Vec::new();
    for row in &rows {
        let (method, pattern) = (row[0], row[1]);
        let mut path = pattern.replace("{format}", "sarif");
        if pattern.ends_with("/diff") {
            // Earlier rows upload versions without drafting each; version 1 is drafted.
            path.push_str("?from=1&to=1");
        }
        let spec = tmc_server::ROUTES
            .iter()
            .find(|r| r.path == pattern && r.method == method)
            .expect("declared");
        for (i, role) in ROLES.iter().enumerate() {
            let expected: u16 = match row[2 + i] {
                "D" => diagram,
                s => s.parse().expect("status"),
            };
            let who = h.who(role);
            let resp = if spec.api {
                let (body, if_match): (Vec<u8>, Option<String>) = match (method, pattern) {
                    ("POST", "/api/v1/products") => (br#"{"name":"From the API"}"#.to_vec(), None),
                    ("POST", "/api/v1/products/{pid}/versions") => {
                        let p = format!("{path}?file_name=webshop.yaml");
                        let r = h.api(method, &p, &who, WEBSHOP.as_bytes(), None);
                        check(
                            &mut failures,
                            method,
                            pattern,
                            role,
                            expected,
                            r.status,
                            &r.body,
                        );
                        continue;
                    }
                    ("PUT", _) => (
                        br#"{"review_version":1}"#.to_vec(),
                        Some(format!(
                            "\"{}\"",
                            h.store.decisions(h.product).expect("db").version
                        )),
                    ),
                    ("POST", "/api/v1/products/{pid}/decisions") => (
                        serde_json::json!({"op": "decide", "threat": threat, "status": "open"})
                            .to_string()
                            .into_bytes(),
                        None,
                    ),
                    ("POST", "/api/v1/products/{pid}/comments") => (
                        serde_json::json!({"threat": threat, "body": format!("note by {role}")})
                            .to_string()
                            .into_bytes(),
                        None,
                    ),
                    _ => (Vec::new(), None),
                };
                h.api(method, &path, &who, &body, if_match.as_deref())
            } else if method == "GET" {
                h.page("GET", &path, &who, None, None)
            } else {
                match pattern {
                    "/signin" => {
                        // Before sign-in the CSRF token is the pre-session cookie's value.
                        let pre =
                            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
                        let csrf = who.csrf.clone().unwrap_or_else(|| pre.to_string());
                        let account = format!("nobody-{role}");
                        let body = common::form_urlencoded_pairs(&[
                            ("csrf", &csrf),
                            ("username", &account),
                            ("password", "wrong"),
                        ]);
                        let cookie = format!("{}={pre}", h.cfg.presession_cookie());
                        h.page(
                            "POST",
                            &path,
                            &who,
                            Some(("application/x-www-form-urlencoded", body.into_bytes())),
                            Some(&cookie),
                        )
                    }
                    "/products" | "/p/{pid}/versions" => {
                        let csrf = who.csrf.clone().unwrap_or_default();
                        let (ct, body) = multipart(
                            &[("csrf", &csrf), ("name", "Matrix product")],
                            Some(("webshop.yaml", WEBSHOP.as_bytes())),
                        );
                        h.page("POST", &path, &who, Some((&ct, body)), None)
                    }
                    "/p/{pid}/decide" => {
                        let just = format!("accepted by {role}");
                        h.form(
                            &path,
                            &who,
                            &[
                                ("threat", &threat),
                                ("status", "accepted"),
                                ("justification", &just),
                            ],
                        )
                    }
                    "/p/{pid}/decide-bulk" => {
                        h.form(&path, &who, &[("threat", &threat), ("status", "open")])
                    }
                    "/p/{pid}/manual-threat" => {
                        let title = format!("manual threat by {role}");
                        h.form(
                            &path,
                            &who,
                            &[
                                ("title", &title),
                                ("element", "checkout-api"),
                                ("stride", "S"),
                                ("severity", "low"),
                            ],
                        )
                    }
                    "/p/{pid}/mitigation" => {
                        let text = format!("mitigation by {role}");
                        h.form(&path, &who, &[("threat", &threat), ("text", &text)])
                    }
                    "/p/{pid}/comment" => {
                        let body = format!("comment by {role}");
                        h.form(&path, &who, &[("threat", &threat), ("body", &body)])
                    }
                    "/p/{pid}/members" => {
                        h.form(&path, &who, &[("username", "carol"), ("role", "viewer")])
                    }
                    _ => h.form(&path, &who, &[]),
                }
            };
            check(
                &mut failures,
                method,
                pattern,
                role,
                expected,
                resp.status,
                &resp.body,
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check(
    failures: &mut Vec<String>,
    method: &str,
    path: &str,
    role: &str,
    expected: u16,
    got: u16,
    body: &str,
) {
    if expected != got {
        let snippet: String = body.chars().take(200).collect();
        failures.push(format!(
            "{method} {path} as {role}: expected {expected}, got {got}: {snippet}"
        ));
    }
}
