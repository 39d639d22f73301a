//! Key files on disk: generating a key pair into `PREFIX.key` / `PREFIX.pub`, and loading
//! keys back. The encodings (PKCS#8 seed form, SPKI, PBES2/scrypt) are `pqreg_spec::keys`
//! (spec/keys.md); this module owns only the file handling.
//!
//! A private key file is created with mode 0600 from the start (never chmod-ed after the
//! secret is written): the PEM goes to a temporary file created 0600 in the target
//! directory, is fsync-ed, then hard-linked to its name — which fails if the name exists,
//! so an existing key is never overwritten, even by a concurrent `keygen` — unless
//! `force` is given, when it is renamed over. Both names are checked before anything is
//! written; if the public file cannot be written, the new private file is removed again.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use pqreg_spec::keys::{
    KemAlgorithm, KeyError, KeyId, PrivateKey, PublicKey, RecipientPrivateKey, SignatureAlgorithm,
    SigningKey, decode_private_pem, decode_private_pem_with_passphrase, decode_public_pem,
};

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file exists and `force` was not given.
    #[error("{0} already exists (pass --force to overwrite it, or choose another --out)")]
    Exists(PathBuf),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The passphrase file is empty.
    #[error("passphrase file {0} is empty")]
    EmptyPassphrase(PathBuf),
    /// The key could not be generated, encoded or decoded.
    #[error("{path}: {source}")]
    Key {
        /// The key file ("-" while generating).
        path: PathBuf,
        /// What the key code said.
        source: KeyError,
    },
}

/// What kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A signing key.
    Sign(SignatureAlgorithm),
    /// A recipient (decryption) key.
    Recipient(KemAlgorithm),
}

impl KeyKind {
    /// The algorithm's name (`ml-dsa-65`, `x-wing`, …).
    pub fn alg_name(self) -> &'static str {
        match self {
            KeyKind::Sign(a) => a.name(),
            KeyKind::Recipient(a) => a.name(),
        }
    }
}

/// The files `generate` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The key ID (SHA-256 of the SPKI DER).
    pub key_id: KeyId,
    /// `PREFIX.key`.
    pub private_path: PathBuf,
    /// `PREFIX.pub`.
    pub public_path: PathBuf,
}

/// `PREFIX.key` and `PREFIX.pub`.
pub fn key_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let mut k = prefix.as_os_str().to_owned();
    k.push(".key");
    let mut p = prefix.as_os_str().to_owned();
    p.push(".pub");
    (PathBuf::from(k), PathBuf::from(p))
}

/// Generates a key of `kind` and writes `PREFIX.key` (0600; encrypted when a passphrase
/// is given) and `PREFIX.pub` (0644).
pub fn generate(
    kind: KeyKind,
    prefix: &Path,
    passphrase: Option<&[u8]>,
    force: bool,
) -> Result<GeneratedKey, KeyFileError> {
    let (private_path, public_path) = key_paths(prefix);
    if !force {
        for p in [&private_path, &public_path] {
            if p.symlink_metadata().is_ok() {
                return Err(KeyFileError::Exists(p.clone()));
            }
        }
    }
    let key_err = |source| KeyFileError::Key {
        path: PathBuf::from("-"),
        source,
    };
    let key = match kind {
        KeyKind::Sign(alg) => PrivateKey::Signing(SigningKey::generate(alg).map_err(key_err)?),
        KeyKind::Recipient(alg) => {
            PrivateKey::Recipient(RecipientPrivateKey::generate(alg).map_err(key_err)?)
        }
    };
    // One PEM path for both kinds (spec/keys.md): PKCS#8, encrypted when a passphrase is
    // given, and the SPKI public key next to it.
    let private_pem = match passphrase {
        Some(p) => key.encrypt_pem(p),
        None => key.to_pem(),
    }
    .map_err(key_err)?;
    let public_pem = key.public_key().and_then(|k| k.to_pem()).map_err(key_err)?;
    let key_id = key.key_id().map_err(key_err)?;
    write_new(&private_path, private_pem.as_bytes(), 0o600, force)?;
    if let Err(e) = write_new(&public_path, public_pem.as_bytes(), 0o644, force) {
        let _ = std::fs::remove_file(&private_path);
        return Err(e);
    }
    Ok(GeneratedKey {
        key_id,
        private_path,
        public_path,
    })
}

/// Reads a passphrase: the file's first line, without its line ending.
pub fn read_passphrase(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyFileError> {
    let bytes =
        zeroize::Zeroizing::new(std::fs::read(path).map_err(|source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        })?);
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(KeyFileError::EmptyPassphrase(path.to_owned()));
    }
    Ok(zeroize::Zeroizing::new(line.to_vec()))
}

/// Loads a private key file (of either kind), decrypting it when a passphrase is given.
pub fn load_private(path: &Path, passphrase: Option<&[u8]>) -> Result<PrivateKey, KeyFileError> {
    let pem = zeroize::Zeroizing::new(read_text(path)?);
    let key = match passphrase {
        Some(p) => decode_private_pem_with_passphrase(&pem, p),
        None => decode_private_pem(&pem),
    };
    key.map_err(|source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    })
}

/// Loads a public key file (of either kind).
pub fn load_public(path: &Path) -> Result<PublicKey, KeyFileError> {
    decode_public_pem(&read_text(path)?).map_err(|source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    })
}

fn read_text(path: &Path) -> Result<String, KeyFileError> {
    std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes `data` to `path` created with `mode`: temp file, fsync, then hard link (fails
/// if `path` exists) or, with `force`, rename.
fn write_new(path: &Path, data: &[u8], mode: u32, force: bool) -> Result<(), KeyFileError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.pqreg-{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    let placed = if force {
        std::fs::rename(&tmp, path)
    } else {
        let r = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        r
    };
    match placed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(KeyFileError::Exists(path.to_owned()))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(io(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn generates_and_loads_each_kind() {
        let dir = tempfile::tempdir().unwrap();
        let kinds = [
            KeyKind::Sign(SignatureAlgorithm::MlDsa65),
            KeyKind::Sign(SignatureAlgorithm::EcdsaP256Sha256),
            KeyKind::Recipient(KemAlgorithm::XWing),
            KeyKind::Recipient(KemAlgorithm::MlKem1024),
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            let prefix = dir.path().join(format!("k{i}"));
            let g = generate(kind, &prefix, None, false).unwrap();
            assert_eq!(mode(&g.private_path), 0o600);
            assert_eq!(mode(&g.public_path), 0o644);
            let private = load_private(&g.private_path, None).unwrap();
            assert_eq!(private.key_id().unwrap(), g.key_id, "{kind:?}");
            assert_eq!(load_public(&g.public_path).unwrap().key_id(), g.key_id);
        }
        // Only the key files: no temporary files left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 8);
    }

    #[test]
    fn never_overwrites_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("k");
        let kind = KeyKind::Recipient(KemAlgorithm::XWing);
        let first = generate(kind, &prefix, None, false).unwrap();
        let before = std::fs::read(&first.private_path).unwrap();
        assert!(matches!(
            generate(kind, &prefix, None, false),
            Err(KeyFileError::Exists(p)) if p == first.private_path
        ));
        assert_eq!(std::fs::read(&first.private_path).unwrap(), before);
        // Only the public file exists: still refused, nothing written.
        std::fs::remove_file(&first.private_path).unwrap();
        assert!(matches!(
            generate(kind, &prefix, None, false),
            Err(KeyFileError::Exists(p)) if p == first.public_path
        ));
        assert!(!first.private_path.exists());
        let second = generate(kind, &prefix, None, true).unwrap();
        assert_ne!(second.key_id, first.key_id);
        assert_eq!(mode(&second.private_path), 0o600);
    }

    #[test]
    fn passphrase_protected() {
        let dir = tempfile::tempdir().unwrap();
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "correct horse\nignored\n").unwrap();
        let p = read_passphrase(&pass).unwrap();
        assert_eq!(&p[..], b"correct horse");
        let g = generate(
            KeyKind::Sign(SignatureAlgorithm::MlDsa65),
            &dir.path().join("s"),
            Some(&p),
            false,
        )
        .unwrap();
        let text = std::fs::read_to_string(&g.private_path).unwrap();
        assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(matches!(
            load_private(&g.private_path, None),
            Err(KeyFileError::Key {
                source: KeyError::PassphraseRequired,
                ..
            })
        ));
        assert!(matches!(
            load_private(&g.private_path, Some(b"wrong")),
            Err(KeyFileError::Key {
                source: KeyError::WrongPassphrase,
                ..
            })
        ));
        let k = load_private(&g.private_path, Some(&p)).unwrap();
        assert_eq!(k.key_id().unwrap(), g.key_id);
        std::fs::write(&pass, "\n").unwrap();
        assert!(matches!(
            read_passphrase(&pass),
            Err(KeyFileError::EmptyPassphrase(_))
        ));
    }
}
