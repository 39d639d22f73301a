use super::*;
use crate::merkle::{
    ProofPlan, TreeBuilder, consistency_proof_len, leaf_hash, verify_consistency, verify_inclusion,
};

#[test]
fn index_encoding() {
    for (n, s) in [
        (0u64, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),
        (u64::MAX, "x018/x446/x744/x073/x709/x551/615"),
    ] {
        assert_eq!(encode_index(n), s);
        assert_eq!(parse_index(s), Some(n), "{s}");
    }
}

#[test]
fn path_vectors() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../testdata/tile_paths.json")).unwrap();
    for p in v["valid"].as_array().unwrap() {
        let p = p.as_str().unwrap();
        assert_eq!(TilePath::parse(p).unwrap().path(), p);
    }
    let invalid = v["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 20);
    for c in invalid {
        let p = c["path"].as_str().unwrap();
        assert!(
            matches!(TilePath::parse(p), Err(MerkleError::BadTilePath(_))),
            "{p:?} ({}) should be rejected",
            c["why"]
        );
    }
    assert_eq!(
        TilePath::parse("tile/2/x001/234.p/9").unwrap(),
        TilePath::Hashes(TileId::new(2, 1234, 9).unwrap())
    );
}

#[test]
fn tiles_at_size_follow_the_spec_example() {
    // tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles,
    // one partial level 0 tile of width 112, one full level 1 tile, one partial level 1
    // tile of width 17, and one partial level 2 tile of width 1."
    let s = 70_000;
    assert!(TileId::at_size(0, 272, s).unwrap().is_full());
    assert_eq!(TileId::at_size(0, 273, s).unwrap().width, 112);
    assert_eq!(TileId::at_size(0, 274, s), None);
    assert!(TileId::at_size(1, 0, s).unwrap().is_full());
    assert_eq!(TileId::at_size(1, 1, s).unwrap().width, 17);
    assert_eq!(TileId::at_size(2, 0, s).unwrap().width, 1);
    assert_eq!(TileId::at_size(3, 0, s), None);
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level
    // 1 tile of width 1."
    assert!(TileId::at_size(0, 0, 256).unwrap().is_full());
    assert_eq!(TileId::at_size(0, 1, 256), None);
    assert_eq!(TileId::at_size(1, 0, 256).unwrap().width, 1);
    assert_eq!(TileId::at_size(0, 0, 0), None);
    assert_eq!(TileId::at_size(7, 0, u64::MAX).unwrap().width, 255);
    // Indexes and levels far beyond any u64 tree do not overflow.
    assert_eq!(TileId::at_size(14, u64::MAX, u64::MAX), None);
    assert_eq!(TileId::at_size(63, u64::MAX, u64::MAX), None);
    assert_eq!(TileId::at_size(0, u64::MAX, u64::MAX), None);
    assert_eq!(
        EntryBundleId::for_entry(70_000 - 1, s),
        Some((EntryBundleId::new(273, 112).unwrap(), 111))
    );
    assert_eq!(EntryBundleId::for_entry(s, s), None);
}

#[test]
fn tile_contents() {
    let hashes: Vec<Hash> = (0u8..3).map(|i| [i; 32]).collect();
    let data = encode_tile(&hashes).unwrap();
    assert_eq!(parse_tile(&data, 3).unwrap(), hashes);
    assert_eq!(
        parse_tile(&data[..95], 3),
        Err(MerkleError::BadTileSize {
            expected: 96,
            got: 95
        })
    );
    let mut long = data.clone();
    long.push(0);
    assert!(matches!(
        parse_tile(&long, 3),
        Err(MerkleError::BadTileSize { .. })
    ));
    assert_eq!(parse_tile(&[], 0), Err(MerkleError::BadTileWidth(0)));
    assert_eq!(
        parse_tile(&[0; 257 * 32], 257),
        Err(MerkleError::BadTileWidth(257))
    );
    assert_eq!(encode_tile(&[]), Err(MerkleError::BadTileWidth(0)));
}

#[test]
fn entry_bundles() {
    let entries: Vec<Vec<u8>> = vec![b"a".to_vec(), vec![], vec![7; 300]];
    let data = encode_entry_bundle(&entries).unwrap();
    assert_eq!(&data[..3], &[0, 1, b'a']);
    assert_eq!(&data[5..7], &[0x01, 0x2c]);
    let got = parse_entry_bundle(&data, 3).unwrap();
    assert_eq!(
        got,
        entries.iter().map(|e| e.as_slice()).collect::<Vec<_>>()
    );

    assert_eq!(
        parse_entry_bundle(&data[..data.len() - 1], 3),
        Err(MerkleError::BadEntryBundle("truncated entry"))
    );
    assert_eq!(
        parse_entry_bundle(&data[..4], 3),
        Err(MerkleError::BadEntryBundle("truncated length prefix"))
    );
    let mut trailing = data.clone();
    trailing.push(0);
    assert_eq!(
        parse_entry_bundle(&trailing, 3),
        Err(MerkleError::BadEntryBundle(
            "trailing bytes after the last entry"
        ))
    );
    assert_eq!(
        parse_entry_bundle(&data, 4),
        Err(MerkleError::WrongEntryCount {
            expected: 4,
            got: 3
        })
    );
    assert_eq!(
        encode_entry_bundle(&[vec![0u8; 65536]]),
        Err(MerkleError::EntryTooLarge(65536))
    );
}

/// A log built the way the sequencer builds it: tree builder + tile writer.
struct Log {
    tree: TreeBuilder,
    writer: TileWriter,
    full: HashMap<(u8, u64), Vec<u8>>,
}

impl Log {
    fn new() -> Self {
        Log {
            tree: TreeBuilder::new(),
            writer: TileWriter::new(),
            full: HashMap::new(),
        }
    }

    fn grow_to(&mut self, size: u64) {
        while self.tree.size() < size {
            let i = self.tree.size();
            for (node, h) in self.tree.append(leaf_hash(&i.to_be_bytes())) {
                if let Some((id, data)) = self.writer.push(node, h) {
                    assert!(self.full.insert((id.level, id.index), data).is_none());
                }
            }
        }
    }

    /// Fetches exactly the tiles a plan needs at the current size, as a client would.
    fn tile_set(&self, plan: &ProofPlan) -> TileSet {
        let size = self.tree.size();
        let partial: HashMap<(u8, u64), (TileId, Vec<u8>)> = self
            .writer
            .partial_tiles()
            .into_iter()
            .map(|(id, d)| ((id.level, id.index), (id, d)))
            .collect();
        let mut set = TileSet::new(size);
        for t in tiles_for_nodes(plan.nodes(), size).unwrap() {
            let data = if t.is_full() {
                self.full
                    .get(&(t.level, t.index))
                    .unwrap_or_else(|| panic!("no full tile {t} at size {size}"))
                    .clone()
            } else {
                let (id, d) = &partial[&(t.level, t.index)];
                assert_eq!(*id, t);
                d.clone()
            };
            set.insert(t, &data).unwrap();
        }
        set
    }
}

#[test]
fn proofs_from_tiles_at_tile_boundaries() {
    let mut log = Log::new();
    let mut roots = HashMap::new();
    for size in [
        1u64, 2, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537,
    ] {
        log.grow_to(size);
        let root = log.tree.root();
        roots.insert(size, root);
        // The root from tiles alone.
        let plan = ProofPlan::root(size);
        let set = log.tile_set(&plan);
        assert_eq!(
            crate::merkle::root(&set, size).unwrap(),
            root,
            "root {size}"
        );
        for i in [
            0,
            1,
            254,
            255,
            256,
            257,
            size / 2,
            size.saturating_sub(2),
            size - 1,
        ] {
            if i >= size {
                continue;
            }
            let plan = ProofPlan::inclusion(i, size).unwrap();
            let set = log.tile_set(&plan);
            let proof = plan.read(&set).unwrap();
            verify_inclusion(&leaf_hash(&i.to_be_bytes()), i, size, &proof, &root)
                .unwrap_or_else(|e| panic!("inclusion {i} in {size}: {e}"));
        }
    }
    let size = log.tree.size();
    for (&old, old_root) in &roots {
        let plan = ProofPlan::consistency(old, size).unwrap();
        let set = log.tile_set(&plan);
        let proof = plan.read(&set).unwrap();
        assert_eq!(proof.len(), consistency_proof_len(old, size).unwrap());
        verify_consistency(old, size, &proof, old_root, &log.tree.root())
            .unwrap_or_else(|e| panic!("consistency {old} -> {size}: {e}"));
    }
}

#[test]
fn tile_writer_resumes_from_partial_tiles() {
    let mut a = Log::new();
    a.grow_to(70_000);
    let partials = a.writer.partial_tiles();
    assert_eq!(
        partials.iter().map(|p| p.0).collect::<Vec<_>>(),
        vec![
            TileId::new(0, 273, 112).unwrap(),
            TileId::new(1, 1, 17).unwrap(),
            TileId::new(2, 0, 1).unwrap()
        ]
    );
    let hashes: Vec<Vec<Hash>> = partials
        .iter()
        .map(|(id, d)| parse_tile(d, id.width).unwrap())
        .collect();
    let resumed = TileWriter::resume(70_000, hashes.clone()).unwrap();
    assert_eq!(resumed.partial_tiles(), partials);
    assert!(matches!(
        TileWriter::resume(70_001, hashes),
        Err(MerkleError::BadTileSize { .. })
    ));
}

#[test]
fn tile_set_refuses_wrong_tiles() {
    let mut set = TileSet::new(300);
    assert!(matches!(
        set.insert(TileId::new(0, 2, 1).unwrap(), &[0; 32]),
        Err(MerkleError::TileOutOfRange { .. })
    ));
    // The partial tile at 300 has width 44; a narrower one cannot stand in.
    assert!(matches!(
        set.insert(TileId::new(0, 1, 40).unwrap(), &[0; 40 * 32]),
        Err(MerkleError::BadTileSize { .. })
    ));
    set.insert(TileId::new(0, 1, 44).unwrap(), &[0; 44 * 32])
        .unwrap();
    assert!(matches!(
        set.read_hash(NodeId::new(0, 5)),
        Err(MerkleError::MissingNode { level: 0, index: 5 })
    ));
    assert!(matches!(
        tiles_for_nodes(&[NodeId::new(0, 300)], 300),
        Err(MerkleError::MissingNode { .. }) | Err(MerkleError::TileOutOfRange { .. })
    ));
}

/// Measures proof generation from tiles at a million entries.
/// Run: `cargo test -p pqreg-spec --lib tile::tests::million -- --ignored --nocapture`
#[test]
#[ignore = "builds a 1M-entry log; run on demand for the timing"]
fn million_entry_proof_timing() {
    let n = 1_000_000u64;
    let mut log = Log::new();
    log.grow_to(n);
    let root = log.tree.root();
    let mut set = TileSet::new(n);
    for ((l, i), d) in &log.full {
        set.insert(TileId::new(*l, *i, TILE_WIDTH).unwrap(), d)
            .unwrap();
    }
    for (id, d) in log.writer.partial_tiles() {
        set.insert(id, &d).unwrap();
    }
    let t0 = std::time::Instant::now();
    let count = 1000u64;
    for k in 0..count {
        let i = (k * 7919 * 127) % n;
        let p = crate::merkle::inclusion_proof(&set, i, n).unwrap();
        verify_inclusion(&leaf_hash(&i.to_be_bytes()), i, n, &p, &root).unwrap();
    }
    let per = t0.elapsed() / count as u32;
    let t1 = std::time::Instant::now();
    for k in 0..count {
        let m = 1 + (k * 104_729) % (n - 1);
        let _ = crate::merkle::consistency_proof(&set, m, n).unwrap();
    }
    let per_c = t1.elapsed() / count as u32;
    println!(
        "inclusion proof (generate+verify) from tiles at {n}: {per:?}; consistency: {per_c:?}"
    );
    assert!(per < std::time::Duration::from_millis(10));
}

#[test]
fn entry_bundle_writer() {
    let mut w = EntryBundleWriter::new();
    let mut full = Vec::new();
    for i in 0u32..600 {
        if let Some(b) = w.push(format!("entry {i}").as_bytes()).unwrap() {
            full.push(b);
        }
    }
    assert_eq!(full.len(), 2);
    assert_eq!(full[1].0, EntryBundleId::new(1, 256).unwrap());
    let second = parse_entry_bundle(&full[1].1, 256).unwrap();
    assert_eq!(second[0], b"entry 256");
    let (id, data) = w.partial_bundle().unwrap().unwrap();
    assert_eq!(id.path(), "tile/entries/002.p/88");
    let part: Vec<Vec<u8>> = parse_entry_bundle(&data, 88)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(part[87], b"entry 599");
    let resumed = EntryBundleWriter::resume(600, part.clone()).unwrap();
    assert_eq!(resumed.partial_bundle().unwrap(), Some((id, data)));
    assert!(matches!(
        EntryBundleWriter::resume(601, part),
        Err(MerkleError::WrongEntryCount { .. })
    ));
    assert!(matches!(
        w.push(&vec![0; 70_000]),
        Err(MerkleError::EntryTooLarge(70_000))
    ));
    assert_eq!(EntryBundleWriter::new().partial_bundle().unwrap(), None);
}
