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
///
/// Not `#[non_exhaustive]`: the `pqreg` binary matches on it.
#[derive(Debug, thiserror::Error)]
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
    /// The exit code the CLI returns for this error (client/EXIT_CODES.md). The one place
    /// the library's errors meet the exit codes: every variant is named (no catch-all), so
    /// a new one does not compile until it has a code.
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        use crate::exit;
        match self {
            Error::Reference(_) => exit::USAGE,
            // spec/signing.md section 8: a malformed local configuration (credentials, a
            // key file or its passphrase) is 1. A key that fails to open a model is a
            // decryption failure, reported by the code that uses it.
            Error::KeyFile(crate::keyfile::KeyFileError::Exists(_)) => exit::ALREADY_EXISTS,
            Error::Auth(_) | Error::KeyFile(_) => exit::ERROR,
            Error::Safetensors(_) | Error::Chunk(_) | Error::Pack(_) => exit::ERROR,
            Error::Recipients(_) | Error::Inspect(_) | Error::Copy(_) => exit::ERROR,
            Error::Spec(e) => e.exit_code().into(),
            Error::Unpack(e) => e.exit_code(),
            Error::Transfer(e) => e.exit_code(),
            Error::Log(e) => e.exit_code(),
            Error::Trust(e) => e.exit_code(),
        }
    }
}
