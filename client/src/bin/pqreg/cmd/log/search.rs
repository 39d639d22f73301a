//! `pqreg log search REGISTRY --digest|--key|--repo`: entries found through the
//! registry's search API, each verified included before it is printed.

use pqreg::tlog::{Log, LogError, TreeHead};
use pqreg_spec::Digest;
use pqreg_spec::logentry::{EntryKind, LogEntry, NameKey};
use serde_json::json;

use crate::cli::LogSearchArgs;
use crate::common::{
    Outcome, advance, check_repo, entry_json, entry_line, head_json, load_policy, parse_digest,
    registry_arg, repo_key, with_log,
};
use pqreg::paths::Paths;
use pqreg_spec::policy::Policy;

/// `pqreg log search`.
pub(crate) fn run(a: &LogSearchArgs) -> crate::common::Result<Outcome> {
    let filter = SearchFilter::new(a)?;
    let policy = load_policy(a.log.policy.as_deref(), &Paths::from_process_env())?;
    let host = registry_arg(&a.log.registry)?;
    with_log(&a.log, |log| search(log, &host, &filter, &policy))
}

struct SearchFilter {
    manifest: Option<Digest>,
    signer: Option<Digest>,
    repository: Option<String>,
}

impl SearchFilter {
    fn new(a: &LogSearchArgs) -> crate::common::Result<Self> {
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

/// Most result pages one search reads.
const MAX_SEARCH_PAGES: usize = 100;

fn search(
    log: &Log<'_>,
    host: &str,
    filter: &SearchFilter,
    policy: &Policy,
) -> crate::common::Result<Outcome> {
    let (c, _) = advance(log)?;
    let size = c.checkpoint.size;
    let mut tiles = log.tiles(size);
    // Keyed entries (spec/transparency-log.md §3.2) of the repository match only under its
    // name key: without the registry's answer for it the search stops rather than find
    // nothing (a 404, "no name key", is an answer; the key is pinned at first use).
    let repo_key = match &filter.repository {
        Some(r) => {
            let k = repo_key(log, host, r)?;
            k.require_answer()?;
            Some(k)
        }
        None => None,
    };
    let client_base = log.origin().to_owned();
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
            let key = match &repo_key {
                Some(k) if e.repository.is_id() => {
                    k.for_keyed(&format!("search result {}", h.index), false)?
                }
                Some(k) => k.key(),
                None => None,
            };
            if !filter.matches(&e, key, log.origin()) {
                return Err(LogError::EntryMismatch(format!(
                    "search of {client_base} returned entry {} that does not match the filter",
                    h.index
                ))
                .into());
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
            .map(|(i, e, _)| entry_line(*i, e, Some(policy)))
            .collect::<Vec<_>>()
            .join("\n"),
        json: json!({
            "checkpoint": head_json(&TreeHead::of(&c)),
            "truncated": truncated,
            "entries": hits.iter().map(|(i, e, b)| json!({
                "index": i,
                "entry": String::from_utf8_lossy(b),
                "fields": entry_json(e, Some(policy)),
            })).collect::<Vec<_>>(),
        }),
    })
}
