#![no_main]
// Proof verification takes sizes, indices and hashes from the network; it must never panic,
// and a proof generated for a tree must verify against that tree.
use pqreg_spec::merkle::{self, Hash, TreeBuilder};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let a = u64::from_be_bytes(data[0..8].try_into().unwrap_or_default());
    let b = u64::from_be_bytes(data[8..16].try_into().unwrap_or_default());
    let hashes: Vec<Hash> = data[16..]
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap_or([0; 32]))
        .collect();
    if let Some((first, rest)) = hashes.split_first() {
        let _ = merkle::verify_inclusion(first, a, b, rest, first);
        let _ = merkle::verify_consistency(a, b, rest, first, first);
    }
    let _ = merkle::ProofPlan::inclusion(a, b);
    let _ = merkle::ProofPlan::consistency(a, b);
    let _ = merkle::inclusion_proof_len(a, b);
    let _ = merkle::consistency_proof_len(a, b);
    // Small trees from the input's hashes: generated proofs verify.
    let mut t = TreeBuilder::new();
    let mut nodes = std::collections::HashMap::new();
    for h in &hashes {
        nodes.extend(t.append(*h));
    }
    struct R(std::collections::HashMap<merkle::NodeId, Hash>);
    impl merkle::HashReader for R {
        fn read_hash(&self, n: merkle::NodeId) -> Result<Hash, merkle::MerkleError> {
            self.0.get(&n).copied().ok_or(merkle::MerkleError::MissingNode {
                level: n.level,
                index: n.index,
            })
        }
    }
    let r = R(nodes);
    let size = t.size();
    if size > 0 {
        let i = a % size;
        let p = merkle::inclusion_proof(&r, i, size).expect("stored nodes suffice");
        merkle::verify_inclusion(&hashes[i as usize], i, size, &p, &t.root()).expect("verifies");
        let m = b % (size + 1);
        let old = merkle::root(&r, m).expect("stored nodes suffice");
        let p = merkle::consistency_proof(&r, m, size).expect("stored nodes suffice");
        merkle::verify_consistency(m, size, &p, &old, &t.root()).expect("consistent");
    }
});
