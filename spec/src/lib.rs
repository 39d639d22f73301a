//! `pqreg-spec`: the formats of `spec/*.md` as Rust types, with the proofs and key
//! operations they need. Nothing here touches the network or the disk: the registry and
//! the client do I/O and call into this crate to parse, check, seal and sign.
//!
//! Each module implements one document (or one section of one); the module docs name it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod artifact;
pub mod bundle;
pub mod checkpoint;
pub mod compress;
pub mod digest;
pub mod dsse;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod logentry;
pub mod merkle;
pub mod note;
pub mod oci;
pub mod policy;
pub mod segment;
pub mod statement;
pub mod tile;

pub use digest::Digest;
pub use error::Error;
