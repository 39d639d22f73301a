//! Limits against hostile or runaway clients (spec/auth.md §8): request and idle timeouts
//! (slow clients are disconnected), a body idle timeout and minimum rate for request bodies,
//! a cap on the upload sessions one client keeps open, and a cap on the request bodies one
//! client streams at once (issue 15 §2, §4).
//!
//! Both caps count what the upload handlers did, not what a request looked like: a session
//! is counted when the handler opened it and uncounted when the handler ended it
//! (committed, refused for a wrong digest, cancelled, or purged by GC), never on a status
//! code. A session belongs to the client that opened it (its record names the owner), and
//! only that client may use, finish or cancel it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Time a client has to send a request's headers, seconds (slow-loris guard).
    pub request_timeout_secs: u64,
    /// Time an idle keep-alive connection is kept, seconds.
    pub keep_alive_secs: u64,
    /// Time a TLS handshake may take, seconds.
    pub tls_handshake_timeout_secs: u64,
    /// Upload sessions one client (user, or address when anonymous) may keep open.
    pub max_upload_sessions_per_client: usize,
    /// Largest total size of a request's header names and values, bytes (431 above).
    pub max_header_bytes: usize,
    /// A request body that sends nothing for this long is cut, seconds.
    pub body_idle_timeout_secs: u64,
    /// A request body slower than this, measured over each `body_idle_timeout_secs`
    /// window, is cut, bytes per second (0: no minimum rate).
    pub body_min_bytes_per_sec: u64,
    /// Request bodies (blob uploads of any kind: monolithic, chunk, final chunk) one client
    /// may stream at once (429 above).
    pub max_body_streams_per_client: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            request_timeout_secs: 10,
            keep_alive_secs: 30,
            tls_handshake_timeout_secs: 10,
            max_upload_sessions_per_client: 64,
            max_header_bytes: 16 << 10,
            body_idle_timeout_secs: 30,
            body_min_bytes_per_sec: 4 << 10,
            max_body_streams_per_client: 16,
        }
    }
}

impl LimitsConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.request_timeout_secs == 0 || self.tls_handshake_timeout_secs == 0 {
            return Err("limits: timeouts must be positive".into());
        }
        if self.max_header_bytes < 1024 {
            return Err("limits.max_header_bytes must be at least 1024".into());
        }
        if self.max_upload_sessions_per_client == 0 {
            return Err("limits.max_upload_sessions_per_client must be positive".into());
        }
        if self.body_idle_timeout_secs == 0 {
            return Err("limits.body_idle_timeout_secs must be positive".into());
        }
        if self.max_body_streams_per_client == 0 {
            return Err("limits.max_body_streams_per_client must be positive".into());
        }
        Ok(())
    }
}

/// Open upload sessions per client, as seen by this process (sessions opened before a
/// restart are not counted; sessions idle past the upload TTL are forgotten, as GC purges
/// them).
pub struct Sessions {
    /// Largest header block accepted (carried here: the guard that counts sessions checks it).
    pub max_header_bytes: usize,
    max: usize,
    ttl: Duration,
    open: Mutex<HashMap<String, HashMap<String, Instant>>>,
}

impl Sessions {
    /// A counter allowing `max` per client, forgetting sessions after `ttl`.
    pub fn new(max: usize, ttl: Duration, max_header_bytes: usize) -> Sessions {
        Sessions {
            max_header_bytes,
            max,
            ttl,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` may open another session; `Err(n)` with its open count if not.
    pub fn admit(&self, client: &str) -> Result<(), usize> {
        let Ok(mut open) = self.open.lock() else {
            return Ok(());
        };
        let ttl = self.ttl;
        let n = open.get_mut(client).map_or(0, |m| {
            m.retain(|_, at| at.elapsed() < ttl);
            m.len()
        });
        if n >= self.max { Err(n) } else { Ok(()) }
    }

    /// Records a new session of `client`.
    pub fn opened(&self, client: &str, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.entry(client.to_owned())
                .or_default()
                .insert(id.to_owned(), Instant::now());
        }
    }

    /// How many sessions `client` has open (for tests and the 429 message).
    pub fn open_count(&self, client: &str) -> usize {
        self.open
            .lock()
            .map_or(0, |open| open.get(client).map_or(0, HashMap::len))
    }

    /// A session was used (its idle time restarts).
    pub fn touched(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            for m in open.values_mut() {
                if let Some(at) = m.get_mut(id) {
                    *at = Instant::now();
                }
            }
        }
    }

    /// A session ended: committed, refused (wrong digest), cancelled or purged.
    pub fn closed(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|_, m| {
                m.remove(id);
                !m.is_empty()
            });
        }
    }
}

/// Request bodies being streamed, per client (see [`LimitsConfig::max_body_streams_per_client`]).
pub struct Streams {
    max: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One body stream of a client; the count drops when this is dropped (however the request
/// ends, the handler's future being dropped included).
pub struct StreamPermit {
    client: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Streams {
    /// A counter allowing `max` concurrent body streams per client.
    pub fn new(max: usize) -> Streams {
        Streams {
            max,
            open: Arc::default(),
        }
    }

    /// Starts a body stream of `client`; `Err(n)` with its current count at the cap.
    pub fn acquire(&self, client: &str) -> Result<StreamPermit, usize> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(client.to_owned()).or_default();
        if *n >= self.max {
            return Err(*n);
        }
        *n += 1;
        Ok(StreamPermit {
            client: client.to_owned(),
            open: self.open.clone(),
        })
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// How slow a request body may be (from [`LimitsConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Longest silence.
    pub idle: Duration,
    /// Least bytes per second over each `idle`-long window (0: none).
    pub min_rate: u64,
}

impl BodyLimits {
    /// The body limits of a configuration.
    pub fn of(cfg: &LimitsConfig) -> BodyLimits {
        BodyLimits {
            idle: Duration::from_secs(cfg.body_idle_timeout_secs),
            min_rate: cfg.body_min_bytes_per_sec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_permits_count_and_release() {
        let s = Streams::new(2);
        let a = s.acquire("alice").unwrap();
        let _b = s.acquire("alice").unwrap();
        assert_eq!(s.acquire("alice").err(), Some(2));
        let _c = s.acquire("bob").unwrap();
        drop(a);
        assert!(s.acquire("alice").is_ok());
    }
}
