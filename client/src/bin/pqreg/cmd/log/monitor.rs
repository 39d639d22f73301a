//! `pqreg log monitor REGISTRY --key|--repo`: reads every entry added since the last run
//! (from the tiles) and reports those of the watched keys and repositories.

use pqreg::paths::Paths;
use pqreg::tlog::{Log, LogError, TreeHead};
use pqreg_spec::Digest;
use pqreg_spec::keys::KeyId;
use pqreg_spec::logentry::{EntryKind, LogEntry};
use serde_json::json;

use crate::cli::LogMonitorArgs;
use crate::common::{
    Outcome, RepoKey, advance, check_repo, entry_json, entry_line, head_json, load_policy,
    parse_digest, registry_arg, repo_key, with_log,
};
use pqreg_spec::policy::Policy;

/// `pqreg log monitor`.
pub(crate) fn run(a: &LogMonitorArgs) -> crate::common::Result<Outcome> {
    let keys = a
        .key
        .iter()
        .map(|k| parse_digest(k, "--key"))
        .collect::<crate::common::Result<Vec<_>>>()?;
    // Each watched repository, and whether the user said the registry logs it by name.
    let repos: Vec<(String, bool)> = a
        .repo
        .iter()
        .map(|r| (r.clone(), false))
        .chain(a.repo_by_name.iter().map(|r| (r.clone(), true)))
        .collect();
    for (r, _) in &repos {
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
        monitor(log, &host, &keys, &repos, &expected, &policy)
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
    host: &str,
    keys: &[Digest],
    repos: &[(String, bool)],
    expected: &dyn Fn(&str, &Digest) -> bool,
    policy: &Policy,
) -> crate::common::Result<Outcome> {
    let (c, _) = advance(log)?;
    let size = c.checkpoint.size;
    let mut positions = read_positions(log)?;
    let key_filter = |k: &Digest| format!("key:{k}");
    let repo_filter = |r: &str| format!("repo:{r}");
    let filters: Vec<String> = keys
        .iter()
        .map(key_filter)
        .chain(repos.iter().map(|(r, _)| repo_filter(r)))
        .collect();
    let pos = |f: &str| positions.get(f).copied().unwrap_or(0).min(size);
    // Each filter reports only entries it has not seen; the scan starts at the oldest.
    let from = filters.iter().map(|f| pos(f)).min().unwrap_or(size);
    let key_from: Vec<(Digest, u64)> = keys.iter().map(|k| (*k, pos(&key_filter(k)))).collect();
    let mut tiles = log.tiles(size);
    // Keyed entries (spec/transparency-log.md §3.2) of a watched repository are recognised
    // by the ids computed with its name key, fetched once and checked against the pin.
    let repo_keys: Vec<Watched<'_>> = repos
        .iter()
        .map(|(r, by_name)| {
            Ok(Watched {
                name: r,
                by_name: *by_name,
                from: pos(&repo_filter(r)),
                key: repo_key(log, host, r)?,
            })
        })
        .collect::<crate::common::Result<_>>()?;
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
                let watched = watched_repository(&repo_keys, &e, index, log.origin())?;
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
    // Only now, every entry up to `size` checked: a failure above keeps the positions.
    log.store().write(MONITOR_STATE, &state)?;
    eprintln!(
        "pqreg: read entries {from}..{size} of {} up to the checkpoint {}, {} reported",
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

/// A watched repository: its name, whether the user said it is logged by name, the
/// first entry its filter has not seen, and its name key.
struct Watched<'a> {
    name: &'a str,
    by_name: bool,
    from: u64,
    key: RepoKey,
}

/// The watched repository (not yet past `index`) that entry `index` names, if any. A
/// keyed entry is matched with each such repository's name key; if none matches and the
/// registry did not give the key of one of them, the run stops (spec/transparency-log.md
/// §10): the entry could be that repository's.
fn watched_repository<'a>(
    watched: &'a [Watched<'a>],
    e: &LogEntry,
    index: u64,
    origin: &str,
) -> crate::common::Result<Option<&'a str>> {
    let keyed = e.repository.is_id() || e.tag.as_ref().is_some_and(|t| t.is_id());
    let mut unknown = None;
    for w in watched.iter().filter(|w| index >= w.from) {
        let key = if keyed {
            match w.key.for_keyed(&format!("log entry {index}"), w.by_name) {
                Ok(k) => k,
                Err(why) => {
                    unknown.get_or_insert(why);
                    continue;
                }
            }
        } else {
            None
        };
        if e.names_repository(w.name, key, origin) == Ok(true) {
            return Ok(Some(w.name));
        }
    }
    unknown.map_or(Ok(None), Err)
}
