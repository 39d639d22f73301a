use super::*;
use crate::merkle::{EMPTY_ROOT, TreeBuilder, leaf_hash};

const ORIGIN: &str = "registry.example/log";

fn signers() -> (NoteSigner, NoteSigner) {
    (
        NoteSigner::from_seed(ORIGIN, SignatureType::Ed25519, &[7; 32]).unwrap(),
        NoteSigner::from_seed(ORIGIN, SignatureType::CosignatureMlDsa44, &[8; 32]).unwrap(),
    )
}

fn verifier(ed: &NoteSigner, pq: &NoteSigner) -> LogVerifier {
    LogVerifier {
        origin: ORIGIN.into(),
        log_keys: vec![ed.verifier_key().clone(), pq.verifier_key().clone()],
        witnesses: vec![],
        witness_quorum: 0,
    }
}

#[test]
fn body_round_trip() {
    let cp = Checkpoint::new(ORIGIN, 20852163, [0x0a; 32]).unwrap();
    let body = cp.to_body();
    assert_eq!(
        body,
        "registry.example/log\n20852163\nCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo=\n"
    );
    assert_eq!(Checkpoint::parse_body(&body).unwrap(), cp);
    let empty = Checkpoint::new(ORIGIN, 0, EMPTY_ROOT).unwrap();
    assert_eq!(Checkpoint::parse_body(&empty.to_body()).unwrap(), empty);
    let ext = Checkpoint::parse_body(&format!("{body}ext one\n")).unwrap();
    assert_eq!(ext.extensions, vec!["ext one".to_owned()]);
    assert_eq!(ext.to_body(), format!("{body}ext one\n"));
}

#[test]
fn body_rejects() {
    let root = "CgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo=";
    let cases = [
        (format!("o\n1\n{root}"), 0, "no final newline"),
        ("o\n1\n".to_string(), 3, "missing line"),
        (format!("\n1\n{root}\n"), 1, "empty origin"),
        (format!("o\n01\n{root}\n"), 2, "leading zero"),
        (format!("o\n+1\n{root}\n"), 2, "sign"),
        (format!("o\n\n{root}\n"), 2, "empty size"),
        (format!("o\n18446744073709551616\n{root}\n"), 2, "overflow"),
        (format!("o\n1\n{}\n", &root[..43]), 3, "truncated base64"),
        ("o\n1\nCgoK\n".to_string(), 3, "short hash"),
        (format!("o\n1\n{root}\n\n"), 4, "empty extension"),
        // Reordered lines: size first.
        (format!("1\no\n{root}\n"), 2, "reordered"),
    ];
    for (text, line, why) in cases {
        match Checkpoint::parse_body(&text) {
            Err(NoteError::BadCheckpoint { line: l, .. }) => assert_eq!(l, line, "{why}"),
            other => panic!("{why}: {other:?}"),
        }
    }
}

fn signed(size: u64) -> (Checkpoint, Vec<u8>) {
    let (ed, pq) = signers();
    let mut t = TreeBuilder::new();
    for i in 0..size {
        t.append(leaf_hash(&i.to_be_bytes()));
    }
    let cp = Checkpoint::new(ORIGIN, size, t.root()).unwrap();
    let note = cp.sign(&[&ed, &pq], 1_750_000_000).unwrap();
    (cp, note.to_bytes())
}

#[test]
fn open_checks_both_log_signatures() {
    let (ed, pq) = signers();
    let v = verifier(&ed, &pq);
    let (cp, bytes) = signed(10);
    let ok = v.open(&bytes).unwrap();
    assert_eq!(ok.checkpoint, cp);
    assert_eq!(ok.signatures.len(), 2);

    // Only the Ed25519 line: the ML-DSA-44 one is required.
    let only_ed = cp.sign(&[&ed], 0).unwrap().to_bytes();
    assert_eq!(
        v.open(&only_ed),
        Err(NoteError::MissingLogSignature("ML-DSA-44 cosignature"))
    );
    // Another origin.
    let other = LogVerifier {
        origin: "other.example/log".into(),
        ..v.clone()
    };
    assert!(matches!(
        other.open(&bytes),
        Err(NoteError::WrongOrigin { .. })
    ));
    // A flipped bit in the root.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let b64 = STANDARD.encode(cp.root);
    let mut flipped = cp.root;
    flipped[0] ^= 1;
    let tampered = text.replace(&b64, &STANDARD.encode(flipped));
    assert!(matches!(
        v.open(tampered.as_bytes()),
        Err(NoteError::BadSignature { .. })
    ));
    // Extension lines are refused even when signed.
    let mut with_ext = cp.clone();
    with_ext.extensions.push("x".into());
    let n = with_ext.sign(&[&ed, &pq], 0).unwrap().to_bytes();
    assert_eq!(v.open(&n), Err(NoteError::UnexpectedExtension));
    // A key of the wrong type for the name (unknown key): ignored, still missing.
    let stranger = NoteSigner::from_seed(ORIGIN, SignatureType::Ed25519, &[9; 32]).unwrap();
    let n = cp.sign(&[&stranger], 0).unwrap().to_bytes();
    assert_eq!(v.open(&n), Err(NoteError::NoVerifiedSignature));
}

#[test]
fn witness_quorum() {
    let (ed, pq) = signers();
    let w: Vec<NoteSigner> = (0..3)
        .map(|i| {
            NoteSigner::from_seed(
                &format!("witness.example/w{i}"),
                if i == 0 {
                    SignatureType::CosignatureEd25519
                } else {
                    SignatureType::CosignatureMlDsa44
                },
                &[20 + i as u8; 32],
            )
            .unwrap()
        })
        .collect();
    let v = LogVerifier {
        witnesses: w.iter().map(|s| s.verifier_key().clone()).collect(),
        witness_quorum: 2,
        ..verifier(&ed, &pq)
    };
    let (cp, _) = signed(3);
    let mut note = cp.sign(&[&ed, &pq], 5).unwrap();
    note.sign(&w[0], 6).unwrap();
    assert_eq!(
        v.open(&note.to_bytes()),
        Err(NoteError::WitnessQuorum {
            required: 2,
            got: 1
        })
    );
    note.sign(&w[2], 7).unwrap();
    let ok = v.open(&note.to_bytes()).unwrap();
    assert_eq!(ok.signatures.len(), 4);
}

#[test]
fn client_update_rules() {
    let sizes = [0u64, 1, 7, 8, 300];
    let mut t = TreeBuilder::new();
    let mut nodes = std::collections::HashMap::new();
    let mut cps = Vec::new();
    for &s in &sizes {
        while t.size() < s {
            let i = t.size();
            nodes.extend(t.append(leaf_hash(&i.to_be_bytes())));
        }
        cps.push(Checkpoint::new(ORIGIN, s, t.root()).unwrap());
    }
    struct R<'a>(&'a std::collections::HashMap<crate::merkle::NodeId, Hash>);
    impl crate::merkle::HashReader for R<'_> {
        fn read_hash(&self, n: crate::merkle::NodeId) -> Result<Hash, crate::merkle::MerkleError> {
            self.0
                .get(&n)
                .copied()
                .ok_or(crate::merkle::MerkleError::MissingNode {
                    level: n.level,
                    index: n.index,
                })
        }
    }
    let r = R(&nodes);
    for a in &cps {
        for b in &cps {
            if b.size < a.size {
                assert_eq!(
                    check_update(a, b, &[]),
                    Err(NoteError::Rewound {
                        old: a.size,
                        new: b.size
                    })
                );
                continue;
            }
            let p = crate::merkle::consistency_proof(&r, a.size, b.size).unwrap();
            check_update(a, b, &p).unwrap();
        }
    }
    // A fork at the same size.
    let mut fork = cps[3].clone();
    fork.root[5] ^= 1;
    assert_eq!(
        check_update(&cps[3], &fork, &[]),
        Err(NoteError::Inconsistent(
            crate::merkle::MerkleError::RootsDiffer(8)
        ))
    );
    // A fork that grew.
    let mut grown = cps[4].clone();
    grown.root[0] ^= 1;
    let p = crate::merkle::consistency_proof(&r, 8, 300).unwrap();
    assert!(matches!(
        check_update(&cps[3], &grown, &p),
        Err(NoteError::Inconsistent(_))
    ));
    let mut renamed = cps[4].clone();
    renamed.origin = "x".into();
    assert!(matches!(
        check_update(&cps[3], &renamed, &p),
        Err(NoteError::WrongOrigin { .. })
    ));
}
