//! pqreg's config and index documents (spec/artifact.md).
//!
//! (Skeleton: filled in by its owner.)
