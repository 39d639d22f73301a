//! Registry credentials, read from and written to the files other OCI tools use.
//!
//! pqreg keeps no credential store of its own (DESIGN.md, "Client"). Lookup order for a
//! registry host:
//!
//! 1. `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`):
//!    - `credHelpers[host]`, else `credsStore`: run `docker-credential-<name> get` with the
//!      host on stdin (the docker-credential-helpers protocol); a helper that answers
//!      "not found" means no credentials, not an error;
//!    - otherwise `auths[host]`: `auth` (base64 `user:password`), or `username` +
//!      `password`, or `identitytoken`.
//! 2. `$XDG_RUNTIME_DIR/containers/auth.json` (podman, skopeo, buildah): its `auths`.
//!
//! Keys of `auths` are matched after normalisation, as docker does: a scheme and any path
//! are dropped (`https://reg.io/v1/` matches `reg.io`).
//!
//! [`AuthEnv::login`] stores through the helper when one is configured for the host, otherwise
//! writes `auths[host].auth` into the docker config; the file is replaced atomically
//! (temporary file created 0600 in the same directory, fsync, rename) and every other
//! field of it is kept. [`AuthEnv::logout`] removes the entry (and erases it from the helper).
//!
//! Nothing here reads the process environment except [`AuthEnv::from_process_env`], so
//! tests run with explicit paths.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

/// Why credentials could not be found, run or stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A config file exists but could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A config file is not the JSON its format says.
    #[error("{path}: not a valid credentials file: {reason}")]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An `auth` field is not base64 of `user:password`.
    #[error("{path}: the auth entry for {host} is not base64 of user:password")]
    BadAuthField {
        /// The file.
        path: PathBuf,
        /// The registry host.
        host: String,
    },
    /// A helper name contains characters that could escape `docker-credential-*`.
    #[error("credential helper name {0:?} is not valid")]
    BadHelperName(String),
    /// The configured helper is not on `PATH`.
    #[error(
        "credential helper docker-credential-{0} is not on PATH: install it or remove it from the docker config"
    )]
    HelperNotFound(String),
    /// The helper ran and failed.
    #[error("docker-credential-{helper} {action} failed: {message}")]
    HelperFailed {
        /// The helper's name.
        helper: String,
        /// `get`, `store` or `erase`.
        action: &'static str,
        /// Its stderr or stdout, trimmed.
        message: String,
    },
    /// The helper's answer is not the protocol's JSON.
    #[error("docker-credential-{0} get returned malformed JSON")]
    HelperBadOutput(String),
}

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// HTTP basic credentials (also used for the token endpoint).
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// An OAuth2 refresh token for the bearer-token flow (`identitytoken`).
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    // Never print secrets, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Where a credential came from (for `pqreg env` and error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `auths` entry of this file.
    File(PathBuf),
    /// This credential helper.
    Helper(String),
}

/// The paths and search path credentials are looked up in.
#[derive(Debug, Clone)]
pub struct AuthEnv {
    /// The docker config file (`$DOCKER_CONFIG/config.json`).
    pub docker_config: PathBuf,
    /// The containers auth file (`$XDG_RUNTIME_DIR/containers/auth.json`), if that
    /// directory is known.
    pub containers_auth: Option<PathBuf>,
    /// The directories searched for `docker-credential-*` (`$PATH`).
    pub path: Option<OsString>,
}

impl AuthEnv {
    /// Reads `DOCKER_CONFIG`, `HOME`, `XDG_RUNTIME_DIR` and `PATH`.
    pub fn from_process_env() -> Self {
        let docker_dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").unwrap_or_default();
                PathBuf::from(home).join(".docker")
            });
        let containers_auth = std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|v| !v.is_empty())
            .map(|d| PathBuf::from(d).join("containers").join("auth.json"));
        AuthEnv {
            docker_config: docker_dir.join("config.json"),
            containers_auth,
            path: std::env::var_os("PATH"),
        }
    }

    /// The credential for `host`, and where it came from; `None` if nothing has one.
    pub fn lookup(&self, host: &str) -> Result<Option<(Credential, Source)>, AuthError> {
        if let Some(cfg) = read_json(&self.docker_config)? {
            if let Some(helper) = helper_for(&cfg, host) {
                return Ok(self
                    .helper_get(&helper, host)?
                    .map(|c| (c, Source::Helper(helper))));
            }
            if let Some(c) = auths_entry(&cfg, host, &self.docker_config)? {
                return Ok(Some((c, Source::File(self.docker_config.clone()))));
            }
        }
        if let Some(path) = &self.containers_auth
            && let Some(cfg) = read_json(path)?
            && let Some(c) = auths_entry(&cfg, host, path)?
        {
            return Ok(Some((c, Source::File(path.clone()))));
        }
        Ok(None)
    }

    /// Stores `cred` for `host` in the docker config (or its helper); returns where.
    pub fn login(&self, host: &str, cred: &Credential) -> Result<Source, AuthError> {
        let path = &self.docker_config;
        let mut cfg = read_json(path)?.unwrap_or_default();
        let (username, secret) = match cred {
            Credential::Basic { username, password } => (username.as_str(), password.as_str()),
            Credential::IdentityToken(t) => ("<token>", t.as_str()),
        };
        let helper = helper_for(&cfg, host);
        let auths = object_field(&mut cfg, "auths", path)?;
        if let Some(helper) = helper {
            let body =
                serde_json::json!({"ServerURL": host, "Username": username, "Secret": secret});
            self.run_helper(&helper, "store", &body.to_string())?;
            // Docker leaves an empty placeholder so `docker` lists the registry.
            auths.insert(host.to_owned(), Value::Object(Map::new()));
            write_json_atomic(path, &cfg)?;
            return Ok(Source::Helper(helper));
        }
        let mut entry = Map::new();
        match cred {
            Credential::Basic { username, password } => {
                entry.insert(
                    "auth".into(),
                    Value::String(B64.encode(format!("{username}:{password}"))),
                );
            }
            Credential::IdentityToken(t) => {
                entry.insert("identitytoken".into(), Value::String(t.clone()));
            }
        }
        auths.insert(host.to_owned(), Value::Object(entry));
        write_json_atomic(path, &cfg)?;
        Ok(Source::File(path.clone()))
    }

    /// Removes `host`'s credentials from the docker config and its helper.
    /// Returns whether anything was there.
    pub fn logout(&self, host: &str) -> Result<bool, AuthError> {
        let path = &self.docker_config;
        let Some(mut cfg) = read_json(path)? else {
            return Ok(false);
        };
        let mut removed = false;
        if let Some(helper) = helper_for(&cfg, host) {
            match self.run_helper(&helper, "erase", host) {
                Ok(_) => removed = true,
                Err(AuthError::HelperFailed { message, .. }) if is_not_found(&message) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(Value::Object(auths)) = cfg.get_mut("auths") {
            let keys: Vec<String> = auths
                .keys()
                .filter(|k| normalize_host(k) == host)
                .cloned()
                .collect();
            if !keys.is_empty() {
                for k in keys {
                    auths.remove(&k);
                }
                removed = true;
                write_json_atomic(path, &cfg)?;
            }
        }
        Ok(removed)
    }

    fn helper_get(&self, helper: &str, host: &str) -> Result<Option<Credential>, AuthError> {
        let out = match self.run_helper(helper, "get", host) {
            Ok(out) => out,
            Err(AuthError::HelperFailed { message, .. }) if is_not_found(&message) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let a: Answer = serde_json::from_slice(&out)
            .map_err(|_| AuthError::HelperBadOutput(helper.to_owned()))?;
        if a.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(if a.username == "<token>" {
            Credential::IdentityToken(a.secret)
        } else {
            Credential::Basic {
                username: a.username,
                password: a.secret,
            }
        }))
    }

    /// Runs `docker-credential-<helper> <action>` with `input` on stdin.
    fn run_helper(
        &self,
        helper: &str,
        action: &'static str,
        input: &str,
    ) -> Result<Vec<u8>, AuthError> {
        let exe = self.find_helper(helper)?;
        let failed = |message: String| AuthError::HelperFailed {
            helper: helper.to_owned(),
            action,
            message,
        };
        let mut child = Command::new(&exe)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper may exit without reading; a broken pipe then is not our error.
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            let mut msg = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let err = String::from_utf8_lossy(&out.stderr);
            if !err.trim().is_empty() {
                if !msg.is_empty() {
                    msg.push_str("; ");
                }
                msg.push_str(err.trim());
            }
            return Err(failed(msg));
        }
        Ok(out.stdout)
    }

    fn find_helper(&self, helper: &str) -> Result<PathBuf, AuthError> {
        let valid = !helper.is_empty()
            && helper
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !helper.starts_with('.');
        if !valid {
            return Err(AuthError::BadHelperName(helper.to_owned()));
        }
        let name = format!("docker-credential-{helper}");
        let dirs = self.path.as_deref().map(std::env::split_paths);
        for dir in dirs.into_iter().flatten() {
            let cand = dir.join(&name);
            if is_executable(&cand) {
                return Ok(cand);
            }
        }
        Err(AuthError::HelperNotFound(helper.to_owned()))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The helpers' "credentials not found" answer (docker-credential-helpers
/// `credentials.NewErrCredentialsNotFound`).
fn is_not_found(message: &str) -> bool {
    message.contains("credentials not found")
}

/// `https://reg.io:5000/v1/` -> `reg.io:5000`.
pub fn normalize_host(key: &str) -> &str {
    let s = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    s.split('/').next().unwrap_or(s)
}

fn read_json(path: &Path) -> Result<Option<Map<String, Value>>, AuthError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(AuthError::BadConfig {
            path: path.to_owned(),
            reason: "top level is not an object".into(),
        }),
        Err(e) => Err(AuthError::BadConfig {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

fn object_field<'a>(
    cfg: &'a mut Map<String, Value>,
    key: &str,
    path: &Path,
) -> Result<&'a mut Map<String, Value>, AuthError> {
    let v = cfg
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(AuthError::BadConfig {
            path: path.to_owned(),
            reason: format!("{key} is not an object"),
        }),
    }
}

fn helper_for(cfg: &Map<String, Value>, host: &str) -> Option<String> {
    if let Some(Value::Object(helpers)) = cfg.get("credHelpers") {
        for (k, v) in helpers {
            if normalize_host(k) == host
                && let Value::String(h) = v
                && !h.is_empty()
            {
                return Some(h.clone());
            }
        }
    }
    match cfg.get("credsStore") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn auths_entry(
    cfg: &Map<String, Value>,
    host: &str,
    path: &Path,
) -> Result<Option<Credential>, AuthError> {
    let Some(Value::Object(auths)) = cfg.get("auths") else {
        return Ok(None);
    };
    // An exact key wins over a normalised one (`reg.io` over `https://reg.io/v1/`).
    let entry = auths
        .get(host)
        .or_else(|| {
            auths
                .iter()
                .find(|(k, _)| normalize_host(k) == host)
                .map(|(_, v)| v)
        })
        .and_then(Value::as_object);
    let Some(entry) = entry else {
        return Ok(None);
    };
    let field = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(auth) = field("auth") {
        let bad = || AuthError::BadAuthField {
            path: path.to_owned(),
            host: host.to_owned(),
        };
        let raw = B64.decode(auth.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (u, p) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credential::Basic {
            username: u.to_owned(),
            password: p.to_owned(),
        }));
    }
    if let Some(t) = field("identitytoken") {
        return Ok(Some(Credential::IdentityToken(t.to_owned())));
    }
    if let (Some(u), Some(p)) = (field("username"), field("password")) {
        return Ok(Some(Credential::Basic {
            username: u.to_owned(),
            password: p.to_owned(),
        }));
    }
    Ok(None)
}

/// Writes `cfg` to `path` atomically: a 0600 temporary file in the same directory,
/// fsync, rename. The directory is created 0700 if missing.
fn write_json_atomic(path: &Path, cfg: &Map<String, Value>) -> Result<(), AuthError> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let io = |source| AuthError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    let mut text = serde_json::to_string_pretty(cfg).map_err(|e| io(std::io::Error::other(e)))?;
    text.push('\n');
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let tmp = dir.join(format!(".{file_name}.pqreg-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Registry hosts with credentials in the docker config (for `pqreg env`).
pub fn configured_hosts(env: &AuthEnv) -> Result<BTreeMap<String, String>, AuthError> {
    let mut out = BTreeMap::new();
    if let Some(cfg) = read_json(&env.docker_config)? {
        if let Some(Value::Object(auths)) = cfg.get("auths") {
            for k in auths.keys() {
                out.insert(normalize_host(k).to_owned(), "auths".to_owned());
            }
        }
        if let Some(Value::Object(h)) = cfg.get("credHelpers") {
            for (k, v) in h {
                if let Value::String(name) = v {
                    out.insert(normalize_host(k).to_owned(), format!("helper {name}"));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
