//! Transparency-log checkpoints (C2SP tlog-checkpoint) (spec/transparency-log.md).
//!
//! (Skeleton: filled in by its owner.)
