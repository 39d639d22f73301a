//! `pqreg exit-codes` (hidden): client/EXIT_CODES.md, generated from the exit-code
//! constants.

use serde_json::json;

use crate::common::Outcome;
use pqreg::exit;

/// `pqreg exit-codes`.
pub(crate) fn run() -> crate::common::Result<Outcome> {
    Ok(Outcome {
        text: exit::markdown().trim_end().to_owned(),
        json: json!(
            exit::ALL
                .iter()
                .chain(&exit::SIGNALS)
                .map(|c| json!({"code": c.code, "name": c.name, "meaning": c.meaning, "action": c.action}))
                .collect::<Vec<_>>()
        ),
    })
}
