//! `pqreg log get REGISTRY INDEX`: one entry, verified included in the newest checkpoint.

use pqreg::tlog::{Log, LogError, TreeHead};
use pqreg_spec::logentry::LogEntry;
use pqreg_spec::merkle::leaf_hash;
use serde_json::json;

use crate::cli::LogGetArgs;
use crate::common::{Outcome, advance, b64, entry_json, head_json, load_policy, with_log};
use pqreg::paths::Paths;
use pqreg_spec::policy::Policy;

/// `pqreg log get`.
pub(crate) fn run(a: &LogGetArgs) -> crate::common::Result<Outcome> {
    let policy = load_policy(a.log.policy.as_deref(), &Paths::from_process_env())?;
    with_log(&a.log, |log| get(log, a.index, &policy))
}

fn get(log: &Log<'_>, index: u64, policy: &Policy) -> Result<Outcome, LogError> {
    let (c, _) = advance(log)?;
    let size = c.checkpoint.size;
    if index >= size {
        return Err(LogError::PastEnd {
            origin: log.origin().to_owned(),
            index,
            size,
        });
    }
    let entry = log.entry(index, size)?;
    let mut tiles = log.tiles(size);
    let proof = log.check_inclusion(&mut tiles, &entry, index, &c)?;
    let text = String::from_utf8_lossy(&entry).into_owned();
    let parsed = LogEntry::parse(&entry).map_err(|source| LogError::Entry {
        index,
        cause: source,
    })?;
    eprintln!(
        "pqreg: entry {index} of {} is included in the checkpoint {}, with {} proof hashes",
        log.origin(),
        TreeHead::of(&c),
        proof.len()
    );
    Ok(Outcome {
        text: text.trim_end().to_owned(),
        json: json!({
            "index": index,
            "entry": text,
            "fields": entry_json(&parsed, Some(policy)),
            "leaf_hash": b64(&leaf_hash(&entry)),
            "proof": proof.iter().map(b64).collect::<Vec<_>>(),
            "checkpoint": head_json(&TreeHead::of(&c)),
        }),
    })
}
