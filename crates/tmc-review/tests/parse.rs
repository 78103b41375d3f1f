//! Parsing: every bad file in tests/data/parse-errors/NAME.yaml gives exactly the message in
//! NAME.expected (file:line:column, threat key, field); good files round-trip; hostile input
//! is refused without a panic.

mod common;

use tmc_model::{MitigationStatus, Severity, ThreatStatus};
use tmc_review::{Decisions, MAX_REVIEW_BYTES, ReviewError, parse};

#[test]
fn every_bad_file_gives_its_expected_message() {
    let dir = common::data("parse-errors");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "only {} cases", cases.len());
    for path in cases {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let expected = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|e| panic!("{name}: missing .expected: {e}"));
        let bytes = std::fs::read(&path).expect("read");
        match parse(&bytes, &name) {
            Ok(d) => panic!("{name}: parsed, expected an error: {d:?}"),
            Err(e) => assert_eq!(e.to_string(), expected.trim_end(), "{name}"),
        }
    }
}

#[test]
fn errors_carry_their_place_as_fields() {
    let bytes = std::fs::read(common::data("parse-errors/unknown-status.yaml")).expect("read");
    match parse(&bytes, "r.yaml") {
        Err(ReviewError::Parse { line, column, .. }) => assert_eq!((line, column), (4, 13)),
        other => panic!("{other:?}"),
    }
    let bytes = std::fs::read(common::data("parse-errors/bad-date.yaml")).expect("read");
    match parse(&bytes, "r.yaml") {
        Err(ReviewError::Invalid { key, line, .. }) => {
            assert_eq!((key.as_str(), line), ("TMC-DS-001@orders-db", 6));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_fixture_parses_with_every_field() {
    let d = common::decisions("review.yaml");
    assert_eq!(d.threats.len(), 9);
    let a = &d.threats["TMC-AUTHN-001@payments-api"];
    assert_eq!(a.status, Some(ThreatStatus::Mitigated));
    assert_eq!(a.mitigations[0].status, Some(MitigationStatus::Implemented));
    assert_eq!(
        a.was.as_ref().map(|w| w.targets.clone()),
        Some(vec!["component:payments-api".to_string()])
    );
    let ds = &d.threats["TMC-DS-001@orders-db"];
    assert_eq!(
        ds.severity.as_ref().map(|s| s.level),
        Some(Severity::Critical)
    );
    assert_eq!(d.manual_threats.len(), 2);
    // Other tools' status names are accepted (the model's aliases).
    let d = parse(
        b"review_version: 1\nthreats:\n  A-1@x: {status: false-positive, justification: no}\n",
        "r.yaml",
    )
    .expect("alias");
    assert_eq!(d.threats["A-1@x"].status, Some(ThreatStatus::NotApplicable));
}

#[test]
fn to_yaml_is_stable_and_round_trips() {
    let d = common::decisions("review.yaml");
    let yaml = d.to_yaml().expect("yaml");
    assert!(yaml.starts_with(tmc_review::decisions::HEADER));
    // Patterns starting with `*` come out quoted, so the file reads back.
    assert!(yaml.contains("\"*@gone-thing\":"), "{yaml}");
    let back = parse(yaml.as_bytes(), "out.yaml").expect("round trip");
    assert_eq!(back, d);
    assert_eq!(back.to_yaml().expect("yaml"), yaml, "same bytes twice");
    // Manual threats are written sorted by id whatever their order in memory.
    let mut shuffled = d.clone();
    shuffled.manual_threats.reverse();
    assert_eq!(shuffled.to_yaml().expect("yaml"), yaml);
}

#[test]
fn empty_and_comment_only_files_are_an_empty_review() {
    for text in ["", "\n\n", "# nothing decided yet\n", "\u{feff}"] {
        assert_eq!(
            parse(text.as_bytes(), "r.yaml").expect(text),
            Decisions::default()
        );
    }
}

#[test]
fn hostile_input_is_refused_without_panicking() {
    // Over the size cap: refused before parsing.
    let big = vec![b'#'; MAX_REVIEW_BYTES + 1];
    assert!(matches!(
        parse(&big, "big.yaml"),
        Err(ReviewError::TooLarge { .. })
    ));
    // Billion laughs.
    let mut bomb = String::from("review_version: 1\nmodel: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "k{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(parse(bomb.as_bytes(), "bomb.yaml").is_err());
    // Deep nesting.
    let deep = format!(
        "review_version: 1\nmodel: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(parse(deep.as_bytes(), "deep.yaml").is_err());
    // Garbage: every byte value, truncations of a real file, random-ish mutations.
    let real = common::read("review.yaml");
    let mut inputs: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b; 64]).collect();
    for cut in (0..real.len()).step_by(7) {
        inputs.push(real.as_bytes()[..cut].to_vec());
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        let mut m = real.as_bytes().to_vec();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % m.len();
            m[i] = (seed >> 32) as u8;
        }
        inputs.push(m);
    }
    for input in inputs {
        // Must return (Ok or Err); a panic fails the test.
        let _ = parse(&input, "garbage.yaml");
    }
}

#[test]
fn the_schema_describes_the_file() {
    let schema = tmc_review::schema();
    let text = schema.to_string();
    for needle in [
        "review_version",
        "manual_threats",
        "justification",
        "not-applicable",
        "was",
    ] {
        assert!(text.contains(needle), "schema lacks {needle}");
    }
    assert_eq!(
        schema["additionalProperties"],
        serde_json::Value::Bool(false)
    );
}

#[test]
fn the_example_in_docs_review_md_is_a_valid_file() {
    // Canonical first: the crate directory may be reached through a symlink.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .expect("crate dir");
    let doc = std::fs::read_to_string(root.join("../../docs/review.md")).expect("docs/review.md");
    let start = doc.find("```yaml\n").expect("a yaml block") + 8;
    let len = doc[start..].find("```").expect("closed");
    let d = parse(&doc.as_bytes()[start..start + len], "docs/review.md").expect("valid example");
    assert_eq!(d.threats.len(), 4);
    assert_eq!(d.manual_threats.len(), 1);
}
