//! `pqreg log monitor REGISTRY --key|--repo`: reads every entry added since the last run
//! (from the tiles) and reports those of the watched keys and repositories.

use pqreg::paths::Paths;
use pqreg::tlog::{Log, LogError, TreeHead};
use pqreg_spec::Digest;
use pqreg_spec::keys::KeyId;
use pqreg_spec::logentry::{EntryKind, LogEntry, NameKey};
use serde_json::json;

use crate::cli::LogMonitorArgs;
use crate::common::{
    Outcome, advance, check_repo, entry_line, head_json, load_policy, name_key, parse_digest,
    registry_arg, with_log,
};

/// `pqreg log monitor`.
pub(crate) fn run(a: &LogMonitorArgs) -> crate::common::Result<Outcome> {
    let keys = a
        .key
        .iter()
        .map(|k| parse_digest(k, "--key"))
        .collect::<crate::common::Result<Vec<_>>>()?;
    for r in &a.repo {
        check_repo(r)?;
    }
    // The policy's rules say who may sign a repository of this registry.
    let host = registry_arg(&a.log.registry)?;
    let policy = load_policy(a.log.policy.as_deref(), &Paths::from_process_env())?;
    let expected = |repo: &str, signer: &Digest| {
        policy
            .authorize(&format!("{host}/{repo}"), &KeyId(*signer))
            .is_ok()
    };
    with_log(&a.log, |log| monitor(log, &keys, &a.repo, &expected))
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
