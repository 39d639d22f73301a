//! What the commands share, and nothing else: the result and error types every command
//! returns, reference and registry arguments, key files, the trust policy, the registry
//! and its log, and the pull pipeline `pull` and `verify` both run. Each command under
//! `cmd/` imports from here and from the library only.

mod keys;
mod log;
mod log_newest;
mod name_keys;
mod offline;
mod policy;
mod pull;
mod registry;
mod tag_read;

pub(crate) use keys::*;
pub(crate) use log::*;
pub(crate) use log_newest::*;
pub(crate) use name_keys::*;
pub(crate) use offline::*;
pub(crate) use policy::*;
pub(crate) use pull::*;
pub(crate) use registry::*;
pub(crate) use tag_read::*;

use pqreg::auth;
use pqreg::exit::{self, ExitCode};
use pqreg::reference::{self, Reference};

/// `n` and the noun for it: "1 blob", "2 blobs".
pub(crate) fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// What a successful command prints: text for people, JSON for machines.
pub(crate) struct Outcome {
    pub(crate) text: String,
    pub(crate) json: serde_json::Value,
}

/// Why a command failed. Library errors are converted into [`pqreg::Error`] the moment
/// they reach a command (one `From` per library error type below), so its exhaustive
/// [`pqreg::Error::exit_code`] decides their exit code; a library error type without a
/// `From` here does not compile, rather than exiting 1 unnoticed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// A refusal decided here, with its exit code and what to do.
    Failure(Failure),
    /// An error of the library.
    Lib(pqreg::Error),
    /// Anything else (local I/O, with what was being done): exit 1.
    Other(anyhow::Error),
}

/// A command's result.
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

/// An error that knows its exit code and what the user should do.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: ExitCode,
    pub(crate) message: String,
    pub(crate) hint: String,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Failure(e) => f.write_str(&e.message),
            CliError::Lib(e) => e.fmt(f),
            CliError::Other(e) => e.fmt(f),
        }
    }
}

/// A refusal with its exit code and the one line that says what to do.
pub(crate) fn fail(
    code: ExitCode,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> CliError {
    CliError::Failure(Failure {
        code,
        message: message.into(),
        hint: hint.into(),
    })
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Other(e)
    }
}

/// `From` for each error type the library's public functions return.
macro_rules! library_errors {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                CliError::Lib(pqreg::Error::from(e))
            }
        }
    )*};
}

impl From<pqreg::Error> for CliError {
    fn from(e: pqreg::Error) -> Self {
        CliError::Lib(e)
    }
}

library_errors!(
    pqreg::auth::AuthError,
    pqreg::keyfile::KeyFileError,
    pqreg::reference::ReferenceError,
    pqreg::tlog::LogError,
    pqreg::transfer::TransferError,
    pqreg::unpack::UnpackError,
    pqreg_spec::Error,
);

/// A reference argument (`$PQREG_REGISTRY` is the default registry).
pub(crate) fn parse_ref(s: &str) -> Result<Reference> {
    let default = std::env::var("PQREG_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty());
    Reference::parse_with_default_registry(s, default.as_deref()).map_err(|e| {
        fail(
            exit::USAGE,
            e.to_string(),
            "Write references as host[:port]/repo[:tag][@sha256:<64 hex>], e.g. localhost:5000/org/model:v1.",
        )
    })
}

/// Accepts `host[:port]` and, as docker does, `https://host[:port][/…]`.
pub(crate) fn registry_arg(s: &str) -> Result<String> {
    let host = auth::normalize_host(s);
    reference::validate_registry(host).map_err(|e| {
        fail(
            exit::USAGE,
            e.to_string(),
            "Give the registry as host[:port], e.g. localhost:5000.",
        )
    })?;
    Ok(host.to_owned())
}
