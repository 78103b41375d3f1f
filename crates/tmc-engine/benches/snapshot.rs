//! Writes every example's draft as JSON, for byte-for-byte before/after comparisons of engine
//! changes (run: `SNAPSHOT_OUT=/tmp/x SNAPSHOT_RULES=/path/to/rules cargo bench -p tmc-engine
//! --bench snapshot`). With `SNAPSHOT_RULES` the drafts use only that directory's rule files,
//! loaded from YAML as `tmc draft --no-builtin-rules --rules DIR` does, so edits to `rules/`
//! do not move the comparison; the built-in set is dumped (its `Debug` form) and drafted too.

use std::path::{Path, PathBuf};

use tmc_engine::{DraftOptions, RuleSet, draft};

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}

fn main() {
    let Some(out) = std::env::var_os("SNAPSHOT_OUT").map(PathBuf::from) else {
        println!("snapshot: set SNAPSHOT_OUT (and SNAPSHOT_RULES) to write drafts; skipped");
        return;
    };
    let _ = std::fs::create_dir_all(&out);
    let mut sets: Vec<(&str, RuleSet)> = Vec::new();
    match RuleSet::builtin() {
        Ok(b) => {
            write(&out.join("builtin-ruleset.debug"), &format!("{b:#?}"));
            sets.push(("builtin", b));
        }
        Err(e) => eprintln!("built-in rules failed: {e:?}"),
    }
    if let Some(dir) = std::env::var_os("SNAPSHOT_RULES").map(PathBuf::from) {
        let mut set = RuleSet::default();
        for f in yaml_files(&dir) {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            if let Err(e) = set.add_file(&text, &f.display().to_string()) {
                eprintln!("{}: {e:?}", f.display());
            }
        }
        write(&out.join("frozen-ruleset.debug"), &format!("{set:#?}"));
        sets.push(("frozen", set));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut n = 0;
    for p in yaml_files(&repo.join("examples")) {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let Ok((parsed, _)) = tmc_dsl::load_checked(&bytes, &p.display().to_string()) else {
            eprintln!("{}: does not load", p.display());
            continue;
        };
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (label, set) in &sets {
            let opts = DraftOptions {
                source_file: Some(p.display().to_string()),
                ..Default::default()
            };
            let d = draft(&parsed.model, set, &opts);
            match serde_json::to_string_pretty(&d) {
                Ok(j) => write(&out.join(format!("{stem}.{label}.json")), &j),
                Err(e) => eprintln!("{stem}: {e}"),
            }
            n += 1;
        }
    }
    println!("snapshot: {n} drafts written to {}", out.display());
}
