//! Where pqreg keeps its files, per the XDG Base Directory Specification:
//! `$XDG_CONFIG_HOME/pqreg/` (trust policy, defaults), `$XDG_CACHE_HOME/pqreg/`
//! (content-addressed blob cache), `$XDG_STATE_HOME/pqreg/` (the newest verified
//! checkpoint of each log). An unset, empty or relative XDG variable falls back to the
//! spec's default under `$HOME` (the spec says relative paths are invalid and to be
//! ignored). Registry credentials are not here: they live in the docker config
//! ([`crate::auth`]).

use std::ffi::OsString;
use std::path::PathBuf;

/// The directories pqreg uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `$XDG_CONFIG_HOME/pqreg` (default `~/.config/pqreg`).
    pub config: PathBuf,
    /// `$XDG_CACHE_HOME/pqreg` (default `~/.cache/pqreg`).
    pub cache: PathBuf,
    /// `$XDG_STATE_HOME/pqreg` (default `~/.local/state/pqreg`).
    pub state: PathBuf,
}

impl Paths {
    /// From the process environment.
    pub fn from_process_env() -> Self {
        Self::from_vars(|k| std::env::var_os(k))
    }

    /// From an environment lookup function (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let home = PathBuf::from(var("HOME").unwrap_or_default());
        let xdg = |name: &str, default: &[&str]| {
            let base = var(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| default.iter().fold(home.clone(), |p, c| p.join(c)));
            base.join("pqreg")
        };
        Paths {
            config: xdg("XDG_CONFIG_HOME", &[".config"]),
            cache: xdg("XDG_CACHE_HOME", &[".cache"]),
            state: xdg("XDG_STATE_HOME", &[".local", "state"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let p = Paths::from_vars(|k| (k == "HOME").then(|| "/home/u".into()));
        assert_eq!(p.config, PathBuf::from("/home/u/.config/pqreg"));
        assert_eq!(p.cache, PathBuf::from("/home/u/.cache/pqreg"));
        assert_eq!(p.state, PathBuf::from("/home/u/.local/state/pqreg"));
        let p = Paths::from_vars(|k| match k {
            "HOME" => Some("/home/u".into()),
            "XDG_CONFIG_HOME" => Some("/etc/x".into()),
            // Relative: ignored, as the XDG spec says.
            "XDG_CACHE_HOME" => Some("rel".into()),
            "XDG_STATE_HOME" => Some("".into()),
            _ => None,
        });
        assert_eq!(p.config, PathBuf::from("/etc/x/pqreg"));
        assert_eq!(p.cache, PathBuf::from("/home/u/.cache/pqreg"));
        assert_eq!(p.state, PathBuf::from("/home/u/.local/state/pqreg"));
    }
}
