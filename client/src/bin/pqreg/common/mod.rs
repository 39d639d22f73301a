//! What the commands share, and nothing else: the result and error types every command
//! returns, reference and registry arguments, key files, the trust policy, the registry
//! and its log, and the pull pipeline `pull` and `verify` both run. Each command under
//! `cmd/` imports from here and from the library only.

mod keys;
mod log;
mod offline;
mod policy;
mod pull;
mod registry;

pub(crate) use keys::*;
pub(crate) use log::*;
pub(crate) use offline::*;
pub(crate) use policy::*;
pub(crate) use pull::*;
pub(crate) use registry::*;

use pqreg::auth;
use pqreg::exit::{self, ExitCode};
use pqreg::reference::{self, Reference};

/// What a successful command prints: text for people, JSON for machines.
pub(crate) struct Outcome {
    pub(crate) text: String,
    pub(crate) json: serde_json::Value,
}

/// An error that knows its exit code and what the user should do.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: ExitCode,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub(crate) fn fail(
    code: ExitCode,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> anyhow::Error {
    Failure {
        code,
        message: message.into(),
        hint: Some(hint.into()),
    }
    .into()
}

pub(crate) fn parse_ref(s: &str) -> anyhow::Result<Reference> {
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
pub(crate) fn registry_arg(s: &str) -> anyhow::Result<String> {
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
