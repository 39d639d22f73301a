//! Limits against hostile or runaway clients (spec/auth.md §8): request and idle timeouts
//! (slow clients are disconnected), and a cap on the upload sessions one client keeps open.

use std::collections::HashMap;
use std::sync::Mutex;
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
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            request_timeout_secs: 10,
            keep_alive_secs: 30,
            tls_handshake_timeout_secs: 10,
            max_upload_sessions_per_client: 64,
            max_header_bytes: 16 << 10,
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

    /// A session ended (completed, cancelled or unknown to the registry).
    pub fn closed(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|_, m| {
                m.remove(id);
                !m.is_empty()
            });
        }
    }
}
