//! The sequencer: one thread that appends queued entries in batches. Each batch is one
//! redb write transaction (tiles, bundles, checkpoint) and one pair of log signatures,
//! however many entries it holds.
//!
//! Search rows are written behind: a batch's rows go to the in-memory [`Pending`] set
//! when it commits (before its checkpoint is published), and once the set holds
//! [`FLUSH_ROWS`] rows they go to the `search` table in one batch's transaction, together
//! with `state/indexed` = the size they cover. Most rows hash to random B-tree pages, so
//! writing them per batch copied and synced two or three 4 KiB pages per entry; written
//! thousands at a time, neighbouring rows share pages. The rows are derived from the
//! entries: after a crash, [`Sequencer::resume`] rebuilds the set from the entries above
//! `state/indexed`.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock, mpsc};

use pqreg_spec::checkpoint::Checkpoint;
use pqreg_spec::merkle::{self, Hash, MerkleError, NodeId, ProofPlan, TreeBuilder};
use pqreg_spec::note::{Note, NoteSigner};
use pqreg_spec::tile::{
    EntryBundleId, EntryBundleWriter, TileId, TileWriter, parse_entry_bundle, parse_tile,
};
use redb::Database;

use super::store::{EntryReader, Memo, delete_partials, read_path, tile_set};
use super::{
    Appended, Checkpointed, Head, Job, LogError, LogKeys, RECENT_CHECKPOINTS, SEARCH, STATE, TILES,
};

/// Most entries one batch takes from the queue (a bulk job is never split).
const MAX_BATCH: usize = 4096;

/// How many pending search rows a batch writes to the `search` table (about 800 entries
/// of five terms): a repository's or a signer's rows then share pages (leaf-hash rows
/// are random and share them only while the table is small), and the batch that writes
/// them stays within a few milliseconds (16384 measured the same CPU per append and
/// twice the p99 latency).
const FLUSH_ROWS: usize = 4096;

/// The `state` key of the tree size the `search` table covers (8 bytes, little-endian).
/// Absent in a log written before rows were written behind: the table covers it all.
const INDEXED: &str = "indexed";

/// Search rows `(term, index)` of published entries that are not yet in the `search`
/// table. The sequencer adds a batch's rows before it publishes the batch's checkpoint,
/// and empties the set only after the transaction that wrote them to the table has
/// committed; readers copy what they need from it before they open their read
/// transaction, so every row of the published tree is in the copy or in the snapshot.
pub(super) type Pending = Arc<RwLock<BTreeSet<(u64, u64)>>>;

pub(super) struct Sequencer {
    db: Arc<Database>,
    keys: Arc<LogKeys>,
    tree: TreeBuilder,
    tiles: TileWriter,
    bundles: EntryBundleWriter,
    head: Head,
    pending: Pending,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Strips the `.p/<w>` suffix of a tile or bundle path.
fn full_path(path: &str) -> &str {
    path.split_once(".p/").map_or(path, |(f, _)| f)
}

impl Sequencer {
    fn sign(keys: &LogKeys, size: u64, root: Hash) -> Result<Note, LogError> {
        let cp = Checkpoint::new(&keys.origin, size, root)?;
        let signers: [&NoteSigner; 2] = [&keys.ed25519, &keys.mldsa];
        Ok(cp.sign(&signers, now())?)
    }

    pub(super) fn head(&self) -> &Head {
        &self.head
    }

    /// The search rows not yet in the `search` table.
    pub(super) fn pending(&self) -> Pending {
        self.pending.clone()
    }

    /// The search rows of the entries in `[from, size)`, read back from their bundles.
    fn rows_of_entries(
        db: &Database,
        from: u64,
        size: u64,
    ) -> Result<BTreeSet<(u64, u64)>, LogError> {
        let rtx = db.begin_read()?;
        let tiles = rtx.open_table(TILES)?;
        let mut reader = EntryReader::new(&tiles, size);
        let mut rows = BTreeSet::new();
        for i in from..size {
            let bytes = reader
                .entry(i)?
                .ok_or(MerkleError::MissingNode { level: 0, index: i })?;
            let e = pqreg_spec::logentry::LogEntry::parse(&bytes)?;
            for t in super::search::entry_terms(&e, &merkle::leaf_hash(&bytes)) {
                rows.insert((t, i));
            }
        }
        Ok(rows)
    }

    /// Rebuilds the sequencer from the stored checkpoint and tiles.
    pub(super) fn resume(db: Arc<Database>, keys: Arc<LogKeys>) -> Result<Self, LogError> {
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
            let mut state = wtx.open_table(STATE)?;
            state.insert("checkpoint", note.as_slice())?;
            state.insert(INDEXED, 0u64.to_le_bytes().as_slice())?;
            drop(state);
            wtx.open_table(TILES)?;
            wtx.open_table(SEARCH)?;
            wtx.open_table(super::COSIGNED)?;
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
                pending: Pending::default(),
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
        let indexed = {
            let rtx = db.begin_read()?;
            let t = rtx.open_table(STATE)?;
            let v = t.get(INDEXED)?;
            match v.map(|v| <[u8; 8]>::try_from(v.value())) {
                None => size,
                Some(Ok(b)) => u64::from_le_bytes(b).min(size),
                // Unreadable: index every entry again (rows already in the table are
                // found twice and counted once).
                Some(Err(_)) => 0,
            }
        };
        let pending = Arc::new(RwLock::new(Self::rows_of_entries(&db, indexed, size)?));
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
            pending,
        })
    }

    pub(super) fn run(
        &mut self,
        rx: mpsc::Receiver<Job>,
        head: Arc<RwLock<Head>>,
        recent: Arc<Mutex<VecDeque<Head>>>,
    ) {
        while let Ok(first) = rx.recv() {
            let mut n = first.len();
            let mut batch = vec![first];
            while n < MAX_BATCH {
                let Ok(j) = rx.try_recv() else { break };
                n += j.len();
                batch.push(j);
            }
            // Work on copies: a failed commit leaves the sequencer at the durable state.
            let saved = (self.tree.clone(), self.tiles.clone(), self.bundles.clone());
            match self.commit(&batch) {
                Ok((start, leaves)) => {
                    *head.write().unwrap_or_else(|p| p.into_inner()) = self.head.clone();
                    {
                        let mut r = recent.lock().unwrap_or_else(|p| p.into_inner());
                        r.push_back(self.head.clone());
                        while r.len() > RECENT_CHECKPOINTS {
                            r.pop_front();
                        }
                    }
                    self.answer(batch, start, &leaves);
                }
                Err(e) => {
                    (self.tree, self.tiles, self.bundles) = saved;
                    tracing::error!(error = %e, "log batch failed");
                    let msg = e.to_string();
                    for j in batch {
                        match j {
                            Job::One { reply, .. } => {
                                let _ = reply.send(Err(LogError::Batch(msg.clone())));
                            }
                            Job::Bulk { reply, .. } => {
                                let _ = reply.send(Err(LogError::Batch(msg.clone())));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Appends one batch in one write transaction; returns its first index and leaf hashes.
    fn commit(&mut self, batch: &[Job]) -> Result<(u64, Vec<Hash>), LogError> {
        let start = self.tree.size();
        let mut writes: Vec<(String, Vec<u8>)> = Vec::new();
        let mut rows: Vec<(u64, u64)> = Vec::new();
        let mut leaves = Vec::new();
        let items = batch.iter().flat_map(|j| match j {
            Job::One { item, .. } => std::slice::from_ref(item),
            Job::Bulk { items, .. } => items.as_slice(),
        });
        for item in items {
            let index = self.tree.size();
            let leaf = merkle::leaf_hash(&item.entry);
            leaves.push(leaf);
            rows.extend(item.terms.iter().map(|t| (*t, index)));
            for (node, hash) in self.tree.append(leaf) {
                if let Some((id, data)) = self.tiles.push(node, hash) {
                    writes.push((id.path(), data));
                }
            }
            if let Some((id, data)) = self.bundles.push(&item.entry)? {
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
        let flush =
            self.pending.read().unwrap_or_else(|p| p.into_inner()).len() + rows.len() >= FLUSH_ROWS;
        let wtx = self.db.begin_write()?;
        {
            let mut t = wtx.open_table(TILES)?;
            for (p, d) in &writes {
                // Only the widest version of a tile is kept: it stands in for the others.
                let width = p
                    .split_once(".p/")
                    .and_then(|(_, w)| w.parse::<u16>().ok())
                    .unwrap_or(256);
                delete_partials(&mut t, full_path(p), width)?;
                t.insert(p.as_str(), d.as_slice())?;
            }
            let mut state = wtx.open_table(STATE)?;
            state.insert("checkpoint", note.as_slice())?;
            if flush {
                // In key order: neighbouring rows share B-tree pages, so each page is
                // copied once per flush rather than once per row.
                let held = self.pending.read().unwrap_or_else(|p| p.into_inner());
                let mut all: Vec<(u64, u64)> =
                    held.iter().copied().chain(rows.iter().copied()).collect();
                drop(held);
                all.sort_unstable();
                let mut s = wtx.open_table(SEARCH)?;
                for r in &all {
                    s.insert(r, ())?;
                }
                state.insert(INDEXED, size.to_le_bytes().as_slice())?;
            }
        }
        wtx.commit()?;
        {
            let mut p = self.pending.write().unwrap_or_else(|p| p.into_inner());
            if flush {
                p.clear();
            } else {
                p.extend(rows);
            }
        }
        self.head = Head { size, root, note };
        Ok((start, leaves))
    }

    /// Answers each job of a committed batch; the single entries get their inclusion
    /// proofs, all read from one set of tiles.
    fn answer(&self, batch: Vec<Job>, start: u64, leaves: &[Hash]) {
        let size = self.head.size;
        let mut index = start;
        let mut singles = Vec::new();
        for job in batch {
            match job {
                Job::One { item, reply } => {
                    singles.push((index, item.entry, reply));
                    index += 1;
                }
                Job::Bulk { items, reply } => {
                    let _ = reply.send(Ok((index, size)));
                    index += items.len() as u64;
                }
            }
        }
        if singles.is_empty() {
            return;
        }
        let plans: Result<Vec<ProofPlan>, MerkleError> = singles
            .iter()
            .map(|(i, _, _)| ProofPlan::inclusion(*i, size))
            .collect();
        let proofs = plans.map_err(LogError::from).and_then(|plans| {
            let nodes: Vec<NodeId> = plans.iter().flat_map(|p| p.nodes().to_vec()).collect();
            let set = tile_set(&self.db, &nodes, size)?;
            let memo = Memo::new(&set);
            plans
                .iter()
                .map(|p| p.read(&memo).map_err(LogError::from))
                .collect::<Result<Vec<_>, _>>()
        });
        match proofs {
            Ok(proofs) => {
                let checkpoint = std::sync::Arc::new(Checkpointed::new(&self.head.note));
                for ((index, entry, reply), proof) in singles.into_iter().zip(proofs) {
                    let _ = reply.send(Ok(Appended {
                        index,
                        size,
                        leaf_hash: leaves[(index - start) as usize],
                        proof,
                        checkpoint: checkpoint.clone(),
                        entry,
                    }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "log proofs after commit");
                let msg = e.to_string();
                for (_, _, reply) in singles {
                    let _ = reply.send(Err(LogError::Batch(msg.clone())));
                }
            }
        }
    }
}
