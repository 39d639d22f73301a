//! C2SP tlog-tiles paths and tile contents (spec/transparency-log.md).
//!
//! (Skeleton: filled in by its owner.)
