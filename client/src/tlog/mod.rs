//! The client side of the transparency log (spec/transparency-log.md §9-10,
//! spec/signing.md §4.1 and §7 step 6).
//!
//! ```text
//!   http.rs    LogClient: GET checkpoint / tiles / entry bundles / search, POST entries
//!   state.rs   CheckpointStore: $XDG_STATE_HOME/pqreg/logs/<hex sha256 origin>/
//!                checkpoint            newest verified checkpoint (atomic replace)
//!                evidence/<t>.checkpoint  checkpoints that failed consistency
//!                monitor               how far `pqreg log monitor` has read
//!                name-keys/<hex sha256 repository>  a repository's log name key,
//!                                      pinned at first use (pins.rs)
//!   sync.rs    Log: verify checkpoints with the policy's keys, §9 update rules
//!              (consistency proofs computed from tiles), inclusion proofs and
//!              entries from tiles and entry bundles
//!   bundle.rs  BundleLog (unpack::LogVerifier: step 6 of pull/verify) and
//!              Submitter (pack::LogHook: push submits the signed statement)
//! ```
//!
//! Proofs are computed from the tiles rather than asked of the convenience endpoints, so
//! the client works against any static mirror of the tiles, and a tile that does not
//! hash to the signed root is caught by the same check as a forged proof.

mod bundle;
mod http;
mod pins;
mod state;
mod sync;

pub use bundle::{BundleLog, ProofLog, Submitter, repository_path};
pub use http::{LogClient, SubmitRequest, SubmitResponse};
pub use pins::{NameKeyPin, PinCheck};
pub use state::CheckpointStore;
pub use sync::{Log, Tiles, TreeHead, Update, log_id};

use std::path::PathBuf;

use pqreg_spec::logentry::LogEntryError;
use pqreg_spec::merkle::MerkleError;
use pqreg_spec::note::NoteError;

/// Why a log operation failed. Everything but [`LogError::Http`], [`LogError::Io`] and
/// [`LogError::Unconfigured`]'s local cause is a failed log check (exit 13).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log server could not be reached or answered with an error status.
    #[error("{url}: {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// What happened.
        message: String,
    },
    /// A response body is not what the log API promises (JSON shape, size).
    #[error("{url}: malformed response: {message}")]
    BadResponse {
        /// The URL requested.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The trust policy configures no log with this origin.
    #[error("no log with origin {0:?} is configured in the trust policy's [[logs]]")]
    Unconfigured(String),
    /// A checkpoint did not parse or verify with the log's keys.
    #[error("checkpoint of {origin}: {cause}")]
    Checkpoint {
        /// The log.
        origin: String,
        /// The note error.
        cause: NoteError,
    },
    /// A newer checkpoint is smaller than one already verified: the log rewound.
    #[error(
        "log {} rewound: verified tree head {} but the log now presents {} (evidence: {})",
        .0.origin, .0.old, .0.new, .0.evidence
    )]
    Rewound(Box<Fork>),
    /// Two checkpoints are not consistent: the log forked (or a tile is corrupt).
    #[error(
        "log {} is inconsistent: tree heads {} and {} ({}) (evidence: {})",
        .0.origin, .0.old, .0.new, .0.source, .0.evidence
    )]
    Inconsistent(Box<Fork>),
    /// An inclusion proof does not lead from the entry to the checkpoint's root.
    #[error("entry {} is not included in tree head {}: {}", .0.0, .0.1, .0.2)]
    Inclusion(Box<(u64, TreeHead, MerkleError)>),
    /// Tiles or entry bundles are malformed or missing hashes.
    #[error("tiles of {origin}: {cause}")]
    Tiles {
        /// The log.
        origin: String,
        /// The check that failed.
        cause: MerkleError,
    },
    /// The entry asked for is not in the log (yet): the index is at or past the size of
    /// the newest verified checkpoint. Not a failed check.
    #[error(
        "entry {index} is past the end of the log {origin}: its newest checkpoint holds {size} entries (indexes 0 to {})",
        .size.saturating_sub(1)
    )]
    PastEnd {
        /// The log.
        origin: String,
        /// The index asked for.
        index: u64,
        /// The size of the newest verified checkpoint.
        size: u64,
    },
    /// A log entry does not parse.
    #[error("log entry {index}: {cause}")]
    Entry {
        /// The entry index (`u64::MAX` when unknown).
        index: u64,
        /// The parse error.
        cause: LogEntryError,
    },
    /// An offline proof file is malformed.
    #[error("proof file: {0}")]
    ProofFile(pqreg_spec::checkpoint::proof::ProofFileError),
    /// A bundle's log entry does not match the signature it should record.
    #[error("the log entry does not match the signature: {0}")]
    EntryMismatch(String),
    /// Local state could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// Two tree heads of one log that do not fit together.
#[derive(Debug)]
pub struct Fork {
    /// The log.
    pub origin: String,
    /// The older (or stored) head.
    pub old: TreeHead,
    /// The newer head.
    pub new: TreeHead,
    /// The check that failed (for a rewind: none, the sizes say it).
    pub source: MerkleError,
    /// Where the offending checkpoint was saved.
    pub evidence: String,
}

impl LogError {
    /// The exit code (client/EXIT_CODES.md): 1 for network and local I/O, 13 for every
    /// failed log check (including a log the policy does not configure).
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            LogError::Http { .. } | LogError::Io { .. } => crate::exit::ERROR,
            LogError::PastEnd { .. } => crate::exit::NOT_FOUND,
            LogError::BadResponse { .. }
            | LogError::Unconfigured(_)
            | LogError::Checkpoint { .. }
            | LogError::Rewound(_)
            | LogError::Inconsistent(_)
            | LogError::Inclusion(_)
            | LogError::Tiles { .. }
            | LogError::Entry { .. }
            | LogError::ProofFile(_)
            | LogError::EntryMismatch(_) => crate::exit::LOG_PROOF,
        }
    }
}

#[cfg(test)]
mod tests;
