//! One file per command (`log/` for the log's subcommands), each with a `run` that
//! `main.rs` calls. A command imports only `crate::cli`, `crate::common` and the library;
//! no command imports another.

pub(crate) mod cache;
pub(crate) mod copy;
pub(crate) mod delete;
pub(crate) mod env;
pub(crate) mod exit_codes;
pub(crate) mod inspect;
pub(crate) mod keygen;
pub(crate) mod log;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod ls;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod recipients;
pub(crate) mod tag;
pub(crate) mod trust;
pub(crate) mod verify;
