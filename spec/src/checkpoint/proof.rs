//! Offline proofs of inclusion: the C2SP tlog-proof format (c2sp.org/tlog-proof,
//! `C2SP/C2SP` `tlog-proof.md`), as spec/transparency-log.md §11 profiles it for pqreg.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the log entry text>          (pqreg: always present)
//! index <decimal, no leading zeros>
//! <base64 hash>                                  zero or more, leaf sibling first
//!
//! <the checkpoint note, verbatim>
//! ```
//!
//! Parsing is strict: one encoding per proof, so a parsed proof re-encodes to the same
//! bytes. What the proof proves (the entry's leaf at `index` under the checkpoint's root,
//! the checkpoint signed by the log) is checked by the caller with [`crate::merkle`] and
//! [`super::LogVerifier`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::bundle::MAX_PROOF_HASHES;
use crate::merkle::Hash;
use crate::note::MAX_NOTE_BYTES;

/// The first line.
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Largest proof file accepted: a note, 64 hashes, an entry.
pub const MAX_PROOF_FILE_BYTES: usize = MAX_NOTE_BYTES + (8 << 10);

/// Why a proof file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofFileError {
    /// Larger than [`MAX_PROOF_FILE_BYTES`].
    #[error("proof file is {0} bytes, more than the limit")]
    TooLarge(usize),
    /// Not UTF-8.
    #[error("proof file is not UTF-8")]
    NotUtf8,
    /// The first line is not [`PROOF_HEADER`].
    #[error("proof file does not start with {PROOF_HEADER}")]
    BadHeader,
    /// A line is malformed.
    #[error("proof file line {line}: {reason}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// No blank line and checkpoint after the proof hashes.
    #[error("proof file has no checkpoint")]
    MissingCheckpoint,
}

/// A parsed proof file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofFile {
    /// `extra`: pqreg writes the log entry text.
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The inclusion proof, leaf sibling first.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub checkpoint: Vec<u8>,
}

impl ProofFile {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!("{PROOF_HEADER}\n");
        if let Some(e) = &self.extra {
            s.push_str(&format!("extra {}\n", STANDARD.encode(e)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&STANDARD.encode(h));
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// Parses a proof file.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProofFileError> {
        if bytes.len() > MAX_PROOF_FILE_BYTES {
            return Err(ProofFileError::TooLarge(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ProofFileError::NotUtf8)?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(ProofFileError::MissingCheckpoint)?;
        if checkpoint.is_empty() {
            return Err(ProofFileError::MissingCheckpoint);
        }
        let mut lines = head.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        if lines.next().map(|(_, l)| l) != Some(PROOF_HEADER) {
            return Err(ProofFileError::BadHeader);
        }
        let bad = |line, reason| ProofFileError::BadLine { line, reason };
        let (mut n, mut line) = lines.next().ok_or(bad(2, "missing index line"))?;
        let mut extra = None;
        if let Some(b) = line.strip_prefix("extra ") {
            let data = STANDARD
                .decode(b)
                .map_err(|_| bad(n, "extra is not standard base64"))?;
            if STANDARD.encode(&data) != b {
                return Err(bad(n, "extra is not canonical base64"));
            }
            extra = Some(data);
            (n, line) = lines.next().ok_or(bad(n + 1, "missing index line"))?;
        }
        let idx = line
            .strip_prefix("index ")
            .ok_or(bad(n, "expected index"))?;
        let canonical = !idx.is_empty()
            && idx.bytes().all(|b| b.is_ascii_digit())
            && (idx == "0" || !idx.starts_with('0'));
        let index = idx
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or(bad(n, "index is not a decimal without leading zeros"))?;
        let mut proof = Vec::new();
        for (n, l) in lines {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(bad(n, "too many proof hashes"));
            }
            let h: Hash = STANDARD
                .decode(l)
                .ok()
                .filter(|d| STANDARD.encode(d) == l)
                .and_then(|d| d.try_into().ok())
                .ok_or(bad(n, "not a base64 32-byte hash"))?;
            proof.push(h);
        }
        Ok(ProofFile {
            extra,
            index,
            proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }
}
