//! The transparency log as the `log` commands and `log proof` use it: the log a
//! registry's policy names, its newest checkpoint, and how heads and entries are printed.

use base64::Engine as _;
use pqreg::paths::Paths;
use pqreg::tlog::{Log, LogClient, LogError, TreeHead, Update};
use pqreg_spec::Digest;
use pqreg_spec::checkpoint::{Checkpoint, VerifiedCheckpoint};
use pqreg_spec::logentry::{EntryKind, LogEntry, NameKey, check_repository};
use pqreg_spec::merkle::Hash;
use pqreg_spec::note::Note;
use pqreg_spec::policy::PolicyLog;
use serde_json::json;

use super::{Outcome, fail, load_policy, registry_arg};
use crate::cli::LogArgs;

/// The policy, the log client (the policy's URL or the registry's `/log`) and the log.
pub(crate) fn with_log(
    a: &LogArgs,
    f: impl FnOnce(&Log<'_>) -> Result<Outcome, LogError>,
) -> crate::common::Result<Outcome> {
    let host = registry_arg(&a.registry)?;
    with_log_host(&host, a.policy.as_deref(), f)
}

/// [`with_log`] for a validated registry host.
pub(crate) fn with_log_host<T>(
    host: &str,
    policy: Option<&std::path::Path>,
    f: impl FnOnce(&Log<'_>) -> Result<T, LogError>,
) -> crate::common::Result<T> {
    let paths = Paths::from_process_env();
    let policy = load_policy(policy, &paths)?;
    let cred = pqreg::auth::AuthEnv::from_process_env()
        .lookup(host)?
        .map(|(c, _)| c);
    // Every log failure goes through pqreg::Error, so it gets its exit code (13).
    let run = || -> Result<T, LogError> {
        let registry = LogClient::for_registry(host, cred)?;
        // The registry's checkpoint names the log (unverified until the policy's keys say so).
        let note = registry.checkpoint()?;
        let origin = Note::parse(&note)
            .and_then(|n| Checkpoint::parse_body(n.text()))
            .map_err(|source| LogError::Checkpoint {
                origin: format!("(served by {host})"),
                cause: source,
            })?
            .origin;
        let plog: &PolicyLog = policy
            .log(&origin)
            .ok_or_else(|| LogError::Unconfigured(origin.clone()))?;
        let mirror = plog
            .url
            .as_deref()
            .map(|u| LogClient::new(u, None))
            .transpose()?;
        let client = mirror.as_ref().unwrap_or(&registry);
        let log = Log::new(client, &plog.verifier, &paths.state).with_api(&registry);
        f(&log)
    };
    Ok(run().map_err(pqreg::Error::from)?)
}

/// The newest checkpoint, verified, consistent with the stored one and stored.
pub(crate) fn advance(log: &Log<'_>) -> Result<(VerifiedCheckpoint, Update), LogError> {
    let latest = log.latest()?;
    let update = log.update(&latest)?;
    Ok((latest, update))
}

pub(crate) fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

pub(crate) fn head_json(h: &TreeHead) -> serde_json::Value {
    json!({"size": h.size, "root": b64(&h.root)})
}

pub(crate) fn signers(c: &VerifiedCheckpoint) -> Vec<String> {
    c.signatures
        .iter()
        .map(|s| format!("{}+{:08x} ({})", s.name, s.key_id, s.signature_type.name()))
        .collect()
}

pub(crate) fn update_text(u: &Update) -> (String, serde_json::Value) {
    match u {
        Update::First => (
            "no checkpoint was stored: stored this one".into(),
            json!({"kind": "first"}),
        ),
        Update::Same => (
            "equal to the stored checkpoint".into(),
            json!({"kind": "same"}),
        ),
        Update::Advanced { from, to } => (
            format!("consistent with the stored {from}; stored {to}"),
            json!({"kind": "advanced", "from": head_json(from), "to": head_json(to)}),
        ),
    }
}

pub(crate) fn entry_json(e: &LogEntry) -> serde_json::Value {
    let (kind, statement, signer) = match &e.kind {
        EntryKind::Signature { statement, signer } => (
            "signature",
            Some(statement.to_string()),
            Some(signer.to_string()),
        ),
        other => (other.name(), None, None),
    };
    json!({
        "kind": kind,
        "repository": e.repository.to_string(),
        "tag": e.tag.as_ref().map(ToString::to_string),
        "manifest": e.manifest.to_string(),
        "statement": statement,
        "signer": signer,
        "time": e.time,
    })
}

pub(crate) fn entry_line(index: u64, e: &LogEntry) -> String {
    let tag = e.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
    match &e.kind {
        EntryKind::Signature { signer, .. } => format!(
            "{index}\tsignature\t{}{tag}@{}\tsigner {signer}\ttime {}",
            e.repository, e.manifest, e.time
        ),
        other => format!(
            "{index}\t{}\t{}{tag}@{}\ttime {}",
            other.name(),
            e.repository,
            e.manifest,
            e.time
        ),
    }
}

pub(crate) fn parse_digest(s: &str, flag: &str) -> crate::common::Result<Digest> {
    s.parse::<Digest>().map_err(|e| {
        fail(
            pqreg::exit::USAGE,
            format!("{flag} {s:?}: {e}"),
            "Digests and key IDs are sha256:<64 lowercase hex>.",
        )
    })
}

pub(crate) fn check_repo(r: &str) -> crate::common::Result<()> {
    check_repository(r).map_err(|e| {
        fail(
            pqreg::exit::USAGE,
            format!("--repo {r:?}: {e}"),
            "Give the repository without the registry host, e.g. --repo org/model.",
        )
    })
}

/// The log name key of `repository` (spec/transparency-log.md §3.2), or `None` with a
/// warning when the registry has none or will not give it (keyed entries of the
/// repository are then neither shown nor matched).
pub(crate) fn name_key(log: &Log<'_>, repository: &str) -> Option<NameKey> {
    match log.api().and_then(|c| c.name_key(repository)) {
        Ok(k) => k,
        Err(e) => {
            eprintln!(
                "pqreg: warning: no log name key for {repository} ({e}); entries that name it \
                 by a keyed id are not recognised"
            );
            None
        }
    }
}
