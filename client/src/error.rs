//! The client library's error type: one enum with a typed sub-enum per area, so a caller
//! (and a test) can tell which check failed, and the CLI can map each to its exit code.

pub use crate::auth::AuthError;
pub use crate::chunker::ChunkError;
pub use crate::chunker::safetensors::SafetensorsError;
pub use crate::copy::CopyError;
pub use crate::inspect::InspectError;
pub use crate::keyfile::KeyFileError;
pub use crate::pack::PackError;
pub use crate::reference::ReferenceError;
pub use crate::rewrap::RecipientsError;
pub use crate::transfer::TransferError;
pub use crate::trust::TrustError;
pub use crate::unpack::UnpackError;

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
    /// Packing a model failed.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// Verifying or writing a pulled model failed.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// Talking to a registry failed.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// A manifest could not be inspected as a model.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// A copy failed.
    #[error(transparent)]
    Copy(#[from] CopyError),
    /// A recipient change was refused.
    #[error(transparent)]
    Recipients(#[from] RecipientsError),
    /// A trust-policy edit was refused (`pqreg trust`).
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A transparency-log check or request failed (boxed: its variants carry both tree
    /// heads).
    #[error(transparent)]
    Log(Box<crate::tlog::LogError>),
}

impl From<crate::tlog::LogError> for Error {
    fn from(e: crate::tlog::LogError) -> Self {
        Error::Log(Box::new(e))
    }
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
            Error::Pack(_) => exit::ERROR,
            Error::Unpack(e) => e.exit_code(),
            Error::Transfer(e) => e.exit_code(),
            Error::Recipients(_) | Error::Inspect(_) | Error::Copy(_) => exit::ERROR,
            Error::Log(e) => e.exit_code(),
            Error::Trust(e) => e.exit_code(),
        }
    }

    /// Exit code of a key file error: [`crate::exit::ERROR`], as spec/signing.md section 8
    /// says for malformed local configuration. (A key that fails to decrypt a model is a
    /// decryption failure, reported by the code that uses it.)
    pub fn keyfile_exit_code(_: &KeyFileError) -> crate::exit::ExitCode {
        crate::exit::ERROR
    }

    /// Exit code of a credentials error: always [`crate::exit::ERROR`] (spec/signing.md
    /// section 8 puts malformed local configuration there).
    pub fn auth_exit_code(_: &AuthError) -> crate::exit::ExitCode {
        crate::exit::ERROR
    }

    /// Exit code of a format-crate error, by the check that failed.
    pub fn spec_exit_code(e: &pqreg_spec::Error) -> crate::exit::ExitCode {
        use crate::exit;
        use pqreg_spec::Error as S;
        use pqreg_spec::digest::DigestError;
        match e {
            S::Digest(DigestError::Mismatch { .. }) => exit::DIGEST_MISMATCH,
            S::Segment(_) | S::Envelope(_) => exit::DECRYPTION,
            S::Signing(e) => from_spec(e.exit_code()),
            S::Merkle(_) | S::Note(_) | S::LogEntry(_) => exit::LOG_PROOF,
            _ => exit::ERROR,
        }
    }
}

/// The client's constant for the spec crate's exit code (the tables are equal: tested in
/// `exit`).
fn from_spec(c: pqreg_spec::bundle::verify::ExitCode) -> crate::exit::ExitCode {
    crate::exit::ALL
        .iter()
        .copied()
        .find(|e| e.code == c.code())
        .unwrap_or(crate::exit::ERROR)
}
