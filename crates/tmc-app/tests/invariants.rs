//! ARCHITECTURE.md's invariant "only the front ends touch the process, files, the environment
//! and the network; the libraries do so only in the modules named there", enforced: every
//! library crate's sources are scanned for environment access, file I/O, process spawning and
//! network use, and anything outside the allowed modules fails with file and line. The table
//! below is the list ARCHITECTURE.md prints; change both together.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Env,
    Fs,
    Process,
    Net,
}

/// Source patterns per kind. Coarse on purpose: a false alarm costs one line in ALLOWED, a
/// miss costs the invariant.
const PATTERNS: &[(Kind, &str)] = &[
    (Kind::Env, "env::var"),
    (Kind::Env, "env::vars"),
    (Kind::Env, "env::set_var"),
    (Kind::Fs, "std::fs"),
    (Kind::Fs, "fs::"),
    (Kind::Fs, "File::"),
    (Kind::Fs, "OpenOptions"),
    (Kind::Process, "process::Command"),
    (Kind::Process, "Command::new"),
    (Kind::Net, "ureq::"),
    (Kind::Net, "TcpStream"),
    (Kind::Net, "TcpListener"),
    (Kind::Net, "UdpSocket"),
    (Kind::Net, "postgres::"),
    (Kind::Net, "object_store::"),
    (Kind::Net, "tokio::net"),
];

/// (path prefix under crates/, kinds allowed there, why). Front ends (`tmc-cli`, `tmc-server`)
/// may do anything; they are the top of the dependency order.
const ALLOWED: &[(&str, &[Kind], &str)] = &[
    (
        "tmc-cli/",
        &[Kind::Env, Kind::Fs, Kind::Process, Kind::Net],
        "the binary",
    ),
    (
        "tmc-server/",
        &[Kind::Env, Kind::Fs, Kind::Process, Kind::Net],
        "the team server front end",
    ),
    ("tmc-app/src/settings.rs", &[Kind::Fs], "reads tmc.toml"),
    (
        "tmc-app/src/backends.rs",
        &[Kind::Fs],
        "prompt overrides and the CWE catalogue named in the settings",
    ),
    (
        "tmc-artifacts/src/local.rs",
        &[Kind::Fs],
        "the local artifact directory",
    ),
    ("tmc-artifacts/src/s3.rs", &[Kind::Net], "S3"),
    (
        "tmc-aws/src/credentials.rs",
        &[Kind::Fs],
        "the shared AWS credentials file",
    ),
    (
        "tmc-aws/src/container.rs",
        &[Kind::Fs],
        "the container credentials token file",
    ),
    (
        "tmc-aws/src/http.rs",
        &[Kind::Net],
        "the container and instance-metadata credential endpoints",
    ),
    (
        "tmc-eval/src/bench.rs",
        &[Kind::Fs],
        "the benchmark directory",
    ),
    (
        "tmc-kb/src/index.rs",
        &[Kind::Fs],
        "the SQLite index file's directory",
    ),
    (
        "tmc-kb/src/ingest.rs",
        &[Kind::Fs],
        "walks the paths given to `tmc kb ingest`",
    ),
    (
        "tmc-kb/src/embed/local.rs",
        &[Kind::Fs],
        "embedding weights from a local directory",
    ),
    (
        "tmc-kb/src/embed.rs",
        &[Kind::Net, Kind::Env],
        "OpenAI-compatible embeddings; `build()` is the env-reading convenience for tests",
    ),
    (
        "tmc-kb/src/embed/bedrock.rs",
        &[Kind::Net],
        "Bedrock embeddings",
    ),
    ("tmc-kb/src/pg.rs", &[Kind::Net], "PostgreSQL + pgvector"),
    (
        "tmc-pg/",
        &[Kind::Net, Kind::Fs],
        "PostgreSQL connections with TLS, the `sslrootcert` file",
    ),
    (
        "tmc-llm/src/transport.rs",
        &[Kind::Net],
        "all HTTP of the copilot",
    ),
    (
        "tmc-llm/src/audit.rs",
        &[Kind::Fs, Kind::Env],
        "the audit log file; the OS user name recorded per call",
    ),
    (
        "tmc-llm/src/prompt.rs",
        &[Kind::Fs],
        "prompt overrides (`llm.prompts_dir`)",
    ),
    (
        "tmc-review/src/file.rs",
        &[Kind::Fs],
        "the decisions file: lock, atomic write",
    ),
    (
        "tmc-store/",
        &[Kind::Fs, Kind::Net],
        "the server's store: SQLite file, PostgreSQL",
    ),
];

/// One finding: `crates/<file>:<line>: <kind> (<pattern>)`.
fn scan(rel: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break; // unit tests below may use files freely
        }
        if code.starts_with("//") {
            continue;
        }
        for (kind, pat) in PATTERNS {
            if contains_word(code, pat) && !allowed(rel, *kind) {
                out.push(format!("crates/{rel}:{}: {kind:?} ({pat})", n + 1));
            }
        }
    }
    out
}

/// `pat` in `code` where it starts a word (`std::fs::read`, not `prefs::` or `ureq_like::`).
fn contains_word(code: &str, pat: &str) -> bool {
    code.match_indices(pat).any(|(i, _)| {
        !code[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn allowed(rel: &str, kind: Kind) -> bool {
    ALLOWED
        .iter()
        .any(|(prefix, kinds, _)| rel.starts_with(prefix) && kinds.contains(&kind))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn libraries_touch_the_outside_world_only_where_architecture_md_says() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for c in std::fs::read_dir(&crates).unwrap().flatten() {
        // Only library sources: tests, benches and examples may do as they like.
        rust_files(&c.path().join("src"), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut findings = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(&crates)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(f).unwrap();
        findings.extend(scan(&rel, &text));
    }
    assert!(
        findings.is_empty(),
        "outside-world access outside the modules ARCHITECTURE.md allows:\n{}",
        findings.join("\n")
    );
}

#[test]
fn the_scanner_catches_a_planted_violation_with_its_line() {
    let planted = "//! a pure crate\nfn f() {\n    let k = std::env::var(\"X\");\n    let _ = std::fs::read(\"y\");\n}\n#[cfg(test)]\nmod tests { fn t() { std::fs::read(\"z\"); } }\n";
    let found = scan("tmc-engine/src/engine.rs", planted);
    assert_eq!(
        found,
        vec![
            "crates/tmc-engine/src/engine.rs:3: Env (env::var)".to_string(),
            "crates/tmc-engine/src/engine.rs:4: Fs (std::fs)".to_string(),
            "crates/tmc-engine/src/engine.rs:4: Fs (fs::)".to_string(),
        ]
    );
    // The same lines in an allowed module are fine, and comments never count.
    assert!(scan("tmc-review/src/file.rs", "let _ = std::fs::read(\"y\");").is_empty());
    assert!(scan("tmc-model/src/lib.rs", "// std::fs::read is not used here").is_empty());
    // Only whole words: `refs::` is not `fs::`.
    assert!(scan("tmc-model/src/lib.rs", "use crate::refs::Thing;").is_empty());
    assert_eq!(
        scan("tmc-model/src/lib.rs", "let _ = fs::read(p);").len(),
        1
    );
}

/// ARCHITECTURE.md's code map lists crates so that "dependencies point down this list only": a
/// crate may depend only on crates listed above it. Checked against every crate's manifest.
#[test]
fn dependencies_point_down_the_code_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let order: Vec<String> = arch
        .lines()
        .filter(|l| l.starts_with("| `tmc-"))
        .map(|l| l.split('`').nth(1).unwrap().to_string())
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    on_disk.sort();
    let mut listed = order.clone();
    listed.sort();
    assert_eq!(
        listed, on_disk,
        "every crate has exactly one row in the code map"
    );
    let mut wrong = Vec::new();
    for (i, name) in order.iter().enumerate() {
        let manifest =
            std::fs::read_to_string(root.join("crates").join(name).join("Cargo.toml")).unwrap();
        let mut in_deps = false;
        for line in manifest.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                in_deps = l == "[dependencies]";
                continue;
            }
            if !in_deps || !l.starts_with("tmc-") {
                continue;
            }
            let dep = l.split(['.', ' ', '=']).next().unwrap();
            match order.iter().position(|o| o == dep) {
                Some(j) if j < i => {}
                _ => wrong.push(format!(
                    "{name} depends on {dep}, which is not listed above it"
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
