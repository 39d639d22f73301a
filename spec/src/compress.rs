//! Weight-aware compression: byte planes for bf16/fp16/fp32, zstd where it pays (spec/artifact.md).
//!
//! (Skeleton: filled in by its owner; see the module list in `lib.rs`.)

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompressError {
    /// Placeholder until the module is implemented.
    #[error("not implemented")]
    Unimplemented,
}
