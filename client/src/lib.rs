//! `pqreg`: push, pull and verify encrypted, post-quantum signed ML models in an OCI
//! registry. This is the library behind the `pqreg` command (`src/bin/pqreg/`, which only
//! parses arguments, calls in here and prints); the formats and every check are defined
//! in `spec/*.md` and implemented, without I/O, by the `pqreg-spec` crate.
//!
//! # The two pipelines
//!
//! - **Push** ([`pack::pack_model`]): a model directory is cut into chunks
//!   ([`chunker`]), each compressed and sealed under its own key, described by an
//!   encrypted index, signed (ML-DSA, optionally also ECDSA P-256 for OMS tools), logged
//!   in the registry's transparency log ([`tlog::Submitter`]) and uploaded through a
//!   [`pack::BlobSink`]. Which earlier version a push may reuse chunks of is decided by
//!   [`previous::verified_previous`].
//! - **Pull and verify** ([`unpack::unpack_model`]): the manifest, signature, trust
//!   policy, log proof and location binding are checked before anything is written; then
//!   each chunk is decrypted, checked against the signed digests and written into a
//!   staging directory that appears at the output only when everything verified. Blobs
//!   come from an [`unpack::BlobSource`].
//!
//! Sources and sinks: [`registry_io`] (a registry, through [`transfer::RegistryClient`])
//! and the OCI image layout in [`pack::DirSink`] / [`unpack::DirSource`] (offline proofs).
//!
//! # The other modules
//!
//! - Stored models: [`inspect`], recipient changes ([`rewrap`]), [`copy`] and the
//!   classical OMS bundle ([`oms`]).
//! - Local state and configuration: key files ([`keyfile`]), XDG paths ([`paths`]), the
//!   newest version accepted per tag ([`tag_state`]), registry credentials shared with
//!   docker and podman ([`auth`], checked by [`login_check`]), model references
//!   ([`mod@reference`]).
//! - Errors: every public function fails with [`Error`] or one of its typed sub-enums
//!   (each converts into it); [`Error::exit_code`] maps it to the documented exit codes
//!   of [`exit`] (client/EXIT_CODES.md).
//!
//! Test-only helpers (synthetic models, `chunker::synth`) are behind the `test-support`
//! feature, which this crate's own tests and examples turn on.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod chunker;
pub mod copy;
pub mod error;
pub mod exit;
pub mod inspect;
pub mod keyfile;
pub mod login_check;
pub mod oms;
pub mod pack;
pub mod paths;
pub mod previous;
pub mod progress;
pub mod reference;
pub mod registry_io;
pub mod resume;
pub mod rewrap;
pub mod tag_state;
pub mod tlog;
pub mod transfer;
pub mod trust;
pub mod unpack;

pub use error::Error;
pub use reference::Reference;
