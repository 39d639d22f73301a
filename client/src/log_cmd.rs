//! `pqreg log …`: query and audit a registry's transparency log
//! (spec/transparency-log.md §9-10). Every checkpoint shown is verified with the trust
//! policy's `[[logs]]` keys and checked for consistency with the stored one; every entry
//! shown is verified included in it (proofs computed from the tiles).

use std::path::PathBuf;

use base64::Engine as _;
use clap::{ArgGroup, Args, Subcommand};
use pqreg::paths::Paths;
use pqreg::tlog::{Log, LogClient, LogError, TreeHead, Update};
use pqreg_spec::Digest;
use pqreg_spec::checkpoint::{Checkpoint, VerifiedCheckpoint};
use pqreg_spec::keys::KeyId;
use pqreg_spec::logentry::{EntryKind, LogEntry, NameKey, check_repository};
use pqreg_spec::merkle::{Hash, leaf_hash};
use pqreg_spec::note::Note;
use pqreg_spec::policy::PolicyLog;
use serde_json::json;

use crate::Outcome;

/// `pqreg log …`.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Fetch the log's newest checkpoint, verify it with the policy's log keys, check it
    /// is consistent with the stored one, store it and print it.
    Checkpoint(LogArgs),
    /// Print entry INDEX, verified included in the newest checkpoint.
    Get(LogGetArgs),
    /// Search entries by manifest digest, signer key ID or repository (each result's
    /// inclusion proof is verified before it is printed).
    Search(LogSearchArgs),
    /// Prove the log consistent from the stored checkpoint to the newest; print both.
    Verify(LogArgs),
    /// Read every entry added since the last run (from the tiles) and report those of
    /// the watched keys and repositories.
    Monitor(LogMonitorArgs),
    /// Write an offline proof (C2SP tlog-proof) of a model's signature entry, and with
    /// --layout the model itself, for `pqreg verify --offline`.
    Proof(crate::proof_cmd::LogProofArgs),
}

/// The log to use.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Registry host[:port] whose log to read.
    pub registry: String,
    /// Trust policy with the log's keys in `[[logs]]` (default:
    /// $XDG_CONFIG_HOME/pqreg/policy.toml).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// `pqreg log get`.
#[derive(Debug, Args)]
pub struct LogGetArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Entry index.
    pub index: u64,
}

/// `pqreg log search`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("filter").required(true).multiple(true).args(["digest", "key", "repo"])))]
pub struct LogSearchArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Manifest digest (sha256:…).
    #[arg(long)]
    pub digest: Option<String>,
    /// Signer key ID (sha256:…).
    #[arg(long)]
    pub key: Option<String>,
    /// Repository (without the registry host).
    #[arg(long)]
    pub repo: Option<String>,
}

/// `pqreg log monitor`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("watch").required(true).multiple(true).args(["key", "repo"])))]
pub struct LogMonitorArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Signer key ID to watch (repeatable).
    #[arg(long)]
    pub key: Vec<String>,
    /// Repository to watch (repeatable).
    #[arg(long)]
    pub repo: Vec<String>,
}

/// Runs a `pqreg log` command.
pub(crate) fn run(cmd: &LogCommand) -> anyhow::Result<Outcome> {
    match cmd {
        LogCommand::Proof(a) => crate::proof_cmd::proof(a),
        LogCommand::Checkpoint(a) => with_log(a, checkpoint),
        LogCommand::Verify(a) => with_log(a, verify),
        LogCommand::Get(a) => with_log(&a.log, |log| get(log, a.index)),
        LogCommand::Search(a) => {
            let filter = SearchFilter::new(a)?;
            with_log(&a.log, |log| search(log, &filter))
        }
        LogCommand::Monitor(a) => {
            let keys = a
                .key
                .iter()
                .map(|k| parse_digest(k, "--key"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            for r in &a.repo {
                check_repo(r)?;
            }
            // The policy's rules say who may sign a repository of this registry.
            let host = crate::registry_arg(&a.log.registry)?;
            let policy = crate::remote_cmd::load_policy(
                a.log.policy.as_deref(),
                &Paths::from_process_env(),
            )?;
            let expected = |repo: &str, signer: &Digest| {
                policy
                    .authorize(&format!("{host}/{repo}"), &KeyId(*signer))
                    .is_ok()
            };
            with_log(&a.log, |log| monitor(log, &keys, &a.repo, &expected))
        }
    }
}

/// The policy, the log client (the policy's URL or the registry's `/log`) and the log.
fn with_log(
    a: &LogArgs,
    f: impl FnOnce(&Log<'_>) -> Result<Outcome, LogError>,
) -> anyhow::Result<Outcome> {
    let host = crate::registry_arg(&a.registry)?;
    with_log_host(&host, a.policy.as_deref(), f)
}

/// [`with_log`] for a validated registry host.
pub(crate) fn with_log_host<T>(
    host: &str,
    policy: Option<&std::path::Path>,
    f: impl FnOnce(&Log<'_>) -> Result<T, LogError>,
) -> anyhow::Result<T> {
    let paths = Paths::from_process_env();
    let policy = crate::remote_cmd::load_policy(policy, &paths)?;
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

fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

fn head_json(h: &TreeHead) -> serde_json::Value {
    json!({"size": h.size, "root": b64(&h.root)})
}

fn signers(c: &VerifiedCheckpoint) -> Vec<String> {
    c.signatures
        .iter()
        .map(|s| format!("{}+{:08x} ({})", s.name, s.key_id, s.signature_type.name()))
        .collect()
}

/// The newest checkpoint, verified, consistent with the stored one and stored.
pub(crate) fn advance(log: &Log<'_>) -> Result<(VerifiedCheckpoint, Update), LogError> {
    let latest = log.latest()?;
    let update = log.update(&latest)?;
    Ok((latest, update))
}

fn update_text(u: &Update) -> (String, serde_json::Value) {
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

fn checkpoint(log: &Log<'_>) -> Result<Outcome, LogError> {
    let (c, u) = advance(log)?;
    let head = TreeHead::of(&c);
    let (ut, uj) = update_text(&u);
    let note = String::from_utf8_lossy(&c.note.to_bytes()).into_owned();
    eprintln!(
        "pqreg: checkpoint of {} {head}: signed by {}; {ut}",
        log.origin(),
        signers(&c).join(", ")
    );
    Ok(Outcome {
        text: note.trim_end().to_owned(),
        json: json!({
            "origin": log.origin(),
            "size": head.size,
            "root": b64(&head.root),
            "signatures": signers(&c),
            "note": note,
            "update": uj,
            "stored": log.store().checkpoint_path(),
        }),
    })
}

fn verify(log: &Log<'_>) -> Result<Outcome, LogError> {
    let before = log.stored()?.map(|c| TreeHead::of(&c));
    let (c, u) = advance(log)?;
    let now = TreeHead::of(&c);
    let (ut, uj) = update_text(&u);
    let text = match before {
        Some(b) => format!("{}: stored {b} -> newest {now}: consistent", log.origin()),
        None => format!("{}: newest {now}; {ut}", log.origin()),
    };
    Ok(Outcome {
        text,
        json: json!({
            "origin": log.origin(),
            "stored": before.as_ref().map(head_json),
            "newest": head_json(&now),
            "consistent": true,
            "update": uj,
        }),
    })
}

fn get(log: &Log<'_>, index: u64) -> Result<Outcome, LogError> {
    let (c, _) = advance(log)?;
    let size = c.checkpoint.size;
    let entry = log.entry(index, size)?;
    let mut tiles = log.tiles(size);
    let proof = log.check_inclusion(&mut tiles, &entry, index, &c)?;
    let text = String::from_utf8_lossy(&entry).into_owned();
    let parsed = LogEntry::parse(&entry).map_err(|source| LogError::Entry {
        index,
        cause: source,
    })?;
    eprintln!(
        "pqreg: entry {index} of {} is included in {} ({} proof hashes)",
        log.origin(),
        TreeHead::of(&c),
        proof.len()
    );
    Ok(Outcome {
        text: text.trim_end().to_owned(),
        json: json!({
            "index": index,
            "entry": text,
            "fields": entry_json(&parsed),
            "leaf_hash": b64(&leaf_hash(&entry)),
            "proof": proof.iter().map(b64).collect::<Vec<_>>(),
            "checkpoint": head_json(&TreeHead::of(&c)),
        }),
    })
}

fn entry_json(e: &LogEntry) -> serde_json::Value {
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

fn entry_line(index: u64, e: &LogEntry) -> String {
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

fn parse_digest(s: &str, flag: &str) -> anyhow::Result<Digest> {
    s.parse::<Digest>().map_err(|e| {
        crate::fail(
            pqreg::exit::USAGE,
            format!("{flag} {s:?}: {e}"),
            "Digests and key IDs are sha256:<64 lowercase hex>.",
        )
    })
}

fn check_repo(r: &str) -> anyhow::Result<()> {
    check_repository(r).map_err(|e| {
        crate::fail(
            pqreg::exit::USAGE,
            format!("--repo {r:?}: {e}"),
            "Give the repository without the registry host, e.g. --repo org/model.",
        )
    })
}

struct SearchFilter {
    manifest: Option<Digest>,
    signer: Option<Digest>,
    repository: Option<String>,
}

impl SearchFilter {
    fn new(a: &LogSearchArgs) -> anyhow::Result<Self> {
        if let Some(r) = &a.repo {
            check_repo(r)?;
        }
        Ok(SearchFilter {
            manifest: a
                .digest
                .as_deref()
                .map(|d| parse_digest(d, "--digest"))
                .transpose()?,
            signer: a
                .key
                .as_deref()
                .map(|d| parse_digest(d, "--key"))
                .transpose()?,
            repository: a.repo.clone(),
        })
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(d) = &self.manifest {
            q.push(("manifest", d.to_string()));
        }
        if let Some(d) = &self.signer {
            q.push(("signer", d.to_string()));
        }
        if let Some(r) = &self.repository {
            q.push(("repository", r.clone()));
        }
        q
    }

    /// Whether `e` matches; a keyed entry (spec/transparency-log.md §3.2) matches the
    /// repository through its id under `key` in the log `origin`.
    fn matches(&self, e: &LogEntry, key: Option<&NameKey>, origin: &str) -> bool {
        let signer = match &e.kind {
            EntryKind::Signature { signer, .. } => Some(signer.0),
            _ => None,
        };
        self.manifest.is_none_or(|m| m == e.manifest)
            && self.signer.is_none_or(|s| Some(s) == signer)
            && self
                .repository
                .as_ref()
                .is_none_or(|r| e.names_repository(r, key, origin).unwrap_or(false))
    }
}

/// The log name key of `repository` (spec/transparency-log.md §3.2), or `None` with a
/// warning when the registry has none or will not give it (keyed entries of the
/// repository are then neither shown nor matched).
fn name_key(log: &Log<'_>, repository: &str) -> Option<NameKey> {
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

/// Most result pages one search reads.
const MAX_SEARCH_PAGES: usize = 100;

fn search(log: &Log<'_>, filter: &SearchFilter) -> Result<Outcome, LogError> {
    let (c, _) = advance(log)?;
    let size = c.checkpoint.size;
    let mut tiles = log.tiles(size);
    let client_base = log.origin().to_owned();
    let key = match &filter.repository {
        Some(r) => name_key(log, r),
        None => None,
    };
    let mut hits = Vec::new();
    let mut after: Option<u64> = None;
    let mut truncated = false;
    for page_no in 0..MAX_SEARCH_PAGES {
        let mut q = filter.query();
        if let Some(a) = after {
            q.push(("after", a.to_string()));
        }
        let page = log.api()?.search(&q)?;
        for h in page.entries {
            if h.index >= size {
                // Appended after the checkpoint we verified: not provable yet.
                continue;
            }
            let bytes = h.entry.into_bytes();
            log.check_inclusion(&mut tiles, &bytes, h.index, &c)?;
            let e = LogEntry::parse(&bytes).map_err(|source| LogError::Entry {
                index: h.index,
                cause: source,
            })?;
            if !filter.matches(&e, key.as_ref(), log.origin()) {
                return Err(LogError::EntryMismatch(format!(
                    "search of {client_base} returned entry {} that does not match the filter",
                    h.index
                )));
            }
            hits.push((h.index, e, bytes));
        }
        match page.next {
            Some(n) => {
                after = Some(n);
                truncated = page_no + 1 == MAX_SEARCH_PAGES;
            }
            None => break,
        }
    }
    eprintln!(
        "pqreg: {} entries found in {} {}, each verified included{}",
        hits.len(),
        log.origin(),
        TreeHead::of(&c),
        if truncated {
            format!("; stopped after {MAX_SEARCH_PAGES} pages, more may match (narrow the filter)")
        } else {
            String::new()
        }
    );
    Ok(Outcome {
        text: hits
            .iter()
            .map(|(i, e, _)| entry_line(*i, e))
            .collect::<Vec<_>>()
            .join("\n"),
        json: json!({
            "checkpoint": head_json(&TreeHead::of(&c)),
            "truncated": truncated,
            "entries": hits.iter().map(|(i, e, b)| json!({
                "index": i,
                "entry": String::from_utf8_lossy(b),
                "fields": entry_json(e),
            })).collect::<Vec<_>>(),
        }),
    })
}

/// The monitor's position in a log: the next entry index to read.
const MONITOR_STATE: &str = "monitor";

fn monitor(
    log: &Log<'_>,
    keys: &[Digest],
    repos: &[String],
    expected: &dyn Fn(&str, &Digest) -> bool,
) -> Result<Outcome, LogError> {
    let (c, _) = advance(log)?;
    let size = c.checkpoint.size;
    let from = match log.store().read(MONITOR_STATE)? {
        Some(b) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| LogError::Io {
                path: log.store().dir().join(MONITOR_STATE),
                cause: std::io::Error::other("not a decimal entry index"),
            })?,
        None => 0,
    };
    let mut tiles = log.tiles(size);
    // Keyed entries (spec/transparency-log.md §3.2) of a watched repository are recognised
    // by the ids computed with its name key, fetched once.
    let keys_of_repos: Vec<Option<NameKey>> = repos.iter().map(|r| name_key(log, r)).collect();
    let mut reports = Vec::new();
    let mut lines = Vec::new();
    for index in from.min(size)..size {
        let entry = log.entry(index, size)?;
        // Every entry read is proven to be the leaf of the verified checkpoint: a tile or
        // bundle that does not hash to the root stops the monitor (exit 13).
        log.check_inclusion(&mut tiles, &entry, index, &c)?;
        let text = String::from_utf8_lossy(&entry).into_owned();
        let mut report = |reason: &str, line: String| {
            reports.push(json!({"kind": "entry", "reason": reason, "index": index, "entry": text}));
            lines.push(format!("{reason}\t{line}"));
        };
        match LogEntry::parse(&entry) {
            Err(e) => report("malformed-entry", format!("{index}\t{e}")),
            Ok(e) => {
                let signer = match &e.kind {
                    EntryKind::Signature { signer, .. } => Some(signer.0),
                    _ => None,
                };
                let watched = repos
                    .iter()
                    .zip(&keys_of_repos)
                    .find(|(r, k)| e.names_repository(r, k.as_ref(), log.origin()) == Ok(true))
                    .map(|(r, _)| r.as_str());
                let watched_repo = watched.is_some();
                if let Some(r) = watched
                    && signer.is_some_and(|s| !expected(r, &s))
                {
                    report("unexpected-signer", entry_line(index, &e));
                } else if signer.is_some_and(|s| keys.contains(&s)) {
                    report("watched-signer", entry_line(index, &e));
                } else if watched_repo {
                    report("watched-repository", entry_line(index, &e));
                }
            }
        }
    }
    log.store()
        .write(MONITOR_STATE, format!("{size}\n").as_bytes())?;
    eprintln!(
        "pqreg: read entries {from}..{size} of {} (checkpoint {}), {} reported",
        log.origin(),
        TreeHead::of(&c),
        reports.len()
    );
    Ok(Outcome {
        text: lines.join("\n"),
        json: json!({
            "origin": log.origin(),
            "from": from,
            "to": size,
            "checkpoint": head_json(&TreeHead::of(&c)),
            "reports": reports,
        }),
    })
}
