//! The htpasswd file (spec/auth.md §4.1): `user:bcrypt-hash` lines, re-read when it
//! changes, verified in the same work whether or not the user exists (an unknown user is
//! checked against a dummy hash at the file's typical cost), with a short-lived
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
    /// A hash at the cost of the file's entries (`(cost, hash)`): unknown users are checked
    /// against it, so they cost the same bcrypt work as known ones.
    dummy: Mutex<(u32, String)>,
}

/// The cost of a bcrypt hash (`$2y$NN$...`); `parse` accepted only such hashes.
fn cost_of(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

/// The cost most of `users`' hashes use (ties: the higher), else bcrypt's default. Unknown
/// users then take as long as most known ones: a user name cannot be confirmed by timing
/// (a file at cost 5 made an unknown user 50 times slower than a known one).
pub fn typical_cost(users: &HashMap<String, String>) -> u32 {
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for h in users.values() {
        if let Some(c) = cost_of(h) {
            *counts.entry(c).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(c, n)| (*n, *c))
        .map_or(bcrypt::DEFAULT_COST, |(c, _)| c)
}

fn dummy_hash(cost: u32) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash("pqreg-dummy-password", cost)
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
        let cost = typical_cost(&users);
        let dummy = dummy_hash(cost).context("bcrypt of the dummy password")?;
        Ok(Htpasswd {
            path: path.to_owned(),
            state: Mutex::new(Loaded {
                users,
                mtime,
                generation: 0,
                broken: false,
            }),
            cache: Mutex::new(HashMap::new()),
            dummy: Mutex::new((cost, dummy)),
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
                    let cost = typical_cost(&users);
                    if let Ok(mut d) = self.dummy.lock()
                        && d.0 != cost
                        && let Ok(h) = dummy_hash(cost)
                    {
                        *d = (cost, h);
                    }
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

    fn cache_key(user: &str, password: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .finalize()
            .into()
    }

    fn in_cache(&self, key: &[u8; 32], generation: u64) -> bool {
        self.cache.lock().is_ok_and(|c| {
            c.get(key)
                .is_some_and(|(g, at)| *g == generation && at.elapsed() < CACHE_TTL)
        })
    }

    /// Whether `password` is `user`'s and was verified within the last minute (no bcrypt:
    /// what a throttled user name may still use, spec/auth.md §4.6).
    pub fn verify_cached(&self, user: &str, password: &str) -> bool {
        let (_, generation, broken) = self.lookup(user);
        !broken && self.in_cache(&Self::cache_key(user, password), generation)
    }

    /// Whether `password` is `user`'s.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let (hash, generation, broken) = self.lookup(user);
        if broken {
            return false;
        }
        let key = Self::cache_key(user, password);
        if self.in_cache(&key, generation) {
            return true;
        }
        let ok = match &hash {
            Some(h) => bcrypt::verify(password, h).unwrap_or(false),
            None => {
                let dummy = self.dummy.lock().map(|d| d.1.clone()).unwrap_or_default();
                let _ = bcrypt::verify(password, &dummy);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_cost_follows_the_file() {
        let h = |c: u32| bcrypt::hash("x", c).unwrap();
        let users = |costs: &[u32]| -> HashMap<String, String> {
            costs
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("u{i}"), h(*c)))
                .collect()
        };
        assert_eq!(typical_cost(&users(&[])), bcrypt::DEFAULT_COST);
        assert_eq!(typical_cost(&users(&[5, 5, 6])), 5);
        assert_eq!(typical_cost(&users(&[4, 6])), 6);
    }
}
