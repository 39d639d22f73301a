//! Configuration: embedded defaults, then an optional TOML file, then environment
//! variables, then command-line flags (later wins). `spec/api.md` "Configuration" lists
//! every key.
//!
//! An environment variable `PQREG_REGISTRY__<KEY>` sets `<key>`; nested keys are joined
//! with `__` (`PQREG_REGISTRY__GC__GRACE_PERIOD_SECS=600`). Its value is read as a TOML
//! value if it parses as one (`true`, `600`), else as a string.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Environment variable prefix for overrides.
pub const ENV_PREFIX: &str = "PQREG_REGISTRY__";

/// The registry's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Directory holding blobs, uploads and the metadata database.
    pub data_dir: PathBuf,
    /// Refuse every write (405 `UNSUPPORTED`) for maintenance.
    pub read_only: bool,
    /// Largest manifest accepted, in bytes (larger answers 413 `MANIFEST_INVALID`).
    pub max_manifest_bytes: usize,
    /// Page size of tags list and catalog when the client gives no `n`, and the largest `n`.
    pub max_page: usize,
    /// HTTP worker threads (0: one per CPU).
    pub workers: usize,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Send blob bodies with `sendfile(2)` (Linux, plain HTTP); `false` streams them
    /// through user space.
    pub sendfile: bool,
    /// Garbage collection.
    pub gc: GcConfig,
    /// The transparency log.
    pub log: LogConfig,
    /// Access control (spec/auth.md).
    pub auth: crate::auth::AuthConfig,
    /// TLS (spec/auth.md §7).
    pub tls: crate::tls::TlsConfig,
    /// Limits against hostile clients (spec/auth.md §8).
    pub limits: crate::limits::LimitsConfig,
}

/// Transparency-log settings (spec/transparency-log.md §2, §7).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// The origin of a new log (default `<listen>/log`). An existing log keeps the origin
    /// it was created with.
    pub origin: Option<String>,
    /// Witness verifier keys (`<name>+<id>+<base64>`, type 0x04 Ed25519 cosignature/v1 or
    /// 0x06 ML-DSA-44) whose cosignatures are accepted.
    pub witnesses: Vec<String>,
    /// How entries name repositories and tags (spec/transparency-log.md §3.2).
    pub entry_names: crate::tlog::names::EntryNames,
}

/// Garbage-collection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcConfig {
    /// Seconds between online collections (0 disables the periodic task).
    pub interval_secs: u64,
    /// An unreferenced blob or link younger than this is kept (covers pushes in flight).
    pub grace_period_secs: u64,
    /// Upload sessions idle for longer than this are purged.
    pub upload_ttl_secs: u64,
    /// Seconds between online scrubs (`crate::scrub`; 0, the default, disables them).
    pub scrub_interval_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:5000".into(),
            data_dir: default_data_dir(),
            read_only: false,
            max_manifest_bytes: 4 << 20,
            max_page: 1000,
            workers: 0,
            log_format: "text".into(),
            sendfile: true,
            gc: GcConfig::default(),
            log: LogConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            tls: crate::tls::TlsConfig::default(),
            limits: crate::limits::LimitsConfig::default(),
        }
    }
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval_secs: 3600,
            grace_period_secs: 24 * 3600,
            upload_ttl_secs: 24 * 3600,
            scrub_interval_secs: 0,
        }
    }
}

/// `$XDG_DATA_HOME/pqreg-registry`, else `$HOME/.local/share/pqreg-registry`, else
/// `./pqreg-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("pqreg-registry");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/pqreg-registry");
    }
    PathBuf::from("pqreg-data")
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not TOML, or a key or value is wrong.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` if given, then the environment `env`
    /// (pairs of name and value; pass `std::env::vars()`).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut root = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", p.display())))?
            }
            None => toml::Table::new(),
        };
        for (k, v) in env {
            let Some(rest) = k.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            set_path(&mut root, &path, parse_env_value(&v))
                .map_err(|e| ConfigError::Invalid(format!("{k}: {e}")))?;
        }
        let cfg: Config = toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "listen = {:?} is not an address:port",
                self.listen
            )));
        }
        if self.max_manifest_bytes == 0 || self.max_page == 0 {
            return Err(ConfigError::Invalid(
                "max_manifest_bytes and max_page must be positive".into(),
            ));
        }
        self.tls.validate().map_err(ConfigError::Invalid)?;
        self.limits.validate().map_err(ConfigError::Invalid)?;
        self.auth
            .validate(&self.listen, self.tls.enabled())
            .map_err(ConfigError::Invalid)?;
        if self.log_format != "text" && self.log_format != "json" {
            return Err(ConfigError::Invalid(
                "log_format must be \"text\" or \"json\"".into(),
            ));
        }
        if let Some(o) = &self.log.origin
            && (o.len() > 255 || pqreg_spec::note::check_key_name(o).is_err())
        {
            return Err(ConfigError::Invalid(format!(
                "log.origin = {o:?} is not a key name (non-empty, at most 255 bytes, no spaces, no '+')"
            )));
        }
        self.witness_keys()?;
        Ok(())
    }

    /// The origin a new log gets: `log.origin`, else `<listen>/log`.
    pub fn log_origin(&self) -> String {
        self.log
            .origin
            .clone()
            .unwrap_or_else(|| format!("{}/log", self.listen))
    }

    /// The parsed `log.witnesses`.
    pub fn witness_keys(&self) -> Result<Vec<pqreg_spec::note::VerifierKey>, ConfigError> {
        use pqreg_spec::note::{SignatureType, VerifierKey};
        self.log
            .witnesses
            .iter()
            .map(|w| {
                let k = VerifierKey::parse(w)
                    .map_err(|e| ConfigError::Invalid(format!("log.witnesses: {w:?}: {e}")))?;
                match k.signature_type() {
                    SignatureType::CosignatureEd25519 | SignatureType::CosignatureMlDsa44 => Ok(k),
                    t => Err(ConfigError::Invalid(format!(
                        "log.witnesses: {w:?} is a {} key, not a cosignature key (0x04 or 0x06)",
                        t.name()
                    ))),
                }
            })
            .collect()
    }
}

fn parse_env_value(v: &str) -> toml::Value {
    format!("x = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("x"))
        .unwrap_or_else(|| toml::Value::String(v.to_owned()))
}

fn set_path(t: &mut toml::Table, path: &[String], v: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty key".into()),
        [last] => {
            t.insert(last.clone(), v);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = t
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, v),
                _ => Err(format!("{first} is not a table")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "listen = \"0.0.0.0:6000\"\n[gc]\ninterval_secs = 5\n").unwrap();
        let env = vec![
            ("PQREG_REGISTRY__GC__GRACE_PERIOD_SECS".into(), "7".into()),
            ("PQREG_REGISTRY__READ_ONLY".into(), "true".into()),
            ("PQREG_REGISTRY__DATA_DIR".into(), "/srv/x".into()),
            ("OTHER".into(), "1".into()),
        ];
        let c = Config::load(Some(&f), env).unwrap();
        assert_eq!(c.listen, "0.0.0.0:6000");
        assert_eq!(c.gc.interval_secs, 5);
        assert_eq!(c.gc.grace_period_secs, 7);
        assert!(c.read_only);
        assert_eq!(c.data_dir, PathBuf::from("/srv/x"));
        assert_eq!(c.max_manifest_bytes, 4 << 20);
    }

    #[test]
    fn rejects_unknown_and_bad() {
        let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(Config::load(None, env("PQREG_REGISTRY__LISTN", "x")).is_err());
        assert!(Config::load(None, env("PQREG_REGISTRY__LISTEN", "nope")).is_err());
        assert!(Config::load(None, env("PQREG_REGISTRY__GC__INTERVAL_SECS", "-1")).is_err());
        assert!(Config::load(None, Vec::new()).is_ok());
    }

    #[test]
    fn log_origin_and_witnesses() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.log_origin(), "127.0.0.1:5000/log");
        let w = "witness.example/w1+d9ed62c5+BO1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR";
        let c = Config::load(
            None,
            env(&[
                ("PQREG_REGISTRY__LOG__ORIGIN", "reg.example/log"),
                ("PQREG_REGISTRY__LOG__WITNESSES", &format!("[\"{w}\"]")),
            ]),
        )
        .unwrap();
        assert_eq!(c.log_origin(), "reg.example/log");
        assert_eq!(c.witness_keys().unwrap()[0].to_string(), w);
        // Not a key name; not a cosignature key (0x01 is the log's own type); not a key.
        assert!(Config::load(None, env(&[("PQREG_REGISTRY__LOG__ORIGIN", "a b")])).is_err());
        let ed = "registry.example/log+9c2dabef+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c";
        assert!(
            Config::load(
                None,
                env(&[("PQREG_REGISTRY__LOG__WITNESSES", &format!("[\"{ed}\"]"))])
            )
            .is_err()
        );
        assert!(Config::load(None, env(&[("PQREG_REGISTRY__LOG__WITNESSES", "[\"x\"]")])).is_err());
    }

    /// spec/api.md's example configuration is the defaults (but for `data_dir`).
    #[test]
    fn doc_example_is_defaults() {
        let doc = include_str!("../../spec/api.md");
        let at = doc.find("<!-- example: config -->").expect("marker");
        let block = doc[at..].split("```toml\n").nth(1).expect("block");
        let block = &block[..block.find("```").expect("end")];
        let mut c: Config = toml::from_str(block).unwrap();
        c.data_dir = default_data_dir();
        assert_eq!(c, Config::default());
    }
}
