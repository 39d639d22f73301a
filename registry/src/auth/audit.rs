//! The audit log (spec/auth.md §6): one JSON object per line for every authorization
//! decision and every token issued; appended and written per line; never a secret.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::Context;
use serde::Serialize;

/// One decision.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// RFC 3339 UTC, seconds.
    pub time: String,
    /// The peer address.
    pub remote: &'a str,
    /// `anonymous`, a user name, or `token:<iss>/<sub>`.
    pub principal: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Request path (no query string: it may carry a `from` repository, not secrets, but
    /// the path is what the decision was about).
    pub path: &'a str,
    /// The repository concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<&'a str>,
    /// `pull`, `push`, `delete`, `login` (any authenticated caller) or `token`.
    pub action: &'a str,
    /// The outcome.
    pub allowed: bool,
    /// Why (no secrets).
    pub reason: &'a str,
}

/// The audit sink.
pub struct Audit {
    file: Option<Mutex<std::fs::File>>,
}

impl Audit {
    /// No file (mode `none`: there are no decisions to record).
    pub fn disabled() -> Audit {
        Audit { file: None }
    }

    /// Opens `path` for appending (0600, created if missing).
    pub fn open(path: &Path) -> anyhow::Result<Audit> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let f = opts
            .open(path)
            .with_context(|| format!("opening audit log {}", path.display()))?;
        Ok(Audit {
            file: Some(Mutex::new(f)),
        })
    }

    /// The current time as the records carry it.
    pub fn now() -> String {
        humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
    }

    /// Writes one record (and a tracing event). A write failure is logged, not fatal:
    /// the decision itself has been made.
    pub fn record(&self, r: &Record<'_>) {
        tracing::info!(
            target: "pqreg_registry::audit",
            principal = r.principal,
            method = r.method,
            path = r.path,
            repository = r.repository.unwrap_or(""),
            action = r.action,
            allowed = r.allowed,
            reason = r.reason,
            remote = r.remote,
            "access"
        );
        let Some(f) = &self.file else { return };
        let Ok(mut line) = serde_json::to_vec(r) else {
            return;
        };
        line.push(b'\n');
        if let Ok(mut f) = f.lock()
            && let Err(e) = f.write_all(&line)
        {
            tracing::error!(error = %e, "writing the audit log");
        }
    }
}
