//! The transparency log (spec/transparency-log.md): keys, the sequencer and durable state.
//!
//! Storage: `<data-dir>/log/keys` (the two private note keys, one per line, 0600) and
//! `<data-dir>/log/log.redb` with two tables:
//!
//! | table | key | value |
//! |---|---|---|
//! | `tiles` | tile path (`tile/0/000`, `tile/0/000.p/3`, `tile/entries/000`, ...) | bytes |
//! | `state` | `checkpoint` | the newest signed checkpoint note |
//!
//! Every tile and bundle, full or partial, of every published size is kept, so proofs at
//! any published size are answered from the tiles. One batch of entries is one redb write
//! transaction: its full tiles, partial tiles, bundles and the checkpoint commit together
//! before any submitter gets an answer.

mod keys;

use std::path::Path;
use std::sync::{Arc, RwLock, mpsc};

use pqreg_spec::checkpoint::Checkpoint;
use pqreg_spec::logentry::LogEntry;
use pqreg_spec::merkle::{self, Hash, HashReader, MerkleError, NodeId, ProofPlan, TreeBuilder};
use pqreg_spec::note::{Note, NoteSigner};
use pqreg_spec::tile::{
    EntryBundleId, EntryBundleWriter, TileId, TileSet, TileWriter, parse_entry_bundle, parse_tile,
    tiles_for_nodes,
};
use redb::{Database, TableDefinition};
use serde::Serialize;
use tokio::sync::oneshot;

pub use keys::{LogKeys, load_or_generate_keys};

const TILES: TableDefinition<&str, &[u8]> = TableDefinition::new("tiles");
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");

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
    /// A key file could not be read or written.
    #[error("log keys: {0}")]
    Io(#[from] std::io::Error),
    /// The sequencer stopped.
    #[error("log sequencer stopped")]
    Stopped,
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for LogError {
            fn from(e: $t) -> Self {
                LogError::Db(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// What a submitter gets back once its entry is durable (`POST /log/v1/entries`).
#[derive(Debug, Clone, Serialize)]
pub struct Appended {
    /// The entry's leaf index.
    pub index: u64,
    /// The size of the checkpoint that covers it.
    pub size: u64,
    /// The entry's leaf hash.
    pub leaf_hash: merkle::api::B64Hash,
    /// The inclusion proof of `index` in the tree of `size`.
    pub proof: Vec<merkle::api::B64Hash>,
    /// The signed checkpoint note of `size`.
    pub checkpoint: String,
}

struct Job {
    entry: Vec<u8>,
    reply: oneshot::Sender<Result<Appended, String>>,
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

/// The log: its database, keys, the newest checkpoint and the sequencer's queue.
pub struct Log {
    db: Arc<Database>,
    keys: Arc<LogKeys>,
    head: Arc<RwLock<Head>>,
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
    pub fn open(data_dir: &Path, origin: &str) -> Result<Self, LogError> {
        let dir = data_dir.join("log");
        std::fs::create_dir_all(&dir)?;
        let keys = Arc::new(load_or_generate_keys(&dir.join("keys"), origin)?);
        let db = Arc::new(Database::create(dir.join("log.redb"))?);
        let state = Sequencer::resume(db.clone(), keys.clone())?;
        let head = Arc::new(RwLock::new(state.head.clone()));
        let (tx, rx) = mpsc::channel::<Job>();
        let mut seq = state;
        let head2 = head.clone();
        let thread = std::thread::Builder::new()
            .name("log-sequencer".into())
            .spawn(move || seq.run(rx, head2))?;
        Ok(Log {
            db,
            keys,
            head,
            tx,
            thread: Some(thread),
        })
    }

    /// The log's keys (for `GET /log/v1/keys`).
    pub fn keys(&self) -> &LogKeys {
        &self.keys
    }

    /// The newest published checkpoint.
    pub fn head(&self) -> Head {
        self.head.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Queues a parsed entry; resolves once it is durable and covered by a checkpoint.
    pub async fn append(&self, entry: &LogEntry) -> Result<Appended, String> {
        let bytes = entry.encode().map_err(|e| e.to_string())?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                entry: bytes,
                reply,
            })
            .map_err(|_| LogError::Stopped.to_string())?;
        rx.await.map_err(|_| LogError::Stopped.to_string())?
    }

    /// Reads a stored tile or bundle by its path (`tile/...`).
    pub fn read_tile(&self, path: &str) -> Result<Option<Vec<u8>>, LogError> {
        read_path(&self.db, path)
    }

    /// The inclusion proof of `index` at `size` (both checked by the caller).
    pub fn inclusion(&self, index: u64, size: u64) -> Result<(Hash, Vec<Hash>), LogError> {
        let plan = ProofPlan::inclusion(index, size)?;
        let mut nodes = plan.nodes().to_vec();
        nodes.push(NodeId::new(0, index));
        let set = tile_set(&self.db, &nodes, size)?;
        Ok((set.read_hash(NodeId::new(0, index))?, plan.read(&set)?))
    }

    /// The consistency proof from `from` to `to` (checked by the caller).
    pub fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, LogError> {
        let plan = ProofPlan::consistency(from, to)?;
        let set = tile_set(&self.db, plan.nodes(), to)?;
        Ok(plan.read(&set)?)
    }
}

fn read_path(db: &Database, path: &str) -> Result<Option<Vec<u8>>, LogError> {
    let rtx = db.begin_read()?;
    let t = match rtx.open_table(TILES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(t.get(path)?.map(|v| v.value().to_vec()))
}

/// The stored tile `id`, or one wider that stands in for it (sizes between two published
/// checkpoints have no partial tile of their own).
fn find_tile(db: &Database, id: TileId) -> Result<Option<(TileId, Vec<u8>)>, LogError> {
    if let Some(d) = read_path(db, &id.path())? {
        return Ok(Some((id, d)));
    }
    let full = TileId::new(id.level, id.index, 256)?;
    if let Some(d) = read_path(db, &full.path())? {
        return Ok(Some((full, d)));
    }
    let prefix = format!("{}.p/", full.path());
    let rtx = db.begin_read()?;
    let t = rtx.open_table(TILES)?;
    for row in t.range(prefix.as_str()..)? {
        let (k, v) = row?;
        let Some(w) = k.value().strip_prefix(prefix.as_str()) else {
            break;
        };
        if let Ok(w) = w.parse::<u16>()
            && w > id.width
        {
            return Ok(Some((
                TileId::new(id.level, id.index, w)?,
                v.value().to_vec(),
            )));
        }
    }
    Ok(None)
}

/// Loads the tiles that hold `nodes` in the tree of `size`.
fn tile_set(db: &Database, nodes: &[NodeId], size: u64) -> Result<TileSet, LogError> {
    let mut set = TileSet::new(size);
    for id in tiles_for_nodes(nodes, size)? {
        let (id, data) = find_tile(db, id)?.ok_or(MerkleError::MissingNode {
            level: id.level * 8,
            index: id.index * 256,
        })?;
        set.insert(id, &data)?;
    }
    Ok(set)
}

struct Sequencer {
    db: Arc<Database>,
    keys: Arc<LogKeys>,
    tree: TreeBuilder,
    tiles: TileWriter,
    bundles: EntryBundleWriter,
    head: Head,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Sequencer {
    fn sign(keys: &LogKeys, size: u64, root: Hash) -> Result<Note, LogError> {
        let cp = Checkpoint::new(&keys.origin, size, root)?;
        let signers: [&NoteSigner; 2] = [&keys.ed25519, &keys.mldsa];
        Ok(cp.sign(&signers, now())?)
    }

    /// Rebuilds the sequencer from the stored checkpoint and tiles.
    fn resume(db: Arc<Database>, keys: Arc<LogKeys>) -> Result<Self, LogError> {
        let stored = {
            let rtx = db.begin_read()?;
            match rtx.open_table(STATE) {
                Ok(t) => t.get("checkpoint")?.map(|v| v.value().to_vec()),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            }
        };
        let Some(note_bytes) = stored else {
            let tree = TreeBuilder::new();
            let note = Self::sign(&keys, 0, tree.root())?.to_bytes();
            let wtx = db.begin_write()?;
            wtx.open_table(STATE)?
                .insert("checkpoint", note.as_slice())?;
            wtx.open_table(TILES)?;
            wtx.commit()?;
            return Ok(Sequencer {
                db,
                keys,
                head: Head {
                    size: 0,
                    root: tree.root(),
                    note,
                },
                tree,
                tiles: TileWriter::new(),
                bundles: EntryBundleWriter::new(),
            });
        };
        let note = Note::parse(&note_bytes)?;
        let cp = Checkpoint::parse_body(note.text())?;
        let size = cp.size;
        let tree =
            TreeBuilder::from_reader(&tile_set(&db, ProofPlan::root(size).nodes(), size)?, size)?;
        if tree.root() != cp.root {
            return Err(MerkleError::MissingNode { level: 0, index: 0 }.into());
        }
        let mut partials = Vec::new();
        for level in 0..8u8 {
            let count = size.checked_shr(8 * u32::from(level)).unwrap_or(0);
            if count == 0 {
                break;
            }
            let w = (count % 256) as u16;
            if w == 0 {
                partials.push(Vec::new());
                continue;
            }
            let id = TileId::new(level, count / 256, w)?;
            let data = read_path(&db, &id.path())?.ok_or(MerkleError::MissingNode {
                level: level * 8,
                index: count,
            })?;
            partials.push(parse_tile(&data, w)?);
        }
        let tiles = TileWriter::resume(size, partials)?;
        let w = (size % 256) as u16;
        let bundle = if w == 0 {
            Vec::new()
        } else {
            let id = EntryBundleId::new(size / 256, w)?;
            let data = read_path(&db, &id.path())?.ok_or(MerkleError::MissingNode {
                level: 0,
                index: size,
            })?;
            parse_entry_bundle(&data, w)?
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect()
        };
        let bundles = EntryBundleWriter::resume(size, bundle)?;
        Ok(Sequencer {
            db,
            keys,
            head: Head {
                size,
                root: cp.root,
                note: note_bytes,
            },
            tree,
            tiles,
            bundles,
        })
    }

    fn run(&mut self, rx: mpsc::Receiver<Job>, head: Arc<RwLock<Head>>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while let Ok(j) = rx.try_recv() {
                batch.push(j);
                if batch.len() >= 4096 {
                    break;
                }
            }
            let entries: Vec<Vec<u8>> = batch.iter().map(|j| j.entry.clone()).collect();
            // Work on copies: a failed commit leaves the sequencer at the durable state.
            let saved = (self.tree.clone(), self.tiles.clone(), self.bundles.clone());
            match self.commit(&entries) {
                Ok((start, leaves)) => {
                    *head.write().unwrap_or_else(|p| p.into_inner()) = self.head.clone();
                    self.answer(batch, start, &leaves);
                }
                Err(e) => {
                    (self.tree, self.tiles, self.bundles) = saved;
                    tracing::error!(error = %e, "log batch failed");
                    for j in batch {
                        let _ = j.reply.send(Err(e.to_string()));
                    }
                }
            }
        }
    }

    /// Appends one batch in one write transaction; returns its first index and leaf hashes.
    fn commit(&mut self, entries: &[Vec<u8>]) -> Result<(u64, Vec<Hash>), LogError> {
        let start = self.tree.size();
        let mut writes: Vec<(String, Vec<u8>)> = Vec::new();
        let mut leaves = Vec::with_capacity(entries.len());
        for e in entries {
            let leaf = merkle::leaf_hash(e);
            leaves.push(leaf);
            for (node, hash) in self.tree.append(leaf) {
                if let Some((id, data)) = self.tiles.push(node, hash) {
                    writes.push((id.path(), data));
                }
            }
            if let Some((id, data)) = self.bundles.push(e)? {
                writes.push((id.path(), data));
            }
        }
        for (id, data) in self.tiles.partial_tiles() {
            writes.push((id.path(), data));
        }
        if let Some((id, data)) = self.bundles.partial_bundle()? {
            writes.push((id.path(), data));
        }
        let size = self.tree.size();
        let root = self.tree.root();
        let note = Self::sign(&self.keys, size, root)?.to_bytes();
        let wtx = self.db.begin_write()?;
        {
            let mut t = wtx.open_table(TILES)?;
            for (p, d) in &writes {
                t.insert(p.as_str(), d.as_slice())?;
            }
            wtx.open_table(STATE)?
                .insert("checkpoint", note.as_slice())?;
        }
        wtx.commit()?;
        self.head = Head { size, root, note };
        Ok((start, leaves))
    }

    fn answer(&self, batch: Vec<Job>, start: u64, leaves: &[Hash]) {
        let size = self.head.size;
        let checkpoint = String::from_utf8_lossy(&self.head.note).into_owned();
        // Proofs from the tiles just committed.
        let reader = |index: u64| -> Result<Vec<Hash>, LogError> {
            let plan = ProofPlan::inclusion(index, size)?;
            let set = tile_set(&self.db, plan.nodes(), size)?;
            Ok(plan.read(&set)?)
        };
        for (k, (job, leaf)) in batch.into_iter().zip(leaves).enumerate() {
            let index = start + k as u64;
            let res = reader(index)
                .map(|proof| Appended {
                    index,
                    size,
                    leaf_hash: merkle::api::B64Hash(*leaf),
                    proof: proof.into_iter().map(merkle::api::B64Hash).collect(),
                    checkpoint: checkpoint.clone(),
                })
                .map_err(|e| e.to_string());
            let _ = job.reply.send(res);
        }
    }
}
