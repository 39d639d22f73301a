//! `pqreg pull REF DIR`: download, verify, decrypt and write a model; nothing is written
//! unless every check passes. The pipeline is `crate::common::pull`, shared with
//! `pqreg verify`.

use crate::cli::PullArgs;
use std::path::Path;

use crate::common::{Outcome, PullFlags, offline, pull};
use pqreg::unpack::FileSelection;

/// `pqreg pull REF DIR`, and `pqreg pull --offline --layout DIR --proof FILE REF OUT` on
/// a machine without network.
pub(crate) fn run(a: &PullArgs) -> crate::common::Result<Outcome> {
    let select = FileSelection::new(&a.include, &a.exclude).map_err(pqreg::Error::from)?;
    if a.offline {
        return offline(
            &a.reference,
            a.layout.as_deref().unwrap_or(Path::new(".")),
            a.proof.as_deref().unwrap_or(Path::new("-")),
            a.identity.as_deref(),
            a.policy.as_deref(),
            Some(&a.dir),
            select,
            a.allow_rollback,
        );
    }
    pull(
        &a.reference,
        Some(&a.dir),
        a.identity.as_deref(),
        a.policy.as_deref(),
        a.passphrase_file.as_deref(),
        a.oms_signature.as_deref(),
        PullFlags {
            cache: a.cache,
            verify_plaintext: a.verify_plaintext,
            allow_rollback: a.allow_rollback,
            select,
        },
    )
}
