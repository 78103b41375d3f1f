//! Bad input must produce an error naming the format and the place, never a panic: truncated
//! files, wrong types, hostile nesting, oversized input, and every single-node type confusion
//! of the fixtures.

use tmc_import::{ImportError, ImportResult, MAX_IMPORT_BYTES};

type Importer = fn(&[u8]) -> Result<ImportResult, ImportError>;

const JSON_IMPORTERS: [(&str, Importer, &str); 5] = [
    (
        "threat-dragon",
        tmc_import::threat_dragon::import,
        "threat_dragon_v2.json",
    ),
    (
        "threat-dragon",
        tmc_import::threat_dragon::import,
        "threat_dragon_v1.json",
    ),
    (
        "threat-composer",
        tmc_import::threat_composer::import,
        "sample.tc.json",
    ),
    ("otm", tmc_import::otm::import, "sample.otm.json"),
    (
        "threat-model-library",
        tmc_import::tml::import,
        "sample_tml.json",
    ),
];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn malformed_at(r: Result<ImportResult, ImportError>) -> (&'static str, String, String) {
    match r {
        Err(ImportError::Malformed {
            format,
            location,
            message,
        }) => (format, location, message),
        Err(other) => panic!("expected Malformed, got {other}"),
        Ok(_) => panic!("expected an error, got a model"),
    }
}

#[test]
fn truncated_json_reports_line_and_column() {
    for (format, import, file) in JSON_IMPORTERS {
        let bytes = fixture(file);
        let (f, location, message) = malformed_at(import(&bytes[..bytes.len() / 2]));
        assert_eq!(f, format);
        assert!(location.contains(':'), "{file}: location {location}");
        assert!(message.contains("JSON"), "{file}: {message}");
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for (_, import, file) in JSON_IMPORTERS {
        let bytes = fixture(file);
        let whole = bytes.trim_ascii_end().len();
        for cut in (0..whole).step_by(13) {
            assert!(import(&bytes[..cut]).is_err(), "{file} cut at {cut}");
        }
    }
    let yaml = fixture("sample_threagile.yaml");
    for cut in (0..yaml.len()).step_by(11) {
        let _ = tmc_import::threagile::import(&yaml[..cut]);
    }
}

#[test]
fn wrong_types_name_the_json_pointer() {
    let cases: [(Importer, &str, &str); 9] = [
        (
            tmc_import::threat_dragon::import,
            r#"{"summary":{},"detail":{"diagrams":"x"}}"#,
            "/detail/diagrams",
        ),
        (
            tmc_import::threat_dragon::import,
            r#"{"detail":{"diagrams":[{"cells":[1]}]}}"#,
            "/detail/diagrams/0/cells/0",
        ),
        (
            tmc_import::threat_dragon::import,
            r#"{"detail":{"diagrams":[{"cells":[{"shape":"process","id":"p","data":{"threats":{}}}]}]}}"#,
            "/detail/diagrams/0/cells/0/data/threats",
        ),
        (
            tmc_import::threat_composer::import,
            r#"{"applicationInfo":{},"threats":{}}"#,
            "/threats",
        ),
        (
            tmc_import::threat_composer::import,
            r#"{"threats":[{"id":"t","impactedAssets":["ok",{}]}]}"#,
            "/threats/0/impactedAssets/1",
        ),
        (
            tmc_import::otm::import,
            r#"{"otmVersion":"0.2.0","trustZones":"x"}"#,
            "/trustZones",
        ),
        (
            tmc_import::otm::import,
            r#"{"otmVersion":"0.2.0","components":[{"name":"no id"}]}"#,
            "/components/0/id",
        ),
        (
            tmc_import::tml::import,
            r#"{"version":"1","scope":{},"actors":[{"title":"x"}]}"#,
            "/actors/0/symbolic_name",
        ),
        (
            tmc_import::tml::import,
            r#"{"scope":{},"threats":[{"symbolic_name":"t","weaknesses":[{"cwe_id":"abc"}]}]}"#,
            "/threats/0/weaknesses/0/cwe_id",
        ),
    ];
    for (import, input, pointer) in cases {
        let (_, location, message) = malformed_at(import(input.as_bytes()));
        assert_eq!(location, pointer, "{input}: {message}");
    }
}

#[test]
fn not_the_expected_document() {
    for (format, import, _) in JSON_IMPORTERS {
        for input in ["[]", "42", "{}", "\"text\""] {
            let (f, _, _) = malformed_at(import(input.as_bytes()));
            assert_eq!(f, format, "{input}");
        }
    }
    for input in [
        "- a\n- b\n",
        "title: x\n",
        "technical_assets: [1, 2]\n",
        "just text",
    ] {
        let (f, _, _) = malformed_at(tmc_import::threagile::import(input.as_bytes()));
        assert_eq!(f, "threagile", "{input}");
    }
    let (_, location, _) = malformed_at(tmc_import::threagile::import(
        b"technical_assets:\n  a: [\n",
    ));
    assert!(location.contains(':'), "{location}");
    assert!(tmc_import::threat_dragon::import(&[0xff, 0xfe, 0x00]).is_err());
}

#[test]
fn hostile_nesting_is_refused() {
    let deep_json = format!(
        "{{\"detail\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    for (_, import, _) in JSON_IMPORTERS {
        assert!(import(deep_json.as_bytes()).is_err());
        assert!(import("[".repeat(1_000_000).as_bytes()).is_err());
    }
    let deep_yaml = format!(
        "technical_assets: {}{}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(tmc_import::threagile::import(deep_yaml.as_bytes()).is_err());
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("b{}", i - 1)
        };
        bomb.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    bomb.push_str("technical_assets: *b11\n");
    assert!(
        tmc_import::threagile::import(bomb.as_bytes()).is_err(),
        "alias expansion must be bounded"
    );
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = vec![b' '; MAX_IMPORT_BYTES + 1];
    let importers: [Importer; 5] = [
        tmc_import::threat_dragon::import,
        tmc_import::threat_composer::import,
        tmc_import::otm::import,
        tmc_import::tml::import,
        tmc_import::threagile::import,
    ];
    for import in importers {
        assert!(matches!(import(&big), Err(ImportError::TooLarge { .. })));
    }
}

/// Replaces each node of a fixture, one at a time, with values of every other JSON type.
#[test]
fn every_single_type_confusion_is_handled() {
    fn paths(v: &serde_json::Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(at.clone());
        match v {
            serde_json::Value::Object(m) => {
                for (k, c) in m {
                    let mut p = at.clone();
                    p.push(k.clone());
                    paths(c, p, out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let mut p = at.clone();
                    p.push(i.to_string());
                    paths(c, p, out);
                }
            }
            _ => {}
        }
    }
    fn node<'a>(v: &'a mut serde_json::Value, path: &[String]) -> &'a mut serde_json::Value {
        path.iter().fold(v, |v, k| match v {
            serde_json::Value::Array(a) => &mut a[k.parse::<usize>().unwrap_or_default()],
            other => &mut other[k.as_str()],
        })
    }
    let replacements = [
        serde_json::json!(null),
        serde_json::json!(7),
        serde_json::json!("x"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!(-1e300),
    ];
    for (_, import, file) in JSON_IMPORTERS {
        let original: serde_json::Value = serde_json::from_slice(&fixture(file)).unwrap();
        let mut all = Vec::new();
        paths(&original, Vec::new(), &mut all);
        for path in all {
            for rep in &replacements {
                let mut v = original.clone();
                *node(&mut v, &path) = rep.clone();
                // Either outcome is fine; a panic fails the test. Models that do import must
                // still be valid.
                if let Ok(r) = import(&serde_json::to_vec(&v).unwrap()) {
                    let parsed = tmc_dsl::ParsedModel {
                        model: r.model,
                        file: file.into(),
                        index: Default::default(),
                    };
                    let errors: Vec<_> = tmc_dsl::validate(&parsed)
                        .into_iter()
                        .filter(tmc_dsl::Diagnostic::is_error)
                        .collect();
                    assert!(
                        errors.is_empty(),
                        "{file} with {path:?} = {rep}: {errors:?}"
                    );
                }
            }
        }
    }
}
