//! One log as a client sees it: checkpoints verified with the trust policy's keys, the
//! update rules of spec/transparency-log.md §9 against the stored checkpoint, and proofs
//! and entries read from tiles and entry bundles (§5 "Proof from tiles").
//!
//! Tiles of the newest checkpoint's size serve every smaller tree too: a proof for a tree
//! of `n` leaves needs only perfect subtrees of that tree, which are the same in every
//! larger tree, and the registry serves partial tiles only at its newest size.

use std::collections::HashSet;
use std::sync::Mutex;

use base64::Engine as _;
use pqreg_spec::Digest;
use pqreg_spec::checkpoint::{LogVerifier, VerifiedCheckpoint, check_update};
use pqreg_spec::merkle::{Hash, MerkleError, ProofPlan, leaf_hash, verify_inclusion};
use pqreg_spec::note::NoteError;
use pqreg_spec::tile::{EntryBundleId, TileId, TileSet, parse_entry_bundle, tiles_for_nodes};

use super::{CheckpointStore, Fork, LogClient, LogError};

/// A tree head: size and root, as error messages and outputs show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of leaves.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

impl std::fmt::Display for TreeHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(size {}, root {})",
            self.size,
            base64::engine::general_purpose::STANDARD.encode(self.root)
        )
    }
}

impl TreeHead {
    /// The head of a verified checkpoint.
    pub fn of(c: &VerifiedCheckpoint) -> Self {
        TreeHead {
            size: c.checkpoint.size,
            root: c.checkpoint.root,
        }
    }
}

/// The `logId.keyId` of a pqreg log in a bundle: SHA-256 of its origin (spec/signing.md §4.1).
pub fn log_id(origin: &str) -> [u8; 32] {
    *Digest::sha256(origin.as_bytes()).as_bytes()
}

/// What [`Log::update`] did.
#[derive(Debug, Clone)]
pub enum Update {
    /// Nothing was stored; the checkpoint is now stored.
    First,
    /// The checkpoint equals the stored one.
    Same,
    /// Consistency was proven and the stored checkpoint advanced from `from` to `to`.
    Advanced {
        /// The previously stored head.
        from: TreeHead,
        /// The newly stored head.
        to: TreeHead,
    },
}

/// A log: its client, its keys (from the policy) and its state directory.
pub struct Log<'a> {
    client: Option<&'a LogClient>,
    api: Option<&'a LogClient>,
    verifier: &'a LogVerifier,
    store: CheckpointStore,
    cache: Mutex<std::collections::HashMap<String, Vec<u8>>>,
}

/// Tiles fetched for one tree size, for many proofs.
pub struct Tiles {
    set: TileSet,
    size: u64,
    have: HashSet<TileId>,
}

impl<'a> Log<'a> {
    /// The log `verifier.origin`, reached through `client`, with state under `state`
    /// (`$XDG_STATE_HOME/pqreg`).
    pub fn new(client: &'a LogClient, verifier: &'a LogVerifier, state: &std::path::Path) -> Self {
        Log {
            client: Some(client),
            api: None,
            verifier,
            store: CheckpointStore::new(state, &verifier.origin),
            cache: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The log without network (offline verification): only what the stored checkpoint
    /// and the caller's data decide; anything that needs the log fails.
    pub fn offline(verifier: &'a LogVerifier, state: &std::path::Path) -> Self {
        Log {
            client: None,
            api: None,
            verifier,
            store: CheckpointStore::new(state, &verifier.origin),
            cache: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn net(&self) -> Result<&LogClient, LogError> {
        self.client.ok_or_else(|| LogError::Http {
            url: self.verifier.origin.clone(),
            message: "offline: the log is not contacted".into(),
        })
    }

    /// §9 without network: store `c` if nothing is stored; if the stored checkpoint has
    /// `c`'s size, require the same root. `Ok(false)`: the sizes differ, consistency is
    /// left to the next online check (nothing is replaced).
    pub fn update_offline(&self, c: &VerifiedCheckpoint) -> Result<bool, LogError> {
        match self.stored()? {
            None => {
                self.store.store(&c.note.to_bytes())?;
                Ok(true)
            }
            Some(s) if s.checkpoint.size == c.checkpoint.size => {
                self.check_pair(&s, c, 0)?;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.verifier.origin
    }

    /// Uses `api` for the registry's own endpoints (search) when checkpoints and tiles
    /// come from a mirror.
    pub fn with_api(mut self, api: &'a LogClient) -> Self {
        self.api = Some(api);
        self
    }

    /// The client of the registry's endpoints (search): [`Log::with_api`]'s, else the
    /// one tiles come from (an error offline).
    pub fn api(&self) -> Result<&LogClient, LogError> {
        match self.api {
            Some(a) => Ok(a),
            None => self.net(),
        }
    }

    /// The state directory.
    pub fn store(&self) -> &CheckpointStore {
        &self.store
    }

    fn note_err(&self, source: NoteError) -> LogError {
        LogError::Checkpoint {
            origin: self.verifier.origin.clone(),
            cause: source,
        }
    }

    fn tiles_err(&self, source: MerkleError) -> LogError {
        LogError::Tiles {
            origin: self.verifier.origin.clone(),
            cause: source,
        }
    }

    /// Parses and verifies a checkpoint note with the log's keys (and witness quorum).
    pub fn open(&self, note: &[u8]) -> Result<VerifiedCheckpoint, LogError> {
        self.verifier.open(note).map_err(|e| self.note_err(e))
    }

    /// The stored checkpoint, its log signatures verified again (a state file edited by
    /// hand is refused; witnesses were checked when it was stored, and a policy that adds
    /// a quorum later does not invalidate what was verified before).
    pub fn stored(&self) -> Result<Option<VerifiedCheckpoint>, LogError> {
        self.store
            .load()?
            .map(|b| self.open_unwitnessed(&b))
            .transpose()
    }

    /// Fetches and verifies the log's newest checkpoint.
    pub fn latest(&self) -> Result<VerifiedCheckpoint, LogError> {
        let note = self.net()?.checkpoint()?;
        self.open(&note)
    }

    /// Applies spec/transparency-log.md §9 to the verified checkpoint `c`: store it if
    /// nothing is stored; otherwise prove consistency between the stored checkpoint, `c`
    /// and the log's newest checkpoint (fetched only when sizes differ) and store the
    /// newest. A failure saves the offending checkpoint as evidence and keeps the stored
    /// one.
    pub fn update(&self, c: &VerifiedCheckpoint) -> Result<Update, LogError> {
        let Some(s) = self.stored()? else {
            self.store.store(&c.note.to_bytes())?;
            return Ok(Update::First);
        };
        if s.checkpoint.size == c.checkpoint.size {
            self.check_pair(&s, c, 0)?;
            return Ok(Update::Same);
        }
        let latest = self.latest()?;
        self.update_with(&s, &[c, &latest])?;
        Ok(Update::Advanced {
            from: TreeHead::of(&s),
            to: TreeHead::of(&latest),
        })
    }

    /// Whether the policy requires witness cosignatures on this log's checkpoints.
    pub fn needs_witnesses(&self) -> bool {
        self.verifier.witness_quorum > 0
    }

    /// Verifies a checkpoint with the log's keys alone, ignoring the witness quorum: a
    /// bundle's checkpoint is signed when its entry is appended, before any witness saw
    /// it. Use [`Log::update_witnessed`] on it, which ties it to a witnessed checkpoint.
    pub fn open_unwitnessed(&self, note: &[u8]) -> Result<VerifiedCheckpoint, LogError> {
        let v = LogVerifier {
            witness_quorum: 0,
            ..self.verifier.clone()
        };
        v.open(note).map_err(|e| self.note_err(e))
    }

    /// §9 for a checkpoint opened with [`Log::open_unwitnessed`]: always fetches the log's
    /// newest checkpoint (which must meet the witness quorum) and proves the stored
    /// checkpoint, `c` and the newest consistent; stores the newest.
    pub fn update_witnessed(&self, c: &VerifiedCheckpoint) -> Result<Update, LogError> {
        let latest = self.latest()?;
        match self.stored()? {
            Some(s) => {
                self.update_with(&s, &[c, &latest])?;
                Ok(Update::Advanced {
                    from: TreeHead::of(&s),
                    to: TreeHead::of(&latest),
                })
            }
            None => {
                // `c` stands in for the stored checkpoint; nothing was stored before.
                self.update_with(c, &[&latest])?;
                self.store.store(&latest.note.to_bytes())?;
                Ok(Update::First)
            }
        }
    }

    /// Checks the stored `s` and `others` pairwise in size order (tiles of the largest);
    /// stores the largest.
    fn update_with(
        &self,
        s: &VerifiedCheckpoint,
        others: &[&VerifiedCheckpoint],
    ) -> Result<(), LogError> {
        // The log's newest checkpoint (the last of `others`) must not be smaller than
        // any checkpoint verified before: that is a rewind (§9 rule 4 can only be proven
        // from a log that still has the larger tree).
        let Some(&latest) = others.last() else {
            return Ok(());
        };
        let biggest = others
            .iter()
            .copied()
            .chain(std::iter::once(s))
            .max_by_key(|c| c.checkpoint.size)
            .unwrap_or(s);
        if latest.checkpoint.size < biggest.checkpoint.size {
            let evidence = self.evidence(latest);
            return Err(LogError::Rewound(Box::new(Fork {
                origin: self.origin().to_owned(),
                old: TreeHead::of(biggest),
                new: TreeHead::of(latest),
                source: MerkleError::SizeDecreased {
                    size1: biggest.checkpoint.size,
                    size2: latest.checkpoint.size,
                },
                evidence,
            })));
        }
        let largest = latest;
        let mut heads: Vec<&VerifiedCheckpoint> = others.to_vec();
        heads.push(s);
        heads.sort_by_key(|c| c.checkpoint.size);
        let tile_size = largest.checkpoint.size;
        for w in heads.windows(2) {
            self.check_pair(w[0], w[1], tile_size)?;
        }
        if largest.checkpoint.size > s.checkpoint.size {
            self.store.store(&largest.note.to_bytes())?;
        }
        Ok(())
    }

    /// Consistency of `a` (smaller or equal) with `b`, the proof read from tiles of
    /// `tile_size`; on failure the one that is not stored is saved as evidence.
    fn check_pair(
        &self,
        a: &VerifiedCheckpoint,
        b: &VerifiedCheckpoint,
        tile_size: u64,
    ) -> Result<(), LogError> {
        let proof = if a.checkpoint.size == b.checkpoint.size || a.checkpoint.size == 0 {
            Vec::new()
        } else {
            let mut tiles = self.tiles(tile_size);
            let plan = ProofPlan::consistency(a.checkpoint.size, b.checkpoint.size)
                .map_err(|e| self.tiles_err(e))?;
            self.read_plan(&mut tiles, &plan)?
        };
        match check_update(&a.checkpoint, &b.checkpoint, &proof) {
            Ok(()) => Ok(()),
            Err(e) => {
                let stored = self.store.load().ok().flatten();
                let offender = if stored.as_deref() == Some(&a.note.to_bytes()[..]) {
                    b
                } else {
                    a
                };
                let evidence = self.evidence(offender);
                let source = match e {
                    NoteError::Inconsistent(m) => m,
                    other => return Err(self.note_err(other)),
                };
                Err(LogError::Inconsistent(Box::new(Fork {
                    origin: self.origin().to_owned(),
                    old: TreeHead::of(a),
                    new: TreeHead::of(b),
                    source,
                    evidence,
                })))
            }
        }
    }

    fn evidence(&self, c: &VerifiedCheckpoint) -> String {
        match self.store.save_evidence(&c.note.to_bytes()) {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("not saved: {e}"),
        }
    }

    /// An empty tile set for proofs in trees up to `size` leaves.
    pub fn tiles(&self, size: u64) -> Tiles {
        Tiles {
            set: TileSet::new(size),
            size,
            have: HashSet::new(),
        }
    }

    fn fetch_cached(
        &self,
        path: String,
        fetch: impl FnOnce() -> Result<Vec<u8>, LogError>,
    ) -> Result<Vec<u8>, LogError> {
        if let Some(b) = self.cache.lock().ok().and_then(|c| c.get(&path).cloned()) {
            return Ok(b);
        }
        let b = fetch()?;
        if let Ok(mut c) = self.cache.lock() {
            c.insert(path, b.clone());
        }
        Ok(b)
    }

    fn read_plan(&self, tiles: &mut Tiles, plan: &ProofPlan) -> Result<Vec<Hash>, LogError> {
        let ids = tiles_for_nodes(plan.nodes(), tiles.size).map_err(|e| self.tiles_err(e))?;
        for id in ids {
            if tiles.have.contains(&id) {
                continue;
            }
            let (got, data) = match self.fetch_cached(id.path(), || self.net()?.tile(&id)) {
                Ok(d) => (id, d),
                // The log grew since its checkpoint was read and dropped this partial
                // tile: a wider one holds the same hashes. The full tile never changes
                // once it exists; a partial one at the newest size may be replaced again
                // while the log keeps growing, so that is tried a few times.
                Err(e) => {
                    let full = TileId {
                        width: pqreg_spec::tile::TILE_WIDTH,
                        ..id
                    };
                    self.fetch_grown(
                        e,
                        id.width,
                        full,
                        |n| TileId::at_size(id.level, id.index, n),
                        |w| self.fetch_cached(w.path(), || self.net()?.tile(w)),
                        |w| w.width,
                    )?
                }
            };
            tiles
                .set
                .insert(got, &data)
                .map_err(|e| self.tiles_err(e))?;
            tiles.have.insert(id);
        }
        plan.read(&tiles.set).map_err(|e| self.tiles_err(e))
    }

    /// After `first` failed to fetch a partial tile or entry bundle of `width`: the full
    /// one (`full`), then up to three times the one at the log's newest size (`at`),
    /// whichever is wider than `width` and is served first; else the last error.
    fn fetch_grown<I: Copy>(
        &self,
        first: LogError,
        width: u16,
        full: I,
        at: impl Fn(u64) -> Option<I>,
        fetch: impl Fn(&I) -> Result<Vec<u8>, LogError>,
        width_of: impl Fn(&I) -> u16,
    ) -> Result<(I, Vec<u8>), LogError> {
        let mut last = first;
        if width < width_of(&full) {
            match fetch(&full) {
                Ok(d) => return Ok((full, d)),
                Err(e) => last = e,
            }
        }
        for _ in 0..3 {
            let Some(w) = self
                .grown_size()
                .and_then(&at)
                .filter(|w| width_of(w) > width)
            else {
                break;
            };
            match fetch(&w) {
                Ok(d) => return Ok((w, d)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The size of the log's current checkpoint, read without verifying it: it only picks
    /// which (wider) tile to fetch; the hashes are still checked against verified roots.
    fn grown_size(&self) -> Option<u64> {
        let note = self.net().ok()?.checkpoint().ok()?;
        let n = pqreg_spec::note::Note::parse(&note).ok()?;
        Some(
            pqreg_spec::checkpoint::Checkpoint::parse_body(n.text())
                .ok()?
                .size,
        )
    }

    /// The inclusion proof of `index` in the tree of `size` leaves, from `tiles`.
    pub fn inclusion_proof(
        &self,
        tiles: &mut Tiles,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, LogError> {
        let plan = ProofPlan::inclusion(index, size).map_err(|e| self.tiles_err(e))?;
        self.read_plan(tiles, &plan)
    }

    /// The raw entry `index` from the entry bundles of the tree of `size` leaves
    /// (unverified: check it with [`Log::check_inclusion`]).
    pub fn entry(&self, index: u64, size: u64) -> Result<Vec<u8>, LogError> {
        let (id, pos) = EntryBundleId::for_entry(index, size)
            .ok_or_else(|| self.tiles_err(MerkleError::IndexOutOfRange { index, size }))?;
        let (id, data) = match self.fetch_cached(id.path(), || self.net()?.entry_bundle(&id)) {
            Ok(d) => (id, d),
            // As for tiles: a wider bundle of a grown log holds the same entries.
            Err(e) => {
                let full = EntryBundleId {
                    width: pqreg_spec::tile::TILE_WIDTH,
                    ..id
                };
                self.fetch_grown(
                    e,
                    id.width,
                    full,
                    |n| EntryBundleId::for_entry(index, n).map(|(w, _)| w),
                    |w| self.fetch_cached(w.path(), || self.net()?.entry_bundle(w)),
                    |w| w.width,
                )?
            }
        };
        let entries = parse_entry_bundle(&data, id.width).map_err(|e| self.tiles_err(e))?;
        entries
            .get(pos)
            .map(|e| e.to_vec())
            .ok_or_else(|| self.tiles_err(MerkleError::BadEntryBundle("entry missing")))
    }

    /// Verifies that `entry` is leaf `index` of the verified `head`, with the proof read
    /// from `tiles`; returns the proof.
    pub fn check_inclusion(
        &self,
        tiles: &mut Tiles,
        entry: &[u8],
        index: u64,
        head: &VerifiedCheckpoint,
    ) -> Result<Vec<Hash>, LogError> {
        let size = head.checkpoint.size;
        let proof = self.inclusion_proof(tiles, index, size)?;
        verify_inclusion(
            &leaf_hash(entry),
            index,
            size,
            &proof,
            &head.checkpoint.root,
        )
        .map_err(|source| LogError::Inclusion(Box::new((index, TreeHead::of(head), source))))?;
        Ok(proof)
    }
}
