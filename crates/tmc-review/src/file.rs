//! The decisions file on disk. **This is the one module of `tmc-review` that touches the
//! filesystem**; everything else is pure functions over values.
//!
//! Saving is safe against the two ways a review gets lost: two writers at once (the CLI and
//! the server, two terminals) and a file changed underneath (a `git pull`, an editor). A save
//! takes an exclusive lock file `<path>.lock` (created with `create_new`, so exactly one writer
//! gets it), re-reads the file and refuses if its hash is not the one read at open, writes a
//! temporary file in the same directory, fsyncs it, renames it over the file (atomic on one
//! filesystem: readers see the old or the new file, never half of one) and removes the lock,
//! also when any step fails.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::decisions::{Decisions, model_hash};
use crate::{ReviewError, parse};

/// A decisions file as read, with the stamp that makes saving safe.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewFile {
    pub path: PathBuf,
    pub decisions: Decisions,
    /// `sha256:<hex>` of the bytes read; `None` when the file did not exist.
    pub stamp: Option<String>,
}

fn io(path: &Path, source: std::io::Error) -> ReviewError {
    ReviewError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the file's bytes and stamp; `None` when it does not exist. Over-large files are
/// refused from their metadata, before reading.
fn read(path: &Path) -> Result<Option<(Vec<u8>, String)>, ReviewError> {
    match fs::metadata(path) {
        Ok(m) if m.len() > crate::MAX_REVIEW_BYTES as u64 => {
            return Err(ReviewError::TooLarge {
                file: path.display().to_string(),
                size: usize::try_from(m.len()).unwrap_or(usize::MAX),
                limit: crate::MAX_REVIEW_BYTES,
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    }
    match fs::read(path) {
        Ok(bytes) => {
            let stamp = model_hash(&bytes);
            Ok(Some((bytes, stamp)))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, e)),
    }
}

/// Holds `<path>.lock` and removes it when dropped, on every exit path.
struct LockGuard {
    path: PathBuf,
}

impl LockGuard {
    fn take(lock: PathBuf) -> Result<LockGuard, ReviewError> {
        match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(mut f) => {
                // Who holds it, for a person looking at a stale lock; best effort.
                let _ = writeln!(f, "pid {}", std::process::id());
                Ok(LockGuard { path: lock })
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(ReviewError::Locked { lock }),
            Err(e) => Err(io(&lock, e)),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

impl ReviewFile {
    /// Reads and parses the file; a missing file is an empty review.
    pub fn open(path: impl AsRef<Path>) -> Result<ReviewFile, ReviewError> {
        let path = path.as_ref().to_path_buf();
        let (decisions, stamp) = match read(&path)? {
            Some((bytes, stamp)) => (parse(&bytes, &path.display().to_string())?, Some(stamp)),
            None => (Decisions::default(), None),
        };
        Ok(ReviewFile {
            path,
            decisions,
            stamp,
        })
    }

    /// The lock file a save takes.
    pub fn lock_path(&self) -> PathBuf {
        with_suffix(&self.path, ".lock")
    }

    /// Saves `decisions` over the file if nobody changed it since it was read (or last saved
    /// through this handle); on success this handle holds the new decisions and stamp.
    pub fn save(&mut self, decisions: &Decisions) -> Result<(), ReviewError> {
        let text = decisions.to_yaml()?;
        let _lock = LockGuard::take(self.lock_path())?;
        let now = read(&self.path)?.map(|(_, stamp)| stamp);
        if now != self.stamp {
            return Err(ReviewError::ChangedUnderneath {
                path: self.path.clone(),
                expected: self.stamp.clone().unwrap_or_else(|| "no file".into()),
                found: now.unwrap_or_else(|| "no file".into()),
            });
        }
        let tmp = with_suffix(&self.path, ".tmp");
        let written = write_synced(&tmp, text.as_bytes(), &self.path)
            .and_then(|()| fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, e)));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        sync_dir(&self.path);
        self.decisions = decisions.clone();
        self.stamp = Some(model_hash(text.as_bytes()));
        Ok(())
    }
}

/// Writes and fsyncs the temporary file, keeping the permissions of the file it replaces.
fn write_synced(tmp: &Path, bytes: &[u8], original: &Path) -> Result<(), ReviewError> {
    let mut f = File::create(tmp).map_err(|e| io(tmp, e))?;
    f.write_all(bytes).map_err(|e| io(tmp, e))?;
    if let Ok(meta) = fs::metadata(original) {
        f.set_permissions(meta.permissions())
            .map_err(|e| io(tmp, e))?;
    }
    f.sync_all().map_err(|e| io(tmp, e))
}

/// Makes the rename durable where the platform allows opening a directory (best effort).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
