//! The transparency log as the `log` commands and `log proof` use it: the log a
//! registry's policy names, its newest checkpoint, and how heads and entries are printed.

use base64::Engine as _;
use pqreg::paths::Paths;
use pqreg::tlog::{Log, LogClient, LogError, TreeHead, Update};
use pqreg_spec::Digest;
use pqreg_spec::checkpoint::{Checkpoint, VerifiedCheckpoint};
use pqreg_spec::keys::KeyId;
use pqreg_spec::logentry::{EntryKind, LogEntry, check_repository};
use pqreg_spec::merkle::Hash;
use pqreg_spec::note::Note;
use pqreg_spec::policy::{Policy, PolicyLog};
use serde_json::json;

use super::{CliError, Outcome, fail, load_policy, registry_arg};
use crate::cli::LogArgs;

/// The policy, the log client (the policy's URL or the registry's `/log`) and the log.
pub(crate) fn with_log<E>(
    a: &LogArgs,
    f: impl FnOnce(&Log<'_>) -> Result<Outcome, E>,
) -> crate::common::Result<Outcome>
where
    E: From<LogError>,
    CliError: From<E>,
{
    let host = registry_arg(&a.registry)?;
    with_log_host(&host, a.policy.as_deref(), f)
}

/// [`with_log`] for a validated registry host. `f` returns a [`LogError`] (every log
/// failure goes through pqreg::Error, so it gets its exit code, 13) or a refusal of the
/// command's own.
pub(crate) fn with_log_host<T, E>(
    host: &str,
    policy: Option<&std::path::Path>,
    f: impl FnOnce(&Log<'_>) -> Result<T, E>,
) -> crate::common::Result<T>
where
    E: From<LogError>,
    CliError: From<E>,
{
    let paths = Paths::from_process_env();
    let policy = load_policy(policy, &paths)?;
    let cred = pqreg::auth::AuthEnv::from_process_env()
        .lookup(host)?
        .map(|(c, _)| c);
    let run = || -> Result<T, E> {
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
    run().map_err(CliError::from)
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

/// What an entry records, in words: the kind of change it logs.
pub(crate) fn change(kind: &EntryKind) -> &'static str {
    match kind {
        // A push and a recipient change both log a new signature; the entry alone does
        // not tell them apart (the statement it names does).
        EntryKind::Signature { .. } => "signed (push or recipient change)",
        EntryKind::Tag => "tag moved",
        EntryKind::TagDelete => "tag deleted",
        EntryKind::ManifestDelete => "manifest deleted",
    }
}

/// An entry time (POSIX seconds, UTC) in RFC 3339, e.g. `2026-12-06T20:00:00Z`.
pub(crate) fn rfc3339(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The trust policy's name for a key, if it declares the key with one.
pub(crate) fn key_name(policy: Option<&Policy>, id: &KeyId) -> Option<String> {
    policy.and_then(|p| p.key(id)).and_then(|k| k.name.clone())
}

pub(crate) fn entry_json(e: &LogEntry, policy: Option<&Policy>) -> serde_json::Value {
    let (kind, statement, signer, signer_name) = match &e.kind {
        EntryKind::Signature { statement, signer } => (
            "signature",
            Some(statement.to_string()),
            Some(signer.to_string()),
            key_name(policy, signer),
        ),
        other => (other.name(), None, None, None),
    };
    json!({
        "kind": kind,
        "change": change(&e.kind),
        "repository": e.repository.to_string(),
        "tag": e.tag.as_ref().map(ToString::to_string),
        "manifest": e.manifest.to_string(),
        "statement": statement,
        "signer": signer,
        "signer_name": signer_name,
        "time": e.time,
        "time_rfc3339": rfc3339(e.time),
    })
}

/// One entry as a line: index, kind, `repo:tag@digest`, signer (with the policy's name
/// for it), time (RFC 3339) and what changed, tab-separated.
pub(crate) fn entry_line(index: u64, e: &LogEntry, policy: Option<&Policy>) -> String {
    let tag = e.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
    let signer = match &e.kind {
        EntryKind::Signature { signer, .. } => match key_name(policy, signer) {
            Some(n) => format!("\tsigner {signer} ({n})"),
            None => format!("\tsigner {signer}"),
        },
        _ => String::new(),
    };
    format!(
        "{index}\t{}\t{}{tag}@{}{signer}\ttime {}\t{}",
        e.kind.name(),
        e.repository,
        e.manifest,
        rfc3339(e.time),
        change(&e.kind)
    )
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
