//! Data-driven checks over the repository's model files:
//!
//! * `tests/fixtures/invalid/NAME.{yaml,json}` must fail, and the first error must have the code
//!   and `LINE:COLUMN` written in `NAME.expected` (one line: `CODE LINE:COLUMN`). Pinning the
//!   position, not just the code, is what keeps editor squiggles and SARIF locations honest.
//! * `tests/fixtures/warnings/NAME.yaml` must load without errors and raise at least the warning
//!   codes listed in `NAME.expected` (one per line, any order).
//! * Every `examples/*.yaml` must load with zero errors and match the published JSON Schema, so
//!   the examples shipped to users never drift from what the parser and the schema accept.
//!
//! Failures are collected per file and reported together, so one broken fixture does not hide
//! the others.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tmc_dsl::{Diagnostic, Level, MAX_MODEL_BYTES, parse_model, validate};

/// Parsing any single fixture (alias bombs and deep nesting included) must finish well within
/// this; a parser that expands an alias bomb takes minutes or runs out of memory instead.
/// Generous because debug builds share two cores with other builds.
const PER_FILE_BUDGET: Duration = Duration::from_secs(5);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Files directly in `dir` whose extension is one of `exts`, sorted for stable output.
fn files_with_ext(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| exts.contains(&e))
        })
        .collect();
    out.sort();
    out
}

fn display_name(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Parses and validates like `tmc validate` does: parse errors, or else every diagnostic.
fn diagnostics_for(bytes: &[u8], name: &str) -> Vec<Diagnostic> {
    match parse_model(bytes, name) {
        Ok(parsed) => validate(&parsed),
        Err(errors) => errors.0,
    }
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("    {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fail_if_any(what: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} {what} failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The sidecar of an invalid fixture: `CODE LINE:COLUMN`.
fn parse_expected_error(text: &str) -> Result<(String, u64, u64), String> {
    let line = text.trim();
    let (code, pos) = line
        .split_once(' ')
        .ok_or_else(|| format!("expected `CODE LINE:COLUMN`, got {line:?}"))?;
    let (l, c) = pos
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("expected `LINE:COLUMN`, got {pos:?}"))?;
    let l = l.parse().map_err(|e| format!("bad line {l:?}: {e}"))?;
    let c = c.parse().map_err(|e| format!("bad column {c:?}: {e}"))?;
    Ok((code.to_string(), l, c))
}

#[test]
fn invalid_fixtures_report_expected_first_error() {
    let dir = repo_root().join("tests/fixtures/invalid");
    let files = files_with_ext(&dir, &["yaml", "yml", "json"]);
    // Guards against the glob silently matching nothing after a move.
    assert!(
        files.len() >= 14,
        "expected at least 14 invalid fixtures in {}, found {}",
        dir.display(),
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = display_name(path);
        let sidecar = path.with_extension("expected");
        let expected = match fs::read_to_string(&sidecar) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: cannot read {}: {e}", sidecar.display()));
                continue;
            }
        };
        let (code, line, column) = match parse_expected_error(&expected) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{}: {e}", sidecar.display()));
                continue;
            }
        };
        let bytes = fs::read(path).expect("read fixture");
        let started = Instant::now();
        let diags = diagnostics_for(&bytes, &name);
        let took = started.elapsed();
        if took > PER_FILE_BUDGET {
            failures.push(format!(
                "{name}: took {took:?} (budget {PER_FILE_BUDGET:?})"
            ));
        }
        let Some(first) = diags.iter().find(|d| d.is_error()) else {
            failures.push(format!(
                "{name}: expected error {code} at {line}:{column}, but the model was accepted\n{}",
                render(&diags)
            ));
            continue;
        };
        if (first.code, first.line, first.column) != (code.as_str(), line, column) {
            failures.push(format!(
                "{name}: expected first error {code} at {line}:{column}, got {} at {}:{}\n{}",
                first.code,
                first.line,
                first.column,
                render(&diags)
            ));
        }
        if first.file != name {
            failures.push(format!("{name}: diagnostic names file {:?}", first.file));
        }
    }
    fail_if_any("invalid fixture(s)", failures);
}

#[test]
fn misspelt_names_get_a_suggestion() {
    let cases = [
        ("unknown-field-typo.yaml", "internet_facing"),
        ("unknown-enum.yaml", "database"),
        ("json-unknown-field.json", "encryption_at_rest"),
        ("flow-to-nowhere.yaml", "db"),
    ];
    let dir = repo_root().join("tests/fixtures/invalid");
    for (file, suggestion) in cases {
        let bytes = fs::read(dir.join(file)).expect("read fixture");
        let diags = diagnostics_for(&bytes, file);
        let first = diags
            .iter()
            .find(|d| d.is_error())
            .unwrap_or_else(|| panic!("{file}: no error"));
        let help = first.help.as_deref().unwrap_or_default();
        assert!(
            help.contains("did you mean") && help.contains(&format!("`{suggestion}`")),
            "{file}: expected a suggestion of `{suggestion}`, got help {help:?}"
        );
    }
}

#[test]
fn warning_fixtures_raise_expected_lints() {
    let dir = repo_root().join("tests/fixtures/warnings");
    let files = files_with_ext(&dir, &["yaml", "yml", "json"]);
    assert!(
        files.len() >= 5,
        "expected at least 5 warning fixtures in {}, found {}",
        dir.display(),
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = display_name(path);
        let sidecar = path.with_extension("expected");
        let expected: BTreeSet<String> = match fs::read_to_string(&sidecar) {
            Ok(t) => t
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect(),
            Err(e) => {
                failures.push(format!("{name}: cannot read {}: {e}", sidecar.display()));
                continue;
            }
        };
        if expected.is_empty() {
            failures.push(format!("{}: lists no warning codes", sidecar.display()));
            continue;
        }
        let bytes = fs::read(path).expect("read fixture");
        let diags = diagnostics_for(&bytes, &name);
        if diags.iter().any(Diagnostic::is_error) {
            failures.push(format!(
                "{name}: warning fixtures must have no errors\n{}",
                render(&diags)
            ));
            continue;
        }
        let got: BTreeSet<&str> = diags
            .iter()
            .filter(|d| d.level == Level::Warning)
            .map(|d| d.code)
            .collect();
        let missing: Vec<&String> = expected
            .iter()
            .filter(|c| !got.contains(c.as_str()))
            .collect();
        if !missing.is_empty() {
            failures.push(format!(
                "{name}: missing warning(s) {missing:?}\n{}",
                render(&diags)
            ));
        }
        // A warning is only useful if it points somewhere the author can click.
        for d in &diags {
            if d.line == 0 || d.column == 0 {
                failures.push(format!("{name}: warning without a position: {d}"));
            }
        }
    }
    fail_if_any("warning fixture(s)", failures);
}

fn example_files() -> Vec<PathBuf> {
    let dir = repo_root().join("examples");
    let files = files_with_ext(&dir, &["yaml", "yml"]);
    assert!(
        files.len() >= 6,
        "expected at least 6 examples in {}, found {}",
        dir.display(),
        files.len()
    );
    files
}

#[test]
fn examples_load_without_errors() {
    let mut failures = Vec::new();
    for path in example_files() {
        let name = display_name(&path);
        let bytes = fs::read(&path).expect("read example");
        let parsed = match parse_model(&bytes, &name) {
            Ok(p) => p,
            Err(errors) => {
                failures.push(format!("{name}: does not parse\n{}", render(&errors.0)));
                continue;
            }
        };
        let diags = validate(&parsed);
        if diags.iter().any(Diagnostic::is_error) {
            failures.push(format!("{name}: has errors\n{}", render(&diags)));
        }
        // The examples are meant to be realistic systems, not toy diagrams; keep them that way.
        let m = &parsed.model;
        let n = m.components.len();
        if !(8..=20).contains(&n) {
            failures.push(format!("{name}: has {n} components, expected 8 to 20"));
        }
        if m.flows.is_empty() || m.data.is_empty() {
            failures.push(format!("{name}: needs flows and data assets"));
        }
        if !m.trust_boundaries.iter().any(|b| !b.boundaries.is_empty()) {
            failures.push(format!("{name}: has no nested trust boundaries"));
        }
        if !m.data.iter().any(|d| d.credentials == Some(true)) {
            failures.push(format!("{name}: declares no credential data"));
        }
        if m.product.description.is_none() {
            failures.push(format!("{name}: has no product description"));
        }
    }
    fail_if_any("example(s)", failures);
}

#[test]
fn examples_match_json_schema() {
    let schema = tmc_dsl::schema::model_schema();
    let validator = jsonschema::validator_for(&schema).expect("model schema compiles");
    let mut failures = Vec::new();
    for path in example_files() {
        let name = display_name(&path);
        let text = fs::read_to_string(&path).expect("read example as UTF-8");
        let value: serde_json::Value = match serde_saphyr::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: not convertible to JSON: {e}"));
                continue;
            }
        };
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("    {} at {}", e, e.instance_path()))
            .collect();
        if !errors.is_empty() {
            failures.push(format!(
                "{name}: violates the schema\n{}",
                errors.join("\n")
            ));
        }
    }
    fail_if_any("example(s)", failures);
}

#[test]
fn schema_rejects_a_known_bad_model() {
    // Without this, a schema that accepts everything (e.g. `true`) would pass the test above.
    let schema = tmc_dsl::schema::model_schema();
    let validator = jsonschema::validator_for(&schema).expect("model schema compiles");
    let dir = repo_root().join("tests/fixtures/invalid");
    for file in [
        "unknown-field-typo.yaml",
        "unknown-enum.yaml",
        "missing-required.yaml",
    ] {
        let text = fs::read_to_string(dir.join(file)).expect("read fixture");
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("valid YAML");
        assert!(
            !validator.is_valid(&value),
            "{file}: schema accepted a model the parser rejects"
        );
    }
}

#[test]
fn oversized_input_is_rejected_quickly() {
    // Valid-looking YAML all the way through, so only the size check can stop it.
    let mut bytes = b"version: 1\nproduct:\n  name: Huge\nnotes: |\n".to_vec();
    let line = b"  padding padding padding padding padding padding padding padding\n";
    while bytes.len() <= MAX_MODEL_BYTES + 1024 * 1024 {
        bytes.extend_from_slice(line);
    }
    assert!(bytes.len() > MAX_MODEL_BYTES);
    let started = Instant::now();
    let result = parse_model(&bytes, "huge.yaml");
    let took = started.elapsed();
    let errors = match result {
        Ok(_) => panic!("a model over the size limit was accepted"),
        Err(e) => e.0,
    };
    assert_eq!(errors.len(), 1, "{}", render(&errors));
    assert_eq!(errors[0].code, "file-too-large");
    assert!(errors[0].is_error());
    assert!(
        took < Duration::from_millis(500),
        "size check took {took:?}; it must not parse the input"
    );
}
