//! Proofs across tile boundaries on real logs: checkpoints published at 255, 256, 257,
//! 65535, 65536 and 65537 entries (level-0 and level-1 tiles filling up), every proof
//! checked with pqreg-spec's verifiers against roots computed independently from the
//! leaf hashes, and the log reopened from its tiles at 65537.
#![allow(clippy::unwrap_used)]

use pqreg_registry::tlog::Log;
use pqreg_spec::Digest;
use pqreg_spec::checkpoint::LogVerifier;
use pqreg_spec::logentry::LogEntry;
use pqreg_spec::merkle::{self, Hash};
use pqreg_spec::note::VerifierKey;

const SIZES: [u64; 6] = [255, 256, 257, 65535, 65536, 65537];

fn entries(from: u64, to: u64) -> Vec<LogEntry> {
    (from..to)
        .map(|i| {
            LogEntry::tag_move(
                "acme/model",
                "t",
                Digest::sha256(&i.to_be_bytes()),
                1_764_115_200,
            )
            .unwrap()
        })
        .collect()
}

/// Appends up to `to` in bulk batches of at most 8192 entries.
fn fill(log: &Log, leaves: &mut Vec<Hash>, to: u64) {
    while (leaves.len() as u64) < to {
        let from = leaves.len() as u64;
        let batch = entries(from, to.min(from + 8192));
        let (first, size) = log.append_bulk(&batch).unwrap();
        assert_eq!(first, from);
        leaves.extend(batch.iter().map(|e| e.leaf_hash().unwrap()));
        assert_eq!(size, leaves.len() as u64);
    }
}

fn verifier(log: &Log) -> LogVerifier {
    LogVerifier {
        origin: log.origin().to_owned(),
        log_keys: log
            .keys()
            .verifier_keys()
            .lines()
            .map(|l| VerifierKey::parse(l).unwrap())
            .collect(),
        witnesses: vec![],
        witness_quorum: 0,
    }
}

fn check_all(log: &Log, leaves: &[Hash], roots: &[(u64, Hash)]) {
    for &(n, root) in roots {
        assert_eq!(
            root,
            merkle::root_from_leaf_hashes(&leaves[..n as usize]),
            "root {n}"
        );
        for i in [
            0,
            1,
            127,
            254,
            255,
            256,
            257,
            65534,
            65535,
            65536,
            n / 2,
            n - 1,
        ] {
            if i >= n {
                continue;
            }
            let (leaf, proof) = log.inclusion(i, n).unwrap();
            assert_eq!(leaf, leaves[i as usize]);
            merkle::verify_inclusion(&leaf, i, n, &proof, &root)
                .unwrap_or_else(|e| panic!("inclusion {i} in {n}: {e}"));
        }
        for &(m, old) in roots {
            if m > n {
                continue;
            }
            let proof = log.consistency(m, n).unwrap();
            merkle::verify_consistency(m, n, &proof, &old, &root)
                .unwrap_or_else(|e| panic!("consistency {m} -> {n}: {e}"));
        }
        // Sizes between published checkpoints are answered too (wider tiles stand in).
        let mid = n - 1;
        let proof = log.consistency(mid, n).unwrap();
        let old = merkle::root_from_leaf_hashes(&leaves[..mid as usize]);
        merkle::verify_consistency(mid, n, &proof, &old, &root).unwrap();
    }
}

#[test]
fn proofs_at_tile_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut leaves = Vec::new();
    let mut roots = Vec::new();
    {
        let log = Log::open(dir.path(), "boundaries.test/log", vec![]).unwrap();
        let v = verifier(&log);
        for n in SIZES {
            fill(&log, &mut leaves, n);
            let head = log.head();
            assert_eq!(head.size, n);
            let cp = v.open(&head.note).unwrap();
            assert_eq!(cp.checkpoint.root, head.root);
            roots.push((n, head.root));
        }
        check_all(&log, &leaves, &roots);
        // The entries read back byte for byte across bundle boundaries.
        for i in [0, 255, 256, 65535, 65536] {
            let want = entries(i, i + 1)[0].encode().unwrap();
            assert_eq!(log.entry(i).unwrap().unwrap(), want);
        }
        assert!(log.entry(65537).unwrap().is_none());
    }
    // Reopened: the sequencer resumes from the tiles (level-1 partial tile included).
    let log = Log::open(dir.path(), "ignored.test/log", vec![]).unwrap();
    assert_eq!(log.origin(), "boundaries.test/log");
    assert_eq!(log.head().size, 65537);
    fill(&log, &mut leaves, 65537 + 300);
    roots.push((65837, log.head().root));
    check_all(&log, &leaves, &roots);
}
