//! Embeds the built-in rules from `rules/` at the repository root, parsed and checked here at
//! build time, so the `tmc` binary works offline with no files beside it, while the rules stay
//! editable data.
//!
//! Parsing 180-odd rules of YAML at every start was most of a small draft's time. This script
//! parses each file with the runtime's own schema and parser (`src/rules/spec.rs`, included
//! below), syntax-checks every condition (`src/expr.rs`), and writes the parsed rules as one
//! JSON document that the runtime loads in well under a millisecond. Problems are printed as
//! `cargo:warning` lines with file:line:column; a file that does not parse is embedded for the
//! runtime to parse as YAML, so `RuleSet::builtin()` reports exactly the error an organisation
//! rule file would give (a mid-edit rule file must not break everyone's build).
//!
//! Attribute names, literal values and templates need the attribute table, which depends on
//! the model crate; those are checked when the rules are compiled at start-up (microseconds per
//! rule) and by `tests/builtin.rs`.

use std::fmt::Write as _;
use std::path::Path;

#[allow(dead_code)]
#[path = "src/expr.rs"]
mod expr;

#[allow(dead_code)]
#[path = "src/rules/spec.rs"]
mod spec;

/// Stand-in for `tmc_engine::attrs::TargetType` so that `spec.rs` compiles here. Only its serde
/// names matter: they must stay those of the real type (a new target type added there and used
/// by a built-in rule shows up here as an "unknown variant" warning and a YAML fallback).
mod attrs {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum TargetType {
        Component,
        Flow,
        Data,
    }
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yaml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut files = Vec::with_capacity(names.len());
    let mut list = String::from(
        "/// (file name, contents) of every built-in rule file: the digest hashes these, and a\n/// file `build.rs` could not parse is parsed from here at run time.\npub const BUILTIN_RULE_FILES: &[(&str, &str)] = &[\n",
    );
    for n in &names {
        let path = dir.join(n);
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            list,
            "    ({n:?}, include_str!({:?})),",
            path.display().to_string()
        );
        let shown = format!("rules/{n}");
        let rules = match std::fs::read_to_string(&path) {
            Ok(text) if text.len() <= spec::MAX_RULE_FILE_BYTES => match spec::parse_yaml(&text) {
                Ok(rules) => {
                    check_conditions(&shown, &rules);
                    Some(rules)
                }
                Err(e) => {
                    println!(
                        "cargo:warning={shown}:{}:{}: {}",
                        e.line, e.column, e.message
                    );
                    None
                }
            },
            Ok(_) => {
                println!(
                    "cargo:warning={shown}: rule file exceeds {} bytes",
                    spec::MAX_RULE_FILE_BYTES
                );
                None
            }
            Err(e) => {
                println!("cargo:warning={shown}: cannot read: {e}");
                None
            }
        };
        files.push(spec::BuiltinFile {
            name: n.clone(),
            rules,
        });
    }
    list.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    let json_path = Path::new(&out_dir).join("builtin_rules.json");
    let _ = writeln!(
        list,
        "/// The built-in rules parsed by `build.rs` ([`crate::rules::BuiltinFile`] per file).\npub const BUILTIN_RULES_JSON: &str = include_str!({:?});",
        json_path.display().to_string()
    );
    let json = match serde_json::to_string(&files) {
        Ok(j) => j,
        Err(e) => fail(&format!("cannot serialise the built-in rules: {e}")),
    };
    for (dest, text) in [
        (json_path, json),
        (Path::new(&out_dir).join("builtin_rules.rs"), list),
    ] {
        if let Err(e) = std::fs::write(&dest, text) {
            fail(&format!("cannot write {}: {e}", dest.display()));
        }
    }
}

/// Syntax-checks every condition of a file's rules; problems become build warnings naming the
/// rule's file:line:column (the runtime reports them again, as errors, when compiling).
fn check_conditions(file: &str, rules: &[spec::PlacedRule]) {
    for r in rules {
        let s = &r.spec;
        let mut conds: Vec<(String, &str)> = vec![("when".into(), s.when.as_str())];
        for (i, c) in s.controls.iter().enumerate() {
            conds.push((format!("controls[{i}].when"), c.when.as_str()));
        }
        for (i, m) in s.mitigations.iter().enumerate() {
            if let Some(w) = &m.implemented_when {
                conds.push((format!("mitigations[{i}].implemented_when"), w.as_str()));
            }
        }
        for (what, text) in conds {
            if let Err(e) = expr::parse(text) {
                println!(
                    "cargo:warning={file}:{}:{}: rule {}: {what}: {e} in `{}`",
                    r.line,
                    r.column,
                    s.id,
                    text.trim()
                );
            }
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
