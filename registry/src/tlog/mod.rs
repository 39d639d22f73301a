//! The transparency log (spec/transparency-log.md): keys, the sequencer and durable state.
//!
//! Storage: `<data-dir>/log/keys` (the two private note keys, one per line, 0600) and
//! `<data-dir>/log/log.redb` with these tables:
//!
//! | table | key | value |
//! |---|---|---|
//! | `tiles` | tile path (`tile/0/000`, `tile/0/000.p/3`, `tile/entries/000`, ...) | bytes |
//! | `state` | `checkpoint` | the newest signed checkpoint note |
//! | `state` | `indexed` | the tree size the `search` table covers (u64, little-endian) |
//! | `search` | (term hash, leaf index) | `()`: the search index ([`search`]) |
//! | `cosigned` | tree size | the checkpoint note of that size with witness lines ([`witness`]) |
//! | `name_keys` | repository | its 32-byte name key ([`names`]) |
//!
//! Every full tile and bundle is kept; of the partial ones only the newest of each tile
//! (a wider tile, partial or full, stands in for a narrower one in every proof). One batch
//! of entries is one redb write transaction: its full tiles, partial tiles, bundles and the
//! checkpoint commit together before any submitter gets an answer. Search rows are
//! written behind, thousands at a time, and held in memory until then (`sequencer.rs`).

mod keys;
pub mod names;
pub mod search;
mod sequencer;
mod store;
pub mod submission;
pub mod witness;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, mpsc};

use pqreg_spec::logentry::LogEntry;
use pqreg_spec::merkle::{self, Hash, MerkleError, NodeId, ProofPlan};
use pqreg_spec::note::VerifierKey;
use redb::{Database, TableDefinition};
use tokio::sync::oneshot;

pub use keys::{LogKeys, load_or_generate_keys};

const TILES: TableDefinition<&str, &[u8]> = TableDefinition::new("tiles");
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
const SEARCH: TableDefinition<(u64, u64), ()> = TableDefinition::new("search");
const COSIGNED: TableDefinition<u64, &[u8]> = TableDefinition::new("cosigned");

/// How many recently published checkpoints witnesses may cosign (besides the newest).
const RECENT_CHECKPOINTS: usize = 64;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log database failed.
    #[error("log store: {0}")]
    Db(#[source] Box<redb::Error>),
    /// Stored tiles are inconsistent or missing.
    #[error("log tiles: {0}")]
    Merkle(#[from] MerkleError),
    /// Signing or parsing a note failed.
    #[error("log note: {0}")]
    Note(#[from] pqreg_spec::note::NoteError),
    /// An entry could not be encoded.
    #[error("log entry: {0}")]
    Entry(#[from] pqreg_spec::logentry::LogEntryError),
    /// A key file could not be read or written.
    #[error("log keys: {0}")]
    Io(#[from] std::io::Error),
    /// The sequencer stopped.
    #[error("log sequencer stopped")]
    Stopped,
    /// A batch failed to commit (the cause is logged by the sequencer).
    #[error("log batch failed: {0}")]
    Batch(String),
}

from_redb!(LogError::Db);

/// What a submitter gets back once its entry is durable (`POST /log/v1/entries`).
#[derive(Debug, Clone)]
pub struct Appended {
    /// The entry's leaf index.
    pub index: u64,
    /// The size of the checkpoint that covers it.
    pub size: u64,
    /// The entry's leaf hash.
    pub leaf_hash: Hash,
    /// The inclusion proof of `index` in the tree of `size`.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note of `size`, shared by every answer of its batch.
    pub checkpoint: Arc<Checkpointed>,
    /// The entry exactly as logged (its leaf hash is `SHA-256(0x00 || entry)`).
    pub entry: Vec<u8>,
}

/// A batch's signed checkpoint note, with its JSON string form computed once for all the
/// batch's answers.
#[derive(Debug)]
pub struct Checkpointed {
    /// The note as text.
    pub note: String,
    /// `note` as a JSON string literal (quoted and escaped).
    json: String,
}

impl Checkpointed {
    fn new(note: &[u8]) -> Self {
        let note = String::from_utf8_lossy(note).into_owned();
        let json = serde_json::to_string(&note).unwrap_or_default();
        Checkpointed { note, json }
    }
}

impl Appended {
    /// The JSON answer of spec/transparency-log.md §8.5:
    /// `{"index","size","leaf_hash","proof","checkpoint","entry"}`, hashes in standard
    /// padded base64. Written by hand: the checkpoint (a few KiB with its ML-DSA-44
    /// signature) is escaped once per batch, not once per answer.
    pub fn to_json(&self) -> Vec<u8> {
        use base64::Engine as _;
        use std::fmt::Write as _;
        let b64 = &base64::engine::general_purpose::STANDARD;
        let mut out = String::with_capacity(
            self.checkpoint.json.len() + self.entry.len() + 48 * self.proof.len() + 160,
        );
        let _ = write!(
            out,
            r#"{{"index":{},"size":{},"leaf_hash":""#,
            self.index, self.size
        );
        b64.encode_string(self.leaf_hash, &mut out);
        out.push_str(r#"","proof":["#);
        for (i, h) in self.proof.iter().enumerate() {
            out.push_str(if i == 0 { "\"" } else { ",\"" });
            b64.encode_string(h, &mut out);
            out.push('"');
        }
        out.push_str(r#"],"checkpoint":"#);
        out.push_str(&self.checkpoint.json);
        out.push_str(r#","entry":"#);
        // Entries are UTF-8 text (pqreg_spec::logentry); escaping cannot fail.
        let entry = String::from_utf8_lossy(&self.entry);
        out.push_str(&serde_json::to_string(&entry).unwrap_or_default());
        out.push('}');
        out.into_bytes()
    }
}

/// An entry in the sequencer's queue ([`Log::enqueue`]).
#[derive(Debug)]
pub struct QueuedEntry(oneshot::Receiver<Result<Appended, LogError>>);

impl QueuedEntry {
    /// Resolves once the entry is durable and covered by a signed checkpoint.
    pub async fn wait(self) -> Result<Appended, LogError> {
        self.0.await.map_err(|_| LogError::Stopped)?
    }
}

/// The newest published checkpoint.
#[derive(Debug, Clone)]
pub struct Head {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed note.
    pub note: Vec<u8>,
}

/// One queued entry: its encoding and its search-index terms.
struct Queued {
    entry: Vec<u8>,
    terms: Vec<u64>,
}

enum Job {
    /// One entry; the answer carries its proof.
    One {
        item: Queued,
        reply: oneshot::Sender<Result<Appended, LogError>>,
    },
    /// Many entries committed in one batch; the answer is the first index and the size.
    Bulk {
        items: Vec<Queued>,
        reply: oneshot::Sender<Result<(u64, u64), LogError>>,
    },
}

impl Job {
    fn len(&self) -> usize {
        match self {
            Job::One { .. } => 1,
            Job::Bulk { items, .. } => items.len(),
        }
    }
}

/// The log: its database, keys, the newest checkpoints and the sequencer's queue.
pub struct Log {
    db: Arc<Database>,
    keys: Arc<LogKeys>,
    head: Arc<RwLock<Head>>,
    recent: Arc<Mutex<VecDeque<Head>>>,
    witnesses: Vec<VerifierKey>,
    pending: sequencer::Pending,
    names: names::KeyCache,
    tx: mpsc::Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Log {
    /// Stops the sequencer (it finishes the batch in hand) and waits for it, so the
    /// database is closed when the log is dropped.
    fn drop(&mut self) {
        let (dummy, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, dummy));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("origin", &self.keys.origin)
            .finish()
    }
}

impl Log {
    /// Opens (or creates) the log under `<data_dir>/log` and starts the sequencer thread.
    /// `origin` names a new log (an existing one keeps its own); `witnesses` are the
    /// verifier keys whose cosignatures are accepted (spec/transparency-log.md §7).
    pub fn open(
        data_dir: &Path,
        origin: &str,
        witnesses: Vec<VerifierKey>,
    ) -> Result<Self, LogError> {
        let dir = data_dir.join("log");
        std::fs::create_dir_all(&dir)?;
        let keys = Arc::new(load_or_generate_keys(&dir.join("keys"), origin)?);
        let db = Arc::new(Database::create(dir.join("log.redb"))?);
        let mut seq = sequencer::Sequencer::resume(db.clone(), keys.clone())?;
        let head = Arc::new(RwLock::new(seq.head().clone()));
        let recent = Arc::new(Mutex::new(VecDeque::from([seq.head().clone()])));
        let pending = seq.pending();
        let (tx, rx) = mpsc::channel::<Job>();
        let (head2, recent2) = (head.clone(), recent.clone());
        let thread = std::thread::Builder::new()
            .name("log-sequencer".into())
            .spawn(move || seq.run(rx, head2, recent2))?;
        Ok(Log {
            db,
            keys,
            head,
            recent,
            witnesses,
            pending,
            names: names::KeyCache::default(),
            tx,
            thread: Some(thread),
        })
    }

    /// The log's keys (for `GET /log/v1/keys`).
    pub fn keys(&self) -> &LogKeys {
        &self.keys
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.keys.origin
    }

    /// The newest published checkpoint.
    pub fn head(&self) -> Head {
        self.head.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn queue(entry: &LogEntry) -> Result<Queued, LogError> {
        let bytes = entry.encode()?;
        let terms = search::entry_terms(entry, &merkle::leaf_hash(&bytes));
        Ok(Queued {
            entry: bytes,
            terms,
        })
    }

    /// Queues an entry; resolves once it is durable and covered by a signed checkpoint.
    pub async fn append(&self, entry: &LogEntry) -> Result<Appended, LogError> {
        self.enqueue(entry)?.wait().await
    }

    /// Queues an entry without waiting (it never blocks). Entries are sequenced in the
    /// order they are queued: the registry queues its own entries while it holds the
    /// metadata store's change lock, so they land in commit order.
    pub fn enqueue(&self, entry: &LogEntry) -> Result<QueuedEntry, LogError> {
        let item = Self::queue(entry)?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::One { item, reply })
            .map_err(|_| LogError::Stopped)?;
        Ok(QueuedEntry(rx))
    }

    /// Appends `entries` in one batch (one transaction, one checkpoint) and returns the
    /// first one's index and the new size. Blocks the calling thread: for loaders and
    /// tests, not for async handlers.
    pub fn append_bulk(&self, entries: &[LogEntry]) -> Result<(u64, u64), LogError> {
        let items = entries
            .iter()
            .map(Self::queue)
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Bulk { items, reply })
            .map_err(|_| LogError::Stopped)?;
        rx.blocking_recv().map_err(|_| LogError::Stopped)?
    }

    /// Reads a stored tile or bundle by its path (`tile/...`).
    pub fn read_tile(&self, path: &str) -> Result<Option<Vec<u8>>, LogError> {
        store::read_path(&self.db, path)
    }

    /// The full tile or bundle at `full` (its path without a width), else the widest
    /// partial one of at least `min_width`, read in one transaction: a partial one the
    /// sequencer replaces meanwhile is never missed (spec/transparency-log.md §8).
    pub fn read_at_least(
        &self,
        full: &str,
        min_width: u16,
    ) -> Result<Option<(u16, Vec<u8>)>, LogError> {
        let rtx = self.db.begin_read()?;
        let t = rtx.open_table(TILES)?;
        store::widest(&t, full, min_width)
    }

    /// The entry at `index` (below the newest checkpoint's size), exactly as logged.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        let rtx = self.db.begin_read()?;
        let tiles = rtx.open_table(TILES)?;
        store::EntryReader::new(&tiles, self.head().size).entry(index)
    }

    /// The inclusion proof of `index` at `size` (both checked by the caller).
    pub fn inclusion(&self, index: u64, size: u64) -> Result<(Hash, Vec<Hash>), LogError> {
        let plan = ProofPlan::inclusion(index, size)?;
        let mut nodes = plan.nodes().to_vec();
        nodes.push(NodeId::new(0, index));
        let set = store::tile_set(&self.db, &nodes, size)?;
        Ok((
            merkle::HashReader::read_hash(&set, NodeId::new(0, index))?,
            plan.read(&set)?,
        ))
    }

    /// The consistency proof from `from` to `to` (checked by the caller).
    pub fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, LogError> {
        let plan = ProofPlan::consistency(from, to)?;
        let set = store::tile_set(&self.db, plan.nodes(), to)?;
        Ok(plan.read(&set)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(proof: Vec<Hash>) -> Appended {
        Appended {
            index: 2,
            size: 3,
            leaf_hash: [7u8; 32],
            proof,
            checkpoint: Arc::new(Checkpointed::new(
                "example.org/log\n3\nAAAA\n\n\u{2014} example.org/log \"q\" \\x\n".as_bytes(),
            )),
            entry: b"pqreg-log-entry/v1\nkind signature\n".to_vec(),
        }
    }

    /// The hand-written answer is the §8.5 object: the same fields, in the spec's order,
    /// with the same values serde would write (escapes in the checkpoint and entry).
    #[test]
    fn appended_json_is_the_spec_object() {
        for proof in [vec![], vec![[1u8; 32]], vec![[1u8; 32], [255u8; 32]]] {
            let a = answer(proof.clone());
            let text = String::from_utf8(a.to_json()).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let b64 = |h: &Hash| merkle::api::B64Hash(*h).to_string();
            assert_eq!(
                v,
                serde_json::json!({
                    "index": 2,
                    "size": 3,
                    "leaf_hash": b64(&[7u8; 32]),
                    "proof": proof.iter().map(b64).collect::<Vec<_>>(),
                    "checkpoint": a.checkpoint.note,
                    "entry": "pqreg-log-entry/v1\nkind signature\n",
                })
            );
            let order: Vec<usize> = ["index", "size", "leaf_hash", "proof", "checkpoint", "entry"]
                .iter()
                .map(|k| text.find(&format!("\"{k}\":")).unwrap())
                .collect();
            assert!(order.is_sorted(), "{text}");
        }
    }
}
