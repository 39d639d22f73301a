//! `pqreg cache show|prune`: the client's content-addressed blob cache,
//! `$XDG_CACHE_HOME/pqreg/blobs/sha256/<hex>` (`pull --cache` keeps encrypted chunk
//! layers there; configs, indexes and signatures always pass through it), with the
//! `.partial` files of interrupted downloads next to them. Everything in it is ciphertext
//! or public metadata, re-hashed before use, so deleting any of it only costs a download.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use serde_json::json;

use crate::cli::CachePruneArgs;
use crate::common::{Outcome, fail};
use pqreg::exit;
use pqreg::paths::Paths;

/// What the cache directory holds.
#[derive(Debug, Default)]
struct Tally {
    blobs: u64,
    blob_bytes: u64,
    partials: u64,
    partial_bytes: u64,
}

/// `pqreg cache show`.
pub(crate) fn show() -> crate::common::Result<Outcome> {
    let dir = blob_dir();
    let mut t = Tally::default();
    for (path, meta) in entries(&dir)? {
        if is_partial(&path) {
            t.partials += 1;
            t.partial_bytes += meta.len();
        } else {
            t.blobs += 1;
            t.blob_bytes += meta.len();
        }
    }
    Ok(Outcome {
        text: format!(
            "{}\n{} blobs, {} bytes; {} partial downloads, {} bytes",
            dir.display(),
            t.blobs,
            t.blob_bytes,
            t.partials,
            t.partial_bytes
        ),
        json: json!({
            "path": dir,
            "blobs": t.blobs,
            "bytes": t.blob_bytes,
            "partial_downloads": t.partials,
            "partial_bytes": t.partial_bytes,
        }),
    })
}

/// `pqreg cache prune [--older-than AGE]`.
pub(crate) fn prune(a: &CachePruneArgs) -> crate::common::Result<Outcome> {
    let min_age = a.older_than.as_deref().map(parse_age).transpose()?;
    let dir = blob_dir();
    let now = SystemTime::now();
    let (mut removed, mut bytes, mut kept) = (0u64, 0u64, 0u64);
    for (path, meta) in entries(&dir)? {
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if min_age.is_some_and(|min| age < min) {
            kept += 1;
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                removed += 1;
                bytes += meta.len();
            }
            // Another pqreg removed or renamed it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow::Error::from(e)
                    .context(format!("removing {}", path.display()))
                    .into());
            }
        }
    }
    eprintln!(
        "pqreg: removed {removed} files ({bytes} bytes) from {}; kept {kept}",
        dir.display()
    );
    Ok(Outcome {
        text: format!("{removed} files, {bytes} bytes removed"),
        json: json!({
            "path": dir,
            "removed_files": removed,
            "removed_bytes": bytes,
            "kept_files": kept,
        }),
    })
}

fn blob_dir() -> PathBuf {
    Paths::from_process_env().cache.join("blobs").join("sha256")
}

fn is_partial(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "partial")
}

/// The regular files directly in `dir` (none if it does not exist), with their metadata;
/// symlinks and directories are left alone (pqreg never creates them there).
fn entries(dir: &Path) -> crate::common::Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(format!("reading {}", dir.display()))
                .into());
        }
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let meta = match std::fs::symlink_metadata(e.path()) {
            Ok(m) => m,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(anyhow::Error::from(err)
                    .context(e.path().display().to_string())
                    .into());
            }
        };
        if meta.file_type().is_file() {
            out.push((e.path(), meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// `30s`, `15m`, `12h`, `7d`.
fn parse_age(s: &str) -> crate::common::Result<Duration> {
    let bad = || {
        fail(
            exit::USAGE,
            format!("--older-than {s:?} is not an age"),
            "Give a number with s, m, h or d, e.g. --older-than 7d.",
        )
    };
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_secs(secs))
}
