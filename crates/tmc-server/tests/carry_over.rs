//! Decisions follow their threats across a re-draft of a changed model, as `tmc review` and
//! `tmc check` see them: carried by fingerprint, carried by similarity (needs confirmation
//! until a reviewer saves a decision, which moves it to the new id), and orphaned when the
//! element is gone — shown on the review page and failing the gate. Inputs and expected
//! outcomes: `tests/data/carry_over/`.

mod common;

use common::{Harness, Who};
use serde_json::{Value, json};
use tmc_model::Threat;
use tmc_review::WasSnapshot;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/carry_over");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DATA}/{name}")).expect("test data")
}

fn draft(h: &Harness, who: &Who) -> Value {
    let r = h.api("GET", "/api/v1/products/{pid}/draft", who, b"", None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn threat<'a>(draft: &'a Value, id: &str) -> &'a Value {
    draft["threats"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == id))
        .unwrap_or_else(|| panic!("threat {id} is in the draft"))
}

fn decisions(h: &Harness, who: &Who) -> (Value, String) {
    let r = h.api("GET", "/api/v1/products/{pid}/decisions", who, b"", None);
    assert_eq!(r.status, 200, "{}", r.body);
    (
        r.json()["decisions"].clone(),
        r.header("etag").expect("etag").to_string(),
    )
}

/// The review fields of a threat, as compared with `expected.json`.
fn outcome(t: &Value) -> Value {
    json!({
        "matched_by": t["review"]["matched_by"],
        // Serialised only when set.
        "needs_confirmation": t["review"]["needs_confirmation"].as_bool().unwrap_or(false),
        "status": t["status"],
    })
}

#[test]
fn decisions_follow_their_threats_and_orphans_are_shown() {
    let exp: Value = serde_json::from_str(&read("expected.json")).expect("expected.json");
    let removed = exp["removed_element"].as_str().expect("removed_element");
    let h = Harness::start(1 << 20);
    let (rev, viewer, dev) = (h.who("reviewer"), h.who("viewer"), h.who("developer"));

    // Version 1: pick two threats on components that stay and one on the removed component.
    let v1 = draft(&h, &rev);
    let threats: Vec<Threat> =
        serde_json::from_value(v1["threats"].clone()).expect("draft threats parse");
    let on_component_kept = |t: &&Threat| {
        !t.targets.is_empty()
            && t.targets
                .iter()
                .all(|g| g.kind.as_str() == "component" && g.id != removed)
    };
    let mut kept = threats.iter().filter(on_component_kept);
    let carried = kept.next().expect("a threat on a kept component");
    let similar = kept
        .find(|t| t.targets != carried.targets)
        .expect("a second threat on another kept component");
    let gone = threats
        .iter()
        .find(|t| t.targets.iter().any(|g| g.id == removed))
        .expect("a threat on the removed component");

    // The orphan-to-be is decided through the server (which records its `was` snapshot).
    let edit = json!({"op": "decide", "threat": gone.id, "status": "accepted",
        "justification": "catalogue is public data"})
    .to_string();
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/decisions",
        &rev,
        edit.as_bytes(),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Two decisions from a decisions file kept in git under ids the threats no longer have
    // (a renamed rule): one with the threat's exact snapshot, one with older wording.
    let (mut file, etag) = decisions(&h, &rev);
    let target_of = |t: &Threat| t.targets[0].id.clone();
    let carried_key = format!(
        "{}@{}",
        exp["renamed_key_rule"].as_str().expect("rule"),
        target_of(carried)
    );
    let similar_key = format!(
        "{}@{}",
        exp["similar_key_rule"].as_str().expect("rule"),
        target_of(similar)
    );
    let mut old = WasSnapshot::of(similar);
    old.fingerprint = "0000000000000000".into();
    old.title = format!("{} (old wording)", similar.title);
    file["threats"][&carried_key] = json!({
        "status": "mitigated", "reviewer": "alice", "reviewed_at": "2025-03-01T10:00:00Z",
        "was": WasSnapshot::of(carried),
    });
    file["threats"][&similar_key] = json!({"status": "open", "was": old});
    let body = file.to_string();
    let r = h.api(
        "PUT",
        "/api/v1/products/{pid}/decisions",
        &rev,
        body.as_bytes(),
        Some(&etag),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Version 2 without the removed component, re-drafted.
    let v2 = read(exp["model_v2"].as_str().expect("model_v2"));
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/versions?file_name=webshop-v2.yaml",
        &dev,
        v2.as_bytes(),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = h.api("POST", "/api/v1/products/{pid}/draft", &dev, b"", None);
    assert_eq!(r.status, 201, "{}", r.body);

    let d = draft(&h, &viewer);
    let t = threat(&d, &carried.id);
    assert_eq!(outcome(t), exp["carried"], "{t}");
    assert_eq!(t["review"]["key"], carried_key.as_str());
    let t = threat(&d, &similar.id);
    assert_eq!(outcome(t), exp["similar"], "{t}");
    assert_eq!(t["review"]["key"], similar_key.as_str());
    let orphans = d["review"]["orphaned"].as_array().expect("orphaned list");
    let o = orphans
        .iter()
        .find(|o| o["key"] == gone.id.as_str())
        .unwrap_or_else(|| panic!("{} is orphaned: {orphans:?}", gone.id));
    assert_eq!(o["status"], exp["orphan"]["status"]);
    let reason = exp["orphan"]["reason_contains"].as_str().expect("reason");
    assert!(
        o["reason"].as_str().is_some_and(|r| r.contains(reason)),
        "{o}"
    );

    // The review page shows the orphan and where the carried decisions came from.
    let page = h.page("GET", "/p/{pid}/review", &viewer, None, None);
    assert_eq!(page.status, 200);
    let heading = exp["page_orphans_heading"].as_str().expect("heading");
    let orphan_section = page.body.split(heading).nth(1).expect("an orphans section");
    assert!(orphan_section.contains(&gone.id), "{orphan_section}");
    assert!(page.body.contains(&format!("carried from {carried_key}")));
    assert!(page.body.contains("needs confirmation"));

    // The gate fails on the orphan, as `tmc check` would.
    let r = h.api(
        "GET",
        "/api/v1/products/{pid}/check?fail_on=critical",
        &viewer,
        b"",
        None,
    );
    let verdict = r.json();
    assert_eq!(verdict["pass"], false, "{}", r.body);
    assert!(
        verdict["failures"].as_array().is_some_and(|f| f
            .iter()
            .any(|x| x["kind"] == exp["gate_failure_kind"] && x["key"] == gone.id.as_str())),
        "{}",
        r.body
    );

    // Saving a decision on the similar threat confirms it: the decision moves to the new id.
    let edit = json!({"op": "decide", "threat": similar.id, "status": "mitigated"}).to_string();
    let r = h.api(
        "POST",
        "/api/v1/products/{pid}/decisions",
        &rev,
        edit.as_bytes(),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (file, _) = decisions(&h, &rev);
    assert!(file["threats"].get(&similar_key).is_none(), "{file}");
    assert_eq!(file["threats"][&similar.id]["status"], "mitigated");
    let d = draft(&h, &viewer);
    assert_eq!(outcome(threat(&d, &similar.id)), exp["confirmed"]);
    assert!(
        d["review"]["orphaned"]
            .as_array()
            .is_some_and(|o| o.iter().all(|o| o["key"] != similar_key.as_str())),
        "the old key is not left behind as an orphan"
    );
}
