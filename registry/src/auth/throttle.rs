//! Limits on failed authentications (spec/auth.md §4.6): per client address and per user
//! name, failures are counted in a fixed window; once a key has used up its failures, a
//! request that presents credentials for it is answered `429 TOOMANYREQUESTS` with
//! `Retry-After` before any bcrypt runs. Unknown user names count like known ones, so the
//! limit is no oracle of which users exist.
//!
//! Keys are independent: an address that fails many times does not slow other addresses,
//! and a user name under attack does not slow other users. A user whose name is attacked
//! from elsewhere still gets in with a password the registry verified within the last
//! minute (the htpasswd cache); a fresh login waits for the window to end. That is the
//! price of limiting guesses per user at all, and the reason the per-user limit is set
//! above the per-address one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys of each kind remembered; when full, expired keys are dropped, and if none
/// is, a new key is not tracked (the other kind of key still limits it).
const MAX_KEYS: usize = 65_536;

/// The `[auth.failures]` configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailureLimits {
    /// Failed authentications one client address may make per window (0: no limit).
    pub per_address: u32,
    /// Failed authentications for one user name per window, from anywhere (0: no limit).
    pub per_user: u32,
    /// The window, seconds.
    pub window_secs: u64,
}

impl Default for FailureLimits {
    fn default() -> Self {
        FailureLimits {
            per_address: 20,
            per_user: 50,
            window_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    start: Instant,
    failures: u32,
}

/// The failure counters.
pub struct Throttle {
    limits: FailureLimits,
    addresses: Mutex<HashMap<String, Slot>>,
    users: Mutex<HashMap<String, Slot>>,
}

/// The address part of a peer address (`ip:port`, `[v6]:port`), an IPv6 address cut to
/// its /64 (one host usually holds a whole /64).
pub fn address_key(peer: &str) -> String {
    let ip = peer
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| peer.parse::<IpAddr>());
    match ip {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => peer.to_owned(),
    }
}

impl Throttle {
    /// Counters with these limits.
    pub fn new(limits: FailureLimits) -> Throttle {
        Throttle {
            limits,
            addresses: Mutex::default(),
            users: Mutex::default(),
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.limits.window_secs.max(1))
    }

    /// How long `key` must wait, if it used up `max` failures in the current window.
    fn blocked(&self, map: &Mutex<HashMap<String, Slot>>, key: &str, max: u32) -> Option<Duration> {
        if max == 0 {
            return None;
        }
        let map = map.lock().unwrap_or_else(|p| p.into_inner());
        let slot = map.get(key)?;
        let left = self.window().checked_sub(slot.start.elapsed())?;
        (slot.failures >= max).then_some(left)
    }

    fn count(&self, map: &Mutex<HashMap<String, Slot>>, key: &str, max: u32) {
        if max == 0 {
            return;
        }
        let window = self.window();
        let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            map.retain(|_, s| s.start.elapsed() < window);
            // Still full: drop the oldest key rather than count this one nowhere (which
            // let whoever filled the table guess any other user's password unlimited).
            if map.len() >= MAX_KEYS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.start)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let now = Instant::now();
        let slot = map.entry(key.to_owned()).or_insert(Slot {
            start: now,
            failures: 0,
        });
        if slot.start.elapsed() >= window {
            *slot = Slot {
                start: now,
                failures: 0,
            };
        }
        slot.failures = slot.failures.saturating_add(1);
    }

    /// Whether a request from `address` (a key from [`address_key`]) presenting
    /// credentials for `user` must wait: the longer of the two waits, in whole seconds
    /// (at least 1), and which limit it is.
    pub fn check(&self, address: &str, user: Option<&str>) -> Option<(u64, &'static str)> {
        let by_address = self
            .blocked(&self.addresses, address, self.limits.per_address)
            .map(|d| (d, "client address"));
        let by_user = user
            .and_then(|u| self.blocked(&self.users, u, self.limits.per_user))
            .map(|d| (d, "user"));
        let (wait, what) = match (by_address, by_user) {
            (Some(a), Some(u)) => {
                if a.0 >= u.0 {
                    a
                } else {
                    u
                }
            }
            (a, u) => a.or(u)?,
        };
        Some((
            wait.as_secs().max(1) + u64::from(wait.subsec_nanos() > 0),
            what,
        ))
    }

    /// Counts one failed authentication from `address` for `user`.
    pub fn failed(&self, address: &str, user: Option<&str>) {
        self.count(&self.addresses, address, self.limits.per_address);
        if let Some(u) = user {
            self.count(&self.users, u, self.limits.per_user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(address_key("127.0.0.1:5000"), "127.0.0.1");
        assert_eq!(address_key("[2001:db8:1:2:3::9]:443"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("unknown"), "unknown");
    }

    #[test]
    fn limits_are_per_key() {
        let t = Throttle::new(FailureLimits {
            per_address: 3,
            per_user: 5,
            window_secs: 60,
        });
        for _ in 0..3 {
            assert!(t.check("a", Some("alice")).is_none());
            t.failed("a", Some("alice"));
        }
        let (wait, what) = t.check("a", Some("bob")).unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(what, "client address");
        assert!(t.check("b", Some("bob")).is_none(), "another address");
        assert!(t.check("b", Some("alice")).is_none(), "alice: 3 of 5");
        t.failed("b", Some("alice"));
        t.failed("c", Some("alice"));
        assert_eq!(t.check("d", Some("alice")).unwrap().1, "user");
        assert!(t.check("d", Some("bob")).is_none());
        let off = Throttle::new(FailureLimits {
            per_address: 0,
            per_user: 0,
            window_secs: 60,
        });
        for _ in 0..100 {
            off.failed("a", Some("u"));
        }
        assert!(off.check("a", Some("u")).is_none());
    }
}
