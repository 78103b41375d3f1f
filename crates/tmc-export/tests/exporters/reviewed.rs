//! Review state in every export, on `fixtures/reviewed.draft.json` (one threat per status,
//! every review field, hostile text, orphaned decisions). Expected CSV and Threagile tracking
//! live beside it in `fixtures/expected/` (`UPDATE_EXPECT=1` rewrites them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use tmc_export::{ExportOptions, Format, export};
use tmc_model::ThreatStatus;

use crate::common;

fn sarif(draft: &tmc_model::Draft, model_uri: &str, root: Option<&str>) -> Value {
    let options = ExportOptions {
        model_uri: model_uri.to_string(),
        positions: BTreeMap::new(),
        repo_root: root.map(PathBuf::from),
    };
    let bytes = export(Format::Sarif, &common::model("hostile"), draft, &options).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Every `artifactLocation.uri` anywhere in the log.
fn artifact_uris(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "artifactLocation" {
                    out.push(x["uri"].as_str().unwrap().to_string());
                    assert_eq!(x["uriBaseId"], "%SRCROOT%");
                }
                artifact_uris(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| artifact_uris(x, out)),
        _ => {}
    }
}

#[test]
fn sarif_artifact_uris_are_never_absolute() {
    let draft = common::reviewed_draft();
    // (model path, repository root, expected URI)
    let cases = [
        (
            "/abs/checkout/models/hostile.yaml",
            Some("/abs/checkout"),
            "models/hostile.yaml",
        ),
        (
            "/abs/checkout/./models/../models/hostile.yaml",
            Some("/abs/checkout/"),
            "models/hostile.yaml",
        ),
        (
            "/elsewhere/hostile.yaml",
            Some("/abs/checkout"),
            "hostile.yaml",
        ),
        ("/abs/checkoutx/m.yaml", Some("/abs/checkout"), "m.yaml"),
        ("/abs/checkout/models/hostile.yaml", None, "hostile.yaml"),
        (
            "examples/a b#1.yaml",
            Some("/abs/checkout"),
            "examples/a%20b%231.yaml",
        ),
        ("./examples/x.yaml", None, "examples/x.yaml"),
        ("../outside/x.yaml", Some("/abs/checkout"), "x.yaml"),
        ("modèle.yaml", None, "mod%C3%A8le.yaml"),
    ];
    for (path, root, want) in cases {
        let log = sarif(&draft, path, root);
        let mut uris = Vec::new();
        artifact_uris(&log, &mut uris);
        assert!(!uris.is_empty());
        for u in &uris {
            assert_eq!(u, want, "{path} with root {root:?}");
            assert!(!u.starts_with('/') && !u.contains("://"), "{u}");
        }
        let base = &log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"];
        match root {
            Some(r) => {
                let uri = base["uri"].as_str().unwrap();
                assert_eq!(uri, format!("file://{}/", r.trim_end_matches('/')));
            }
            None => assert!(base.get("uri").is_none(), "{base}"),
        }
    }
}

#[test]
fn sarif_suppressions_match_review_statuses() {
    let draft = common::reviewed_draft();
    let log = sarif(
        &draft,
        "/abs/checkout/models/hostile.yaml",
        Some("/abs/checkout"),
    );
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), draft.threats.len() + draft.suppressed.len());
    let statuses: Vec<ThreatStatus> = draft.threats.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses.len(),
        ThreatStatus::ALL.len(),
        "one threat per status"
    );
    for (t, r) in draft.threats.iter().zip(results) {
        assert_eq!(r["properties"]["status"], t.status.as_str());
        let sup = r.get("suppressions");
        if t.status.is_unresolved() {
            assert!(sup.is_none(), "{}: {sup:?}", t.id);
            continue;
        }
        let sup = sup.unwrap().as_array().unwrap();
        assert_eq!(sup.len(), 1);
        assert_eq!(sup[0]["kind"], "external");
        assert_eq!(sup[0]["status"], "accepted");
        let want = t
            .review
            .as_ref()
            .and_then(|rv| rv.justification.clone())
            .unwrap_or_else(|| format!("Status {} in review.", t.status.as_str()));
        assert_eq!(sup[0]["justification"], want.as_str(), "{}", t.id);
    }
    // The declared-control suppression stays in-source.
    assert_eq!(
        results.last().unwrap()["suppressions"][0]["kind"],
        "inSource"
    );
    // Review state in the result properties.
    let accepted = &results[3]["properties"];
    assert_eq!(accepted["review"]["reviewer"], "alice");
    assert_eq!(accepted["review"]["expires"], "2027-03-31");
    assert_eq!(accepted["review"]["tickets"][1], "RISK-4");
    assert_eq!(accepted["review"]["severityOverride"]["drafted"], "medium");
    assert_eq!(accepted["review"]["severityOverride"]["reviewed"], "low");
    assert_eq!(accepted["mitigations"][0]["status"], "wont-do");
    let open = &results[1]["properties"];
    assert_eq!(open["mitigations"][0]["owner"], "bob");
    assert_eq!(open["mitigations"][0]["due"], "2027-01-31");
    assert_eq!(
        results[4]["properties"]["review"]["needsConfirmation"],
        true
    );
    let review = &log["runs"][0]["properties"]["review"];
    assert_eq!(review["threatsByStatus"]["accepted"], 1);
    assert_eq!(
        review["orphanedDecisions"][0]["key"],
        "TMC-OLD-001@legacy-db"
    );
    // Rules get a PascalCase name distinct from the id; the manual threat its pseudo-rule.
    for rule in log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
    {
        let (id, name) = (rule["id"].as_str().unwrap(), rule["name"].as_str().unwrap());
        assert_ne!(id, name);
        assert!(is_pascal(name), "{name}");
    }
    assert_eq!(results[6]["ruleId"], "tmc-manual");
}

/// The SARIF validator's Pascal identifier (SARIF2012): `^(\p{Lu}[\p{Ll}\p{Nd}]+)*$`.
fn is_pascal(s: &str) -> bool {
    let mut chars = s.chars().peekable();
    let mut words = 0;
    while let Some(c) = chars.next() {
        if !c.is_ascii_uppercase() {
            return false;
        }
        let mut n = 0;
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            chars.next();
            n += 1;
        }
        if n == 0 {
            return false;
        }
        words += 1;
    }
    words > 0
}

#[test]
fn sarif_rule_names_are_pascal_case_titles() {
    use tmc_export::sarif::pascal_case;
    for (title, want) in [
        (
            "Cross-site scripting, \"stored\"",
            "CrossSiteScriptingStored",
        ),
        ("IDOR in API", "IdorInApi"),
        ("2FA bypass", "Rule2faBypass"),
        (
            "Credentials sent over login\"|> x without TLS",
            "CredentialsSentOverLoginWithoutTls",
        ),
        ("A threat to OAuth2", "ThreatToOauth2"),
        ("«»", "Threat"),
        ("=HYPERLINK(\"http://x\") <script>", "HyperlinkHttpScript"),
    ] {
        let got = pascal_case(title);
        assert_eq!(got, want, "{title}");
        assert!(is_pascal(&got), "{got}");
    }
}

#[test]
fn csv_carries_review_columns() {
    let model = common::model("hostile");
    let draft = common::reviewed_draft();
    let text = tmc_export::csv::to_csv(&model, &draft).unwrap();
    common::expect_file("reviewed.csv", &text);
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(headers, tmc_export::COLUMNS);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    let accepted = &rows[3];
    assert_eq!(accepted[col("Status")], "accepted");
    assert_eq!(accepted[col("Reviewer")], "alice");
    assert_eq!(accepted[col("Expires")], "2027-03-31");
    assert_eq!(accepted[col("Tickets")], "RISK-3, RISK-4");
    assert_eq!(
        accepted[col("Severity override")],
        "medium → low: Only two admins, both on the VPN."
    );
    assert_eq!(
        rows[1][col("Mitigations")],
        "Check object ownership on every request [in-progress, bob, SEC-12, 2027-01-31]"
    );
    assert_eq!(rows[4][col("Needs confirmation")], "yes");
    // Formula-like review text is neutralised like any other cell.
    assert!(rows[1][col("Title")].starts_with("'="));
}

#[test]
fn threagile_tracks_reviewed_threats() {
    let model = common::model("hostile");
    let draft = common::reviewed_draft();
    let yaml = tmc_export::threagile::to_threagile(&model, &draft).unwrap();
    let doc: Value = serde_saphyr::from_str(&yaml).unwrap();
    match crate::threagile::schema() {
        Some(v) => {
            let errors: Vec<String> = v
                .iter_errors(&doc)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{errors:#?}");
        }
        None => eprintln!("threagile schema not found; skipping schema validation"),
    }
    let tracking = doc["risk_tracking"].as_object().unwrap();
    let pretty = serde_json::to_string_pretty(&doc["risk_tracking"]).unwrap() + "\n";
    common::expect_file("reviewed.threagile-tracking.json", &pretty);
    // Only reviewed threats: the first one is draft with no review.
    assert_eq!(tracking.len(), draft.threats.len() - 1);
    let statuses: Vec<&str> = tracking
        .values()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "in-discussion",
            "mitigated",
            "accepted",
            "accepted",
            "mitigated",
            "false-positive"
        ]
    );
    // Every tracking key is the synthetic id of a risk in the file, as Threagile requires.
    let mut synthetic = Vec::new();
    for cat in doc["individual_risk_categories"]
        .as_object()
        .unwrap()
        .values()
    {
        for risk in cat["risks_identified"].as_object().unwrap().values() {
            let mut id = cat["id"].as_str().unwrap().to_string();
            for k in [
                "most_relevant_technical_asset",
                "most_relevant_data_asset",
                "most_relevant_trust_boundary",
            ] {
                if let Some(x) = risk.get(k).and_then(Value::as_str) {
                    id = format!("{id}@{x}");
                }
            }
            synthetic.push(id);
        }
    }
    let keys: Vec<&String> = tracking.keys().collect();
    assert_eq!(keys, synthetic.iter().collect::<Vec<_>>());
    // Threagile's importer (ours) reads the tracking back onto the risks.
    let back = tmc_import::threagile::import(yaml.as_bytes()).unwrap();
    assert_eq!(back.threats.len(), tracking.len());
    let na = back
        .threats
        .iter()
        .filter(|t| t.status == ThreatStatus::NotApplicable)
        .count();
    assert_eq!(na, 1);
}

#[test]
fn threat_dragon_and_otm_map_every_status() {
    let model = common::model("hostile");
    let draft = common::reviewed_draft();
    let td: Value =
        serde_json::from_str(&tmc_export::threat_dragon::to_threat_dragon(&model, &draft).unwrap())
            .unwrap();
    let mut td_status: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for d in td["detail"]["diagrams"].as_array().unwrap() {
        for cell in d["cells"].as_array().unwrap() {
            for t in cell["data"]["threats"].as_array().into_iter().flatten() {
                td_status.insert(
                    t["title"].as_str().unwrap().to_string(),
                    (
                        t["status"].as_str().unwrap().to_string(),
                        t["description"].as_str().unwrap().to_string(),
                        t["mitigation"].as_str().unwrap().to_string(),
                    ),
                );
            }
        }
    }
    let want_td = [
        "Open",
        "Open",
        "Mitigated",
        "Open",
        "Open",
        "Mitigated",
        "NA",
    ];
    let want_otm = [
        "AUTOGENERATED",
        "EXPOSED",
        "MITIGATED",
        "ACCEPTED",
        "ACCEPTED",
        "MITIGATED",
        "NOT_APPLICABLE",
    ];
    for (i, t) in draft.threats.iter().enumerate() {
        let (st, desc, mit) = td_status
            .get(&t.title)
            .unwrap_or_else(|| panic!("{} not in Threat Dragon output", t.id));
        assert_eq!(st, want_td[i], "{}", t.id);
        assert_eq!(tmc_export::otm::threat_state(t.status), want_otm[i]);
        if i == 0 {
            assert!(!desc.contains("Review:"), "{desc}");
        } else {
            assert!(
                desc.contains(&format!("Review: {}", t.status.as_str())),
                "{desc}"
            );
        }
        if i == 3 {
            assert!(
                desc.contains("by alice on 2026-11-30, expires 2027-03-31"),
                "{desc}"
            );
            assert!(desc.contains("Tickets: RISK-3, RISK-4."), "{desc}");
        }
        if i == 1 {
            assert_eq!(
                mit,
                "Check object ownership on every request (in progress, owner bob, SEC-12, due 2027-01-31)"
            );
        }
    }
    let otm: Value =
        serde_json::from_str(&tmc_export::otm::to_otm(&model, &draft).unwrap()).unwrap();
    let text = otm.to_string();
    assert!(
        text.contains("\"state\":\"REQUIRED\""),
        "planned/in-progress mitigations"
    );
    assert!(
        text.contains("\"state\":\"REJECTED\""),
        "won't-do mitigation"
    );
    assert!(text.contains("\"justification\":\"Single-tenant deployment; no shared cache.\""));
}

#[test]
fn xlsx_summary_counts_review_state() {
    use std::io::Read;
    let model = common::model("hostile");
    let draft = common::reviewed_draft();
    let bytes = tmc_export::xlsx::to_xlsx(&model, &draft).unwrap();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut strings = String::new();
    z.by_name("xl/sharedStrings.xml")
        .unwrap()
        .read_to_string(&mut strings)
        .unwrap();
    for s in [
        ">Status<",
        ">Unresolved (draft or open) by severity<",
        ">Mitigation status<",
        ">done (implemented or verified) of 8<",
        ">transferred<",
        ">threatmodel.decisions.yaml<",
    ] {
        assert!(strings.contains(s), "{s} missing");
    }
}
