//! Small hand-written inputs for each threat-model format, with every expected mapping spelled
//! out: counts, ids, statuses, severities, boundary membership.

mod model_check;

use model_check::{assert_clean, count_status};
use tmc_import::{Format, detect, import};
use tmc_model::{
    AuthScheme, Classification, ElementKind, Encryption, MitigationStatus, Protocol, Severity,
    Stride, TargetKind, Technology, ThreatStatus, TrustZone,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn threat_dragon_v2_fixture() {
    let r = tmc_import::threat_dragon::import(&fixture("threat_dragon_v2.json")).unwrap();
    assert_clean(&r, "td-v2");
    let m = &r.model;
    assert_eq!(m.product.name, "Fixture shop");
    assert_eq!(m.product.owner.as_deref(), Some("Team A"));
    // 3 shapes + 1 placeholder for the export flow's loose end.
    assert_eq!(m.components.len(), 4);
    assert_eq!(m.flows.len(), 3);
    assert_eq!(m.trust_boundaries.len(), 3);
    let web = m
        .components
        .iter()
        .find(|c| c.name == "Web Application")
        .unwrap();
    assert_eq!(web.id, "web-application");
    assert_eq!(web.kind, ElementKind::Process);
    assert_eq!(web.technology, Technology::WebApp);
    let db = m.components.iter().find(|c| c.name == "Orders DB").unwrap();
    assert_eq!(
        (db.kind, db.technology),
        (ElementKind::DataStore, Technology::Database)
    );
    assert_eq!(db.encryption_at_rest, Some(true));
    let placeholder = m
        .components
        .iter()
        .find(|c| c.name.starts_with("Unknown target"))
        .unwrap();
    assert_eq!(placeholder.kind, ElementKind::ExternalEntity);
    // Geometry: store in the inner box, process in the outer one, inner nested in outer.
    let outer = m
        .trust_boundaries
        .iter()
        .find(|b| b.name == "Data centre")
        .unwrap();
    let inner = m
        .trust_boundaries
        .iter()
        .find(|b| b.name == "DB subnet")
        .unwrap();
    assert_eq!(outer.members, vec![web.id.clone()]);
    assert_eq!(inner.members, vec![db.id.clone()]);
    assert_eq!(outer.boundaries, vec![inner.id.clone()]);
    let curve = m
        .trust_boundaries
        .iter()
        .find(|b| b.name == "Trust boundary 1")
        .unwrap();
    assert!(curve.members.is_empty());
    assert!(r.notes.iter().any(|n| n.element.as_deref() == Some(curve.id.as_str()) && n.message.contains("curve")));
    let browse = m
        .flows
        .iter()
        .find(|f| f.name.as_deref() == Some("Browse"))
        .unwrap();
    assert_eq!(browse.protocol, Some(Protocol::Https));
    assert_eq!(browse.encryption, Some(Encryption::Tls12));
    let store = m
        .flows
        .iter()
        .find(|f| f.name.as_deref() == Some("Store order"))
        .unwrap();
    assert_eq!(store.protocol, None);
    assert!(r.notes.iter().any(
        |n| n.element.as_deref() == Some(store.id.as_str()) && n.message == "protocol unknown"
    ));
    assert_eq!(r.id_map.get(&web.id).map(String::as_str), Some("p1"));

    assert_eq!(r.threats.len(), 3);
    let t1 = r
        .threats
        .iter()
        .find(|t| t.id == "import:threat-dragon:t1")
        .unwrap();
    assert_eq!(t1.stride, vec![Stride::Spoofing]);
    assert_eq!(t1.severity.level, Severity::High);
    assert_eq!(
        (
            t1.severity.likelihood,
            t1.severity.impact,
            t1.severity.score
        ),
        (0, 0, 0)
    );
    assert_eq!(t1.status, ThreatStatus::Open);
    assert_eq!(t1.targets[0].id, web.id);
    assert_eq!(t1.mitigations[0].text, "Use secure cookies.");
    let t2 = r
        .threats
        .iter()
        .find(|t| t.id == "import:threat-dragon:t2")
        .unwrap();
    assert_eq!(t2.status, ThreatStatus::Mitigated);
    assert_eq!(t2.mitigations[0].status, MitigationStatus::Implemented);
    let t3 = r
        .threats
        .iter()
        .find(|t| t.id == "import:threat-dragon:t3")
        .unwrap();
    assert_eq!(t3.status, ThreatStatus::NotApplicable);
    assert_eq!(
        t3.severity.level,
        Severity::Medium,
        "TBA falls back to medium"
    );
    assert_eq!(t3.targets[0].kind, TargetKind::Flow);
    assert!(t3.mitigations.is_empty());
    assert_eq!(
        detect(&fixture("threat_dragon_v2.json"), "model.json"),
        Some(Format::ThreatDragon)
    );
}

#[test]
fn threat_dragon_v1_fixture() {
    let r = tmc_import::threat_dragon::import(&fixture("threat_dragon_v1.json")).unwrap();
    assert_clean(&r, "td-v1");
    let m = &r.model;
    assert_eq!(m.components.len(), 3);
    assert_eq!(m.flows.len(), 2);
    assert_eq!(m.trust_boundaries.len(), 1);
    let user = m
        .components
        .iter()
        .find(|c| c.name == "Admin user")
        .unwrap();
    assert_eq!(
        (user.kind, user.technology),
        (ElementKind::ExternalEntity, Technology::User)
    );
    let calls = m
        .flows
        .iter()
        .find(|f| f.name.as_deref() == Some("Admin calls"))
        .unwrap();
    assert_eq!(calls.protocol, Some(Protocol::Http));
    assert_eq!(calls.from, user.id);
    assert_eq!(r.threats.len(), 2);
    assert_eq!(count_status(&r, ThreatStatus::Mitigated), 1);
    // v1 threats have no ids: cell id + index.
    assert!(r.threats.iter().any(|t| t.id
        == "import:threat-dragon:22222222-2222-2222-2222-222222222222-1"
        && t.stride == vec![Stride::ElevationOfPrivilege]));
}

#[test]
fn threat_composer_fixture() {
    let bytes = fixture("sample.tc.json");
    assert_eq!(
        detect(&bytes, "sample.tc.json"),
        Some(Format::ThreatComposer)
    );
    assert_eq!(detect(&bytes, "x.json"), Some(Format::ThreatComposer));
    let r = import(&bytes, "sample.tc.json", None).unwrap();
    assert_clean(&r, "tc");
    let m = &r.model;
    assert_eq!(m.product.name, "Upload service");
    assert!(
        m.notes
            .as_deref()
            .unwrap()
            .contains("Lambda behind API Gateway")
    );
    assert_eq!(m.product.assumptions, vec!["IAM is configured correctly."]);
    // "uploaded files" and "Uploaded files" are one asset; "S3 bucket" another.
    assert_eq!(m.components.len(), 2);
    assert!(
        m.components
            .iter()
            .any(|c| c.technology == Technology::ObjectStorage)
    );
    assert!(m.flows.is_empty());
    assert_eq!(r.threats.len(), 3);
    let t1 = r
        .threats
        .iter()
        .find(|t| t.id == "import:threat-composer:t1")
        .unwrap();
    assert_eq!(t1.title, "upload malware");
    assert_eq!(
        t1.stride,
        vec![Stride::Tampering, Stride::ElevationOfPrivilege]
    );
    assert_eq!(t1.severity.level, Severity::High);
    assert_eq!(t1.status, ThreatStatus::Mitigated);
    assert_eq!(t1.targets.len(), 2);
    assert_eq!(t1.mitigations.len(), 2);
    assert_eq!(t1.references.owasp_llm_2025, vec!["LLM05"]);
    let t2 = r
        .threats
        .iter()
        .find(|t| t.id == "import:threat-composer:t2")
        .unwrap();
    assert_eq!(t2.severity.level, Severity::Medium, "no priority → medium");
    assert_eq!(t2.status, ThreatStatus::Open);
    assert_eq!(
        t2.mitigations.len(),
        1,
        "the link to an undefined mitigation is dropped"
    );
    assert!(t2.description.contains("Check the bucket policy."));
    let t3 = r
        .threats
        .iter()
        .find(|t| t.id == "import:threat-composer:t3")
        .unwrap();
    assert_eq!(t3.status, ThreatStatus::NotApplicable);
    assert!(t3.targets.is_empty());
}

#[test]
fn otm_fixture() {
    let bytes = fixture("sample.otm.json");
    assert_eq!(detect(&bytes, "anything.json"), Some(Format::Otm));
    let r = tmc_import::otm::import(&bytes).unwrap();
    assert_clean(&r, "otm");
    let m = &r.model;
    assert_eq!(m.product.name, "Payments");
    assert_eq!(m.components.len(), 4);
    assert_eq!(m.trust_boundaries.len(), 3);
    assert_eq!(
        m.flows.len(),
        2,
        "the flow to an undefined element is skipped"
    );
    assert_eq!(m.data.len(), 1);
    assert_eq!(m.data[0].classification, Classification::Restricted);
    let internal = m
        .trust_boundaries
        .iter()
        .find(|b| b.name == "Internal")
        .unwrap();
    let vault = m
        .trust_boundaries
        .iter()
        .find(|b| b.name == "Vault zone")
        .unwrap();
    assert_eq!(internal.boundaries, vec![vault.id.clone()]);
    let worker = m
        .components
        .iter()
        .find(|c| c.name == "Settlement job")
        .unwrap();
    assert!(
        internal.members.contains(&worker.id),
        "nested component lands in its parent's zone"
    );
    let client = m
        .components
        .iter()
        .find(|c| c.name == "Mobile client")
        .unwrap();
    assert_eq!(client.technology, Technology::MobileApp);
    assert_eq!(client.trust_zone, Some(TrustZone::Internet));
    let db = m
        .components
        .iter()
        .find(|c| c.name == "Card store")
        .unwrap();
    assert_eq!(
        (db.kind, db.technology),
        (ElementKind::DataStore, Technology::Database)
    );
    assert_eq!(
        m.flows
            .iter()
            .find(|f| f.name.as_deref() == Some("Pay"))
            .unwrap()
            .protocol,
        Some(Protocol::Https)
    );

    assert_eq!(r.threats.len(), 3);
    let t1 = r.threats.iter().find(|t| t.id == "import:otm:T1").unwrap();
    assert_eq!(t1.targets.len(), 2, "one threat, two instances");
    assert_eq!(t1.stride, vec![Stride::Spoofing, Stride::Tampering]);
    assert_eq!(
        (
            t1.severity.likelihood,
            t1.severity.impact,
            t1.severity.score
        ),
        (3, 5, 15)
    );
    assert_eq!(t1.severity.level, Severity::High);
    assert_eq!(t1.status, ThreatStatus::Open);
    assert_eq!(t1.mitigations[0].text, "Nonces on requests");
    let t2 = r.threats.iter().find(|t| t.id == "import:otm:T2").unwrap();
    assert_eq!(t2.status, ThreatStatus::Mitigated);
    assert_eq!(t2.mitigations[0].status, MitigationStatus::Implemented);
    let t3 = r.threats.iter().find(|t| t.id == "import:otm:T3").unwrap();
    assert_eq!(t3.stride, vec![Stride::ElevationOfPrivilege]);
    assert!(t3.targets.is_empty());
}

#[test]
fn tml_fixture() {
    let bytes = fixture("sample_tml.json");
    assert_eq!(detect(&bytes, "x.json"), Some(Format::ThreatModelLibrary));
    let r = tmc_import::tml::import(&bytes).unwrap();
    assert_clean(&r, "tml");
    let m = &r.model;
    assert_eq!(m.product.name, "Notes app");
    assert_eq!(m.components.len(), 3);
    assert_eq!(m.trust_boundaries.len(), 2);
    assert_eq!(m.flows.len(), 2);
    assert_eq!(m.data.len(), 1);
    let user = m.component("user").unwrap();
    assert_eq!(
        (user.kind, user.technology, user.trust_zone),
        (
            ElementKind::ExternalEntity,
            Technology::User,
            Some(TrustZone::Internet)
        )
    );
    let db = m.component("notes-db").unwrap();
    assert_eq!(
        (db.kind, db.technology, db.encryption_at_rest),
        (ElementKind::DataStore, Technology::Database, Some(true))
    );
    assert_eq!(m.data[0].stored_in, vec!["notes-db"]);
    assert_eq!(m.data[0].pii, Some(true));
    let f = m.flows.iter().find(|f| f.id == "user-api").unwrap();
    assert_eq!(
        (f.protocol, f.encryption),
        (Some(Protocol::Https), Some(Encryption::Tls12))
    );
    assert_eq!(
        m.flows
            .iter()
            .find(|f| f.id == "api-db")
            .unwrap()
            .encryption,
        Some(Encryption::None)
    );
    assert!(
        m.trust_boundaries[0]
            .notes
            .as_deref()
            .unwrap()
            .contains("sso")
    );

    assert_eq!(r.threats.len(), 2);
    let idor = r
        .threats
        .iter()
        .find(|t| t.id == "import:threat-model-library:idor")
        .unwrap();
    assert_eq!(idor.references.cwe, vec![639]);
    assert_eq!(idor.references.capec, vec![122]);
    assert_eq!(
        idor.targets.iter().map(|t| t.kind).collect::<Vec<_>>(),
        vec![TargetKind::Component, TargetKind::Data]
    );
    assert_eq!(
        (
            idor.severity.level,
            idor.severity.likelihood,
            idor.severity.impact,
            idor.severity.score
        ),
        (Severity::High, 4, 4, 16)
    );
    assert_eq!(idor.mitigations[0].status, MitigationStatus::Implemented);
    let sqli = r
        .threats
        .iter()
        .find(|t| t.id == "import:threat-model-library:sqli")
        .unwrap();
    assert_eq!(sqli.targets[0].kind, TargetKind::Flow);
    assert_eq!(sqli.severity.level, Severity::Medium);
    assert!(sqli.stride.is_empty());
}

#[test]
fn threagile_fixture() {
    let bytes = fixture("sample_threagile.yaml");
    assert_eq!(detect(&bytes, "threagile.yaml"), Some(Format::Threagile));
    let r = tmc_import::threagile::import(&bytes).unwrap();
    assert_clean(&r, "threagile");
    let m = &r.model;
    assert_eq!(m.product.name, "Fixture app");
    assert_eq!(m.components.len(), 3);
    assert_eq!(m.data.len(), 2);
    assert_eq!(m.flows.len(), 2);
    assert_eq!(m.trust_boundaries.len(), 2);
    let browser = m.component("browser").unwrap();
    assert!(!browser.in_scope);
    assert_eq!(browser.trust_zone, Some(TrustZone::Internet));
    let app = m.component("app").unwrap();
    assert_eq!(app.technology, Technology::ApiService);
    assert_eq!(m.component("db").unwrap().encryption_at_rest, Some(true));
    let web = m
        .flows
        .iter()
        .find(|f| f.name.as_deref() == Some("Web Traffic"))
        .unwrap();
    assert_eq!(
        (web.protocol, web.encryption, web.authentication),
        (
            Some(Protocol::Https),
            Some(Encryption::Tls12),
            Some(AuthScheme::SessionCookie)
        )
    );
    assert_eq!(web.data, vec!["customer-data"]);
    let db_access = m
        .flows
        .iter()
        .find(|f| f.name.as_deref() == Some("DB Access"))
        .unwrap();
    assert_eq!(
        (db_access.protocol, db_access.encryption),
        (Some(Protocol::Sql), Some(Encryption::None))
    );
    let pw = m.data_asset("passwords").unwrap();
    assert_eq!(pw.classification, Classification::Restricted);
    assert_eq!(pw.stored_in, vec!["db"]);
    assert_eq!(pw.credentials, Some(true));
    let cloud = m.trust_boundaries.iter().find(|b| b.id == "cloud").unwrap();
    assert_eq!(cloud.boundaries, vec!["db-net"]);

    assert_eq!(r.threats.len(), 3);
    let at_db = r
        .threats
        .iter()
        .find(|t| t.id == "import:threagile:weak-hashing@db")
        .unwrap();
    assert_eq!(at_db.title, "Weak Hashing at Database");
    assert_eq!(
        at_db.status,
        ThreatStatus::Mitigated,
        "matched by weak-hashing@*"
    );
    assert_eq!(
        (
            at_db.severity.level,
            at_db.severity.likelihood,
            at_db.severity.impact
        ),
        (Severity::High, 3, 4)
    );
    assert_eq!(at_db.references.cwe, vec![916]);
    assert_eq!(at_db.mitigations[0].asvs, vec!["V2.4.1"]);
    assert_eq!(at_db.stride, vec![Stride::InformationDisclosure]);
    let on_link = r
        .threats
        .iter()
        .find(|t| t.id == "import:threagile:weak-hashing@app>db-access")
        .unwrap();
    assert_eq!(on_link.targets[0].kind, TargetKind::Flow);
    assert_eq!(on_link.severity.level, Severity::High, "elevated → high");
    let audit = r
        .threats
        .iter()
        .find(|t| t.id == "import:threagile:missing-audit@app")
        .unwrap();
    assert_eq!(audit.status, ThreatStatus::NotApplicable, "false positive");
    assert_eq!(audit.stride, vec![Stride::Repudiation]);
}

#[test]
fn dispatch_and_unknown_format() {
    let err = import(b"just some text", "notes.txt", None).unwrap_err();
    assert!(
        matches!(err, tmc_import::ImportError::UnknownFormat(_)),
        "{err}"
    );
    // An explicit format wins over detection.
    let err = import(&fixture("sample.tc.json"), "x.json", Some(Format::Otm)).unwrap_err();
    assert!(
        matches!(
            err,
            tmc_import::ImportError::Malformed { format: "otm", .. }
        ),
        "{err}"
    );
}
