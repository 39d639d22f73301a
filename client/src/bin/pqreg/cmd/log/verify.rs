//! `pqreg log verify REGISTRY`: proves the log consistent from the stored checkpoint to
//! the newest.

use pqreg::tlog::{Log, LogError, TreeHead};
use serde_json::json;

use crate::cli::LogArgs;
use crate::common::{Outcome, advance, head_json, update_text, with_log};

/// `pqreg log verify`.
pub(crate) fn run(a: &LogArgs) -> crate::common::Result<Outcome> {
    with_log(a, verify)
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
