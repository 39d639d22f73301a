use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use super::*;

/// Every perfect subtree of a tree, as the sequencer's `append` reported them.
pub(crate) struct MemTree {
    pub(crate) nodes: HashMap<NodeId, Hash>,
    pub(crate) builder: TreeBuilder,
}

impl MemTree {
    pub(crate) fn with_leaves(n: u64) -> Self {
        let mut t = MemTree {
            nodes: HashMap::new(),
            builder: TreeBuilder::new(),
        };
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    pub(crate) fn push(&mut self, leaf: Hash) {
        for (id, h) in self.builder.append(leaf) {
            assert!(
                self.nodes.insert(id, h).is_none(),
                "node {id:?} reported twice"
            );
        }
    }
}

impl HashReader for MemTree {
    fn read_hash(&self, node: NodeId) -> Result<Hash, MerkleError> {
        self.nodes
            .get(&node)
            .copied()
            .ok_or(MerkleError::MissingNode {
                level: node.level,
                index: node.index,
            })
    }
}

/// RFC 9162 §2.1.1 MTH, written as the recursion in the RFC, for reference.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// The RFC 6962 test leaves (transparency-dev/merkle testonly/constants.go), whose tree
/// the vector files use.
fn rfc6962_leaves() -> Vec<Hash> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|h| leaf_hash(&hex::decode(h).unwrap()))
    .collect()
}

#[test]
fn empty_root_is_sha256_of_nothing() {
    assert_eq!(crate::Digest::sha256(b"").as_bytes(), &EMPTY_ROOT);
    assert_eq!(root_from_leaf_hashes(&[]), EMPTY_ROOT);
}

#[test]
fn rfc6962_tree_root() {
    let leaves = rfc6962_leaves();
    assert_eq!(
        hex::encode(root_from_leaf_hashes(&leaves)),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
}

fn b64(s: &str) -> Result<Hash, MerkleError> {
    let v = STANDARD.decode(s).map_err(|_| MerkleError::BadBase64)?;
    hash_from_slice(&v)
}

fn b64_list(v: &serde_json::Value) -> Result<Vec<Hash>, MerkleError> {
    match v {
        serde_json::Value::Null => Ok(vec![]),
        serde_json::Value::Array(a) => a.iter().map(|s| b64(s.as_str().unwrap())).collect(),
        _ => panic!("proof is not a list"),
    }
}

fn variant(e: &MerkleError) -> String {
    format!("{e:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn transparency_dev_inclusion_vectors() {
    let suite: serde_json::Value = serde_json::from_str(include_str!(
        "../../../testdata/merkle_inclusion_vectors.json"
    ))
    .unwrap();
    let cases = suite["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let run = || -> Result<(), MerkleError> {
            let leaf = b64(c["leafHash"].as_str().unwrap())?;
            let root = b64(c["root"].as_str().unwrap())?;
            let proof = b64_list(&c["proof"])?;
            verify_inclusion(
                &leaf,
                c["leafIdx"].as_u64().unwrap(),
                c["treeSize"].as_u64().unwrap(),
                &proof,
                &root,
            )
        };
        let got = match run() {
            Ok(()) => "ok".to_owned(),
            Err(e) => variant(&e),
        };
        assert_eq!(got, c["expect"].as_str().unwrap(), "{}", c["file"]);
        assert_eq!(got == "ok", !c["wantErr"].as_bool().unwrap());
    }
}

#[test]
fn transparency_dev_consistency_vectors() {
    let suite: serde_json::Value = serde_json::from_str(include_str!(
        "../../../testdata/merkle_consistency_vectors.json"
    ))
    .unwrap();
    let cases = suite["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let run = || -> Result<(), MerkleError> {
            let root1 = b64(c["root1"].as_str().unwrap())?;
            let root2 = b64(c["root2"].as_str().unwrap())?;
            let proof = b64_list(&c["proof"])?;
            verify_consistency(
                c["size1"].as_u64().unwrap(),
                c["size2"].as_u64().unwrap(),
                &proof,
                &root1,
                &root2,
            )
        };
        let got = match run() {
            Ok(()) => "ok".to_owned(),
            Err(e) => variant(&e),
        };
        assert_eq!(got, c["expect"].as_str().unwrap(), "{}", c["file"]);
        assert_eq!(got == "ok", !c["wantErr"].as_bool().unwrap());
    }
}

#[test]
fn generated_proofs_match_the_vectors() {
    // Our generator, fed the same tree, produces the proofs in the vector files.
    let mut t = MemTree {
        nodes: HashMap::new(),
        builder: TreeBuilder::new(),
    };
    for l in rfc6962_leaves() {
        t.push(l);
    }
    let p = inclusion_proof(&t, 5, 8).unwrap();
    let want: Vec<Hash> = [
        "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
        "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
    ]
    .iter()
    .map(|s| b64(s).unwrap())
    .collect();
    assert_eq!(p, want);
    let p = consistency_proof(&t, 6, 7).unwrap();
    let want: Vec<Hash> = [
        "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
        "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
        "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
    ]
    .iter()
    .map(|s| b64(s).unwrap())
    .collect();
    assert_eq!(p, want);
}

#[test]
fn builder_root_matches_reference_for_small_sizes() {
    let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut t = MemTree {
        nodes: HashMap::new(),
        builder: TreeBuilder::new(),
    };
    assert_eq!(t.builder.root(), EMPTY_ROOT);
    for n in 1..=leaves.len() {
        t.push(leaves[n - 1]);
        let want = mth(&leaves[..n]);
        assert_eq!(t.builder.root(), want, "size {n}");
        assert_eq!(root(&t, n as u64).unwrap(), want, "size {n} via reader");
        let restored = TreeBuilder::from_reader(&t, n as u64).unwrap();
        assert_eq!(restored, t.builder);
    }
}

#[test]
fn all_small_trees_all_proofs() {
    let t = MemTree::with_leaves(40);
    let leaves: Vec<Hash> = (0u64..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    for n in 1..=40u64 {
        let r = mth(&leaves[..n as usize]);
        for i in 0..n {
            let p = inclusion_proof(&t, i, n).unwrap();
            assert_eq!(p.len(), inclusion_proof_len(i, n).unwrap());
            verify_inclusion(&leaves[i as usize], i, n, &p, &r).unwrap();
        }
        for m in 0..=n {
            let r1 = mth(&leaves[..m as usize]);
            let p = consistency_proof(&t, m, n).unwrap();
            assert_eq!(p.len(), consistency_proof_len(m, n).unwrap());
            verify_consistency(m, n, &p, &r1, &r).unwrap();
        }
    }
}

#[test]
fn negative_cases_name_their_check() {
    let t = MemTree::with_leaves(13);
    let r = t.builder.root();
    let leaf = leaf_hash(&5u64.to_be_bytes());
    let p = inclusion_proof(&t, 5, 13).unwrap();
    verify_inclusion(&leaf, 5, 13, &p, &r).unwrap();

    // One bit flipped in a proof hash.
    let mut bad = p.clone();
    bad[1][7] ^= 0x10;
    assert_eq!(
        verify_inclusion(&leaf, 5, 13, &bad, &r),
        Err(MerkleError::InclusionRootMismatch)
    );
    // Truncated, and one hash too many.
    assert!(matches!(
        verify_inclusion(&leaf, 5, 13, &p[..p.len() - 1], &r),
        Err(MerkleError::WrongProofLength { .. })
    ));
    let mut long = p.clone();
    long.push([0; 32]);
    assert!(matches!(
        verify_inclusion(&leaf, 5, 13, &long, &r),
        Err(MerkleError::WrongProofLength { .. })
    ));
    // Wrong size, index past the end.
    assert_eq!(
        verify_inclusion(&leaf, 5, 6, &p, &r),
        Err(MerkleError::WrongProofLength {
            expected: 2,
            got: 4
        })
    );
    // (A size with the same proof shape, like 14 here, is not caught by the proof alone:
    // the checkpoint binds the root to its size.)
    assert_eq!(
        verify_inclusion(&leaf, 13, 13, &p, &r),
        Err(MerkleError::IndexOutOfRange {
            index: 13,
            size: 13
        })
    );
    // A 33-byte hash is refused before any hashing.
    assert_eq!(
        hash_from_slice(&[0u8; 33]),
        Err(MerkleError::BadHashLength(33))
    );

    // Consistency: size going down, forks at equal size, flipped bits.
    let t8 = TreeBuilder::from_reader(&t, 8).unwrap().root();
    let c = consistency_proof(&t, 8, 13).unwrap();
    verify_consistency(8, 13, &c, &t8, &r).unwrap();
    assert_eq!(
        verify_consistency(13, 8, &c, &r, &t8),
        Err(MerkleError::SizeDecreased {
            size1: 13,
            size2: 8
        })
    );
    assert_eq!(
        verify_consistency(13, 13, &[], &r, &t8),
        Err(MerkleError::RootsDiffer(13))
    );
    let mut other = t8;
    other[0] ^= 1;
    assert_eq!(
        verify_consistency(8, 13, &c, &other, &r),
        Err(MerkleError::ConsistencyRoot2Mismatch),
        "size1 a power of two: the old root is the proof's seed"
    );
    let t6 = TreeBuilder::from_reader(&t, 6).unwrap().root();
    let c6 = consistency_proof(&t, 6, 13).unwrap();
    verify_consistency(6, 13, &c6, &t6, &r).unwrap();
    let mut o6 = t6;
    o6[31] ^= 0x80;
    assert_eq!(
        verify_consistency(6, 13, &c6, &o6, &r),
        Err(MerkleError::ConsistencyRoot1Mismatch)
    );
    assert_eq!(
        verify_consistency(0, 13, &[], &[1; 32], &r),
        Err(MerkleError::ConsistencyRoot1Mismatch)
    );
    verify_consistency(0, 13, &[], &EMPTY_ROOT, &r).unwrap();

    // A reader that lacks a node says which.
    let empty = MemTree::with_leaves(0);
    assert_eq!(
        inclusion_proof(&empty, 0, 2),
        Err(MerkleError::MissingNode { level: 0, index: 1 })
    );
    assert!(matches!(
        ProofPlan::inclusion(0, 2).unwrap().assemble(&[]),
        Err(MerkleError::WrongNodeCount {
            expected: 1,
            got: 0
        })
    ));
    assert!(matches!(
        TreeBuilder::from_right_edge(3, vec![[0; 32]]),
        Err(MerkleError::BadRightEdge { .. })
    ));
}

#[test]
fn append_reports_each_new_perfect_subtree() {
    let mut b = TreeBuilder::new();
    let mut seen = Vec::new();
    for i in 0u64..8 {
        seen.extend(
            b.append(leaf_hash(&i.to_be_bytes()))
                .into_iter()
                .map(|x| x.0),
        );
    }
    // 8 leaves, 4 level-1, 2 level-2 and 1 level-3 node.
    assert_eq!(seen.len(), 15);
    assert!(seen.contains(&NodeId::new(3, 0)));
    assert_eq!(b.right_edge().len(), 1);
}

#[test]
fn plans_for_large_trees_are_small() {
    // At a million entries a proof needs a few dozen stored hashes, never the tree.
    let n = 1_000_003u64;
    for i in [0, 1, 255, 256, 65_535, 999_999, n - 1] {
        let p = ProofPlan::inclusion(i, n).unwrap();
        assert!(p.nodes().len() <= 64, "{i}: {}", p.nodes().len());
        assert_eq!(p.elements.len(), inclusion_proof_len(i, n).unwrap());
    }
    let p = ProofPlan::consistency(700_001, n).unwrap();
    assert_eq!(p.elements.len(), consistency_proof_len(700_001, n).unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn inclusion_round_trip_and_mutation(size in 1u64..600, idx_seed: u64, pos_seed: usize, bit in 0u8..8) {
        let t = MemTree::with_leaves(size);
        let root = t.builder.root();
        let i = idx_seed % size;
        let leaf = leaf_hash(&i.to_be_bytes());
        let p = inclusion_proof(&t, i, size).unwrap();
        prop_assert!(verify_inclusion(&leaf, i, size, &p, &root).is_ok());
        if !p.is_empty() {
            let mut bad = p.clone();
            let k = pos_seed % bad.len();
            bad[k][pos_seed % 32] ^= 1 << bit;
            prop_assert_eq!(verify_inclusion(&leaf, i, size, &bad, &root), Err(MerkleError::InclusionRootMismatch));
            let short = verify_inclusion(&leaf, i, size, &p[1..], &root);
            prop_assert!(matches!(short, Err(MerkleError::WrongProofLength { .. })), "{:?}", short);
        }
        let mut bad_leaf = leaf;
        bad_leaf[pos_seed % 32] ^= 1 << bit;
        prop_assert_eq!(verify_inclusion(&bad_leaf, i, size, &p, &root), Err(MerkleError::InclusionRootMismatch));
    }

    #[test]
    fn consistency_round_trip_and_mutation(size2 in 1u64..600, s1_seed: u64, pos_seed: usize, bit in 0u8..8) {
        let t = MemTree::with_leaves(size2);
        let size1 = 1 + s1_seed % size2;
        let r2 = t.builder.root();
        let r1 = TreeBuilder::from_reader(&t, size1).unwrap().root();
        let p = consistency_proof(&t, size1, size2).unwrap();
        prop_assert!(verify_consistency(size1, size2, &p, &r1, &r2).is_ok());
        if !p.is_empty() {
            let mut bad = p.clone();
            let k = pos_seed % bad.len();
            bad[k][pos_seed % 32] ^= 1 << bit;
            prop_assert!(verify_consistency(size1, size2, &bad, &r1, &r2).is_err());
            let mut long = p.clone();
            long.push(p[0]);
            let res = verify_consistency(size1, size2, &long, &r1, &r2);
            prop_assert!(matches!(res, Err(MerkleError::WrongProofLength { .. })), "{:?}", res);
        }
        let mut bad2 = r2;
        bad2[pos_seed % 32] ^= 1 << bit;
        prop_assert!(verify_consistency(size1, size2, &p, &r1, &bad2).is_err());
    }
}

/// Regression: `spec/fuzz/regressions/merkle_proof/crash-*` — an index whose path
/// meets the right edge only at the root of a 2^64-leaf tree made the inclusion-proof
/// shape shift a u64 by 64 and panic. Sizes and indices come from the network, so every
/// function must answer, not panic.
#[test]
fn huge_sizes_do_not_panic() {
    let crashes: [&[u8]; 2] = [
        include_bytes!(
            "../../fuzz/regressions/merkle_proof/crash-07ce8341c3a95d74dfe50b401e87c27554d38c13"
        ),
        include_bytes!(
            "../../fuzz/regressions/merkle_proof/crash-38c373c14b99e9b1d062a7ea5797142e1e89a3ef"
        ),
    ];
    let mut cases = vec![(1 << 63, u64::MAX), (0, u64::MAX), (u64::MAX - 1, u64::MAX)];
    for crash in crashes {
        let a = u64::from_be_bytes(crash[0..8].try_into().unwrap());
        let b = u64::from_be_bytes(crash[8..16].try_into().unwrap());
        cases.extend([(a, b), (b, a)]);
    }
    let leaf = [7u8; 32];
    for (index, size) in cases {
        let len = inclusion_proof_len(index, size);
        assert_eq!(len.is_ok(), index < size, "{index} {size}");
        if let Ok(n) = len {
            assert!(n <= 64, "proof length {n} for {index} {size}");
            assert!(ProofPlan::inclusion(index, size).is_ok());
        }
        // A proof of the wrong length (here empty) is refused, whatever the sizes.
        assert!(verify_inclusion(&leaf, index, size, &[], &leaf).is_err() || size == 1);
        let _ = consistency_proof_len(index, size);
        let _ = ProofPlan::consistency(index, size);
    }
}
