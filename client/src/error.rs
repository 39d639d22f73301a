//! The client library's error type: one enum with a typed sub-enum per area, so a caller
//! (and a test) can tell which check failed, and the CLI can map each to its exit code.

pub use crate::auth::AuthError;
pub use crate::chunker::ChunkError;
pub use crate::chunker::safetensors::SafetensorsError;
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
    /// An error from the format crate.
    #[error(transparent)]
    Spec(#[from] pqreg_spec::Error),
}
