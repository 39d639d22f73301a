//! Transfer errors: one variant per failure a caller (or a test) must tell apart, and the
//! classification the retry loop uses.

use std::path::PathBuf;

use oci_client::errors::{OciDistributionError, OciErrorCode};
use pqreg_spec::Digest;

/// Why a registry transfer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The registry could not be reached or kept failing (connection errors, timeouts,
    /// 5xx, 429) after every retry.
    #[error(
        "{op}: the registry did not answer after {attempts} attempts: {message}; check that the registry is reachable and try again later"
    )]
    Unavailable {
        /// What was being done.
        op: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// The registry asked for credentials, or refused the ones given.
    #[error(
        "{op}: the registry refused access ({message}); run `pqreg login {host}` or check that your account may access this repository"
    )]
    Unauthorized {
        /// What was being done.
        op: String,
        /// The registry host.
        host: String,
        /// The registry's message.
        message: String,
    },
    /// The blob, manifest, tag or repository does not exist in the registry.
    #[error("{op}: not found in the registry ({message}); check the reference and repository")]
    NotFound {
        /// What was being done.
        op: String,
        /// The registry's message.
        message: String,
    },
    /// The registry refused the request (4xx other than the above).
    #[error("{op}: the registry refused the request: {message}")]
    Refused {
        /// What was being done.
        op: String,
        /// The registry's error (code and message).
        message: String,
    },
    /// Content did not hash to the digest it was requested by. The partial file (if any)
    /// was deleted.
    #[error(
        "{what}: content does not match its digest (expected {expected}, got {actual}); do not use it, pull again and report it to the registry's operator if it persists"
    )]
    DigestMismatch {
        /// The blob or manifest.
        what: String,
        /// The digest it was requested by.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A blob's length differs from the size it is referenced with (the registry sent
    /// more bytes than announced, or a local file to upload changed).
    #[error(
        "{what}: size mismatch (expected {expected} bytes, got {actual}); the content changed: do not use it, pull or pack again"
    )]
    SizeMismatch {
        /// The blob or file.
        what: String,
        /// The size it is referenced with.
        expected: u64,
        /// The size found.
        actual: u64,
    },
    /// The registry answered with something that is not what the protocol says.
    #[error("{op}: unexpected answer from the registry: {message}")]
    BadResponse {
        /// What was being done.
        op: String,
        /// What was wrong.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The credential kind is not supported by the transfer layer.
    #[error(
        "{0}: identity tokens (OAuth2 refresh tokens) are not supported yet; log in with a user name and password or access token (`pqreg login`)"
    )]
    UnsupportedCredential(String),
    /// The registry host or repository cannot form a valid OCI reference.
    #[error("{0:?} is not a valid registry reference: {1}")]
    BadReference(String, String),
    /// The background runtime could not be started.
    #[error("could not start the transfer runtime: {0}")]
    Runtime(std::io::Error),
}

impl TransferError {
    /// The exit code the CLI returns for this error (client/EXIT_CODES.md): digest and size
    /// mismatches are [`crate::exit::DIGEST_MISMATCH`], everything else
    /// [`crate::exit::ERROR`].
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            TransferError::DigestMismatch { .. } | TransferError::SizeMismatch { .. } => {
                crate::exit::DIGEST_MISMATCH
            }
            TransferError::Unavailable { .. }
            | TransferError::Unauthorized { .. }
            | TransferError::NotFound { .. }
            | TransferError::Refused { .. }
            | TransferError::BadResponse { .. }
            | TransferError::Io { .. }
            | TransferError::UnsupportedCredential(_)
            | TransferError::BadReference(..)
            | TransferError::Runtime(_) => crate::exit::ERROR,
        }
    }

    /// A digest mismatch of `what`.
    pub(crate) fn mismatch(what: impl Into<String>, expected: &Digest, actual: &Digest) -> Self {
        TransferError::DigestMismatch {
            what: what.into(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        }
    }
}

/// How the retry loop treats a failure.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another attempt (connection error, timeout, 5xx, 429, stream cut short).
    Transient(String),
    /// Final.
    Fatal(TransferError),
}

impl From<TransferError> for Failure {
    fn from(e: TransferError) -> Self {
        Failure::Fatal(e)
    }
}

/// Classifies an oci-client error for `op` against `host`.
pub(crate) fn classify(op: &str, host: &str, e: OciDistributionError) -> Failure {
    use OciDistributionError as E;
    let fatal = |e: TransferError| Failure::Fatal(e);
    match e {
        E::RequestError(r) => {
            let status = r.status().map(|s| s.as_u16());
            match status {
                Some(code) => classify_status(op, host, code, r.to_string()),
                // No status: connect, timeout, body or decode errors, all transport.
                None if r.is_builder() => {
                    fatal(TransferError::BadReference(host.to_owned(), r.to_string()))
                }
                None => Failure::Transient(error_chain(&r)),
            }
        }
        E::ServerError { code, message, .. } => classify_status(op, host, code, message),
        E::UnauthorizedError { url } => fatal(TransferError::Unauthorized {
            op: op.to_owned(),
            host: host.to_owned(),
            message: format!("401 at {url}"),
        }),
        E::AuthenticationFailure(m) => fatal(TransferError::Unauthorized {
            op: op.to_owned(),
            host: host.to_owned(),
            message: m,
        }),
        E::RegistryError { envelope, .. } => {
            let message = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}: {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let first = envelope.errors.first().map(|e| &e.code);
            match first {
                Some(OciErrorCode::Toomanyrequests) => Failure::Transient(message),
                Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => {
                    fatal(TransferError::Unauthorized {
                        op: op.to_owned(),
                        host: host.to_owned(),
                        message,
                    })
                }
                Some(
                    OciErrorCode::BlobUnknown
                    | OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound,
                ) => fatal(TransferError::NotFound {
                    op: op.to_owned(),
                    message,
                }),
                _ => fatal(TransferError::Refused {
                    op: op.to_owned(),
                    message,
                }),
            }
        }
        E::DigestError(d) => fatal(TransferError::DigestMismatch {
            what: op.to_owned(),
            expected: "the requested digest".into(),
            actual: d.to_string(),
        }),
        E::IoError(io) => Failure::Transient(io.to_string()),
        other => fatal(TransferError::BadResponse {
            op: op.to_owned(),
            message: other.to_string(),
        }),
    }
}

/// 5xx, 429 and 408 are retried; 401/403 need credentials; 404 is not found; any other
/// 4xx is final.
pub(crate) fn classify_status(op: &str, host: &str, code: u16, message: String) -> Failure {
    let message = format!("HTTP {code}: {}", truncate(&message));
    match code {
        408 | 429 | 500..=599 => Failure::Transient(message),
        401 | 403 => Failure::Fatal(TransferError::Unauthorized {
            op: op.to_owned(),
            host: host.to_owned(),
            message,
        }),
        404 => Failure::Fatal(TransferError::NotFound {
            op: op.to_owned(),
            message,
        }),
        _ => Failure::Fatal(TransferError::Refused {
            op: op.to_owned(),
            message,
        }),
    }
}

fn truncate(s: &str) -> &str {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `e` and its sources, joined (reqwest hides the useful part in the source chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
