//! Resuming an interrupted push (spec/artifact.md §10.1): the journal of the chunks a
//! push sealed and uploaded, so that the next push of the same reference takes them
//! (layer and key) instead of sealing and uploading them again.
//!
//! The journal holds chunk keys, so it is never written in the clear: each write seals
//! the chunk list under the index key of a fresh content secret, and wraps that secret in
//! a key envelope to the publisher's own recipient key (`push --identity`). Without that
//! key there is no journal (nothing secret is left on disk), and only that key opens it.
//!
//! ```text
//! $XDG_STATE_HOME/pqreg/push/<hex SHA-256 of "host[:port]/path:tag">   mode 0600
//!   {"version": 1, "reference": "host[:port]/path:tag",
//!    "envelope": <key envelope, spec/encryption.md §4>,
//!    "chunks": "<base64 of the sealed JSON array of index chunks, spec/artifact.md §5>"}
//! ```
//!
//! It is replaced atomically (temporary file, fsync, rename) at most once a second while
//! chunks are stored, and removed when the push succeeds. A resumed chunk is used only if
//! the registry still has its layer; the published index and signature are built exactly
//! as for a fresh push.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use pqreg_spec::Digest;
use pqreg_spec::artifact::Chunk;
use pqreg_spec::envelope::{ContentSecret, KeyEnvelope};
use pqreg_spec::keys::{RecipientPrivateKey, RecipientPublicKey};
use pqreg_spec::segment::{ChunkKey, OpenReader, SealWriter};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::pack::PackError;

/// Largest journal read, in bytes (a chunk entry is about 250 bytes of JSON: this is
/// some 800 000 chunks, 3 TB at the default chunk size).
const MAX_JOURNAL_BYTES: u64 = 256 << 20;

/// How often, at most, the journal is rewritten while chunks are stored.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    version: u32,
    reference: String,
    envelope: serde_json::Value,
    chunks: String,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    PackError::Io {
        path: path.to_owned(),
        source,
    }
    .into()
}

/// The journal file of `reference` (`host[:port]/path:tag`) under `state`
/// (`$XDG_STATE_HOME/pqreg`).
pub fn journal_path(state: &Path, reference: &str) -> PathBuf {
    state
        .join("push")
        .join(Digest::sha256(reference.as_bytes()).hex())
}

/// The chunks recorded at `path` for `reference`, opened with `identity`. No file: none.
/// A journal that cannot be opened (another key, damaged, another reference) is an
/// `Err` with the reason; the caller starts over (nothing of it is used).
pub fn load(
    path: &Path,
    reference: &str,
    identity: &RecipientPrivateKey,
) -> Result<Vec<Chunk>, String> {
    let mut bytes = Vec::new();
    match fs::File::open(path) {
        Ok(f) => f
            .take(MAX_JOURNAL_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    if bytes.len() as u64 > MAX_JOURNAL_BYTES {
        return Err("the journal is too large".into());
    }
    let w: Wire = serde_json::from_slice(&bytes).map_err(|e| format!("malformed: {e}"))?;
    if w.version != 1 || w.reference != reference {
        return Err(format!(
            "it is for {:?} (version {})",
            w.reference, w.version
        ));
    }
    let envelope = serde_json::to_vec(&w.envelope)
        .ok()
        .and_then(|j| KeyEnvelope::from_json(&j).ok())
        .ok_or("malformed key envelope")?;
    let secret = envelope
        .open(identity)
        .map_err(|e| format!("--identity does not open it: {e}"))?;
    let sealed = B64
        .decode(w.chunks.as_bytes())
        .map_err(|e| format!("malformed chunks: {e}"))?;
    let mut json = zeroize::Zeroizing::new(Vec::new());
    OpenReader::new(&sealed[..], ChunkKey::index_key(&secret))
        .read_to_end(&mut json)
        .map_err(|e| format!("it does not decrypt: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("malformed chunks: {e}"))
}

/// The journal of one push: every chunk stored so far, written sealed to the publisher.
pub struct Journal {
    path: PathBuf,
    reference: String,
    owner: RecipientPublicKey,
    chunks: Vec<Chunk>,
    written: Option<Instant>,
    dirty: bool,
}

impl Journal {
    /// A journal at `path` for `reference`, sealed to `owner`, starting with `chunks`
    /// (those of the interrupted push being resumed).
    pub fn new(
        path: PathBuf,
        reference: &str,
        owner: RecipientPublicKey,
        chunks: Vec<Chunk>,
    ) -> Self {
        Journal {
            path,
            reference: reference.to_owned(),
            owner,
            chunks,
            written: None,
            dirty: false,
        }
    }

    /// Records a stored chunk; rewrites the file if it was last written a second ago.
    pub fn record(&mut self, chunk: &Chunk) -> Result<(), Error> {
        self.chunks.push(chunk.clone());
        self.dirty = true;
        if self.written.is_none_or(|t| t.elapsed() >= FLUSH_EVERY) {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is recorded, if anything changed since the last write.
    pub fn flush(&mut self) -> Result<(), Error> {
        if !self.dirty {
            return Ok(());
        }
        // A fresh secret for every write: a segment key is never used for two texts.
        let secret = ContentSecret::generate().map_err(|e| Error::Spec(e.into()))?;
        let envelope = KeyEnvelope::seal(&secret, std::slice::from_ref(&self.owner))
            .map_err(|e| Error::Spec(e.into()))?;
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(&self.chunks).map_err(|e| io(&self.path, e.into()))?,
        );
        let mut w = SealWriter::new(Vec::new(), ChunkKey::index_key(&secret));
        let sealed = w
            .write_all(&json)
            .and_then(|()| w.finish())
            .map_err(|e| io(&self.path, e))?;
        let body = serde_json::to_vec(&Wire {
            version: 1,
            reference: self.reference.clone(),
            envelope: serde_json::from_slice(&envelope.to_json())
                .map_err(|e| io(&self.path, e.into()))?,
            chunks: B64.encode(sealed),
        })
        .map_err(|e| io(&self.path, e.into()))?;
        let dir = self
            .path
            .parent()
            .ok_or_else(|| io(&self.path, std::io::Error::other("no parent directory")))?;
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".journal")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(|e| io(dir, e))?;
        tmp.write_all(&body)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| io(&self.path, e))?;
        tmp.persist(&self.path)
            .map_err(|e| io(&self.path, e.error))?;
        self.written = Some(Instant::now());
        self.dirty = false;
        Ok(())
    }

    /// The push succeeded: the journal goes.
    pub fn remove(self) -> Result<(), Error> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.path, e)),
            _ => Ok(()),
        }
    }
}
