//! Reads from the log database: tiles (or a wider one that stands in), entries, the tile
//! set a proof needs.

use pqreg_spec::merkle::{self, Hash, HashReader, MerkleError, NodeId};
use pqreg_spec::tile::{EntryBundleId, TileId, TileSet, parse_entry_bundle, tiles_for_nodes};
use std::cell::RefCell;
use std::collections::HashMap;

use redb::{Database, ReadableTable};

use super::{LogError, TILES};

/// The stored bytes at `path`.
pub(super) fn read_path(db: &Database, path: &str) -> Result<Option<Vec<u8>>, LogError> {
    let rtx = db.begin_read()?;
    let t = match rtx.open_table(TILES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(t.get(path)?.map(|v| v.value().to_vec()))
}

/// The object at `full` (a full tile or bundle path) in `t`, or the widest partial one of
/// the same tile (`<full>.p/<w>`) if it is at least `min_width` wide. Returns the width
/// found and the bytes.
pub(super) fn widest(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    full: &str,
    min_width: u16,
) -> Result<Option<(u16, Vec<u8>)>, LogError> {
    if let Some(v) = t.get(full)? {
        return Ok(Some((256, v.value().to_vec())));
    }
    let prefix = format!("{full}.p/");
    let mut best: Option<(u16, Vec<u8>)> = None;
    for row in t.range(prefix.as_str()..)? {
        let (k, v) = row?;
        let Some(w) = k.value().strip_prefix(prefix.as_str()) else {
            break;
        };
        if let Ok(w) = w.parse::<u16>()
            && w >= min_width
            && best.as_ref().is_none_or(|(b, _)| w > *b)
        {
            best = Some((w, v.value().to_vec()));
        }
    }
    Ok(best)
}

/// The stored tile `id`, or one wider that stands in for it (sizes between two published
/// checkpoints, and older partial widths, have no tile of their own).
fn find_tile(db: &Database, id: TileId) -> Result<Option<(TileId, Vec<u8>)>, LogError> {
    let full = TileId::new(id.level, id.index, 256)?;
    let rtx = db.begin_read()?;
    let t = rtx.open_table(TILES)?;
    match widest(&t, &full.path(), id.width)? {
        Some((w, d)) => Ok(Some((TileId::new(id.level, id.index, w)?, d))),
        None => Ok(None),
    }
}

/// Loads the tiles that hold `nodes` in the tree of `size`.
pub(super) fn tile_set(db: &Database, nodes: &[NodeId], size: u64) -> Result<TileSet, LogError> {
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

/// A [`HashReader`] over a [`TileSet`] that remembers the interior nodes it hashes. A
/// tile stores every eighth level; a node in between is hashed up from up to 128 stored
/// hashes, and the inclusion proofs of one batch (neighbouring leaves) ask for the same
/// subtrees again and again: with the memo each is hashed once per batch.
pub(super) struct Memo<'a> {
    set: &'a TileSet,
    known: RefCell<HashMap<NodeId, Hash>>,
}

impl<'a> Memo<'a> {
    /// A memo over `set`.
    pub(super) fn new(set: &'a TileSet) -> Self {
        Memo {
            set,
            known: RefCell::new(HashMap::new()),
        }
    }
}

impl HashReader for Memo<'_> {
    fn read_hash(&self, node: NodeId) -> Result<Hash, MerkleError> {
        if node.level.is_multiple_of(8) {
            return self.set.read_hash(node);
        }
        if let Some(h) = self.known.borrow().get(&node) {
            return Ok(*h);
        }
        let missing = MerkleError::MissingNode {
            level: node.level,
            index: node.index,
        };
        let left = node.index.checked_mul(2).ok_or(missing.clone())?;
        let right = left.checked_add(1).ok_or(missing)?;
        let h = merkle::node_hash(
            &self.read_hash(NodeId::new(node.level - 1, left))?,
            &self.read_hash(NodeId::new(node.level - 1, right))?,
        );
        self.known.borrow_mut().insert(node, h);
        Ok(h)
    }
}

/// Reads entries from their bundles within one read transaction, keeping the bundles it
/// has read.
pub(super) struct EntryReader<'a> {
    table: &'a redb::ReadOnlyTable<&'static str, &'static [u8]>,
    size: u64,
    cache: HashMap<u64, (u16, Vec<u8>)>,
}

impl<'a> EntryReader<'a> {
    /// A reader of the entries below `size`.
    pub(super) fn new(
        table: &'a redb::ReadOnlyTable<&'static str, &'static [u8]>,
        size: u64,
    ) -> Self {
        EntryReader {
            table,
            size,
            cache: HashMap::new(),
        }
    }

    /// The entry at `index`, exactly as logged.
    pub(super) fn entry(&mut self, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        let Some((id, pos)) = EntryBundleId::for_entry(index, self.size) else {
            return Ok(None);
        };
        if !self.cache.contains_key(&id.index) {
            let full = EntryBundleId::new(id.index, 256)?.path();
            let Some(found) = widest(self.table, &full, id.width)? else {
                return Ok(None);
            };
            if self.cache.len() >= 64 {
                self.cache.clear();
            }
            self.cache.insert(id.index, found);
        }
        let Some((w, data)) = self.cache.get(&id.index) else {
            return Ok(None);
        };
        Ok(parse_entry_bundle(data, *w)?.get(pos).map(|e| e.to_vec()))
    }
}

/// Deletes the partial versions of the tile or bundle at `full` (its path without
/// suffix) narrower than `keep` (256: all of them).
pub(super) fn delete_partials(
    t: &mut redb::Table<'_, &str, &[u8]>,
    full: &str,
    keep: u16,
) -> Result<(), LogError> {
    let prefix = format!("{full}.p/");
    let mut doomed = Vec::new();
    for row in t.range(prefix.as_str()..)? {
        let (k, _) = row?;
        let key = k.value();
        let Some(w) = key.strip_prefix(prefix.as_str()) else {
            break;
        };
        if w.parse::<u16>().is_ok_and(|w| w < keep) {
            doomed.push(key.to_owned());
        }
    }
    for k in doomed {
        t.remove(k.as_str())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pqreg_spec::merkle::{ProofPlan, TreeBuilder};
    use pqreg_spec::tile::TileWriter;

    /// With one memo shared by many proofs (as the sequencer shares it across a batch),
    /// every inclusion proof equals the one read from the tiles alone; a missing tile is
    /// still an error.
    #[test]
    fn memo_reads_the_same_proofs() {
        let size = 3 * 256 + 17;
        let (mut tree, mut tiles) = (TreeBuilder::new(), TileWriter::new());
        let mut stored = Vec::new();
        for i in 0..size {
            let leaf = merkle::leaf_hash(&u64::to_be_bytes(i));
            for (node, hash) in tree.append(leaf) {
                stored.extend(tiles.push(node, hash));
            }
        }
        stored.extend(tiles.partial_tiles());
        let mut set = TileSet::new(size);
        for (id, data) in &stored {
            set.insert(*id, data).unwrap();
        }
        let memo = Memo::new(&set);
        for i in (0..size).rev() {
            let plan = ProofPlan::inclusion(i, size).unwrap();
            assert_eq!(plan.read(&memo).unwrap(), plan.read(&set).unwrap(), "{i}");
        }
        assert_eq!(
            ProofPlan::root(size).read(&memo).unwrap(),
            ProofPlan::root(size).read(&set).unwrap()
        );
        let empty = TileSet::new(size);
        let plan = ProofPlan::inclusion(5, size).unwrap();
        assert!(matches!(
            plan.read(&Memo::new(&empty)),
            Err(MerkleError::MissingNode { .. })
        ));
    }
}
