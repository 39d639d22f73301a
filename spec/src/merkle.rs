//! RFC 9162 Merkle tree hashing, inclusion and consistency proofs
//! (spec/transparency-log.md, "Tree hashing" and "Proofs").
//!
//! - [`leaf_hash`] and [`node_hash`] are RFC 9162 §2.1.1 (`0x00` / `0x01` prefixes).
//! - Verification ([`verify_inclusion`], [`verify_consistency`]) is pure and follows the
//!   algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, with the proof length checked first so a
//!   short, long or padded proof fails with [`MerkleError::WrongProofLength`] rather than a
//!   root mismatch.
//! - Generation never recomputes the tree: a proof is a short list of *perfect* subtree
//!   hashes ([`NodeId`]) that a [`HashReader`] looks up (the registry reads them from
//!   tiles, see [`crate::tile`]). [`ProofPlan`] says which nodes are needed, so a caller with
//!   asynchronous storage can fetch them first and [`ProofPlan::assemble`] the proof after.
//! - [`TreeBuilder`] is the sequencer's compact append-only tree: it keeps only the right
//!   edge (one hash per set bit of the size) and reports every new perfect subtree hash,
//!   which is what tiles store.

use aws_lc_rs::digest::{Context, SHA256};

/// A SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Errors of this module (and of [`crate::tile`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// A leaf index was not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("tree size {size1} is larger than tree size {size2}")]
    SizeDecreased {
        /// The first (older) size.
        size1: u64,
        /// The second (newer) size.
        size2: u64,
    },
    /// A proof had more or fewer hashes than the sizes require.
    #[error("proof has {got} hashes, expected {expected}")]
    WrongProofLength {
        /// The number the sizes require.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// A hash was not exactly 32 bytes.
    #[error("hash has {0} bytes, expected 32")]
    BadHashLength(usize),
    /// The root computed from an inclusion proof differs from the expected root.
    #[error("inclusion proof does not lead to the expected root")]
    InclusionRootMismatch,
    /// A consistency proof does not lead to the older root.
    #[error("consistency proof does not lead to the older root")]
    ConsistencyRoot1Mismatch,
    /// A consistency proof does not lead to the newer root.
    #[error("consistency proof does not lead to the newer root")]
    ConsistencyRoot2Mismatch,
    /// Equal tree sizes with different roots: the log forked.
    #[error("same tree size {0} with different roots")]
    RootsDiffer(u64),
    /// A [`HashReader`] did not have a node it was asked for.
    #[error("hash of node (level {level}, index {index}) is not available")]
    MissingNode {
        /// The node's level (0 = leaves).
        level: u8,
        /// The node's index within its level.
        index: u64,
    },
    /// [`ProofPlan::assemble`] got a different number of hashes than it asked for.
    #[error("plan needs {expected} node hashes, got {got}")]
    WrongNodeCount {
        /// Hashes the plan asked for.
        expected: usize,
        /// Hashes given.
        got: usize,
    },
    /// A tree's right edge did not match its size.
    #[error("right edge has {got} hashes, tree size {size} needs {expected}")]
    BadRightEdge {
        /// The tree size.
        size: u64,
        /// Hashes the size needs (its number of set bits).
        expected: usize,
        /// Hashes given.
        got: usize,
    },
    /// A tile or entry-bundle path is not one tlog-tiles allows.
    #[error("bad tile path {0:?}")]
    BadTilePath(String),
    /// Tile contents are not `width` 32-byte hashes.
    #[error("tile has {got} bytes, expected {expected}")]
    BadTileSize {
        /// Bytes `width` hashes take.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A tile width is outside 1..=256.
    #[error("tile width {0} is outside 1..=256")]
    BadTileWidth(u64),
    /// An entry bundle is truncated or has trailing bytes.
    #[error("entry bundle is malformed: {0}")]
    BadEntryBundle(&'static str),
    /// An entry bundle holds a different number of entries than its width.
    #[error("entry bundle holds {got} entries, expected {expected}")]
    WrongEntryCount {
        /// The bundle's width.
        expected: usize,
        /// Entries found.
        got: usize,
    },
    /// An entry is too large for an entry bundle (uint16 length prefix).
    #[error("entry of {0} bytes does not fit an entry bundle")]
    EntryTooLarge(usize),
    /// A tile is not needed for (or does not exist at) the given tree size.
    #[error("tile (level {level}, index {index}) does not exist at tree size {size}")]
    TileOutOfRange {
        /// Tile level.
        level: u8,
        /// Tile index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A proof hash in JSON was not valid base64.
    #[error("proof hash is not valid base64")]
    BadBase64,
}

/// `SHA-256(0x00 || data)`: the hash of a leaf (RFC 9162 §2.1.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Context::new(&SHA256);
    h.update(&[0x00]);
    h.update(data);
    finish(h)
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    let mut h = Context::new(&SHA256);
    h.update(&buf);
    finish(h)
}

// aws-lc-rs rather than `sha2`: its SHA-256 is not generic, so it runs optimized even in
// debug builds of this crate, and tree hashing is the hot loop of proof generation.
fn finish(h: Context) -> Hash {
    let d = h.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Copies a byte slice into a [`Hash`](type@Hash), refusing any length but 32.
pub fn hash_from_slice(bytes: &[u8]) -> Result<Hash, MerkleError> {
    bytes
        .try_into()
        .map_err(|_| MerkleError::BadHashLength(bytes.len()))
}

/// The Merkle Tree Hash (RFC 9162 §2.1.1) of a list of leaf hashes, computed in one pass.
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    let mut b = TreeBuilder::new();
    for l in leaves {
        b.append(*l);
    }
    b.root()
}

/// A perfect subtree: the `2^level` leaves starting at `index << level`.
///
/// Level 0 nodes are leaf hashes. Tiles store the nodes whose level is a multiple of 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves (0 = leaf).
    pub level: u8,
    /// Index among the nodes of this level, left to right.
    pub index: u64,
}

impl NodeId {
    /// Builds a node id.
    pub const fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }
}

/// Looks up stored perfect-subtree hashes. The registry implements it over tiles
/// ([`crate::tile::TileSet`]); tests implement it over a vector of leaves.
pub trait HashReader {
    /// The hash of the perfect subtree `node`, or [`MerkleError::MissingNode`].
    fn read_hash(&self, node: NodeId) -> Result<Hash, MerkleError>;
}

/// Splits `[begin, end)` into maximal aligned perfect subtrees, left to right.
///
/// For a range that is a subtree of the RFC 9162 tree (every range the proof recursion
/// asks for), the pieces have strictly decreasing sizes and folding them from the right
/// with [`node_hash`] gives the range's Merkle Tree Hash.
fn decompose(mut begin: u64, end: u64, out: &mut Vec<NodeId>) {
    while begin < end {
        let span = end - begin;
        let max_by_size = 63 - span.leading_zeros() as u8;
        let level = if begin == 0 {
            max_by_size
        } else {
            max_by_size.min(begin.trailing_zeros() as u8)
        };
        out.push(NodeId::new(level, begin >> level));
        begin += 1u64 << level;
    }
}

/// The largest power of two strictly below `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Which stored hashes a proof needs, and how they combine into the proof.
///
/// Each proof element is the Merkle Tree Hash of a range; a range is one or more perfect
/// subtrees, folded right to left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    nodes: Vec<NodeId>,
    /// For each proof element, the half-open range of `nodes` it folds.
    elements: Vec<(usize, usize)>,
}

impl ProofPlan {
    fn push_range(&mut self, begin: u64, end: u64) {
        let start = self.nodes.len();
        decompose(begin, end, &mut self.nodes);
        self.elements.push((start, self.nodes.len()));
    }

    /// The plan of the inclusion proof of leaf `index` in the tree of `size` leaves
    /// (RFC 9162 §2.1.3.1), ordered from the leaf upwards.
    pub fn inclusion(index: u64, size: u64) -> Result<Self, MerkleError> {
        if index >= size {
            return Err(MerkleError::IndexOutOfRange { index, size });
        }
        let mut plan = ProofPlan {
            nodes: Vec::new(),
            elements: Vec::new(),
        };
        // Walk down from the root, remembering the sibling ranges; the proof lists them
        // bottom-up, so reverse at the end.
        let mut ranges = Vec::new();
        let (mut lo, mut hi, mut m) = (0u64, size, index);
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if m < k {
                ranges.push((lo + k, hi));
                hi = lo + k;
            } else {
                ranges.push((lo, lo + k));
                lo += k;
                m -= k;
            }
        }
        for (b, e) in ranges.into_iter().rev() {
            plan.push_range(b, e);
        }
        Ok(plan)
    }

    /// The plan of the consistency proof from `size1` to `size2` (RFC 9162 §2.1.4.1).
    /// Empty when `size1` is 0 or equal to `size2`.
    pub fn consistency(size1: u64, size2: u64) -> Result<Self, MerkleError> {
        if size1 > size2 {
            return Err(MerkleError::SizeDecreased { size1, size2 });
        }
        let mut plan = ProofPlan {
            nodes: Vec::new(),
            elements: Vec::new(),
        };
        if size1 == 0 || size1 == size2 {
            return Ok(plan);
        }
        // SUBPROOF(m, D[lo:hi], b), iteratively; collected top-down, emitted bottom-up.
        let mut ranges = Vec::new();
        let (mut lo, mut hi, mut m, mut b) = (0u64, size2, size1, true);
        loop {
            if m == hi - lo {
                if !b {
                    ranges.push((lo, hi));
                }
                break;
            }
            let k = split_point(hi - lo);
            if m <= k {
                ranges.push((lo + k, hi));
                hi = lo + k;
            } else {
                ranges.push((lo, lo + k));
                lo += k;
                m -= k;
                b = false;
            }
        }
        for (b, e) in ranges.into_iter().rev() {
            plan.push_range(b, e);
        }
        Ok(plan)
    }

    /// The plan of the root of a tree of `size` leaves (one element; empty if `size` is 0).
    pub fn root(size: u64) -> Self {
        let mut plan = ProofPlan {
            nodes: Vec::new(),
            elements: Vec::new(),
        };
        if size > 0 {
            plan.push_range(0, size);
        }
        plan
    }

    /// The perfect subtrees whose hashes the proof needs, in the order
    /// [`assemble`](Self::assemble) wants them.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// Combines the hashes of [`nodes`](Self::nodes) (same order) into the proof.
    pub fn assemble(&self, hashes: &[Hash]) -> Result<Vec<Hash>, MerkleError> {
        if hashes.len() != self.nodes.len() {
            return Err(MerkleError::WrongNodeCount {
                expected: self.nodes.len(),
                got: hashes.len(),
            });
        }
        Ok(self
            .elements
            .iter()
            .map(|&(s, e)| {
                let mut acc = hashes[e - 1];
                for h in hashes[s..e - 1].iter().rev() {
                    acc = node_hash(h, &acc);
                }
                acc
            })
            .collect())
    }

    /// Looks the nodes up in `reader` and assembles the proof.
    pub fn read(&self, reader: &impl HashReader) -> Result<Vec<Hash>, MerkleError> {
        let hashes = self
            .nodes
            .iter()
            .map(|n| reader.read_hash(*n))
            .collect::<Result<Vec<_>, _>>()?;
        self.assemble(&hashes)
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, from stored hashes.
pub fn inclusion_proof(
    reader: &impl HashReader,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, MerkleError> {
    ProofPlan::inclusion(index, size)?.read(reader)
}

/// The consistency proof from `size1` to `size2`, from stored hashes.
pub fn consistency_proof(
    reader: &impl HashReader,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, MerkleError> {
    ProofPlan::consistency(size1, size2)?.read(reader)
}

/// The root of the tree of `size` leaves, from stored hashes.
pub fn root(reader: &impl HashReader, size: u64) -> Result<Hash, MerkleError> {
    let p = ProofPlan::root(size).read(reader)?;
    Ok(p.first().copied().unwrap_or(EMPTY_ROOT))
}

/// (inner, border) sizes of an inclusion proof (the transparency-dev decomposition):
/// `inner` hashes below the point where the leaf's path meets the right edge, `border`
/// hashes along the edge.
fn inclusion_shape(index: u64, size: u64) -> (usize, usize) {
    let inner = 64 - (index ^ (size - 1)).leading_zeros() as usize;
    // `inner` is 64 when the leaf's path meets the edge at the root of a 2^64 tree; a
    // plain shift by 64 would overflow (found by the `merkle_proof` fuzz target).
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

/// The number of hashes in an inclusion proof for `index` in a tree of `size` leaves.
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (i, b) = inclusion_shape(index, size);
    Ok(i + b)
}

/// The number of hashes in a consistency proof from `size1` to `size2`.
pub fn consistency_proof_len(size1: u64, size2: u64) -> Result<usize, MerkleError> {
    if size1 > size2 {
        return Err(MerkleError::SizeDecreased { size1, size2 });
    }
    if size1 == 0 || size1 == size2 {
        return Ok(0);
    }
    let shift = size1.trailing_zeros() as usize;
    let (inner, border) = inclusion_shape(size1 - 1, size2);
    let seed = usize::from(size1 != 1u64 << shift);
    Ok(seed + inner - shift + border)
}

/// The root that an inclusion proof leads to (RFC 9162 §2.1.3.2, steps 1–4).
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    let expected = inclusion_proof_len(index, size)?;
    if proof.len() != expected {
        return Err(MerkleError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        // The length check above guarantees sn > 0 here.
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    debug_assert_eq!(sn, 0);
    Ok(r)
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    let r = root_from_inclusion_proof(leaf, index, size, proof)?;
    if &r == root {
        Ok(())
    } else {
        Err(MerkleError::InclusionRootMismatch)
    }
}

/// Checks that the tree `(size2, root2)` extends the tree `(size1, root1)`
/// (RFC 9162 §2.1.4.2). Size 0 is consistent with every tree if `root1` is [`EMPTY_ROOT`].
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), MerkleError> {
    let expected = consistency_proof_len(size1, size2)?;
    if proof.len() != expected {
        return Err(MerkleError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if size1 == 0 {
        return if root1 == &EMPTY_ROOT {
            Ok(())
        } else {
            Err(MerkleError::ConsistencyRoot1Mismatch)
        };
    }
    if size1 == size2 {
        return if root1 == root2 {
            Ok(())
        } else {
            Err(MerkleError::RootsDiffer(size1))
        };
    }
    // Step 2: if size1 is a power of two, the proof omits root1; put it back.
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(root1);
    }
    path.extend(proof.iter());
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*path[0], *path[0]);
    for c in &path[1..] {
        if sn == 0 {
            // Unreachable after the length check; kept as the RFC's step 6a.
            return Err(MerkleError::WrongProofLength {
                expected,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if &fr != root1 {
        return Err(MerkleError::ConsistencyRoot1Mismatch);
    }
    if &sr != root2 || sn != 0 {
        return Err(MerkleError::ConsistencyRoot2Mismatch);
    }
    Ok(())
}

/// The sequencer's append-only tree: the size and the right edge (the roots of the
/// perfect subtrees that make up `[0, size)`, largest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeBuilder {
    size: u64,
    edge: Vec<Hash>,
}

impl TreeBuilder {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores a tree from its size and right edge (as [`right_edge`](Self::right_edge)
    /// returned it).
    pub fn from_right_edge(size: u64, edge: Vec<Hash>) -> Result<Self, MerkleError> {
        let expected = size.count_ones() as usize;
        if edge.len() != expected {
            return Err(MerkleError::BadRightEdge {
                size,
                expected,
                got: edge.len(),
            });
        }
        Ok(TreeBuilder { size, edge })
    }

    /// Restores a tree of `size` leaves from stored hashes (e.g. tiles after a restart).
    pub fn from_reader(reader: &impl HashReader, size: u64) -> Result<Self, MerkleError> {
        let mut nodes = Vec::new();
        decompose(0, size, &mut nodes);
        let edge = nodes
            .iter()
            .map(|n| reader.read_hash(*n))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_right_edge(size, edge)
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The right edge: perfect subtree roots covering `[0, size)`, largest first.
    pub fn right_edge(&self) -> &[Hash] {
        &self.edge
    }

    /// Appends a leaf hash. Returns every perfect subtree that is now complete and was not
    /// before: the leaf itself (level 0), then each node its arrival completes, upwards.
    pub fn append(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let index = self.size;
        let mut out = vec![(NodeId::new(0, index), leaf)];
        let mut h = leaf;
        let mut level = 0u8;
        // Each trailing one bit of the old size is a perfect subtree the new leaf completes.
        let mut s = index;
        while s & 1 == 1 {
            // The edge has one entry per set bit, so it is non-empty here.
            let left = self.edge.pop().unwrap_or(EMPTY_ROOT);
            h = node_hash(&left, &h);
            level += 1;
            out.push((NodeId::new(level, index >> level), h));
            s >>= 1;
        }
        self.edge.push(h);
        self.size += 1;
        out
    }

    /// The Merkle Tree Hash of the current tree.
    pub fn root(&self) -> Hash {
        let mut it = self.edge.iter().rev();
        let Some(last) = it.next() else {
            return EMPTY_ROOT;
        };
        it.fold(*last, |acc, h| node_hash(h, &acc))
    }
}

pub mod api;

#[cfg(test)]
mod tests;
