//! The htpasswd file (spec/auth.md §4.1): `user:bcrypt-hash` lines, re-read when it
//! changes, verified in constant work whether or not the user exists, with a short-lived
//! cache of successful checks so that clients sending Basic on every request don't pay
//! bcrypt each time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// How long a verified password is remembered.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// At most this many remembered passwords (the cache is cleared when full).
const CACHE_MAX: usize = 4096;

struct Loaded {
    users: HashMap<String, String>,
    mtime: Option<SystemTime>,
    generation: u64,
    /// The file changed into something invalid: every check fails until it is fixed.
    broken: bool,
}

/// An htpasswd file.
pub struct Htpasswd {
    path: PathBuf,
    state: Mutex<Loaded>,
    cache: Mutex<HashMap<[u8; 32], (u64, Instant)>>,
    dummy: String,
}

/// Parses htpasswd text; the error names the line.
pub fn parse(text: &str, path: &Path) -> Result<HashMap<String, String>, String> {
    let mut users = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| format!("{}:{n}: expected user:hash", path.display()))?;
        if user.is_empty() || user.contains(char::is_whitespace) {
            return Err(format!("{}:{n}: invalid user name", path.display()));
        }
        if !is_bcrypt(hash) {
            return Err(format!(
                "{}:{n}: user {user}: only bcrypt hashes ($2y$, $2b$, $2a$) are accepted; \
                 regenerate it with `htpasswd -B`",
                path.display()
            ));
        }
        if users.insert(user.to_owned(), hash.to_owned()).is_some() {
            return Err(format!("{}:{n}: user {user} appears twice", path.display()));
        }
    }
    Ok(users)
}

fn is_bcrypt(h: &str) -> bool {
    let Some(rest) = ["$2y$", "$2b$", "$2a$"]
        .iter()
        .find_map(|p| h.strip_prefix(p))
    else {
        return false;
    };
    let Some((cost, salt_hash)) = rest.split_once('$') else {
        return false;
    };
    cost.len() == 2
        && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
        && salt_hash.len() == 53
        && salt_hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}

impl Htpasswd {
    /// Reads the file; any invalid line is an error naming it.
    pub fn open(path: &Path) -> anyhow::Result<Htpasswd> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading htpasswd file {}", path.display()))?;
        let users = parse(&text, path).map_err(anyhow::Error::msg)?;
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        // Unknown users are checked against this, so they cost the same bcrypt work.
        let dummy = bcrypt::hash("pqreg-dummy-password", bcrypt::DEFAULT_COST)
            .context("bcrypt of the dummy password")?;
        Ok(Htpasswd {
            path: path.to_owned(),
            state: Mutex::new(Loaded {
                users,
                mtime,
                generation: 0,
                broken: false,
            }),
            cache: Mutex::new(HashMap::new()),
            dummy,
        })
    }

    /// Re-reads the file if its modification time changed; returns the hash of `user`
    /// (or `None`) and the generation it belongs to.
    fn lookup(&self, user: &str) -> (Option<String>, u64, bool) {
        let Ok(mut st) = self.state.lock() else {
            return (None, 0, true);
        };
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if mtime != st.mtime {
            st.mtime = mtime;
            st.generation += 1;
            match std::fs::read_to_string(&self.path)
                .map_err(|e| format!("{}: {e}", self.path.display()))
                .and_then(|t| parse(&t, &self.path))
            {
                Ok(users) => {
                    tracing::info!(path = %self.path.display(), users = users.len(), "htpasswd reloaded");
                    st.users = users;
                    st.broken = false;
                }
                Err(e) => {
                    tracing::error!(error = %e, "htpasswd file invalid: refusing every password until it is fixed");
                    st.users.clear();
                    st.broken = true;
                }
            }
        }
        (st.users.get(user).cloned(), st.generation, st.broken)
    }

    /// Whether `password` is `user`'s.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let (hash, generation, broken) = self.lookup(user);
        if broken {
            return false;
        }
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if let Ok(c) = self.cache.lock()
            && let Some((g, at)) = c.get(&key)
            && *g == generation
            && at.elapsed() < CACHE_TTL
        {
            return true;
        }
        let ok = match &hash {
            Some(h) => bcrypt::verify(password, h).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(password, &self.dummy);
                false
            }
        };
        if ok && let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(key, (generation, Instant::now()));
        }
        ok
    }
}
