//! RFC 9162 Merkle tree hashing, inclusion and consistency proofs (spec/transparency-log.md).
//!
//! (Skeleton: filled in by its owner; see the module list in `lib.rs`.)

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// Placeholder until the module is implemented.
    #[error("not implemented")]
    Unimplemented,
}
