//! `pqreg`: the client library behind the `pqreg` command.
//!
//! Built so far: model references ([`mod@reference`]), registry credentials shared with other
//! OCI tools ([`auth`]), the chunk planner with its strict safetensors header reader
//! ([`chunker`]), key files ([`keyfile`]), XDG paths ([`paths`]) and the exit codes
//! ([`exit`]), packing ([`pack`]) and verify-before-write unpacking ([`unpack`]), registry
//! transfers ([`transfer`]) and the two joined ([`registry_io`]), the transparency-log
//! client ([`tlog`]), and what works on stored models: [`inspect`], recipient changes
//! ([`rewrap`]) and [`copy`].
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
pub mod reference;
pub mod registry_io;
pub mod rewrap;
pub mod tag_state;
pub mod tlog;
pub mod transfer;
pub mod trust;
pub mod unpack;

pub use error::Error;
pub use reference::Reference;
