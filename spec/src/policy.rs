//! The trust policy: which keys may sign which repositories (spec/signing.md).
//!
//! (Skeleton: filled in by its owner.)
