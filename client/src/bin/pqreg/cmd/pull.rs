//! `pqreg pull REF DIR`: download, verify, decrypt and write a model; nothing is written
//! unless every check passes. The pipeline is `crate::common::pull`, shared with
//! `pqreg verify`.

use crate::cli::PullArgs;
use crate::common::{Outcome, PullFlags, pull};

/// `pqreg pull REF DIR`.
pub(crate) fn run(a: &PullArgs) -> crate::common::Result<Outcome> {
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
        },
    )
}
