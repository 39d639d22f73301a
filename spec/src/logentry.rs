//! The transparency-log entry format (spec/transparency-log.md).
//!
//! (Skeleton: filled in by its owner; see the module list in `lib.rs`.)

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogEntryError {
    /// Placeholder until the module is implemented.
    #[error("not implemented")]
    Unimplemented,
}
