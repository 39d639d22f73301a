//! Key types, PEM encodings and key IDs (spec/keys.md).
//!
//! (Skeleton: filled in by its owner; see the module list in `lib.rs`.)

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Placeholder until the module is implemented.
    #[error("not implemented")]
    Unimplemented,
}
