//! OCI image-spec v1.1 descriptors, manifests and indexes, and pqreg's media types (spec/artifact.md).
//!
//! (Skeleton: filled in by its owner; see the module list in `lib.rs`.)

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Placeholder until the module is implemented.
    #[error("not implemented")]
    Unimplemented,
}
