//! The newest version of each tag this client accepted (spec/signing.md §7 step 7,
//! "Rollback"): per registry, repository and tag, the signed version number and the
//! manifest digest of the last pull or verify by tag that passed every check.
//!
//! ```text
//! $XDG_STATE_HOME/pqreg/tags/<hex SHA-256 of "host[:port]/path:tag">
//!     {"reference": "host[:port]/path:tag", "version": 1767225600000, "manifest": "sha256:…"}
//! ```
//!
//! A pull by tag refuses a version older than the stored one, or the same version with
//! another manifest, unless told to (`--allow-rollback`); a newer version replaces the
//! file atomically (temporary file in the same directory, fsync, rename, directory
//! fsync), like the log checkpoints next to it.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use pqreg_spec::Digest;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::unpack::UnpackError;

/// Largest state file read, in bytes (it holds one small JSON object).
const MAX_STATE_BYTES: u64 = 4096;

/// A tag's newest accepted version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The signed version number.
    pub version: u64,
    /// Its manifest digest.
    pub manifest: Digest,
}

/// The state file of one tag.
#[derive(Debug, Clone)]
pub struct TagState {
    reference: String,
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    reference: String,
    version: u64,
    manifest: Digest,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    UnpackError::Io {
        path: path.to_owned(),
        source,
    }
    .into()
}

impl TagState {
    /// The state of `repository` (`host[:port]/path`) `:tag` under `state`
    /// (`$XDG_STATE_HOME/pqreg`).
    pub fn new(state: &Path, repository: &str, tag: &str) -> Self {
        let reference = format!("{repository}:{tag}");
        let name = Digest::sha256(reference.as_bytes()).hex();
        TagState {
            path: state.join("tags").join(name),
            reference,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored version, if any. A file that does not parse, or names another tag, is
    /// an error (it is never silently ignored: that would reopen rollback).
    pub fn load(&self) -> Result<Option<Seen>, Error> {
        let bytes = match fs::File::open(&self.path) {
            Ok(f) => {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(f, MAX_STATE_BYTES + 1),
                    &mut buf,
                )
                .map_err(|e| io(&self.path, e))?;
                buf
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&self.path, e)),
        };
        let bad = |m: String| io(&self.path, std::io::Error::other(m));
        if bytes.len() as u64 > MAX_STATE_BYTES {
            return Err(bad("state file is too large".into()));
        }
        let w: Wire = serde_json::from_slice(&bytes).map_err(|e| {
            bad(format!(
                "malformed tag state (delete it to start over): {e}"
            ))
        })?;
        if w.reference != self.reference {
            return Err(bad(format!(
                "tag state names {:?}, expected {:?}",
                w.reference, self.reference
            )));
        }
        Ok(Some(Seen {
            version: w.version,
            manifest: w.manifest,
        }))
    }

    /// Stores `seen` unless the stored version is newer (a rollback accepted with
    /// `--allow-rollback` does not lower the mark).
    pub fn advance(&self, seen: Seen) -> Result<(), Error> {
        if let Some(old) = self.load()?
            && old.version > seen.version
        {
            return Ok(());
        }
        let dir = self
            .path
            .parent()
            .ok_or_else(|| io(&self.path, std::io::Error::other("no parent directory")))?;
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let body = serde_json::to_vec(&Wire {
            reference: self.reference.clone(),
            version: seen.version,
            manifest: seen.manifest,
        })
        .map_err(|e| io(&self.path, std::io::Error::other(e)))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io(dir, e))?;
        tmp.write_all(&body)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| io(tmp.path(), e))?;
        tmp.persist(&self.path)
            .map_err(|e| io(&self.path, e.error))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let s = TagState::new(dir.path(), "h:1/models/x", "latest");
        assert_eq!(s.load().unwrap(), None);
        let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
        s.advance(Seen {
            version: 5,
            manifest: a,
        })
        .unwrap();
        s.advance(Seen {
            version: 3,
            manifest: b,
        })
        .unwrap();
        assert_eq!(
            s.load().unwrap(),
            Some(Seen {
                version: 5,
                manifest: a
            })
        );
        // Another tag has its own file; a corrupted file is an error, not "nothing seen".
        let other = TagState::new(dir.path(), "h:1/models/x", "v1");
        assert_eq!(other.load().unwrap(), None);
        std::fs::write(s.path(), b"{").unwrap();
        assert!(s.load().is_err());
    }
}
