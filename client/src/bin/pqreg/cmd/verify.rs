//! `pqreg verify REF`: every check `pull --verify-plaintext` runs, writing nothing; with
//! `--offline`, the model from an OCI layout and its log entry from an offline proof
//! (both written by `pqreg log proof REF --out FILE --layout DIR`), without network.

use std::path::Path;

use crate::cli::VerifyArgs;
use crate::common::{Outcome, PullFlags, offline, pull};
use pqreg::unpack::FileSelection;

/// `pqreg verify [--offline --layout DIR --proof FILE] REF`.
pub(crate) fn run(a: &VerifyArgs) -> crate::common::Result<Outcome> {
    if a.offline {
        return offline(
            &a.reference,
            a.layout.as_deref().unwrap_or(Path::new(".")),
            a.proof.as_deref().unwrap_or(Path::new("-")),
            a.identity.as_deref(),
            a.policy.as_deref(),
            None,
            FileSelection::default(),
        );
    }
    pull(
        &a.reference,
        None,
        a.identity.as_deref(),
        a.policy.as_deref(),
        None,
        None,
        PullFlags {
            allow_rollback: a.allow_rollback,
            ..PullFlags::default()
        },
    )
}
