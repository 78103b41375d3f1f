//! Append-only audit log of every model call, hash-chained so that editing or deleting a line
//! shows: each entry stores the hash of the previous one and its own hash over its content.
//! A sidecar `audit.head` keeps the last sequence number and hash, so truncating the tail is
//! detected too (an attacker who rewrites both files and recomputes every hash is not stopped;
//! shipping the head hash elsewhere is the answer to that, and out of scope here).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::LlmError;

pub const AUDIT_FILE: &str = "audit.jsonl";
pub const HEAD_FILE: &str = "audit.head";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What one call leaves behind. Never the prompt itself: its hash is enough to prove which
/// prompt was sent when the prompt is kept elsewhere, and the log stays free of secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub time: String,
    pub user: String,
    pub provider: String,
    pub endpoint: String,
    pub model: String,
    pub prompt_sha256: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub redactions: usize,
    /// `ok`, `http 429`, `timeout`, `refused`...
    pub outcome: String,
    /// SHA-256 of the images sent (diagram import): images are not redacted, so the log records
    /// exactly which bytes left. Absent for text calls, which keeps older lines' hashes valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    seq: u64,
    #[serde(flatten)]
    event: AuditEvent,
    prev: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    #[serde(flatten)]
    record: Record,
    hash: String,
}

fn hash_record(r: &Record) -> Result<String, LlmError> {
    let text = serde_json::to_string(r).map_err(|e| LlmError::Audit(e.to_string()))?;
    Ok(hex(&Sha256::digest(text.as_bytes())))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The log in a data directory. Appends are serialised inside the process by a mutex.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    lock: Mutex<()>,
}

/// Result of `tmc audit verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub entries: u64,
    /// Human-readable problems, first one first; empty means the chain is intact.
    pub problems: Vec<String>,
}

impl AuditLog {
    pub fn new(data_dir: &Path) -> AuditLog {
        AuditLog {
            dir: data_dir.to_path_buf(),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(AUDIT_FILE)
    }

    /// Appends one event, chained to the last line on disk.
    pub fn append(&self, event: AuditEvent) -> Result<(), LlmError> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| LlmError::Audit("lock poisoned".into()))?;
        std::fs::create_dir_all(&self.dir)?;
        let (seq, prev) = match last_line(&self.path())? {
            Some(line) => (line.record.seq + 1, line.hash),
            None => (1, GENESIS.to_string()),
        };
        let record = Record { seq, event, prev };
        let hash = hash_record(&record)?;
        let line = Line { record, hash };
        let text = serde_json::to_string(&line).map_err(|e| LlmError::Audit(e.to_string()))?;
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path())?;
        writeln!(f, "{text}")?;
        f.sync_data()?;
        std::fs::write(
            self.dir.join(HEAD_FILE),
            format!("{} {}\n", line.record.seq, line.hash),
        )?;
        Ok(())
    }

    /// Recomputes the whole chain.
    pub fn verify(&self) -> Result<Verification, LlmError> {
        let path = self.path();
        let mut problems = Vec::new();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e.into()),
        };
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        let mut entries = 0;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            if raw.trim().is_empty() {
                problems.push(format!("line {n}: empty line"));
                continue;
            }
            let line: Line = match serde_json::from_str(raw) {
                Ok(l) => l,
                Err(e) => {
                    problems.push(format!("line {n}: not an audit entry ({e})"));
                    continue;
                }
            };
            entries += 1;
            if line.record.seq != expected_seq {
                problems.push(format!(
                    "line {n}: sequence {} where {expected_seq} was expected (a line was removed or inserted)",
                    line.record.seq
                ));
            }
            if line.record.prev != prev {
                problems.push(format!(
                    "line {n}: does not chain to the previous entry (removed, reordered or edited)"
                ));
            }
            if hash_record(&line.record)? != line.hash {
                problems.push(format!(
                    "line {n}: content does not match its hash (edited)"
                ));
            }
            prev = line.hash.clone();
            expected_seq = line.record.seq + 1;
        }
        match std::fs::read_to_string(self.dir.join(HEAD_FILE)) {
            Ok(head) => {
                let want = format!("{} {}", expected_seq - 1, prev);
                if head.trim() != want && entries > 0 {
                    problems.push(format!(
                        "{HEAD_FILE} records `{}` but the log ends at `{want}` (lines were removed from the end)",
                        head.trim()
                    ));
                } else if entries == 0 && !head.trim().is_empty() {
                    problems.push(format!(
                        "{HEAD_FILE} records `{}` but the log is empty or missing",
                        head.trim()
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if entries > 0 {
                    problems.push(format!("{HEAD_FILE} is missing"));
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Verification { entries, problems })
    }
}

fn last_line(path: &Path) -> Result<Option<Line>, LlmError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        None => Ok(None),
        Some(l) => serde_json::from_str(l).map(Some).map_err(|e| {
            LlmError::Audit(format!(
                "the last line of {} is not an audit entry ({e}); run `tmc audit verify`",
                path.display()
            ))
        }),
    }
}

/// The login name for the log: `USER`, `LOGNAME` or `USERNAME`, else "unknown".
pub fn current_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// UTC RFC 3339 time from the Unix clock (days-from-civil), to avoid a date-time dependency.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

pub fn rfc3339(secs: i64) -> String {
    let (date, rem) = civil(secs);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// `YYYY-MM-DD` and seconds into the day.
pub fn civil(secs: i64) -> (String, i64) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (format!("{y:04}-{m:02}-{d:02}"), rem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> AuditEvent {
        AuditEvent {
            time: rfc3339(1_700_000_000 + n as i64),
            user: "alice".into(),
            provider: "openai".into(),
            endpoint: "http://127.0.0.1:1/v1".into(),
            model: "m".into(),
            prompt_sha256: "ab".into(),
            input_tokens: n,
            output_tokens: 2,
            redactions: 0,
            outcome: "ok".into(),
            image_sha256: None,
            image_bytes: None,
        }
    }

    #[test]
    fn chain_verifies_and_tampering_shows() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = AuditLog::new(dir.path());
        assert_eq!(log.verify().map(|v| v.entries).ok(), Some(0));
        for n in 0..4 {
            log.append(event(n)).unwrap_or_else(|e| panic!("{e}"));
        }
        let v = log.verify().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v.entries, v.problems.len()), (4, 0), "{:?}", v.problems);

        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        // Edit one field.
        std::fs::write(log.path(), text.replacen("\"alice\"", "\"mallory\"", 1))
            .unwrap_or_else(|e| panic!("{e}"));
        let v = log.verify().unwrap_or_else(|e| panic!("{e}"));
        assert!(v.problems.iter().any(|p| p.contains("line 1")), "{v:?}");
        // Delete a middle line.
        let lines: Vec<&str> = text.lines().collect();
        let cut = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]);
        std::fs::write(log.path(), cut).unwrap_or_else(|e| panic!("{e}"));
        let v = log.verify().unwrap_or_else(|e| panic!("{e}"));
        assert!(!v.problems.is_empty());
        // Truncate the tail.
        std::fs::write(log.path(), format!("{}\n{}\n", lines[0], lines[1]))
            .unwrap_or_else(|e| panic!("{e}"));
        let v = log.verify().unwrap_or_else(|e| panic!("{e}"));
        assert!(v.problems.iter().any(|p| p.contains("end")), "{v:?}");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
