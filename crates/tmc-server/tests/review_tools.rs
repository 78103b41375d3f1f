//! The review tools over real HTTP: the version diff page and its JSON, the Insights tab
//! (its numbers are `tmc_review::tally`'s), bulk decisions (all or nothing), manual threats
//! and new mitigations. Inputs and expected outcomes: `tests/data/review_tools/`.

mod common;

use common::{Harness, Who};
use serde_json::{Value, json};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DATA}/{name}")).expect("test data")
}

fn expected() -> Value {
    serde_json::from_str(&read("review_tools/expected.json")).expect("expected.json")
}

fn draft(h: &Harness, who: &Who) -> Value {
    let r = h.api("GET", "/api/v1/products/{pid}/draft", who, b"", None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn decisions_version(h: &Harness) -> i64 {
    h.store.decisions(h.product).expect("db").version
}

fn threat_ids(d: &Value) -> Vec<String> {
    d["threats"]
        .as_array()
        .expect("threats")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect()
}

fn find<'a>(d: &'a Value, id: &str) -> &'a Value {
    d["threats"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == id))
        .unwrap_or_else(|| panic!("threat {id} is in the draft"))
}

/// The number in `<… id="{id}">N<` on a page.
fn number(page: &str, id: &str) -> usize {
    let pat = format!("id=\"{id}\">");
    let start = page
        .find(&pat)
        .unwrap_or_else(|| panic!("the page has no element #{id}"))
        + pat.len();
    page[start..]
        .split('<')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("#{id} holds no number"))
}

fn assert_escaped(what: &str, body: &str, raw: &str, escaped_tag: &str) {
    assert!(!body.contains(raw), "{what} contains the raw text {raw}");
    assert!(
        body.contains(&format!("&lt;{escaped_tag}"))
            || body.contains(&format!("&#60;{escaped_tag}")),
        "{what} lost the hostile text"
    );
}

#[test]
fn version_diff_page_and_json() {
    let exp = expected();
    let d = &exp["diff"];
    let evil = d["hostile_name"].as_str().expect("hostile_name");
    let removed = d["removed_element"].as_str().expect("removed");
    let renamed = d["renamed_element"].as_str().expect("renamed");
    let h = Harness::start(1 << 20);
    let (rev, viewer, dev) = (h.who("reviewer"), h.who("viewer"), h.who("developer"));

    // Decide one threat that stays and one on the component version 2 removes.
    let v1 = draft(&h, &rev);
    let threats = v1["threats"].as_array().expect("threats");
    let on = |t: &Value, id: &str| {
        t["targets"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["id"] == id))
    };
    let gone = threats
        .iter()
        .find(|t| on(t, removed))
        .expect("a threat on the removed component")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let kept = threats
        .iter()
        .find(|t| on(t, "checkout-api") && !on(t, removed))
        .expect("a threat on checkout-api")["id"]
        .as_str()
        .expect("id")
        .to_string();
    for (threat, status, just) in [
        (&gone, "accepted", Some("legacy, retired soon")),
        (&kept, "mitigated", None),
    ] {
        let edit =
            json!({"op": "decide", "threat": threat, "status": status, "justification": just});
        let r = h.api(
            "POST",
            "/api/v1/products/{pid}/decisions",
            &rev,
            edit.to_string().as_bytes(),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }

    // Version 2: catalogue API gone, the shopper renamed to hostile markup; drafted.
    let v2 = read("carry_over/webshop-v2.yaml").replacen(
        "name: Shopper\n",
        &format!("name: \"{evil}\"\n"),
        1,
    );
    assert!(v2.contains(evil), "the hostile name went in");
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/versions?file_name=v2.yaml",
        &dev,
        v2.as_bytes(),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = h.api("POST", "/api/v1/products/{pid}/draft", &dev, b"", None);
    assert_eq!(r.status, 201, "{}", r.body);

    // The JSON: tmc_diff's shape plus the numbers compared.
    let r = h.api(
        "GET",
        "/api/v1/products/{pid}/diff?from=1&to=2",
        &viewer,
        b"",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!((j["from"].as_i64(), j["to"].as_i64()), (Some(1), Some(2)));
    assert_eq!(j["diff_version"], 1);
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("list")
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(ids(&j["model"]["components"]["removed"]), vec![removed]);
    let mut flows = ids(&j["model"]["flows"]["removed"]);
    flows.sort();
    let mut want: Vec<String> = serde_json::from_value(d["removed_flows"].clone()).expect("flows");
    want.sort();
    assert_eq!(flows, want);
    let changed = &j["model"]["components"]["changed"][0];
    assert_eq!(changed["id"], renamed);
    assert_eq!(changed["fields"][0]["path"], "name");
    assert_eq!(changed["fields"][0]["new"], evil);
    assert!(
        ids(&j["threats"]["gone"]).contains(&gone),
        "the threat on the removed component is gone"
    );
    let orphaned = &j["threats"]["review"]["orphaned"];
    assert!(
        orphaned
            .as_array()
            .expect("orphaned")
            .iter()
            .any(|o| o["key"] == gone.as_str()),
        "its decision is orphaned: {orphaned}"
    );
    let carried = j["threats"]["review"]["carried"]
        .as_array()
        .expect("carried")
        .iter()
        .find(|c| c["threat_id"] == kept.as_str())
        .expect("the kept decision is carried");
    assert_eq!(carried["matched_by"], "id");
    assert_eq!(carried["status"], "mitigated");
    // Defaults: the latest version against the one before.
    let r = h.api("GET", "/api/v1/products/{pid}/diff", &viewer, b"", None);
    assert_eq!(r.json()["model"], j["model"]);

    // The page: tables, not Markdown, with the hostile name escaped.
    let page = h.page("GET", "/p/{pid}/diff?from=1&to=2", &viewer, None, None);
    assert_eq!(page.status, 200, "{}", page.body);
    let b = &page.body;
    for id in [
        "diff-model",
        "diff-threats",
        "diff-carried",
        "diff-orphaned",
    ] {
        assert!(b.contains(&format!("<table id=\"{id}\"")), "no table #{id}");
    }
    assert!(!b.contains("| ---"), "the page is not Markdown");
    assert!(b.contains(&format!("class=\"diff-removed\" data-id=\"{removed}\"")));
    assert!(b.contains(&format!("class=\"threat-gone\" data-threat=\"{gone}\"")));
    assert!(b.contains(&format!("<tr data-threat=\"{kept}\">")));
    assert_escaped("diff page", b, "<script", "script");
    // Linked from the version history.
    let versions = h.page("GET", "/p/{pid}/versions", &viewer, None, None);
    let link = format!("/p/{}/diff?from=1&amp;to=2", h.product);
    assert!(versions.body.contains(&link), "versions page links {link}");

    // Bad input: an unknown version is a 404, an undrafted one a 422 naming it.
    let r = h.api(
        "GET",
        "/api/v1/products/{pid}/diff?from=9&to=2",
        &viewer,
        b"",
        None,
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("version 9"), "{}", r.body);
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/versions?file_name=v3.yaml",
        &dev,
        common::WEBSHOP.as_bytes(),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = h.api("GET", "/api/v1/products/{pid}/diff", &viewer, b"", None);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("version 3 has no draft"), "{}", r.body);
    let r = h.page("GET", "/p/{pid}/diff?from=x", &viewer, None, None);
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn insights_numbers_are_the_tally() {
    let h = Harness::start(1 << 20);
    let (rev, viewer) = (h.who("reviewer"), h.who("viewer"));
    let d = draft(&h, &rev);
    let ids = threat_ids(&d);
    assert!(ids.len() >= 6, "enough threats to decide");
    let with_mitigation = d["threats"]
        .as_array()
        .expect("threats")
        .iter()
        .find(|t| t["mitigations"].as_array().is_some_and(|m| !m.is_empty()))
        .expect("a threat with a mitigation");
    let mid = with_mitigation["mitigations"][0]["id"].clone();
    let edits = json!({"edits": [
        {"op": "decide", "threat": ids[0], "status": "accepted", "justification": "low value"},
        {"op": "decide", "threat": ids[1], "status": "mitigated"},
        {"op": "decide", "threat": ids[2], "status": "not-applicable", "justification": "no such path"},
        {"op": "decide", "threat": ids[3], "status": "open"},
        {"op": "set-severity", "threat": ids[4], "level": "critical", "reason": "handles card data"},
        {"op": "mitigation", "threat": with_mitigation["id"], "mitigation": mid, "status": "implemented"},
    ]});
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/decisions",
        &rev,
        edits.to_string().as_bytes(),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let reviewed: tmc_model::Draft =
        serde_json::from_value(draft(&h, &viewer)).expect("the API draft parses");
    let t = tmc_review::tally(&reviewed);
    assert!(t.reviewed >= 5 && t.status(tmc_model::ThreatStatus::Accepted) == 1);
    let page = h.page("GET", "/p/{pid}/insights", &viewer, None, None);
    assert_eq!(page.status, 200, "{}", page.body);
    let b = &page.body;
    assert_eq!(number(b, "n-total"), t.total);
    assert_eq!(number(b, "n-reviewed"), t.reviewed);
    assert_eq!(number(b, "n-unresolved"), t.unresolved);
    assert_eq!(number(b, "n-needs-confirmation"), t.needs_confirmation);
    assert_eq!(number(b, "n-orphaned"), t.orphaned);
    assert_eq!(number(b, "n-suppressed"), t.suppressed);
    assert_eq!(number(b, "n-mitigations"), t.mitigations);
    assert_eq!(number(b, "n-done-threats"), t.threats_with_done_mitigation);
    for (s, n) in &t.by_status {
        assert_eq!(number(b, &format!("status-{}", s.as_str())), *n, "{s:?}");
    }
    for (s, n) in &t.unresolved_by_severity {
        assert_eq!(
            number(b, &format!("unresolved-{}", s.as_str())),
            *n,
            "{s:?}"
        );
    }
    for (s, n) in &t.by_severity {
        assert_eq!(number(b, &format!("severity-{}", s.as_str())), *n, "{s:?}");
    }
    for (s, n) in &t.by_stride {
        assert_eq!(number(b, &format!("stride-{}", s.letter())), *n, "{s:?}");
    }
    for (s, n) in &t.mitigations_by_status {
        assert_eq!(
            number(b, &format!("mitigation-{}", s.as_str())),
            *n,
            "{s:?}"
        );
    }
    assert_eq!(number(b, "severity-critical"), {
        t.by_severity
            .iter()
            .find(|(s, _)| *s == tmc_model::Severity::Critical)
            .map(|(_, n)| *n)
            .expect("critical")
    });
    assert!(
        b.contains("id=\"tab-insights\""),
        "the Insights tab is linked"
    );
}

#[test]
fn bulk_decisions_are_all_or_nothing() {
    let exp = expected();
    let e = &exp["bulk"];
    let (status, just) = (
        e["status"].as_str().expect("status"),
        e["justification"].as_str().expect("justification"),
    );
    let h = Harness::start(1 << 20);
    let (rev, viewer) = (h.who("reviewer"), h.who("viewer"));
    let ids = threat_ids(&draft(&h, &rev));
    let n = e["count"].as_u64().expect("count") as usize;
    let chosen = &ids[..n];

    // The review table carries a checkbox per row, bound to the bulk form (no JavaScript).
    let page = h.page("GET", "/p/{pid}/review", &rev, None, None);
    assert!(page.body.contains("<form method=\"post\" action=\""));
    assert!(page.body.contains(&format!(
        "<input type=\"checkbox\" name=\"threat\" value=\"{}\" form=\"bulk\"",
        ids[0]
    )));
    let viewer_page = h.page("GET", "/p/{pid}/review", &viewer, None, None);
    assert!(
        !viewer_page.body.contains("form=\"bulk\""),
        "viewers get no checkboxes"
    );

    let before = decisions_version(&h);
    let form = |threats: &[&str], status: &str, just: &str| {
        let mut fields: Vec<(&str, &str)> = threats.iter().map(|t| ("threat", *t)).collect();
        fields.push(("status", status));
        fields.push(("justification", just));
        h.form("/p/{pid}/decide-bulk", &rev, &fields)
    };
    // One unknown threat among valid ones: refused whole.
    let mut with_bad: Vec<&str> = chosen.iter().map(String::as_str).collect();
    with_bad.push("TMC-NO-SUCH@component:nowhere");
    let r = form(&with_bad, status, just);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("TMC-NO-SUCH"), "the error names the threat");
    // Accepted without a justification: refused whole.
    let valid: Vec<&str> = chosen.iter().map(String::as_str).collect();
    let r = form(&valid, status, "");
    assert_eq!(r.status, 422, "{}", r.body);
    // Nothing selected, or no CSRF token: refused.
    assert_eq!(form(&[], status, just).status, 400);
    let no_csrf = Who {
        csrf: Some("wrong".into()),
        ..rev.clone()
    };
    let r = h.form(
        "/p/{pid}/decide-bulk",
        &no_csrf,
        &[("threat", &ids[0]), ("status", status)],
    );
    assert_eq!(r.status, 403);
    assert_eq!(decisions_version(&h), before, "nothing was saved");
    let d = draft(&h, &viewer);
    assert!(chosen.iter().all(|id| find(&d, id)["status"] != status));

    // All valid: one write, every selected threat decided, the others untouched.
    let r = form(&valid, status, just);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.header("location")
            .is_some_and(|l| l.contains("notice=bulk"))
    );
    assert_eq!(decisions_version(&h), before + 1, "one write");
    let d = draft(&h, &viewer);
    for id in chosen {
        let t = find(&d, id);
        assert_eq!(t["status"], status, "{id}");
        assert_eq!(t["review"]["justification"], just, "{id}");
        assert_eq!(t["review"]["reviewer"], "reviewer", "{id}");
    }
    assert_ne!(
        find(&d, &ids[n])["status"],
        status,
        "unselected threats unchanged"
    );
    let page = h.page("GET", "/p/{pid}/review", &viewer, None, None);
    assert_escaped("review page", &page.body, "<b>rules", "b");
}

#[test]
fn manual_threats_and_new_mitigations() {
    let exp = expected();
    let (m, g) = (&exp["manual"], &exp["mitigation"]);
    let s = |v: &Value, k: &str| v[k].as_str().expect(k).to_string();
    let h = Harness::start(1 << 20);
    let (rev, viewer) = (h.who("reviewer"), h.who("viewer"));
    let before = decisions_version(&h);
    let stride: Vec<String> = serde_json::from_value(m["stride"].clone()).expect("stride");
    let manual = |title: &str, element: &str, stride: &[String], severity: &str| {
        let mut f: Vec<(&str, &str)> = vec![
            ("title", title),
            ("description", m["description"].as_str().expect("d")),
            ("element", element),
            ("severity", severity),
        ];
        f.extend(stride.iter().map(|x| ("stride", x.as_str())));
        h.form("/p/{pid}/manual-threat", &rev, &f)
    };
    // Refused, nothing saved: unknown element, no STRIDE letter, no title, bad severity.
    let (title, element, sev) = (s(m, "title"), s(m, "element"), s(m, "severity"));
    let r = manual(&title, "no-such-element", &stride, &sev);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("no-such-element"),
        "the error names the element"
    );
    assert_eq!(manual(&title, &element, &[], &sev).status, 422);
    assert_eq!(manual("  ", &element, &stride, &sev).status, 422);
    assert_eq!(manual(&title, &element, &stride, "huge").status, 400);
    assert_eq!(decisions_version(&h), before, "nothing was saved");

    let r = manual(&title, &element, &stride, &sev);
    assert_eq!(r.status, 303, "{}", r.body);
    let d = draft(&h, &viewer);
    let t = find(&d, &s(m, "id"));
    assert_eq!(t["title"], title.as_str());
    assert_eq!(t["severity"]["level"], sev.as_str());
    assert_eq!(t["stride"], m["stride"]);
    assert_eq!(t["targets"][0]["id"], element.as_str());
    assert_eq!(t["status"], "open");
    let page = h.page("GET", "/p/{pid}/review", &viewer, None, None);
    assert_escaped("review page", &page.body, "<img src=x", "img");

    // A new mitigation on a drafted threat and on the manual one.
    let drafted = threat_ids(&d)[0].clone();
    for threat in [drafted.as_str(), m["id"].as_str().expect("id")] {
        let before = decisions_version(&h);
        let bad = h.form(
            "/p/{pid}/mitigation",
            &rev,
            &[
                ("threat", threat),
                ("text", &s(g, "text")),
                ("due", "next week"),
            ],
        );
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("next week"), "the error names the date");
        let empty = h.form(
            "/p/{pid}/mitigation",
            &rev,
            &[("threat", threat), ("text", " ")],
        );
        assert_eq!(empty.status, 422, "{}", empty.body);
        assert_eq!(decisions_version(&h), before, "nothing was saved");
        let r = h.form(
            "/p/{pid}/mitigation",
            &rev,
            &[
                ("threat", threat),
                ("text", &s(g, "text")),
                ("status", &s(g, "status")),
                ("owner", &s(g, "owner")),
                ("ticket", &s(g, "ticket")),
                ("due", &s(g, "due")),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let d = draft(&h, &viewer);
        let added = find(&d, threat)["mitigations"]
            .as_array()
            .expect("mitigations")
            .iter()
            .find(|x| x["id"] == g["id"])
            .unwrap_or_else(|| panic!("{threat} has the new mitigation"))
            .clone();
        for k in ["text", "status", "owner", "ticket", "due"] {
            assert_eq!(added[k], g[k], "{threat}: {k}");
        }
    }
    // The same edits over the API (`POST …/decisions`), validated the same way.
    let edit = json!({"op": "add-manual-threat", "title": "Over the API", "element": element,
        "stride": ["D"], "severity": "low"});
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/decisions",
        &rev,
        edit.to_string().as_bytes(),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        find(&draft(&h, &viewer), "MANUAL-2")["title"],
        "Over the API"
    );
    let edit = json!({"op": "add-mitigation", "threat": "MANUAL-2", "text": "x", "due": "soon"});
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/decisions",
        &rev,
        edit.to_string().as_bytes(),
        None,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error"]["details"]["field"], "due", "{}", r.body);
    // Viewers may not add either.
    let r = h.form(
        "/p/{pid}/mitigation",
        &viewer,
        &[("threat", &drafted), ("text", "x")],
    );
    assert_eq!(r.status, 403);
}

#[test]
fn openapi_describes_every_api_route() {
    let doc: Value = serde_json::from_str(tmc_server::api::OPENAPI).expect("openapi.json parses");
    for r in tmc_server::ROUTES.iter().filter(|r| r.api) {
        let method = r.method.to_ascii_lowercase();
        assert!(
            doc["paths"][r.path][&method].is_object(),
            "openapi.json lacks {} {}",
            r.method,
            r.path
        );
    }
    let ops = &doc["components"]["schemas"]["Edit"]["properties"]["op"]["enum"];
    for op in ["add-manual-threat", "add-mitigation"] {
        assert!(
            ops.as_array().is_some_and(|o| o.iter().any(|x| x == op)),
            "Edit lists {op}"
        );
    }
}
