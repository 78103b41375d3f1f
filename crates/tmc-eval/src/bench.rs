//! Loading the development benchmark (`shared/bench`): the only module that touches files.
//!
//! Everything here is tolerant of the shapes the public sources actually have (CWE ids as
//! numbers or as `"CWE-79"`, STRIDE as letters or names, severities such as
//! `"likelihood=100 impact=100"` that are not a level) because a scorer that rejects a whole
//! benchmark for one odd field is worse than one that drops the field. Only structural
//! problems (not JSON, not an object, no title) are errors.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tmc_model::draft::{
    Mitigation, MitigationStatus, Provenance, References, Severity, SeverityAssessment, Stride,
    TargetKind, TargetRef, Threat, ThreatStatus,
};

use crate::error::EvalError;

/// Benchmark files are at most a few hundred kilobytes; anything past this is a wrong path.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Name of the normalised reference file inside the benchmark directory.
pub const REFERENCES_FILE: &str = "references.jsonl";

/// UAVThreatBench files, as copied into `sources/`.
pub const UAV_GROUND_TRUTH_FILE: &str = "sources/piyenghar__UAVThreatBench__results__benchmark_100_random_scenarios_withThreats_groundtruth.json";
pub const UAV_GPT4O_FILE: &str = "sources/piyenghar__UAVThreatBench__results__gpt-4o_threats.json";
pub const UAV_LOG_FILE: &str = "sources/piyenghar__UAVThreatBench__results__evaluation_log.txt";

/// Datasets whose "references" are another tool's output. They are a baseline to beat, not
/// ground truth, so their scores are always reported apart from the expert-written ones.
pub const TOOL_BASELINE_DATASETS: &[&str] =
    &["otm-sample-mobile-cloud", "iriusrisk-3tier-cookbook"];

/// True for datasets produced by a commercial rule engine (see [`TOOL_BASELINE_DATASETS`]).
pub fn is_tool_baseline(dataset: &str) -> bool {
    TOOL_BASELINE_DATASETS.contains(&dataset)
}

/// One reference threat from `references.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceThreat {
    pub dataset: String,
    pub system: String,
    pub ref_id: String,
    pub title: String,
    pub text: String,
    /// Empty when the source has no STRIDE labels (then it is left out of STRIDE recall).
    pub stride: Vec<Stride>,
    pub components: Vec<String>,
    /// `None` when the source has none or it is not a level (IriusRisk's likelihood/impact).
    pub severity: Option<Severity>,
    pub mitigations: Vec<String>,
    pub cwe: Vec<u32>,
    pub capec: Vec<u32>,
    pub source_file: String,
}

impl ReferenceThreat {
    /// The reference as a [`Threat`] with the same text, for self-checks of the matcher and
    /// for scoring a tool baseline as if it were a draft.
    ///
    /// Components become component targets, so [`crate::matching::threat_text`] of the result
    /// equals [`crate::matching::reference_text`] of the reference. A missing severity becomes
    /// a neutral medium (3 × 3).
    pub fn to_threat(&self) -> Threat {
        let level = self.severity.unwrap_or(Severity::Medium);
        Threat {
            id: format!("{}:{}", self.dataset, self.ref_id),
            title: self.title.clone(),
            description: self.text.clone(),
            stride: self.stride.clone(),
            targets: self
                .components
                .iter()
                .map(|c| TargetRef {
                    kind: TargetKind::Component,
                    id: c.clone(),
                    name: c.clone(),
                })
                .collect(),
            references: References {
                cwe: self.cwe.clone(),
                capec: self.capec.clone(),
                ..References::default()
            },
            severity: SeverityAssessment {
                level,
                likelihood: 3,
                impact: 3,
                score: 9,
                factors: Vec::new(),
                downgraded_by: None,
            },
            mitigations: self
                .mitigations
                .iter()
                .enumerate()
                .map(|(i, m)| Mitigation {
                    id: format!("M{}", i + 1),
                    text: m.clone(),
                    asvs: Vec::new(),
                    status: MitigationStatus::Proposed,
                    owner: None,
                    ticket: None,
                    due: None,
                })
                .collect(),
            provenance: Provenance::Import {
                format: "tmc-bench-reference".to_string(),
                source_id: self.ref_id.clone(),
            },
            status: ThreatStatus::Draft,
            review: None,
        }
    }
}

/// Key of one reference system: (dataset, system).
pub type SystemKey = (String, String);

/// Groups references by (dataset, system), in sorted order so reports are stable.
pub fn group_by_system(refs: &[ReferenceThreat]) -> BTreeMap<SystemKey, Vec<ReferenceThreat>> {
    let mut groups: BTreeMap<SystemKey, Vec<ReferenceThreat>> = BTreeMap::new();
    for r in refs {
        groups
            .entry((r.dataset.clone(), r.system.clone()))
            .or_default()
            .push(r.clone());
    }
    groups
}

/// Reads a file of at most [`MAX_FILE_BYTES`] as UTF-8.
pub fn read_bounded(path: &Path) -> Result<String, EvalError> {
    let io = |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(EvalError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(text)
}

/// Loads `<bench_dir>/references.jsonl`.
pub fn load_references(bench_dir: &Path) -> Result<Vec<ReferenceThreat>, EvalError> {
    let path = bench_dir.join(REFERENCES_FILE);
    let text = read_bounded(&path)?;
    parse_references(&text, &path)
}

/// Parses JSONL reference threats; `path` is only used in error messages. Blank lines are
/// skipped.
pub fn parse_references(text: &str, path: &Path) -> Result<Vec<ReferenceThreat>, EvalError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|source| EvalError::Json {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        out.push(
            reference_from_value(&value).map_err(|message| EvalError::Format {
                path: path.to_path_buf(),
                message: format!("line {}: {message}", i + 1),
            })?,
        );
    }
    Ok(out)
}

fn reference_from_value(v: &Value) -> Result<ReferenceThreat, String> {
    if !v.is_object() {
        return Err("expected a JSON object".to_string());
    }
    let title = string_field(v, "title");
    let text = string_field(v, "text");
    if title.trim().is_empty() && text.trim().is_empty() {
        return Err("reference has neither title nor text".to_string());
    }
    Ok(ReferenceThreat {
        dataset: string_field(v, "dataset"),
        system: string_field(v, "system"),
        ref_id: string_field(v, "ref_id"),
        title,
        text,
        stride: list_field(v, "stride")
            .iter()
            .filter_map(|s| value_text(s).and_then(|t| Stride::parse(&t)))
            .collect(),
        components: strings(v, "components"),
        severity: v
            .get("severity")
            .and_then(value_text)
            .and_then(|s| Severity::parse(&s)),
        mitigations: strings(v, "mitigations"),
        cwe: catalogue_ids(v, "cwe", "cwe"),
        capec: catalogue_ids(v, "capec", "capec"),
        source_file: string_field(v, "source_file"),
    })
}

/// Strings and numbers as text (ids are sometimes numbers); anything else is absent.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string_field(v: &Value, key: &str) -> String {
    v.get(key).and_then(value_text).unwrap_or_default()
}

fn list_field<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    list_field(v, key)
        .iter()
        .filter_map(value_text)
        .filter(|s| !s.trim().is_empty())
        .collect()
}

/// Catalogue ids given as `79`, `"79"`, `"CWE-79"`, `"cwe 79"` or `"CWE-79: XSS"`; a single
/// value instead of a list is accepted too. Unparseable entries are dropped.
fn catalogue_ids(v: &Value, key: &str, prefix: &str) -> Vec<u32> {
    let items: Vec<&Value> = match v.get(key) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let mut ids: Vec<u32> = items
        .into_iter()
        .filter_map(|item| parse_catalogue_id(item, prefix))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Parses one CWE/CAPEC id leniently (see [`catalogue_ids`]).
pub fn parse_catalogue_id(v: &Value, prefix: &str) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => {
            let t = s.trim();
            let lower = t.to_ascii_lowercase();
            let rest = lower
                .strip_prefix(prefix)
                .map(|r| r.trim_start_matches([' ', '-', '_', ':', '#']))
                .unwrap_or(&lower);
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                None
            } else {
                digits.parse().ok()
            }
        }
        _ => None,
    }
}

/// Name of the sub-directories of a calibration directory that hold further readings
/// (`reading-b/` is reading "B").
pub const READING_DIR_PREFIX: &str = "reading-";

/// Loads the calibration readings under `dir`: `*.json` files directly in `dir` are reading
/// "A" (the layout of `shared/bench/judged`), and each `reading-<x>/` sub-directory is reading
/// "<X>". Files are read in name order; other files (README.md) are ignored. An empty result
/// is an error: a wrong directory should not look like "no labels".
pub fn load_readings(dir: &Path) -> Result<Vec<crate::agreement::Reading>, EvalError> {
    let mut readings = Vec::new();
    let top = json_files(dir)?;
    if !top.is_empty() {
        readings.push(read_reading("A".to_string(), &top)?);
    }
    let io = |source| EvalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut subdirs: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir()
            && let Some(suffix) = name.strip_prefix(READING_DIR_PREFIX)
            && !suffix.is_empty()
        {
            subdirs.push((suffix.to_uppercase(), path));
        }
    }
    subdirs.sort();
    for (name, path) in subdirs {
        let files = json_files(&path)?;
        if !files.is_empty() {
            readings.push(read_reading(name, &files)?);
        }
    }
    if readings.is_empty() {
        return Err(EvalError::Format {
            path: dir.to_path_buf(),
            message: format!(
                "no judged files (*.json here or in {READING_DIR_PREFIX}*/ sub-directories)"
            ),
        });
    }
    Ok(readings)
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let io = |source| EvalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn read_reading(name: String, files: &[PathBuf]) -> Result<crate::agreement::Reading, EvalError> {
    let mut loaded = Vec::with_capacity(files.len());
    for path in files {
        let file = crate::agreement::parse_judged(&read_bounded(path)?, path)?;
        loaded.push(crate::agreement::LoadedFile {
            path: path.clone(),
            file,
        });
    }
    Ok(crate::agreement::Reading {
        name,
        files: loaded,
    })
}

/// One UAVThreatBench scenario: its id and its threats (expert or generated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UavScenario {
    pub id: String,
    pub threats: Vec<UavThreat>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UavThreat {
    /// The `Threat` sentence.
    pub text: String,
    /// EU Radio Equipment Directive article, e.g. "(d)".
    pub red_article: Option<String>,
}

/// The three UAVThreatBench files needed to reproduce the paper's GPT-4o figures.
#[derive(Debug, Clone, PartialEq)]
pub struct UavBenchFiles {
    pub ground_truth: Vec<UavScenario>,
    pub generated: Vec<UavScenario>,
    /// The authors' evaluation log, verbatim.
    pub log: String,
    /// File name of the generated threats, as the log names it.
    pub generated_file_name: String,
}

/// Loads the UAVThreatBench ground truth, GPT-4o's threats and the evaluation log.
pub fn load_uav(bench_dir: &Path) -> Result<UavBenchFiles, EvalError> {
    let gt_path = bench_dir.join(UAV_GROUND_TRUTH_FILE);
    let gen_path = bench_dir.join(UAV_GPT4O_FILE);
    let log_path = bench_dir.join(UAV_LOG_FILE);
    Ok(UavBenchFiles {
        ground_truth: parse_uav_scenarios(&read_bounded(&gt_path)?, &gt_path)?,
        generated: parse_uav_scenarios(&read_bounded(&gen_path)?, &gen_path)?,
        log: read_bounded(&log_path)?,
        generated_file_name: "gpt-4o_threats.json".to_string(),
    })
}

/// Parses a UAVThreatBench scenario file: a JSON array of objects with `Scenario ID` and
/// `Expected Threats` (a list of `{Threat, RED Article}`; model outputs use the same field
/// name). Threat entries that are bare strings are accepted too.
pub fn parse_uav_scenarios(text: &str, path: &Path) -> Result<Vec<UavScenario>, EvalError> {
    let value: Value = serde_json::from_str(text).map_err(|source| EvalError::Json {
        path: path.to_path_buf(),
        line: 0,
        source,
    })?;
    let format = |message: String| EvalError::Format {
        path: PathBuf::from(path),
        message,
    };
    let items = value
        .as_array()
        .ok_or_else(|| format("expected a JSON array of scenarios".to_string()))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = item
            .get("Scenario ID")
            .and_then(value_text)
            .ok_or_else(|| format(format!("scenario {i} has no \"Scenario ID\"")))?;
        let threats = list_field(item, "Expected Threats")
            .iter()
            .filter_map(|t| match t {
                Value::String(s) => Some(UavThreat {
                    text: s.clone(),
                    red_article: None,
                }),
                Value::Object(_) => t.get("Threat").and_then(value_text).map(|text| UavThreat {
                    text,
                    red_article: t.get("RED Article").and_then(value_text),
                }),
                _ => None,
            })
            .collect();
        out.push(UavScenario { id, threats });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catalogue_ids_are_lenient() {
        assert_eq!(parse_catalogue_id(&json!(79), "cwe"), Some(79));
        assert_eq!(parse_catalogue_id(&json!("CWE-79"), "cwe"), Some(79));
        assert_eq!(parse_catalogue_id(&json!("cwe 89: SQLi"), "cwe"), Some(89));
        assert_eq!(parse_catalogue_id(&json!("CAPEC-66"), "capec"), Some(66));
        assert_eq!(parse_catalogue_id(&json!("none"), "cwe"), None);
        assert_eq!(parse_catalogue_id(&json!(-3), "cwe"), None);
        let v = json!({"cwe": "CWE-20"});
        assert_eq!(catalogue_ids(&v, "cwe", "cwe"), vec![20]);
    }

    #[test]
    fn parses_a_reference_line() {
        let line = r#"{"dataset": "d", "system": "s", "ref_id": 7, "title": "t", "text": "x",
            "stride": ["T", "information disclosure", "?"], "components": ["web", ""],
            "severity": "likelihood=100 impact=100", "mitigations": ["m"],
            "cwe": ["CWE-79", 89], "capec": [], "source_file": "f", "extra": null}"#
            .replace('\n', " ");
        let refs = parse_references(&line, Path::new("x.jsonl")).expect("valid line");
        assert_eq!(refs.len(), 1);
        let r = &refs[0];
        assert_eq!(r.ref_id, "7");
        assert_eq!(
            r.stride,
            vec![Stride::Tampering, Stride::InformationDisclosure]
        );
        assert_eq!(r.components, vec!["web"]);
        assert_eq!(r.severity, None);
        assert_eq!(r.cwe, vec![79, 89]);
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        assert!(parse_references("{not json", Path::new("x")).is_err());
        assert!(parse_references("[1]", Path::new("x")).is_err());
        assert!(parse_references(r#"{"dataset": "d"}"#, Path::new("x")).is_err());
        assert!(parse_uav_scenarios("{}", Path::new("x")).is_err());
    }

    #[test]
    fn baselines_are_flagged() {
        assert!(is_tool_baseline("iriusrisk-3tier-cookbook"));
        assert!(is_tool_baseline("otm-sample-mobile-cloud"));
        assert!(!is_tool_baseline("aws-threat-composer"));
    }
}
