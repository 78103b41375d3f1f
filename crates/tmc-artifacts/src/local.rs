//! The default store: files under a directory (`<data dir>/artifacts`).

use std::path::{Path, PathBuf};

use crate::{ArtifactError, ArtifactStore, normalise_prefix, validate_key};

/// Directories deeper than this are not listed (symlink loops).
const MAX_DEPTH: usize = 32;

/// Artifacts as files under `root`; the key is the relative path.
pub struct LocalDirStore {
    root: PathBuf,
}

fn io(path: &Path, source: std::io::Error) -> ArtifactError {
    ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl LocalDirStore {
    /// A store rooted at `root` (created on first put).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDirStore { root: root.into() }
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, ArtifactError> {
        validate_key(key)?;
        Ok(key.split('/').fold(self.root.clone(), |p, seg| p.join(seg)))
    }

    fn walk(
        &self,
        dir: &Path,
        rel: &str,
        depth: usize,
        out: &mut Vec<String>,
    ) -> Result<(), ArtifactError> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io(dir, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            // Temporary files of an interrupted put are not artifacts.
            if name.starts_with(".tmc-tmp-") {
                continue;
            }
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = entry.file_type().map_err(|e| io(&entry.path(), e))?;
            if ft.is_dir() {
                self.walk(&entry.path(), &key, depth + 1, out)?;
            } else if ft.is_file() {
                out.push(key);
            }
        }
        Ok(())
    }
}

impl ArtifactStore for LocalDirStore {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), ArtifactError> {
        let path = self.path_of(key)?;
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        // Write then rename, so a reader never sees half an artifact.
        let tmp = dir.join(format!(".tmc-tmp-{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, ArtifactError> {
        let path = self.path_of(key)?;
        match std::fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ArtifactError::NotFound(key.to_string()))
            }
            Err(e) => Err(io(&path, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, ArtifactError> {
        let prefix = normalise_prefix(prefix)?;
        let mut out = Vec::new();
        if prefix.is_empty() {
            self.walk(&self.root, "", 0, &mut out)?;
        } else {
            let path = self.path_of(&prefix)?;
            if path.is_file() {
                out.push(prefix);
            } else {
                self.walk(&path, &prefix, 0, &mut out)?;
            }
        }
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), ArtifactError> {
        let path = self.path_of(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path, e)),
        }
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}
