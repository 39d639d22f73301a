//! Checks the worked examples of spec/transparency-log.md against the code.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::logentry::{EntryKind, LogEntry};
use crate::merkle::api::{ConsistencyProofResponse, InclusionProofResponse, SearchResponse};
use crate::merkle::{leaf_hash, node_hash, verify_consistency, verify_inclusion};

const DOC: &str = include_str!("../../transparency-log.md");

/// The fenced block after `<!-- example: name -->`.
fn example(name: &str) -> String {
    let marker = format!("<!-- example: {name} -->\n");
    let start = DOC
        .find(&marker)
        .unwrap_or_else(|| panic!("no example {name}"));
    let rest = &DOC[start + marker.len()..];
    let open = rest.find("```").unwrap();
    let body_start = open + rest[open..].find('\n').unwrap() + 1;
    let len = rest[body_start..].find("\n```").unwrap();
    format!("{}\n", &rest[body_start..body_start + len])
}

fn b64(s: &str) -> Hash {
    STANDARD.decode(s).unwrap().try_into().unwrap()
}

#[test]
fn entry_examples() {
    for (name, hash_name) in [
        ("entry", "entry-leaf-hash"),
        ("tag-entry", "tag-entry-leaf-hash"),
        ("tag-delete-entry", "tag-delete-entry-leaf-hash"),
    ] {
        let text = example(name);
        let e = LogEntry::parse(text.as_bytes()).unwrap();
        assert_eq!(e.encode().unwrap(), text.as_bytes());
        assert_eq!(
            hex::encode(e.leaf_hash().unwrap()),
            example(hash_name).trim()
        );
    }
    let e = LogEntry::parse(example("entry").as_bytes()).unwrap();
    assert!(matches!(e.kind, EntryKind::Signature { .. }));
    assert_eq!(e.repository, "acme/llama-3-8b");
}

/// §3.2: the keyed entry is the §3 entry concealed under the documented key, its ids
/// are the HMACs the text defines, and it verifies only with that key.
#[test]
fn keyed_entry_example() {
    use crate::logentry::{EntryName, NameKey};
    let clear = LogEntry::parse(example("entry").as_bytes()).unwrap();
    let text = example("keyed-entry");
    let keyed = LogEntry::parse(text.as_bytes()).unwrap();
    assert_eq!(keyed.encode().unwrap(), text.as_bytes());
    assert_eq!(
        hex::encode(keyed.leaf_hash().unwrap()),
        example("keyed-entry-leaf-hash").trim()
    );
    let key = NameKey([0x07; 32]);
    assert_eq!(clear.conceal(&key, ORIGIN).unwrap(), keyed);
    assert!(!text.contains("acme") && !text.contains("v1.0"));
    // The ids by the formula of §3.2, written out with the HMAC primitive.
    let mac = |parts: &[&str]| {
        let mut msg = Vec::new();
        for p in parts {
            msg.extend_from_slice(&(p.len() as u16).to_be_bytes());
            msg.extend_from_slice(p.as_bytes());
        }
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[0x07; 32]);
        hex::encode(aws_lc_rs::hmac::sign(&k, &msg).as_ref())
    };
    let rid = mac(&["pqreg-log-repository-id/v1", ORIGIN, "acme/llama-3-8b"]);
    let tid = mac(&["pqreg-log-tag-id/v1", "acme/llama-3-8b", "v1.0"]);
    assert!(text.contains(&format!("\nrepository-id {rid}\ntag-id {tid}\n")));
    assert!(matches!(keyed.repository, EntryName::Id(_)));
    assert!(
        keyed
            .names_repository("acme/llama-3-8b", Some(&key), ORIGIN)
            .unwrap()
    );
    assert!(
        keyed
            .names_tag("acme/llama-3-8b", "v1.0", Some(&key))
            .unwrap()
    );
    assert!(
        !keyed
            .names_repository("acme/llama-3-8b", None, ORIGIN)
            .unwrap()
    );
    let other = NameKey([0x08; 32]);
    assert!(
        !keyed
            .names_repository("acme/llama-3-8b", Some(&other), ORIGIN)
            .unwrap()
    );
    assert!(
        !keyed
            .names_repository("acme/llama-3-8b", Some(&key), "other.example/log")
            .unwrap()
    );
}

#[test]
fn tree_example() {
    let text = example("tree");
    let mut leaves = Vec::new();
    let mut leaf_hashes = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "leaf" => {
                let data = if f[2] == "-" {
                    vec![]
                } else {
                    hex::decode(f[2]).unwrap()
                };
                leaves.push(data);
            }
            "leaf-hash" => {
                let i: usize = f[1].parse().unwrap();
                assert_eq!(leaf_hash(&leaves[i]), b64(f[2]));
                leaf_hashes.push(b64(f[2]));
            }
            "root" => {
                let n: usize = f[1].parse().unwrap();
                assert_eq!(
                    crate::merkle::root_from_leaf_hashes(&leaf_hashes[..n]),
                    b64(f[2])
                );
                assert_eq!(
                    node_hash(
                        &node_hash(&leaf_hashes[0], &leaf_hashes[1]),
                        &leaf_hashes[2]
                    ),
                    b64(f[2])
                );
            }
            "inclusion" => {
                let i: u64 = f[1].parse().unwrap();
                let n: u64 = f[2].parse().unwrap();
                let proof: Vec<Hash> = f[3..].iter().map(|s| b64(s)).collect();
                let root = crate::merkle::root_from_leaf_hashes(&leaf_hashes);
                verify_inclusion(&leaf_hashes[i as usize], i, n, &proof, &root).unwrap();
            }
            other => panic!("unknown line {other}"),
        }
    }
    assert_eq!(leaf_hashes.len(), 3);
}

#[test]
fn checkpoint_example() {
    let keys: Vec<VerifierKey> = example("log-verifier-keys")
        .lines()
        .map(|l| VerifierKey::parse(l).unwrap())
        .collect();
    // The keys are the documented test seeds.
    let ed = NoteSigner::from_seed(ORIGIN, SignatureType::Ed25519, &[0x01; 32]).unwrap();
    let pq = NoteSigner::from_seed(ORIGIN, SignatureType::CosignatureMlDsa44, &[0x02; 32]).unwrap();
    assert_eq!(
        keys,
        vec![ed.verifier_key().clone(), pq.verifier_key().clone()]
    );

    let note = example("checkpoint");
    let v = LogVerifier {
        origin: ORIGIN.into(),
        log_keys: keys,
        witnesses: vec![],
        witness_quorum: 0,
    };
    let ok = v.open(note.as_bytes()).unwrap();
    assert_eq!(ok.checkpoint.size, 3);
    assert_eq!(
        ok.checkpoint.root,
        b64("rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=")
    );
    assert_eq!(ok.signatures[1].timestamp, Some(1_764_115_200));
    assert_eq!(ok.note.to_string(), note);
    // The Ed25519 line is deterministic: re-signing gives the documented line.
    let fresh = ok.checkpoint.sign(&[&ed], 0).unwrap();
    assert_eq!(fresh.signatures()[0], ok.note.signatures()[0]);
}

const ORIGIN: &str = "registry.example/log";

#[test]
fn endpoint_examples() {
    let inc: InclusionProofResponse = serde_json::from_str(&example("inclusion-response")).unwrap();
    let root = b64("rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=");
    verify_inclusion(
        &inc.leaf_hash.0,
        inc.index,
        inc.size,
        &inc.proof_hashes(),
        &root,
    )
    .unwrap();
    let con: ConsistencyProofResponse =
        serde_json::from_str(&example("consistency-response")).unwrap();
    let root2 = node_hash(
        &b64("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="),
        &b64("lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c="),
    );
    verify_consistency(con.from, con.to, &con.proof_hashes(), &root2, &root).unwrap();
    let s: SearchResponse = serde_json::from_str(&example("search-response")).unwrap();
    assert_eq!(s.entries.len(), 1);
    // Unknown fields are refused.
    assert!(
        serde_json::from_str::<ConsistencyProofResponse>(r#"{"from":0,"to":0,"proof":[],"x":1}"#)
            .is_err()
    );
}

#[test]
fn witness_example() {
    let w = VerifierKey::parse(example("witness-verifier-key").trim()).unwrap();
    let seed_key = NoteSigner::from_seed(
        "witness.example/w1",
        SignatureType::CosignatureEd25519,
        &[0x03; 32],
    )
    .unwrap();
    assert_eq!(&w, seed_key.verifier_key());
    let log_keys: Vec<VerifierKey> = example("log-verifier-keys")
        .lines()
        .map(|l| VerifierKey::parse(l).unwrap())
        .collect();
    let v = LogVerifier {
        origin: ORIGIN.into(),
        log_keys,
        witnesses: vec![w],
        witness_quorum: 1,
    };
    let note = example("cosigned-checkpoint");
    let ok = v.open(note.as_bytes()).unwrap();
    assert_eq!(ok.signatures.len(), 3);
    assert_eq!(ok.signatures[2].timestamp, Some(1_764_115_230));
    // Without the witness line the quorum fails.
    assert_eq!(
        v.open(example("checkpoint").as_bytes()),
        Err(NoteError::WitnessQuorum {
            required: 1,
            got: 0
        })
    );
}

#[test]
fn tlog_proof_example() {
    use super::proof::{ProofFile, ProofFileError};
    let text = example("tlog-proof");
    let p = ProofFile::parse(text.as_bytes()).unwrap();
    assert_eq!(p.encode(), text.as_bytes());
    assert_eq!(p.index, 2);
    let keys: Vec<VerifierKey> = example("log-verifier-keys")
        .lines()
        .map(|l| VerifierKey::parse(l).unwrap())
        .collect();
    let v = LogVerifier {
        origin: "registry.example/log".into(),
        log_keys: keys,
        witnesses: vec![],
        witness_quorum: 0,
    };
    let c = v.open(&p.checkpoint).unwrap().checkpoint;
    let leaf = leaf_hash(p.extra.as_deref().unwrap());
    verify_inclusion(&leaf, p.index, c.size, &p.proof, &c.root).unwrap();
    // Strictness: each variation refused.
    let refuse = |t: &str| ProofFile::parse(t.as_bytes()).unwrap_err();
    assert_eq!(
        refuse(&text.replacen("@v1", "@v2", 1)),
        ProofFileError::BadHeader
    );
    for t in [
        text.replacen("index 2", "index 02", 1),
        text.replacen("index 2", "index two", 1),
        text.replacen("extra EA==", "extra EA", 1),
        text.replacen("+sVCA+fM", "-sVCA+fM", 1),
        text.replacen("\nindex 2\n", "\n", 1),
    ] {
        assert!(matches!(refuse(&t), ProofFileError::BadLine { .. }), "{t}");
    }
    let cut = &text[..text.find("\n\n").unwrap() + 1];
    assert_eq!(refuse(cut), ProofFileError::MissingCheckpoint);
    // A flipped bit in the proof: parses, no longer proves inclusion.
    let mut bad = p.clone();
    bad.proof[0][0] ^= 1;
    let again = ProofFile::parse(&bad.encode()).unwrap();
    assert!(verify_inclusion(&leaf, again.index, c.size, &again.proof, &c.root).is_err());
}
