//! Chunk segment sealing: 1 MiB plaintext segments, AES-256-GCM, STREAM-style nonces (spec/encryption.md).
//!
//! (Skeleton: filled in by its owner; see the module list in `lib.rs`.)

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// Placeholder until the module is implemented.
    #[error("not implemented")]
    Unimplemented,
}
