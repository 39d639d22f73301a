//! The Sigstore bundle v0.3 that carries a pqreg signature (spec/signing.md).
//!
//! (Skeleton: filled in by its owner.)
