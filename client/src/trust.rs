//! Editing the trust policy file (`pqreg trust`): create it, add a signer with the rule
//! that lets it sign some repositories, pin a transparency log's keys, and say what a pull
//! of a repository would require (spec/signing.md section 6, "Editing the policy").
//!
//! Edits go through `toml_edit`, so the comments and layout the user wrote stay as they
//! are. Every edit is checked by parsing the whole new text with
//! [`Policy::from_toml`] before anything is written, and the file is replaced atomically
//! (a 0600 temporary file in the same directory, fsynced, renamed over the old one): a
//! failed or interrupted edit leaves the old policy in place.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use pqreg_spec::Digest;
use pqreg_spec::keys::{SignatureAlgorithm, VerifyingKey};
use pqreg_spec::note::VerifierKey;
use pqreg_spec::policy::{Policy, algorithm_name, algorithm_strength, repository_matches};
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

/// Why a policy edit was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// Reading or writing the policy (or a key file) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `init` found a policy already there.
    #[error("{0} already exists; edit it with `pqreg trust add-signer` and `pqreg trust add-log`")]
    Exists(PathBuf),
    /// The file is not TOML, or an edit would make it an invalid policy.
    #[error("trust policy {path}: {message}")]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The key file is not a PEM signature public key.
    #[error("{path} is not a PEM signature public key: {message}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A classical (pre-quantum) key was added without `--allow-classical`.
    #[error(
        "{path} is a classical {alg} key, which a quantum computer could forge signatures for; pass --allow-classical to trust it anyway"
    )]
    Classical {
        /// The key file.
        path: PathBuf,
        /// Its algorithm's name.
        alg: &'static str,
    },
    /// The log's key list is empty, unparsable, or names more than one origin.
    #[error("the log keys served by {url} are unusable: {message}")]
    BadLogKeys {
        /// Where they came from.
        url: String,
        /// Why.
        message: String,
    },
    /// The policy already pins a log with this origin.
    #[error(
        "the trust policy already pins log {0:?}; edit or remove its [[logs]] entry to change its keys"
    )]
    LogExists(String),
    /// `--fingerprint` values do not match the keys the log served.
    #[error("the log's keys do not match the fingerprints given: {0}")]
    FingerprintMismatch(String),
}

impl TrustError {
    /// The exit code of this failure (client/EXIT_CODES.md): a fingerprint mismatch is a
    /// log-key failure (13); everything else is a local configuration error (1).
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            TrustError::FingerprintMismatch(_) => crate::exit::LOG_PROOF,
            _ => crate::exit::ERROR,
        }
    }
}

/// What `pqreg trust init` writes: a valid, empty policy that explains itself.
pub const INIT_TEXT: &str = r#"# pqreg trust policy (spec/signing.md section 6).
#
# Add signers with `pqreg trust add-signer NAME KEY.pub --repos PATTERN...`, pin a
# registry's transparency log with `pqreg trust add-log HOST --fingerprint F`, list what is
# here with `pqreg trust show`, and ask what a pull would need with `pqreg trust check REF`.
# Hand edits are fine: comments are kept by every `pqreg trust` command.
version = 1

# Every signature must come with a verified transparency-log inclusion proof unless a rule
# says `require_log = false`.
require_log = true

# [[keys]]: name, alg and the signer's PEM public key.
# [[rules]]: repository patterns (`*` within one path component, `**` across them) and
#   the keys that may sign them; optional require_log, min_algorithm, max_age ("30d").
# [[logs]]: a log's origin and keys, optional witnesses and quorum.
# [[mirrors]]: models pulled from under `pull` may carry statements signed for `signed`.
"#;

/// The SHA-256 fingerprint of a log verifier key as the log serves it (one line of
/// `GET /log/v1/keys`), `sha256:<hex>`: `printf %s "$KEY" | sha256sum` gives the same.
pub fn fingerprint(verifier_key: &str) -> String {
    Digest::sha256(verifier_key.as_bytes()).to_string()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
    move |source| TrustError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` with [`INIT_TEXT`], mode 0600 (its directory 0700 if it is created);
/// refuses to overwrite an existing file.
pub fn init(path: &Path) -> Result<(), TrustError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode_0700()
            .create(dir)
            .map_err(io(dir))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_0600()
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => TrustError::Exists(path.to_owned()),
            _ => io(path)(e),
        })?;
    f.write_all(INIT_TEXT.as_bytes()).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

trait Mode {
    fn mode_0600(&mut self) -> &mut Self;
}
impl Mode for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}
trait DirMode {
    fn mode_0700(&mut self) -> &mut Self;
}
impl DirMode for std::fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        std::os::unix::fs::DirBuilderExt::mode(self, 0o700)
    }
}

/// A policy file opened for editing.
#[derive(Debug)]
pub struct PolicyFile {
    path: PathBuf,
    doc: DocumentMut,
}

/// A signer [`PolicyFile::add_signer`] added.
#[derive(Debug, Clone)]
pub struct AddedSigner {
    /// Its key ID.
    pub key_id: pqreg_spec::keys::KeyId,
    /// Its algorithm.
    pub alg: SignatureAlgorithm,
}

impl PolicyFile {
    /// Reads and checks the policy at `path`.
    pub fn open(path: &Path) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let doc: DocumentMut =
            text.parse()
                .map_err(|e: toml_edit::TomlError| TrustError::Invalid {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        let file = PolicyFile {
            path: path.to_owned(),
            doc,
        };
        file.policy()?;
        Ok(file)
    }

    /// The policy as the file now says (checked).
    pub fn policy(&self) -> Result<Policy, TrustError> {
        Policy::from_toml(&self.doc.to_string()).map_err(|e| TrustError::Invalid {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tables(&mut self, key: &str) -> Result<&mut ArrayOfTables, TrustError> {
        let path = self.path.clone();
        let item = self
            .doc
            .entry(key)
            .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
        item.as_array_of_tables_mut()
            .ok_or_else(|| TrustError::Invalid {
                path,
                message: format!("`{key}` is not written as [[{key}]] tables; edit it by hand"),
            })
    }

    /// Adds `[[keys]]` `name` with the PEM public key `pem` (read from `key_path`) and a
    /// `[[rules]]` letting it sign `repos`. A classical key is refused unless
    /// `allow_classical`, which sets the new rule's `min_algorithm` to the key's algorithm
    /// (the opt-out spec/signing.md section 6 defines); other rules are not weakened.
    pub fn add_signer(
        &mut self,
        name: &str,
        key_path: &Path,
        pem: &str,
        repos: &[String],
        allow_classical: bool,
    ) -> Result<AddedSigner, TrustError> {
        let key = VerifyingKey::from_pem(pem).map_err(|e| TrustError::BadKey {
            path: key_path.to_owned(),
            message: e.to_string(),
        })?;
        let alg = key.alg();
        let classical = algorithm_strength(alg) == 0;
        if classical && !allow_classical {
            return Err(TrustError::Classical {
                path: key_path.to_owned(),
                alg: algorithm_name(alg),
            });
        }
        let canonical = key.to_pem().map_err(|e| TrustError::BadKey {
            path: key_path.to_owned(),
            message: e.to_string(),
        })?;
        let mut k = Table::new();
        k["name"] = value(name);
        k["alg"] = value(algorithm_name(alg));
        k["public_key"] = value(canonical);
        self.tables("keys")?.push(k);
        let mut r = Table::new();
        r["repositories"] = value(repos.iter().map(String::as_str).collect::<Array>());
        r["signers"] = value(Array::from_iter([name]));
        if classical {
            r["min_algorithm"] = value(algorithm_name(alg));
        }
        self.tables("rules")?.push(r);
        self.policy()?;
        Ok(AddedSigner {
            key_id: key.key_id(),
            alg,
        })
    }

    /// Adds `[[logs]]` for the log whose verifier keys are `keys` (as served, one per
    /// entry), with `registries = [registry]` when the origin's host is not `registry`.
    /// Returns the origin.
    pub fn add_log(
        &mut self,
        registry: &str,
        url: &str,
        keys: &[String],
    ) -> Result<String, TrustError> {
        let origin = log_origin(url, keys)?;
        if self.policy()?.log(&origin).is_some() {
            return Err(TrustError::LogExists(origin));
        }
        let mut t = Table::new();
        t["origin"] = value(origin.as_str());
        t["keys"] = value(keys.iter().map(String::as_str).collect::<Array>());
        if origin.split('/').next() != Some(registry) {
            t["registries"] = value(Array::from_iter([registry]));
        }
        self.tables("logs")?.push(t);
        self.policy()?;
        Ok(origin)
    }

    /// Writes the file atomically: a 0600 temporary file next to it, fsynced, renamed over
    /// it, then the directory fsynced.
    pub fn save(&self) -> Result<(), TrustError> {
        self.policy()?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".policy.toml.")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(&dir)
            .map_err(io(&dir))?;
        tmp.write_all(self.doc.to_string().as_bytes())
            .map_err(io(tmp.path()))?;
        tmp.as_file().sync_all().map_err(io(&self.path))?;
        tmp.persist(&self.path)
            .map_err(|e| io(&self.path)(e.error))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            d.sync_all().map_err(io(&dir))?;
        }
        Ok(())
    }
}

/// The origin all of `keys` name, after checking each parses as a note verifier key.
pub fn log_origin(url: &str, keys: &[String]) -> Result<String, TrustError> {
    let bad = |message: String| TrustError::BadLogKeys {
        url: url.to_owned(),
        message,
    };
    let mut origin: Option<String> = None;
    for k in keys {
        let parsed = VerifierKey::parse(k).map_err(|e| bad(format!("{k:?}: {e}")))?;
        match &origin {
            None => origin = Some(parsed.name().to_owned()),
            Some(o) if o != parsed.name() => {
                return Err(bad(format!(
                    "keys name two origins, {o:?} and {:?}",
                    parsed.name()
                )));
            }
            Some(_) => {}
        }
    }
    origin.ok_or_else(|| bad("no keys".into()))
}

/// Checks that every key's fingerprint is among `given` and every given fingerprint
/// names a key (`given` compared without case; `sha256:` may be omitted).
pub fn check_fingerprints(keys: &[String], given: &[String]) -> Result<(), TrustError> {
    let norm = |f: &str| {
        let f = f.trim().to_ascii_lowercase();
        if f.starts_with("sha256:") {
            f
        } else {
            format!("sha256:{f}")
        }
    };
    let given: Vec<String> = given.iter().map(|g| norm(g)).collect();
    let actual: Vec<String> = keys.iter().map(|k| fingerprint(k)).collect();
    if let Some(k) = keys.iter().zip(&actual).find(|(_, f)| !given.contains(*f)) {
        return Err(TrustError::FingerprintMismatch(format!(
            "key {:?} has fingerprint {}, which was not given",
            k.0, k.1
        )));
    }
    if let Some(g) = given.iter().find(|g| !actual.contains(*g)) {
        return Err(TrustError::FingerprintMismatch(format!(
            "{g} is not the fingerprint of any key the log served"
        )));
    }
    Ok(())
}

/// The rules of `policy` that cover `repository`, by index.
pub fn covering_rules(policy: &Policy, repository: &str) -> Vec<usize> {
    policy
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.repositories
                .iter()
                .any(|p| repository_matches(p, repository))
        })
        .map(|(i, _)| i)
        .collect()
}

/// Every repository pattern of `policy`'s rules, in order, without repeats.
pub fn all_patterns(policy: &Policy) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for p in policy.rules.iter().flat_map(|r| &r.repositories) {
        if !out.contains(&p.as_str()) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_text_is_a_valid_empty_policy() {
        let p = Policy::from_toml(INIT_TEXT).expect("parses");
        assert!(p.keys.is_empty() && p.rules.is_empty() && p.require_log);
    }

    #[test]
    fn fingerprints_must_match_every_key_and_nothing_else() {
        let keys = vec!["a+1+AA".to_owned(), "a+2+BB".to_owned()];
        let f: Vec<String> = keys.iter().map(|k| fingerprint(k)).collect();
        assert!(check_fingerprints(&keys, &f).is_ok());
        assert!(check_fingerprints(&keys, &f[..1]).is_err());
        let mut extra = f.clone();
        extra.push(fingerprint("other"));
        assert!(check_fingerprints(&keys, &extra).is_err());
        let upper: Vec<String> = f.iter().map(|x| x[7..].to_ascii_uppercase()).collect();
        assert!(check_fingerprints(&keys, &upper).is_ok());
    }
}
