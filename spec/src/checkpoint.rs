//! Transparency-log checkpoints (c2sp.org/tlog-checkpoint) and the client's rules for
//! trusting them (spec/transparency-log.md, "Checkpoints" and "Client state").
//!
//! ```text
//! <origin>\n
//! <tree size, decimal, no leading zeros>\n
//! <root hash, standard base64 of 32 bytes>\n
//! [<extension line>\n ...]
//! ```
//!
//! The body parses strictly (one encoding per checkpoint). pqreg's log writes no extension
//! lines, and [`LogVerifier::open`] refuses checkpoints that have them: the ML-DSA-44
//! signature does not cover them, so they would be unauthenticated text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::merkle::{Hash, verify_consistency};
use crate::note::{
    Note, NoteError, NoteSigner, SignatureType, VerifiedSignature, VerifierKey, check_key_name,
};

/// A checkpoint body: the log's origin, tree size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `registry.example.com/log`.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 9162 root hash at `size`.
    pub root: Hash,
    /// Extension lines (without newlines); pqreg writes none.
    pub extensions: Vec<String>,
}

fn bad(line: usize, reason: &'static str) -> NoteError {
    NoteError::BadCheckpoint { line, reason }
}

impl Checkpoint {
    /// A checkpoint with no extension lines. The origin must also be a valid key name
    /// (pqreg's log signs with its origin as key name).
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, NoteError> {
        check_key_name(origin)?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Parses a note text as a checkpoint body.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let body = text.strip_suffix('\n').ok_or(bad(0, "no final newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(bad(lines.len() + 1, "missing line"));
        }
        let origin = lines[0];
        if origin.is_empty() {
            return Err(bad(1, "empty origin"));
        }
        if origin.chars().any(|c| (c as u32) < 0x20) {
            return Err(bad(1, "control character in origin"));
        }
        let size_s = lines[1];
        let size_ok = !size_s.is_empty()
            && size_s.bytes().all(|b| b.is_ascii_digit())
            && (size_s == "0" || !size_s.starts_with('0'));
        if !size_ok {
            return Err(bad(2, "tree size is not a decimal without leading zeros"));
        }
        let size: u64 = size_s
            .parse()
            .map_err(|_| bad(2, "tree size does not fit 64 bits"))?;
        let raw = STANDARD
            .decode(lines[2])
            .map_err(|_| bad(3, "root hash is not standard base64"))?;
        let root: Hash = raw
            .as_slice()
            .try_into()
            .map_err(|_| bad(3, "root hash is not 32 bytes"))?;
        let mut extensions = Vec::new();
        for (i, l) in lines[3..].iter().enumerate() {
            if l.is_empty() {
                return Err(bad(i + 4, "empty extension line"));
            }
            extensions.push((*l).to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The note text.
    pub fn to_body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Signs the checkpoint with each signer (the log's Ed25519 and ML-DSA-44 keys);
    /// `timestamp` (POSIX seconds) goes into the cosignature-type lines.
    pub fn sign(&self, signers: &[&NoteSigner], timestamp: u64) -> Result<Note, NoteError> {
        let mut note = Note::new(&self.to_body())?;
        for s in signers {
            note.sign(s, timestamp)?;
        }
        Ok(note)
    }
}

/// A checkpoint whose signatures satisfied a [`LogVerifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The body.
    pub checkpoint: Checkpoint,
    /// The whole note as received (to persist and to serve).
    pub note: Note,
    /// The signatures that verified: the log's and the witnesses'.
    pub signatures: Vec<VerifiedSignature>,
}

/// What a client trusts about one log: its origin, its keys (each one required), and
/// optionally witnesses with a quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogVerifier {
    /// The log's origin line.
    pub origin: String,
    /// The log's keys; a checkpoint must carry a valid signature by every one of them.
    pub log_keys: Vec<VerifierKey>,
    /// Witness cosigner keys.
    pub witnesses: Vec<VerifierKey>,
    /// How many distinct witnesses must have cosigned.
    pub witness_quorum: usize,
}

impl LogVerifier {
    /// Parses and verifies a checkpoint note.
    pub fn open(&self, bytes: &[u8]) -> Result<VerifiedCheckpoint, NoteError> {
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse_body(note.text())?;
        if checkpoint.origin != self.origin {
            return Err(NoteError::WrongOrigin {
                expected: self.origin.clone(),
                got: checkpoint.origin,
            });
        }
        if !checkpoint.extensions.is_empty() {
            return Err(NoteError::UnexpectedExtension);
        }
        let keys: Vec<VerifierKey> = self
            .log_keys
            .iter()
            .chain(self.witnesses.iter())
            .cloned()
            .collect();
        let signatures = note.verify(&keys)?;
        let has = |k: &VerifierKey| {
            signatures
                .iter()
                .any(|s| s.name == k.name() && s.key_id == k.key_id())
        };
        for k in &self.log_keys {
            if !has(k) {
                return Err(NoteError::MissingLogSignature(k.signature_type().name()));
            }
        }
        let got = self.witnesses.iter().filter(|k| has(k)).count();
        if got < self.witness_quorum {
            return Err(NoteError::WitnessQuorum {
                required: self.witness_quorum,
                got,
            });
        }
        Ok(VerifiedCheckpoint {
            checkpoint,
            note,
            signatures,
        })
    }
}

/// Whether a client may replace its trusted checkpoint `old` with `new`, given the
/// consistency proof from `old.size` to `new.size` (empty if the sizes are equal).
///
/// Refuses a different origin, a smaller size ([`NoteError::Rewound`]), and anything not
/// consistent ([`NoteError::Inconsistent`]: a fork).
pub fn check_update(old: &Checkpoint, new: &Checkpoint, proof: &[Hash]) -> Result<(), NoteError> {
    if old.origin != new.origin {
        return Err(NoteError::WrongOrigin {
            expected: old.origin.clone(),
            got: new.origin.clone(),
        });
    }
    if new.size < old.size {
        return Err(NoteError::Rewound {
            old: old.size,
            new: new.size,
        });
    }
    verify_consistency(old.size, new.size, proof, &old.root, &new.root)
        .map_err(NoteError::Inconsistent)
}

/// The signature types pqreg's log signs each checkpoint with, in line order.
pub const LOG_SIGNATURE_TYPES: [SignatureType; 2] =
    [SignatureType::Ed25519, SignatureType::CosignatureMlDsa44];

pub mod proof;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod doc_tests;
