//! The crate's one error type. Each area has a typed sub-enum defined next to its code, so
//! callers can match on exactly what failed (a flipped bit in a proof is a `Merkle` error,
//! in a segment a `Segment` error) while `?` still works across the crate.

/// Every error `pqreg-spec` returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A digest string or value was malformed or did not match.
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),
    /// An OCI or pqreg JSON document broke the format rules of `spec/artifact.md`.
    #[error(transparent)]
    Format(#[from] crate::oci::FormatError),
    /// Weight-aware compression could not encode or decode a chunk.
    #[error(transparent)]
    Compress(#[from] crate::compress::CompressError),
    /// A Merkle proof, tile or tree size was malformed or did not verify.
    #[error(transparent)]
    Merkle(#[from] crate::merkle::MerkleError),
    /// A signed note or checkpoint was malformed or its signatures did not verify.
    #[error(transparent)]
    Note(#[from] crate::note::NoteError),
    /// A transparency-log entry was malformed.
    #[error(transparent)]
    LogEntry(#[from] crate::logentry::LogEntryError),
    /// A key could not be generated, parsed, encoded or used.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// A key envelope could not be sealed or opened.
    #[error(transparent)]
    Envelope(#[from] crate::envelope::EnvelopeError),
    /// A sealed chunk segment failed to open (tag, order, truncation, framing).
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),
    /// A DSSE envelope, statement, bundle or trust policy failed to parse or verify.
    #[error(transparent)]
    Signing(#[from] crate::dsse::SigningError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
