//! C2SP tlog-tiles: tile and entry-bundle paths, tile contents, entry bundles, and which
//! tiles a proof needs (spec/transparency-log.md, "Tiles").
//!
//! ```text
//! <prefix>/checkpoint
//! <prefix>/tile/<L>/<N>[.p/<W>]        hashes at tree level 8*L, 256 per full tile
//! <prefix>/tile/entries/<N>[.p/<W>]    entries, uint16-length-prefixed, 256 per bundle
//!
//! N = 1234067  ->  x001/x234/067        (3-digit groups, all but the last prefixed x)
//! ```
//!
//! The tile at level `L`, index `N` holds the hashes of the perfect subtrees
//! `NodeId { level: 8*L, index: N*256 + i }` for `i` in `0..W`. Any other perfect
//! subtree with level in `8*L+1 ..= 8*L+7` is the hash of `2^(level-8L)` consecutive hashes
//! of one tile, so [`TileSet`] answers every [`HashReader`] query from at most one tile.
//!
//! Parsing is strict: a path parses only if it is the one encoding of its tile, so a path
//! is safe to use as a storage key.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::merkle::{Hash, HashReader, MerkleError, NodeId, node_hash};

/// Hashes in a full tile (and entries in a full bundle).
pub const TILE_WIDTH: u16 = 256;
/// Tree levels one tile spans.
pub const TILE_HEIGHT: u8 = 8;
/// The largest tile level tlog-tiles allows.
pub const MAX_TILE_LEVEL: u8 = 63;

/// A Merkle tree tile: `tile/<level>/<index>[.p/<width>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Tile level: the tile holds tree level `8 * level`. At most [`MAX_TILE_LEVEL`].
    pub level: u8,
    /// Index of the tile within its level.
    pub index: u64,
    /// Hashes in the tile: 256 for a full tile, 1..=255 for a partial one.
    pub width: u16,
}

/// An entry bundle: `tile/entries/<index>[.p/<width>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryBundleId {
    /// Index of the bundle: it holds entries `index*256 ..`.
    pub index: u64,
    /// Entries in the bundle: 256 when full, 1..=255 when partial.
    pub width: u16,
}

/// Any path under `tile/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TilePath {
    /// A hash tile.
    Hashes(TileId),
    /// An entry bundle.
    Entries(EntryBundleId),
}

/// `N` as tlog-tiles encodes it: 3-digit groups, all but the last prefixed with `x`.
pub fn encode_index(n: u64) -> String {
    let digits = n.to_string();
    let pad = (3 - digits.len() % 3) % 3;
    let padded = format!("{}{}", "0".repeat(pad), digits);
    let groups: Vec<&str> = padded
        .as_bytes()
        .chunks(3)
        .map(|c| std::str::from_utf8(c).unwrap_or("000"))
        .collect();
    let last = groups.len() - 1;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if i < last {
                format!("x{g}")
            } else {
                (*g).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn width_suffix(width: u16) -> String {
    if width == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

fn check_width(width: u16) -> Result<(), MerkleError> {
    if width == 0 || width > TILE_WIDTH {
        Err(MerkleError::BadTileWidth(u64::from(width)))
    } else {
        Ok(())
    }
}

impl TileId {
    /// A tile id, checking level and width.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Self, MerkleError> {
        check_width(width)?;
        if level > MAX_TILE_LEVEL {
            return Err(MerkleError::BadTilePath(format!("level {level}")));
        }
        Ok(TileId {
            level,
            index,
            width,
        })
    }

    /// Whether the tile is full (256 hashes).
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The path below the log prefix, e.g. `tile/0/x001/234.p/7`.
    pub fn path(&self) -> String {
        format!(
            "tile/{}/{}{}",
            self.level,
            encode_index(self.index),
            width_suffix(self.width)
        )
    }

    /// The tile at `level`, `index` as it is in the tree of `size` leaves, or `None` if
    /// the tree has no such tile yet.
    pub fn at_size(level: u8, index: u64, size: u64) -> Option<Self> {
        if level > MAX_TILE_LEVEL {
            return None;
        }
        // 256^(level+1) overflows u64 from level 7 on; u128 holds 256^16.
        let span = 1u128.checked_shl(8 * (u32::from(level) + 1))?;
        let start = u128::from(index).checked_mul(span)?;
        let size = u128::from(size);
        if start.checked_add(span)? <= size {
            return Some(TileId {
                level,
                index,
                width: TILE_WIDTH,
            });
        }
        let width = (size >> (8 * u32::from(level))) % 256;
        if size / span == u128::from(index) && width > 0 {
            Some(TileId {
                level,
                index,
                width: width as u16,
            })
        } else {
            None
        }
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

impl EntryBundleId {
    /// A bundle id, checking the width.
    pub fn new(index: u64, width: u16) -> Result<Self, MerkleError> {
        check_width(width)?;
        Ok(EntryBundleId { index, width })
    }

    /// The bundle holding entry `entry` in the tree of `size` leaves (`None` if
    /// `entry >= size`), and the entry's position in it.
    pub fn for_entry(entry: u64, size: u64) -> Option<(Self, usize)> {
        if entry >= size {
            return None;
        }
        let t = TileId::at_size(0, entry / 256, size)?;
        Some((
            EntryBundleId {
                index: t.index,
                width: t.width,
            },
            (entry % 256) as usize,
        ))
    }

    /// The path below the log prefix, e.g. `tile/entries/x001/234.p/7`.
    pub fn path(&self) -> String {
        format!(
            "tile/entries/{}{}",
            encode_index(self.index),
            width_suffix(self.width)
        )
    }
}

impl fmt::Display for EntryBundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

fn parse_decimal_no_leading_zero(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn parse_index(s: &str) -> Option<u64> {
    let groups: Vec<&str> = s.split('/').collect();
    let last = groups.len() - 1;
    let mut n: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let digits = if i < last { g.strip_prefix('x')? } else { g };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u64 = digits.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(v)?;
    }
    // Only the canonical encoding (no leading x000 groups) is accepted.
    (encode_index(n) == s).then_some(n)
}

impl TilePath {
    /// Parses a path below the log prefix (`tile/...`, no leading slash), strictly.
    pub fn parse(path: &str) -> Result<Self, MerkleError> {
        let bad = || MerkleError::BadTilePath(path.chars().take(200).collect());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (head, rest) = rest.split_once('/').ok_or_else(bad)?;
        let (n_part, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let w = parse_decimal_no_leading_zero(w).ok_or_else(bad)?;
                if w == 0 || w >= u64::from(TILE_WIDTH) {
                    return Err(bad());
                }
                (n, w as u16)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = parse_index(n_part).ok_or_else(bad)?;
        if head == "entries" {
            return Ok(TilePath::Entries(EntryBundleId { index, width }));
        }
        let level = parse_decimal_no_leading_zero(head).ok_or_else(bad)?;
        if level > u64::from(MAX_TILE_LEVEL) {
            return Err(bad());
        }
        Ok(TilePath::Hashes(TileId {
            level: level as u8,
            index,
            width,
        }))
    }

    /// The path, as [`parse`](Self::parse) accepts it.
    pub fn path(&self) -> String {
        match self {
            TilePath::Hashes(t) => t.path(),
            TilePath::Entries(e) => e.path(),
        }
    }
}

/// Splits tile contents into exactly `width` hashes.
pub fn parse_tile(data: &[u8], width: u16) -> Result<Vec<Hash>, MerkleError> {
    check_width(width)?;
    let expected = usize::from(width) * 32;
    if data.len() != expected {
        return Err(MerkleError::BadTileSize {
            expected,
            got: data.len(),
        });
    }
    Ok(data
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// Concatenates hashes into tile contents.
pub fn encode_tile(hashes: &[Hash]) -> Result<Vec<u8>, MerkleError> {
    check_width(u16::try_from(hashes.len()).unwrap_or(0))?;
    Ok(hashes.concat())
}

/// Encodes entries as an entry bundle: each a big-endian uint16 length, then the bytes.
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, MerkleError> {
    check_width(u16::try_from(entries.len()).unwrap_or(0))?;
    let mut out = Vec::new();
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| MerkleError::EntryTooLarge(e.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle into exactly `width` entries.
pub fn parse_entry_bundle(data: &[u8], width: u16) -> Result<Vec<&[u8]>, MerkleError> {
    check_width(width)?;
    let mut out = Vec::with_capacity(usize::from(width));
    let mut rest = data;
    while !rest.is_empty() {
        if out.len() == usize::from(width) {
            return Err(MerkleError::BadEntryBundle(
                "trailing bytes after the last entry",
            ));
        }
        let [a, b, tail @ ..] = rest else {
            return Err(MerkleError::BadEntryBundle("truncated length prefix"));
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if tail.len() < len {
            return Err(MerkleError::BadEntryBundle("truncated entry"));
        }
        out.push(&tail[..len]);
        rest = &tail[len..];
    }
    if out.len() != usize::from(width) {
        return Err(MerkleError::WrongEntryCount {
            expected: usize::from(width),
            got: out.len(),
        });
    }
    Ok(out)
}

/// The tile holding the base hashes of `node`, and the range of positions in it.
fn locate(node: NodeId) -> Option<(u8, u64, usize, usize)> {
    let tl = node.level / TILE_HEIGHT;
    let r = node.level % TILE_HEIGHT;
    let first = node.index.checked_shl(u32::from(r))?;
    if first >> u32::from(r) != node.index {
        return None;
    }
    Some((
        tl,
        first / 256,
        (first % 256) as usize,
        (first % 256) as usize + (1usize << r),
    ))
}

/// The tiles (at tree `size`) that hold the nodes, e.g. a [`crate::merkle::ProofPlan`]'s.
pub fn tiles_for_nodes(nodes: &[NodeId], size: u64) -> Result<Vec<TileId>, MerkleError> {
    let mut out = BTreeSet::new();
    for n in nodes {
        let missing = || MerkleError::MissingNode {
            level: n.level,
            index: n.index,
        };
        let (tl, ti, _, end) = locate(*n).ok_or_else(missing)?;
        let t = TileId::at_size(tl, ti, size).ok_or(MerkleError::TileOutOfRange {
            level: tl,
            index: ti,
            size,
        })?;
        if end > usize::from(t.width) {
            return Err(missing());
        }
        out.insert(t);
    }
    Ok(out.into_iter().collect())
}

/// Tiles fetched for one tree size; answers [`HashReader`] queries from them.
#[derive(Debug, Clone, Default)]
pub struct TileSet {
    size: u64,
    tiles: HashMap<(u8, u64), Vec<Hash>>,
}

impl TileSet {
    /// An empty set for the tree of `size` leaves.
    pub fn new(size: u64) -> Self {
        TileSet {
            size,
            tiles: HashMap::new(),
        }
    }

    /// Adds a fetched tile. `id` is the tile as fetched; it must be at least as wide as the
    /// tile at this set's size (a full tile may stand in for a partial one: its first
    /// hashes are the same).
    pub fn insert(&mut self, id: TileId, data: &[u8]) -> Result<(), MerkleError> {
        let hashes = parse_tile(data, id.width)?;
        let need =
            TileId::at_size(id.level, id.index, self.size).ok_or(MerkleError::TileOutOfRange {
                level: id.level,
                index: id.index,
                size: self.size,
            })?;
        if id.width < need.width {
            return Err(MerkleError::BadTileSize {
                expected: usize::from(need.width) * 32,
                got: data.len(),
            });
        }
        self.tiles.insert((id.level, id.index), hashes);
        Ok(())
    }
}

impl HashReader for TileSet {
    fn read_hash(&self, node: NodeId) -> Result<Hash, MerkleError> {
        let missing = MerkleError::MissingNode {
            level: node.level,
            index: node.index,
        };
        let (tl, ti, start, end) = locate(node).ok_or(missing.clone())?;
        let tile = self.tiles.get(&(tl, ti)).ok_or(missing.clone())?;
        let hashes = tile.get(start..end).ok_or(missing)?;
        // A power-of-two run of hashes: hash pairs level by level, in place.
        let mut buf: Vec<Hash> = hashes.to_vec();
        let mut n = buf.len();
        while n > 1 {
            for i in 0..n / 2 {
                buf[i] = node_hash(&buf[2 * i], &buf[2 * i + 1]);
            }
            n /= 2;
        }
        Ok(buf[0])
    }
}

/// The sequencer's tile writer: fed every node [`crate::merkle::TreeBuilder::append`]
/// reports, it keeps the partial tile of each level and hands back each tile as it fills.
#[derive(Debug, Clone, Default)]
pub struct TileWriter {
    /// Per tile level: the index of the next hash, and the hashes of the partial tile.
    levels: Vec<(u64, Vec<Hash>)>,
}

impl TileWriter {
    /// A writer for the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer for the tree of `size` leaves, given its partial tiles' hashes, level 0
    /// first (`partials[l]` must hold `floor(size / 256^l) mod 256` hashes).
    pub fn resume(size: u64, partials: Vec<Vec<Hash>>) -> Result<Self, MerkleError> {
        let mut levels = Vec::new();
        for (l, p) in partials.into_iter().enumerate() {
            let shift = 8 * l as u32;
            let count = size.checked_shr(shift).unwrap_or(0);
            if p.len() as u64 != count % 256 {
                return Err(MerkleError::BadTileSize {
                    expected: (count % 256) as usize * 32,
                    got: p.len() * 32,
                });
            }
            levels.push((count, p));
        }
        Ok(TileWriter { levels })
    }

    /// Takes one node. Returns the tile it completes, if any, as `(id, contents)`.
    /// Nodes whose level is not a multiple of 8 are not stored in tiles and are ignored.
    pub fn push(&mut self, node: NodeId, hash: Hash) -> Option<(TileId, Vec<u8>)> {
        if !node.level.is_multiple_of(TILE_HEIGHT) {
            return None;
        }
        let tl = usize::from(node.level / TILE_HEIGHT);
        while self.levels.len() <= tl {
            self.levels.push((0, Vec::new()));
        }
        let (next, buf) = &mut self.levels[tl];
        debug_assert_eq!(*next, node.index, "nodes must arrive in order");
        buf.push(hash);
        *next += 1;
        if buf.len() == usize::from(TILE_WIDTH) {
            let id = TileId {
                level: tl as u8,
                index: node.index / 256,
                width: TILE_WIDTH,
            };
            let data = buf.concat();
            buf.clear();
            return Some((id, data));
        }
        None
    }

    /// The current partial tiles (non-empty levels only), as `(id, contents)`.
    pub fn partial_tiles(&self) -> Vec<(TileId, Vec<u8>)> {
        self.levels
            .iter()
            .enumerate()
            .filter(|(_, (_, buf))| !buf.is_empty())
            .map(|(l, (next, buf))| {
                (
                    TileId {
                        level: l as u8,
                        index: next / 256,
                        width: buf.len() as u16,
                    },
                    buf.concat(),
                )
            })
            .collect()
    }
}

/// The sequencer's entry-bundle writer: fed each entry in order, it keeps the partial
/// bundle and hands back each bundle as it fills.
#[derive(Debug, Clone, Default)]
pub struct EntryBundleWriter {
    next: u64,
    buf: Vec<Vec<u8>>,
}

impl EntryBundleWriter {
    /// A writer for the empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer for a log of `size` entries, given the entries of its partial bundle
    /// (`size mod 256` of them).
    pub fn resume(size: u64, partial: Vec<Vec<u8>>) -> Result<Self, MerkleError> {
        if partial.len() as u64 != size % 256 {
            return Err(MerkleError::WrongEntryCount {
                expected: (size % 256) as usize,
                got: partial.len(),
            });
        }
        Ok(EntryBundleWriter {
            next: size,
            buf: partial,
        })
    }

    /// Takes the next entry. Returns the bundle it completes, if any, as `(id, contents)`.
    pub fn push(&mut self, entry: &[u8]) -> Result<Option<(EntryBundleId, Vec<u8>)>, MerkleError> {
        if entry.len() > usize::from(u16::MAX) {
            return Err(MerkleError::EntryTooLarge(entry.len()));
        }
        self.buf.push(entry.to_vec());
        self.next += 1;
        if self.buf.len() < usize::from(TILE_WIDTH) {
            return Ok(None);
        }
        let data = encode_entry_bundle(&self.buf)?;
        self.buf.clear();
        Ok(Some((
            EntryBundleId {
                index: self.next / 256 - 1,
                width: TILE_WIDTH,
            },
            data,
        )))
    }

    /// The current partial bundle, if the size is not a multiple of 256.
    pub fn partial_bundle(&self) -> Result<Option<(EntryBundleId, Vec<u8>)>, MerkleError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        Ok(Some((
            EntryBundleId {
                index: self.next / 256,
                width: self.buf.len() as u16,
            },
            encode_entry_bundle(&self.buf)?,
        )))
    }
}

#[cfg(test)]
mod tests;
