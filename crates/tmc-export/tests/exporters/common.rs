use std::collections::BTreeMap;
use std::path::PathBuf;

use tmc_model::{
    Draft, Generator, Mitigation, MitigationStatus, Product, Provenance, References, Severity,
    SeverityAssessment, Stride, SystemModel, TargetKind, TargetRef, Threat, ThreatStatus,
};

/// The two example models (with drafts made by `tmc draft` and committed alongside).
pub const EXAMPLES: [&str; 2] = ["cicd-platform", "rag-chatbot"];

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn model(name: &str) -> SystemModel {
    let text = std::fs::read_to_string(fixture(&format!("{name}.yaml"))).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// The reviewed draft fixture: one threat per status, every review field, hostile text,
/// orphaned decisions; its `source_file` is absolute (`/abs/checkout/models/hostile.yaml`).
pub fn reviewed_draft() -> Draft {
    draft("reviewed")
}

pub fn draft(name: &str) -> Draft {
    let text = std::fs::read_to_string(fixture(&format!("{name}.draft.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Compares with a committed expected file; `UPDATE_EXPECT=1` rewrites it instead.
pub fn expect_file(name: &str, actual: &str) {
    let path = fixture("expected").join(name);
    if std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing {}; run with UPDATE_EXPECT=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the output (UPDATE_EXPECT=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

pub fn threat(id: &str, title: &str, description: &str, target: TargetRef) -> Threat {
    Threat {
        id: id.to_string(),
        title: title.to_string(),
        description: description.to_string(),
        stride: vec![Stride::Tampering, Stride::InformationDisclosure],
        targets: vec![target],
        references: References {
            cwe: vec![79],
            capec: vec![63],
            owasp_top10_2021: vec!["A03".to_string()],
            owasp_top10_2025: vec!["A05".to_string()],
            ..References::default()
        },
        severity: SeverityAssessment {
            level: Severity::High,
            likelihood: 4,
            impact: 4,
            score: 16,
            factors: Vec::new(),
            downgraded_by: None,
        },
        mitigations: vec![Mitigation {
            id: "M-1".to_string(),
            text: "Encode output, \"always\"".to_string(),
            asvs: vec!["V5.3.3".to_string()],
            status: MitigationStatus::Implemented,
            owner: None,
            ticket: None,
            due: None,
        }],
        provenance: Provenance::Rule {
            also_raised_by: Vec::new(),
            rule_id: "TMC-TEST-001".to_string(),
            triggered_by: BTreeMap::new(),
        },
        status: ThreatStatus::Draft,
        review: None,
    }
}

pub fn target(kind: TargetKind, id: &str, name: &str) -> TargetRef {
    TargetRef {
        kind,
        id: id.to_string(),
        name: name.to_string(),
    }
}

/// A draft for the `hostile.yaml` model whose text exercises CSV quoting and formula injection.
pub fn hostile_draft() -> Draft {
    let web = target(TargetKind::Component, "web", "Web");
    let mut model_threat = threat(
        "llm:1",
        "@SUM(A1:A9) looks like a formula",
        "+1 and -1 too",
        target(TargetKind::Flow, "f1", "login"),
    );
    model_threat.provenance = Provenance::Model {
        provider: "local".to_string(),
        model: "test".to_string(),
        prompt_version: "1".to_string(),
        retrieved: Vec::new(),
    };
    model_threat.severity.level = Severity::Medium;
    model_threat.status = ThreatStatus::Mitigated;
    let mut imported = threat(
        "import:otm:t1",
        "Imported, low",
        "Line one\nline two, with \"quotes\"",
        target(TargetKind::Data, "nope", "Unknown data"),
    );
    imported.provenance = Provenance::Import {
        format: "otm".to_string(),
        source_id: "t1".to_string(),
    };
    imported.severity.level = Severity::Low;
    Draft {
        draft_version: tmc_model::DRAFT_VERSION,
        product: Product {
            name: "Hostile".to_string(),
            ..Product::default()
        },
        source_file: Some("hostile.yaml".to_string()),
        generator: Generator {
            tool: "tmc".to_string(),
            version: "0.1.0".to_string(),
            mode: "rules".to_string(),
            rules_loaded: 1,
            ruleset_digest: "0000".to_string(),
        },
        threats: vec![
            threat(
                "TMC-TEST-001@web",
                "Cross-site scripting, \"stored\" in Web",
                "A comment with a comma, a \"quote\"\nand a newline.",
                web.clone(),
            ),
            threat(
                "TMC-TEST-001@api",
                "=HYPERLINK(\"http://x\",\"click\")",
                "-2+3",
                target(TargetKind::Component, "api", "API"),
            ),
            model_threat,
            imported,
        ],
        suppressed: vec![tmc_model::SuppressedThreat {
            id: "TMC-TEST-002@db".to_string(),
            title: "Unencrypted store in Orders DB".to_string(),
            rule_id: "TMC-TEST-002".to_string(),
            targets: vec![target(TargetKind::Component, "db", "Orders DB")],
            reason: "Encryption at rest is declared.".to_string(),
        }],
        coverage: Vec::new(),
        review: None,
    }
}
