//! C2SP signed notes: parse, sign, verify, key IDs (spec/transparency-log.md).
//!
//! (Skeleton: filled in by its owner; see the module list in `lib.rs`.)

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// Placeholder until the module is implemented.
    #[error("not implemented")]
    Unimplemented,
}
