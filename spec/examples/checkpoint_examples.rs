//! Prints the worked examples of spec/transparency-log.md §6.3 and §7: the test log's two
//! verifier keys and its signed checkpoint, then the test witness's verifier key and its
//! cosignature (the tests in `spec/src/checkpoint/doc_tests.rs` check the document
//! against the code).
//!
//! Run: `cargo run -p pqreg-spec --example checkpoint_examples`. The ML-DSA-44 line is
//! randomised, so it differs from the document's on every run and verifies the same.

// A developer script: panicking on failure is what it should do.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pqreg_spec::checkpoint::Checkpoint;
use pqreg_spec::note::{Note, NoteSigner, SignatureType};

const ORIGIN: &str = "registry.example/log";

fn main() {
    // §6.3: the log's test keys (seeds of 0x01 and 0x02) sign the tree of §4 (size 3).
    let ed = NoteSigner::from_seed(ORIGIN, SignatureType::Ed25519, &[0x01; 32]).unwrap();
    let pq = NoteSigner::from_seed(ORIGIN, SignatureType::CosignatureMlDsa44, &[0x02; 32]).unwrap();
    let root = STANDARD
        .decode("rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=")
        .unwrap();
    let cp = Checkpoint::new(ORIGIN, 3, root.try_into().unwrap()).unwrap();
    let note = cp.sign(&[&ed, &pq], 1_764_115_200).unwrap();
    println!("{}", ed.verifier_key());
    println!("{}", pq.verifier_key());
    println!("----\n{note}----");

    // §7: the test witness (seed of 0x03) cosigns that checkpoint's text.
    let w = NoteSigner::from_seed(
        "witness.example/w1",
        SignatureType::CosignatureEd25519,
        &[0x03; 32],
    )
    .unwrap();
    let text = "registry.example/log\n3\nrra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=\n";
    let mut n = Note::new(text).unwrap();
    n.sign(&w, 1_764_115_230).unwrap();
    println!("{}", w.verifier_key());
    println!("{n}");
}
