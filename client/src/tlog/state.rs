//! The client's per-log state under `$XDG_STATE_HOME/pqreg/logs/<hex SHA-256 of the
//! origin>/` (spec/transparency-log.md §9): the newest verified checkpoint, evidence of
//! inconsistent checkpoints, the monitor's positions and the pinned log name keys
//! (`name-keys/`, see `pins.rs`). Files are replaced atomically:
//! a temporary file in the same directory, fsync, rename, fsync of the directory.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use pqreg_spec::Digest;

use super::LogError;

/// The state directory of one log.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
}

fn io(path: &Path, source: std::io::Error) -> LogError {
    LogError::Io {
        path: path.to_owned(),
        cause: source,
    }
}

impl CheckpointStore {
    /// The store of the log `origin` under `state` (`$XDG_STATE_HOME/pqreg`).
    pub fn new(state: &Path, origin: &str) -> Self {
        let id = Digest::sha256(origin.as_bytes()).hex();
        CheckpointStore {
            dir: state.join("logs").join(id),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the stored checkpoint.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.dir.join("checkpoint")
    }

    /// The stored checkpoint note, if any (not verified here).
    pub fn load(&self) -> Result<Option<Vec<u8>>, LogError> {
        self.read("checkpoint")
    }

    /// Replaces the stored checkpoint atomically.
    pub fn store(&self, note: &[u8]) -> Result<(), LogError> {
        self.write("checkpoint", note)
    }

    /// A state file by name (e.g. `monitor`), if present.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, LogError> {
        let p = self.dir.join(name);
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&p, e)),
        }
    }

    /// Replaces a state file atomically (temporary file, fsync, rename, directory fsync).
    /// `name` may name a file in a subdirectory (`name-keys/<id>`), created as needed.
    /// The file is created 0600 (the temporary file's mode).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), LogError> {
        let dest = self.dir.join(name);
        let dir = dest.parent().unwrap_or(&self.dir).to_owned();
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| io(&dir, e))?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| io(tmp.path(), e))?;
        tmp.persist(&dest).map_err(|e| io(&dest, e.error))?;
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(&dir, e))
    }

    /// Saves a checkpoint that failed the consistency rules as
    /// `evidence/<unix seconds>[-n].checkpoint`; returns its path.
    pub fn save_evidence(&self, note: &[u8]) -> Result<PathBuf, LogError> {
        let dir = self.dir.join("evidence");
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for n in 0..1000u32 {
            let name = if n == 0 {
                format!("{now}.checkpoint")
            } else {
                format!("{now}-{n}.checkpoint")
            };
            let p = dir.join(&name);
            match fs::OpenOptions::new().write(true).create_new(true).open(&p) {
                Ok(mut f) => {
                    f.write_all(note)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| io(&p, e))?;
                    return Ok(p);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&p, e)),
            }
        }
        Err(io(&dir, std::io::Error::other("too many evidence files")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_replace_and_evidence() {
        let d = tempfile::tempdir().unwrap();
        let s = CheckpointStore::new(d.path(), "example.com/log");
        assert_eq!(
            s.dir().file_name().unwrap().to_str().unwrap(),
            Digest::sha256(b"example.com/log").hex()
        );
        assert_eq!(s.load().unwrap(), None);
        s.store(b"one").unwrap();
        s.store(b"two").unwrap();
        assert_eq!(s.load().unwrap().unwrap(), b"two");
        // Only the checkpoint: no temporary file is left behind.
        let names: Vec<_> = fs::read_dir(s.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("checkpoint")]);
        let a = s.save_evidence(b"x").unwrap();
        let b = s.save_evidence(b"y").unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(&b).unwrap(), b"y");
    }
}
