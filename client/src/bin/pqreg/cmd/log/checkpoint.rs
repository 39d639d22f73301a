//! `pqreg log checkpoint REGISTRY`: the log's newest checkpoint, verified with the
//! policy's log keys, consistent with the stored one, stored and printed.

use pqreg::tlog::{Log, LogError, TreeHead};
use serde_json::json;

use crate::cli::LogArgs;
use crate::common::{Outcome, advance, b64, signers, update_text, with_log};

/// `pqreg log checkpoint`.
pub(crate) fn run(a: &LogArgs) -> crate::common::Result<Outcome> {
    with_log(a, checkpoint)
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
