//! `pqreg log …`: query and audit a registry's transparency log
//! (spec/transparency-log.md §9-10). Every checkpoint shown is verified with the trust
//! policy's `[[logs]]` keys and checked for consistency with the stored one; every entry
//! shown is verified included in it (proofs computed from the tiles). One file per
//! subcommand; what they share is in `crate::common`.

pub(crate) mod checkpoint;
pub(crate) mod get;
pub(crate) mod monitor;
pub(crate) mod proof;
pub(crate) mod search;
pub(crate) mod verify;
