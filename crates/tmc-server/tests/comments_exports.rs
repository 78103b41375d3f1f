//! Comments on threats (page and API) and every export format linked from the Review tab.

mod common;

use common::Harness;

#[test]
fn comments_are_stored_listed_escaped_and_validated() {
    let h = Harness::start(1 << 20);
    let threat = h.first_threat();
    let rev = h.who("reviewer");
    let body = serde_json::json!({"threat": threat, "body": "<script>alert(1)</script> check TLS"});
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/comments",
        &rev,
        body.to_string().as_bytes(),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // The page form, as a browser posts it.
    let r = h.form(
        "/p/{pid}/comment",
        &rev,
        &[("threat", &threat), ("body", "second thought")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.header("location").is_some_and(|l| l.contains("#row-")));

    let viewer = h.who("viewer");
    let r = h.api(
        "GET",
        &format!("/api/v1/products/{{pid}}/comments?threat={threat}"),
        &viewer,
        b"",
        None,
    );
    assert_eq!(r.status, 200);
    let list = r.json();
    let bodies: Vec<&str> = list["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .map(|c| c["body"].as_str().expect("body"))
        .collect();
    assert_eq!(
        bodies,
        vec!["<script>alert(1)</script> check TLS", "second thought"]
    );
    assert_eq!(list["comments"][0]["author"], "reviewer");

    let page = h.page("GET", "/p/{pid}/review", &viewer, None, None);
    assert_eq!(page.status, 200);
    // askama writes numeric entities.
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62; check TLS"),
        "escaped"
    );
    assert!(page.body.contains("check TLS"));
    assert!(
        !page.body.contains("<script>alert(1)"),
        "comment rendered inert"
    );
    assert!(page.body.contains("Comments (2)"));
    assert!(
        !page.body.contains("comment-body-"),
        "a viewer gets no comment form"
    );
    let own = h.page("GET", "/p/{pid}/review", &rev, None, None);
    assert!(own.body.contains("comment-body-"), "a reviewer does");

    for (body, field) in [
        (
            serde_json::json!({"threat": "NOPE@nothing", "body": "x"}),
            "threat",
        ),
        (serde_json::json!({"threat": threat, "body": "   "}), "body"),
        (
            serde_json::json!({"threat": threat, "body": "x".repeat(4001)}),
            "body",
        ),
    ] {
        let r = h.api(
            "POST",
            "/api/v1/products/{pid}/comments",
            &rev,
            body.to_string().as_bytes(),
            None,
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.json()["error"]["details"]["field"], field, "{}", r.body);
    }
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/comments",
        &rev,
        br#"{"threat":"x","text":"wrong member"}"#,
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(h.store.comments(h.product).expect("db").len(), 2);
}

#[test]
fn every_export_linked_from_the_review_tab_downloads() {
    let h = Harness::start(1 << 20);
    let viewer = h.who("viewer");
    let page = h.page("GET", "/p/{pid}/review", &viewer, None, None);
    for (format, ctype, starts) in [
        ("sarif", "application/sarif+json", "{"),
        ("markdown", "text/markdown", "#"),
        ("csv", "text/csv", ""),
        ("json", "application/json", "{"),
        ("xlsx", "spreadsheetml", "PK"),
        ("otm", "application/json", "{"),
        ("threat-dragon", "application/json", "{"),
        ("threagile", "application/yaml", ""),
    ] {
        let link = format!("/p/{}/export/{format}\"", h.product);
        assert!(page.body.contains(&link), "Review tab links {format}");
        let r = h.page(
            "GET",
            &format!("/p/{{pid}}/export/{format}"),
            &viewer,
            None,
            None,
        );
        assert_eq!(r.status, 200, "{format}: {}", r.body);
        assert!(
            r.header("content-type").is_some_and(|c| c.contains(ctype)),
            "{format}: {:?}",
            r.header("content-type")
        );
        if format == "xlsx" {
            // Binary: the harness reads bodies as text, so check the download's name instead.
            assert!(
                r.header("content-disposition")
                    .is_some_and(|d| d.contains(".xlsx")),
                "{format}"
            );
        } else {
            assert!(!r.body.is_empty() && r.body.starts_with(starts), "{format}");
        }
    }
    let r = h.page("GET", "/p/{pid}/export/pdf", &viewer, None, None);
    assert_eq!(r.status, 404);
}
