//! The in-toto Statement v1 with the OMS v1.0 predicate (spec/signing.md).
//!
//! (Skeleton: filled in by its owner.)
