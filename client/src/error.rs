//! The client library's error type: one enum with a typed sub-enum per area, so a caller
//! (and a test) can tell which check failed, and the CLI can map each to its exit code.

pub use crate::auth::AuthError;
pub use crate::chunker::ChunkError;
pub use crate::chunker::safetensors::SafetensorsError;
pub use crate::keyfile::KeyFileError;
pub use crate::reference::ReferenceError;

/// Everything the `pqreg` library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model reference did not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Credentials could not be read, run through a helper, or stored.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A safetensors header is malformed.
    #[error(transparent)]
    Safetensors(#[from] SafetensorsError),
    /// A file could not be planned into chunks.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// A key file could not be written or read.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// An error from the format crate.
    #[error(transparent)]
    Spec(#[from] pqreg_spec::Error),
}

impl Error {
    /// The exit code the CLI returns for this error (client/EXIT_CODES.md).
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        use crate::exit;
        match self {
            Error::Reference(_) => exit::USAGE,
            Error::Auth(e) => Self::auth_exit_code(e),
            Error::Safetensors(_) | Error::Chunk(_) => exit::ERROR,
            Error::KeyFile(e) => Self::keyfile_exit_code(e),
            Error::Spec(e) => Self::spec_exit_code(e),
        }
    }

    /// Exit code of a key file error: a bad key or passphrase is [`crate::exit::KEY`].
    pub fn keyfile_exit_code(e: &KeyFileError) -> crate::exit::ExitCode {
        match e {
            KeyFileError::Key { .. } | KeyFileError::EmptyPassphrase(_) => crate::exit::KEY,
            _ => crate::exit::ERROR,
        }
    }

    /// Exit code of a credentials error: a malformed credentials file is a
    /// configuration error, everything else a plain error.
    pub fn auth_exit_code(e: &AuthError) -> crate::exit::ExitCode {
        match e {
            AuthError::BadConfig { .. } | AuthError::BadAuthField { .. } => crate::exit::POLICY,
            AuthError::BadHelperName(_) => crate::exit::POLICY,
            _ => crate::exit::ERROR,
        }
    }

    /// Exit code of a format-crate error, by the check that failed.
    pub fn spec_exit_code(e: &pqreg_spec::Error) -> crate::exit::ExitCode {
        use crate::exit;
        use pqreg_spec::Error as S;
        use pqreg_spec::digest::DigestError;
        match e {
            S::Digest(DigestError::Mismatch { .. }) => exit::DIGEST_MISMATCH,
            S::Segment(_) | S::Envelope(_) => exit::DECRYPTION,
            S::Signing(_) => exit::BAD_SIGNATURE,
            S::Merkle(_) | S::Note(_) | S::LogEntry(_) => exit::LOG_PROOF,
            S::Key(_) => exit::KEY,
            _ => exit::ERROR,
        }
    }
}
