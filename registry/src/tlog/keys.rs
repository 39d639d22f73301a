//! The log's two note keys (spec/transparency-log.md §2): generated on first start and
//! kept in `<data-dir>/log/keys`, one private key string per line (Ed25519, then
//! ML-DSA-44), written atomically with mode 0600.

use std::path::Path;

use pqreg_spec::note::{NoteSigner, SignatureType};

use super::LogError;

/// The log's signing keys and origin.
pub struct LogKeys {
    /// The log's origin (checkpoint first line, key name).
    pub origin: String,
    /// The Ed25519 signer (type 0x01).
    pub ed25519: NoteSigner,
    /// The ML-DSA-44 cosignature signer (type 0x06).
    pub mldsa: NoteSigner,
}

impl LogKeys {
    /// The verifier keys, Ed25519 first, one per line.
    pub fn verifier_keys(&self) -> String {
        format!(
            "{}\n{}\n",
            self.ed25519.verifier_key(),
            self.mldsa.verifier_key()
        )
    }
}

fn bad(msg: String) -> LogError {
    LogError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, msg))
}

/// Reads the key file, or generates both keys for `origin` and writes it (temp file,
/// fsync, rename). An existing key file keeps the origin it was created with, whatever
/// `origin` is now: the origin names the log, and the log does not change its name when
/// the registry moves to another address.
pub fn load_or_generate_keys(path: &Path, origin: &str) -> Result<LogKeys, LogError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut lines = text.lines();
            let mut next = || -> Result<NoteSigner, LogError> {
                let l = lines
                    .next()
                    .ok_or_else(|| bad(format!("{}: missing key line", path.display())))?;
                Ok(NoteSigner::parse_private_key(l)?)
            };
            let ed25519 = next()?;
            let mldsa = next()?;
            // The origin is the log's name, fixed when the log was created: a later start
            // on another address (or port 0) keeps serving the same log under it.
            let stored = ed25519.verifier_key().name().to_owned();
            if mldsa.verifier_key().name() != stored {
                return Err(bad(format!(
                    "{}: the two keys name different origins ({:?}, {:?})",
                    path.display(),
                    stored,
                    mldsa.verifier_key().name()
                )));
            }
            Ok(LogKeys {
                origin: stored,
                ed25519,
                mldsa,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let ed25519 = NoteSigner::generate(origin, SignatureType::Ed25519)?;
            let mldsa = NoteSigner::generate(origin, SignatureType::CosignatureMlDsa44)?;
            // The private keys go to disk only; the copy joining them is wiped after.
            let text = zeroize::Zeroizing::new(format!(
                "{}\n{}\n",
                ed25519.private_key_string().as_str(),
                mldsa.private_key_string().as_str()
            ));
            crate::storage::write_private_file(path, text.as_bytes())?;
            Ok(LogKeys {
                origin: origin.to_owned(),
                ed25519,
                mldsa,
            })
        }
        Err(e) => Err(e.into()),
    }
}
