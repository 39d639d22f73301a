//! Log name keys pinned at first use (spec/transparency-log.md §10).
//!
//! A monitor recognises the keyed entries (§3.2) of a watched repository only with the
//! name key the registry hands out, so a registry that hands out a second key, and logs
//! the repository's entries under the first, hides them. The client cannot prove which
//! key is the right one; it can make the registry commit to one: the first key it
//! receives for a repository of a log is pinned here, and a different key later is a
//! failed check. The file holds the key's SHA-256, not the key: nothing secret is kept.
//!
//! One file per repository, `<log state dir>/name-keys/<hex SHA-256 of the repository>`,
//! JSON, written atomically (temporary file, fsync, rename) like the other client state,
//! so two monitors of different repositories never overwrite each other's pins.

use pqreg_spec::Digest;
use pqreg_spec::logentry::NameKey;
use serde::{Deserialize, Serialize};

use super::{CheckpointStore, LogError};

/// A pinned name key: the repository, the key's SHA-256, when and through which
/// registry address it was first received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameKeyPin {
    /// The repository, e.g. `acme/secret-project`.
    pub repository: String,
    /// SHA-256 of the 32 key bytes.
    pub key_sha256: Digest,
    /// When it was pinned (POSIX seconds, UTC).
    pub pinned_at: u64,
    /// The registry address (`host[:port]`) that handed it out.
    pub registry: String,
}

/// What [`CheckpointStore::check_name_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinCheck {
    /// No key was pinned for the repository: this one is now.
    Pinned,
    /// The key is the pinned one.
    Same,
    /// The key differs from the pinned one (which is kept).
    Changed(NameKeyPin),
}

/// The key's fingerprint as pinned.
pub fn fingerprint(key: &NameKey) -> Digest {
    Digest::sha256(&key.0)
}

impl CheckpointStore {
    /// The state file name of `repository`'s pin, relative to [`CheckpointStore::dir`].
    fn pin_name(repository: &str) -> String {
        format!("name-keys/{}", Digest::sha256(repository.as_bytes()).hex())
    }

    /// The path of `repository`'s pin (it may not exist).
    pub fn name_key_pin_path(&self, repository: &str) -> std::path::PathBuf {
        self.dir().join(Self::pin_name(repository))
    }

    /// The name key pinned for `repository`, if any.
    pub fn name_key_pin(&self, repository: &str) -> Result<Option<NameKeyPin>, LogError> {
        let Some(bytes) = self.read(&Self::pin_name(repository))? else {
            return Ok(None);
        };
        let bad = |why: String| LogError::Io {
            path: self.name_key_pin_path(repository),
            cause: std::io::Error::other(format!("not a name key pin ({why})")),
        };
        let pin: NameKeyPin = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if pin.repository != repository {
            return Err(bad(format!("it is for {:?}", pin.repository)));
        }
        Ok(Some(pin))
    }

    /// Compares `key`, just received from `registry` for `repository`, with the pinned
    /// one, and pins it if none is.
    pub fn check_name_key(
        &self,
        repository: &str,
        key: &NameKey,
        registry: &str,
    ) -> Result<PinCheck, LogError> {
        let got = fingerprint(key);
        if let Some(pin) = self.name_key_pin(repository)? {
            return Ok(if pin.key_sha256 == got {
                PinCheck::Same
            } else {
                PinCheck::Changed(pin)
            });
        }
        let pin = NameKeyPin {
            repository: repository.to_owned(),
            key_sha256: got,
            pinned_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            registry: registry.to_owned(),
        };
        let json = serde_json::to_vec_pretty(&pin).map_err(|e| LogError::Io {
            path: self.name_key_pin_path(repository),
            cause: std::io::Error::other(e),
        })?;
        self.write(&Self::pin_name(repository), &json)?;
        Ok(PinCheck::Pinned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_key_is_pinned_and_another_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let s = CheckpointStore::new(d.path(), "example.com/log");
        let (a, b) = (NameKey([7; 32]), NameKey([8; 32]));
        assert_eq!(s.name_key_pin("acme/m").unwrap(), None);
        assert_eq!(
            s.check_name_key("acme/m", &a, "example.com").unwrap(),
            PinCheck::Pinned
        );
        assert_eq!(
            s.check_name_key("acme/m", &a, "other:5000").unwrap(),
            PinCheck::Same
        );
        let PinCheck::Changed(pin) = s.check_name_key("acme/m", &b, "example.com").unwrap() else {
            panic!("a second key must not pass");
        };
        assert_eq!(pin.key_sha256, fingerprint(&a));
        assert_eq!(pin.registry, "example.com");
        // The first pin is kept; other repositories have their own.
        assert_eq!(
            s.name_key_pin("acme/m").unwrap().unwrap().key_sha256,
            fingerprint(&a)
        );
        assert_eq!(
            s.check_name_key("acme/n", &b, "example.com").unwrap(),
            PinCheck::Pinned
        );
        // The key itself is not on disk, and the file is the owner's only.
        let text = std::fs::read_to_string(s.name_key_pin_path("acme/m")).unwrap();
        assert!(!text.contains(&"07".repeat(32)), "{text}");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(s.name_key_pin_path("acme/m"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        // A pin file copied to another repository's name is refused, not trusted.
        std::fs::copy(s.name_key_pin_path("acme/m"), s.name_key_pin_path("acme/x")).unwrap();
        assert!(s.name_key_pin("acme/x").is_err());
    }
}
