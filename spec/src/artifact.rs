//! pqreg's config and index documents (spec/artifact.md).
//!
//! (Being written: see the `artifact` branch.)
