//! Witness cosignatures (spec/transparency-log.md §7): a configured witness posts a
//! checkpoint the log published with its cosignature line(s) (c2sp.org/tlog-cosignature);
//! the log verifies them, stores the checkpoint with the lines added, and serves that
//! note at `<prefix>/checkpoint` while it is the newest.
//!
//! C2SP tlog-witness has the log call the witness (`add-checkpoint`); the lines a witness
//! answers there, appended to the checkpoint, are exactly this endpoint's body, so a
//! witness (or a relay) that talks tlog-witness can forward its answer here.

use pqreg_spec::note::{Note, NoteError, NoteSignature};
use redb::ReadableTable;

use super::{COSIGNED, Log, LogError};

/// Why a cosignature submission was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// The body is not a signed note (400).
    #[error("not a signed note: {0}")]
    Malformed(#[source] NoteError),
    /// The note's text is not a checkpoint this log published recently (409).
    #[error("not a recent checkpoint of this log")]
    UnknownCheckpoint,
    /// No signature line is by a configured witness (403).
    #[error("no signature line by a configured witness")]
    NoWitness,
    /// A configured witness's line does not verify (403).
    #[error("witness signature does not verify: {0}")]
    BadSignature(#[source] NoteError),
    /// Storing failed (500).
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<redb::Error> for CosignError {
    fn from(e: redb::Error) -> Self {
        CosignError::Log(e.into())
    }
}

impl Log {
    /// Verifies and stores the witness lines of `body` (a checkpoint note); returns how
    /// many lines were added. Lines of keys that are not configured witnesses (the log's
    /// own, say) are ignored.
    pub fn add_cosignature(&self, body: &[u8]) -> Result<usize, CosignError> {
        let note = Note::parse(body).map_err(CosignError::Malformed)?;
        let published = {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent
                .iter()
                .rev()
                .find(|h| Note::parse(&h.note).is_ok_and(|n| n.text() == note.text()))
                .cloned()
        };
        let head = published.ok_or(CosignError::UnknownCheckpoint)?;
        let lines: Vec<NoteSignature> = note
            .signatures()
            .iter()
            .filter(|s| {
                self.witnesses
                    .iter()
                    .any(|k| k.name() == s.name && k.key_id() == s.key_id)
            })
            .cloned()
            .collect();
        if lines.is_empty() {
            return Err(CosignError::NoWitness);
        }
        let mut only = Note::new(note.text()).map_err(CosignError::Malformed)?;
        for l in &lines {
            only.add_signature(l.clone())
                .map_err(CosignError::Malformed)?;
        }
        only.verify(&self.witnesses)
            .map_err(CosignError::BadSignature)?;
        let wtx = self.db.begin_write().map_err(LogError::from)?;
        {
            let mut t = wtx.open_table(COSIGNED).map_err(LogError::from)?;
            let base = match t.get(head.size).map_err(LogError::from)? {
                Some(v) => v.value().to_vec(),
                None => head.note.clone(),
            };
            let mut stored = Note::parse(&base).map_err(LogError::from)?;
            for l in &lines {
                stored
                    .add_signature(l.clone())
                    .map_err(CosignError::Malformed)?;
            }
            t.insert(head.size, stored.to_bytes().as_slice())
                .map_err(LogError::from)?;
        }
        wtx.commit().map_err(LogError::from)?;
        Ok(lines.len())
    }

    /// The newest checkpoint as served at `<prefix>/checkpoint`: the log's note with the
    /// witness lines received for it, if any.
    pub fn checkpoint_note(&self) -> Result<Vec<u8>, LogError> {
        let head = self.head();
        let rtx = self.db.begin_read()?;
        let t = rtx.open_table(COSIGNED)?;
        let Some(v) = t.get(head.size)? else {
            return Ok(head.note);
        };
        let stored = v.value().to_vec();
        // A stored note of another text (impossible unless the log was rebuilt) is not served.
        let same = match (Note::parse(&stored), Note::parse(&head.note)) {
            (Ok(a), Ok(b)) => a.text() == b.text(),
            _ => false,
        };
        Ok(if same { stored } else { head.note })
    }
}
