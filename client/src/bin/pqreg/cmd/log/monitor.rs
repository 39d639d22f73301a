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
    Outcome, advance, check_repo, entry_json, entry_line, head_json, load_policy, name_key,
    parse_digest, registry_arg, with_log,
};
use pqreg_spec::policy::Policy;

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
    with_log(&a.log, |log| {
        monitor(log, &keys, &a.repo, &expected, &policy)
    })
}

/// The monitor's positions in a log, one per filter (`key:<id>`, `repo:<name>`): the next
/// entry index that filter has not seen. A JSON object; an older file holding one decimal
/// for every filter is read as no positions, so each filter reads its history once.
const MONITOR_STATE: &str = "monitor";

type Positions = std::collections::BTreeMap<String, u64>;

fn read_positions(log: &Log<'_>) -> Result<Positions, LogError> {
    let Some(b) = log.store().read(MONITOR_STATE)? else {
        return Ok(Positions::new());
    };
    if std::str::from_utf8(&b).is_ok_and(|t| t.trim().parse::<u64>().is_ok()) {
        return Ok(Positions::new());
    }
    serde_json::from_slice(&b).map_err(|e| LogError::Io {
        path: log.store().dir().join(MONITOR_STATE),
        cause: std::io::Error::other(format!(
            "not the monitor's positions ({e}); delete the file to read every entry again"
        )),
    })
}

fn monitor(
    log: &Log<'_>,
    keys: &[Digest],
    repos: &[String],
    expected: &dyn Fn(&str, &Digest) -> bool,
    policy: &Policy,
) -> Result<Outcome, LogError> {
    let (c, _) = advance(log)?;
    let size = c.checkpoint.size;
    let mut positions = read_positions(log)?;
    let key_filter = |k: &Digest| format!("key:{k}");
    let repo_filter = |r: &str| format!("repo:{r}");
    let filters: Vec<String> = keys
        .iter()
        .map(key_filter)
        .chain(repos.iter().map(|r| repo_filter(r)))
        .collect();
    let pos = |f: &str| positions.get(f).copied().unwrap_or(0).min(size);
    // Each filter reports only entries it has not seen; the scan starts at the oldest.
    let from = filters.iter().map(|f| pos(f)).min().unwrap_or(size);
    let key_from: Vec<(Digest, u64)> = keys.iter().map(|k| (*k, pos(&key_filter(k)))).collect();
    let repo_from: Vec<(&str, u64)> = repos
        .iter()
        .map(|r| (r.as_str(), pos(&repo_filter(r))))
        .collect();
    let mut tiles = log.tiles(size);
    // Keyed entries (spec/transparency-log.md §3.2) of a watched repository are recognised
    // by the ids computed with its name key, fetched once.
    let keys_of_repos: Vec<Option<NameKey>> = repos.iter().map(|r| name_key(log, r)).collect();
    let mut reports = Vec::new();
    let mut lines = Vec::new();
    for index in from..size {
        let entry = log.entry(index, size)?;
        // Every entry read is proven to be the leaf of the verified checkpoint: a tile or
        // bundle that does not hash to the root stops the monitor (exit 13).
        log.check_inclusion(&mut tiles, &entry, index, &c)?;
        let text = String::from_utf8_lossy(&entry).into_owned();
        let mut report = |reason: &str, line: String, fields: serde_json::Value| {
            reports.push(json!({"kind": "entry", "reason": reason, "index": index, "entry": text, "fields": fields}));
            lines.push(format!("{reason}\t{line}"));
        };
        match LogEntry::parse(&entry) {
            Err(e) => {
                // A malformed entry concerns every filter that has not seen it.
                report("malformed-entry", format!("{index}\t{e}"), json!(null));
            }
            Ok(e) => {
                let signer = match &e.kind {
                    EntryKind::Signature { signer, .. } => Some(signer.0),
                    _ => None,
                };
                let watched = repos
                    .iter()
                    .zip(&keys_of_repos)
                    .zip(&repo_from)
                    .find(|((r, k), (_, p))| {
                        index >= *p && e.names_repository(r, k.as_ref(), log.origin()) == Ok(true)
                    })
                    .map(|((r, _), _)| r.as_str());
                let watched_repo = watched.is_some();
                let watched_key =
                    signer.is_some_and(|s| key_from.iter().any(|(k, p)| *k == s && index >= *p));
                let line = || entry_line(index, &e, Some(policy));
                let fields = || entry_json(&e, Some(policy));
                if let Some(r) = watched
                    && signer.is_some_and(|s| !expected(r, &s))
                {
                    report("unexpected-signer", line(), fields());
                } else if watched_key {
                    report("watched-signer", line(), fields());
                } else if watched_repo {
                    report("watched-repository", line(), fields());
                }
            }
        }
    }
    for f in &filters {
        positions.insert(f.clone(), size);
    }
    let state = serde_json::to_vec_pretty(&positions).map_err(|e| LogError::Io {
        path: log.store().dir().join(MONITOR_STATE),
        cause: std::io::Error::other(e),
    })?;
    log.store().write(MONITOR_STATE, &state)?;
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
