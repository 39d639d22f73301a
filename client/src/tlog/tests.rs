//! Step 6 of pull/verify ([`BundleLog::check`]) on a log built here with the test keys
//! of spec/transparency-log.md §6.3: a good entry passes, and each forgery fails with its
//! own error. No network: every case is decided before a newer checkpoint is needed.

use pqreg_spec::Digest;
use pqreg_spec::bundle::{InclusionProof, PQREG_ENTRY_KIND, PQREG_ENTRY_VERSION, TlogEntry};
use pqreg_spec::checkpoint::Checkpoint;
use pqreg_spec::keys::KeyId;
use pqreg_spec::logentry::LogEntry;
use pqreg_spec::merkle::{
    Hash, HashReader, MerkleError, NodeId, inclusion_proof, leaf_hash, root_from_leaf_hashes,
};
use pqreg_spec::note::{NoteSigner, SignatureType};
use pqreg_spec::policy::Policy;

use super::*;
use crate::unpack::LogContext;

const ORIGIN: &str = "registry.example/log";
const REPO: &str = "registry.example/acme/llama";

struct Leaves(Vec<Hash>);

impl HashReader for Leaves {
    fn read_hash(&self, n: NodeId) -> Result<Hash, MerkleError> {
        let lo = (n.index << n.level) as usize;
        let hi = ((n.index + 1) << n.level) as usize;
        Ok(root_from_leaf_hashes(&self.0[lo..hi]))
    }
}

fn signers(origin: &str) -> [NoteSigner; 2] {
    [
        NoteSigner::from_seed(origin, SignatureType::Ed25519, &[1; 32]).unwrap(),
        NoteSigner::from_seed(origin, SignatureType::CosignatureMlDsa44, &[2; 32]).unwrap(),
    ]
}

fn policy(origin: &str) -> Policy {
    Policy::from_toml(&policy_text(origin)).unwrap()
}

/// The text of [`policy`] (the test registry "127.0.0.1:9" named as the log's).
fn toml_of(p: &Policy) -> String {
    policy_text(&p.logs[0].verifier.origin)
}

fn policy_text(origin: &str) -> String {
    let keys: Vec<String> = signers(origin)
        .iter()
        .map(|s| format!("\"{}\"", s.verifier_key()))
        .collect();
    format!(
        "version = 1\n[[logs]]\norigin = \"{origin}\"\nregistries = [\"127.0.0.1:9\"]\nkeys = [{}]\n",
        keys.join(", ")
    )
}

struct Fixture {
    entries: Vec<Vec<u8>>,
    manifest: Digest,
    statement: Digest,
    signer: KeyId,
}

/// Three entries; entry 1 is the signature checked.
fn fixture() -> Fixture {
    let manifest = Digest::sha256(b"manifest");
    let statement = Digest::sha256(b"statement");
    let signer = KeyId(Digest::sha256(b"key"));
    let e = |time| {
        LogEntry::signature("acme/llama", Some("v1"), manifest, statement, signer, time)
            .unwrap()
            .encode()
            .unwrap()
    };
    Fixture {
        entries: vec![
            LogEntry::tag_move("acme/llama", "v1", manifest, 1_764_115_199)
                .unwrap()
                .encode()
                .unwrap(),
            e(1_764_115_200),
            e(1_764_115_201),
        ],
        manifest,
        statement,
        signer,
    }
}

/// The bundle entry for leaf `index` of the fixture's tree of `size` leaves.
fn tlog_entry(f: &Fixture, index: u64, size: u64) -> TlogEntry {
    let leaves = Leaves(
        f.entries[..size as usize]
            .iter()
            .map(|e| leaf_hash(e))
            .collect(),
    );
    let root = root_from_leaf_hashes(&leaves.0);
    let proof = inclusion_proof(&leaves, index, size).unwrap();
    let [a, b] = signers(ORIGIN);
    let note = Checkpoint::new(ORIGIN, size, root)
        .unwrap()
        .sign(&[&a, &b], 1_764_115_300)
        .unwrap();
    let body = f.entries[index as usize].clone();
    TlogEntry {
        log_index: index,
        log_id: log_id(ORIGIN).to_vec(),
        kind: PQREG_ENTRY_KIND.into(),
        version: PQREG_ENTRY_VERSION.into(),
        integrated_time: LogEntry::parse(&body).unwrap().time,
        inclusion_promise: None,
        inclusion_proof: InclusionProof {
            log_index: index,
            root_hash: root,
            tree_size: size,
            hashes: proof,
            checkpoint: note.to_string(),
        },
        canonicalized_body: body,
    }
}

fn check(
    policy: &Policy,
    state: &std::path::Path,
    f: &Fixture,
    e: &TlogEntry,
) -> Result<TreeHead, LogError> {
    let bl = BundleLog {
        policy,
        // Never contacted in these cases (a closed port, to be sure).
        registry: "127.0.0.1:9".into(),
        credential: None,
        state: state.to_owned(),
    };
    bl.check(
        e,
        &LogContext {
            repository: REPO,
            manifest_digest: f.manifest,
            statement_digest: f.statement,
            key_id: f.signer,
        },
    )
}

#[test]
fn bundle_entry_checks() {
    let f = fixture();
    let p = policy(ORIGIN);
    let state = tempfile::tempdir().unwrap();
    let good = tlog_entry(&f, 1, 3);
    let fresh = || tempfile::tempdir().unwrap();

    // Good: verified and stored; again: equal to the stored one.
    let head = check(&p, state.path(), &f, &good).unwrap();
    assert_eq!(head.size, 3);
    let store = CheckpointStore::new(state.path(), ORIGIN);
    assert!(store.load().unwrap().unwrap() == good.inclusion_proof.checkpoint.as_bytes());
    check(&p, state.path(), &f, &good).unwrap();
    // A stored checkpoint edited by hand (its text changed) is refused, not trusted.
    let stored = store.load().unwrap().unwrap();
    let edited = String::from_utf8(stored.clone())
        .unwrap()
        .replacen("\n3\n", "\n4\n", 1);
    store.store(edited.as_bytes()).unwrap();
    let err = check(&p, state.path(), &f, &good).unwrap_err();
    assert!(matches!(err, LogError::Checkpoint { .. }), "{err}");
    store.store(&stored).unwrap();

    // The same entry pulled from a registry the log does not vouch for (spec/signing.md
    // §7.5): by default a log vouches for the host of its origin only.
    let default_registries =
        Policy::from_toml(&toml_of(&p).replace("registries = [\"127.0.0.1:9\"]\n", "")).unwrap();
    let err = check(&default_registries, fresh().path(), &f, &good).unwrap_err();
    assert!(
        matches!(&err, LogError::EntryMismatch(m) if m.contains("not for \"127.0.0.1:9\"")),
        "{err}"
    );

    // A proof for the wrong leaf: entry 2's body with entry 1's proof.
    let mut e = good.clone();
    e.canonicalized_body = f.entries[2].clone();
    e.integrated_time += 1;
    let err = check(&p, fresh().path(), &f, &e).unwrap_err();
    assert!(
        matches!(&err, LogError::Inclusion(b) if b.2 == MerkleError::InclusionRootMismatch),
        "{err}"
    );

    // A flipped bit in a proof hash.
    let mut e = good.clone();
    e.inclusion_proof.hashes[0][0] ^= 1;
    assert!(matches!(
        check(&p, fresh().path(), &f, &e),
        Err(LogError::Inclusion(_))
    ));

    // The checkpoint's ML-DSA-44 signature altered (a base64 character near its end).
    let mut e = good.clone();
    let cp = &mut e.inclusion_proof.checkpoint;
    let pos = cp.len() - 8;
    let c = if cp.as_bytes()[pos] == b'A' { "B" } else { "A" };
    cp.replace_range(pos..pos + 1, c);
    let err = check(&p, fresh().path(), &f, &e).unwrap_err();
    assert!(matches!(err, LogError::Checkpoint { .. }), "{err}");

    // A checkpoint of another size than the proof's.
    let mut e = good.clone();
    e.inclusion_proof.checkpoint = tlog_entry(&f, 1, 2).inclusion_proof.checkpoint;
    let err = check(&p, fresh().path(), &f, &e).unwrap_err();
    assert!(matches!(err, LogError::EntryMismatch(_)), "{err}");

    // Fields that do not match the signature; logId; integratedTime.
    let other = Fixture {
        manifest: Digest::sha256(b"other"),
        ..fixture()
    };
    let err = check(&p, fresh().path(), &other, &good).unwrap_err();
    assert!(
        matches!(&err, LogError::EntryMismatch(m) if m.starts_with("manifest")),
        "{err}"
    );
    let tag = tlog_entry(&f, 0, 3);
    let err = check(&p, fresh().path(), &f, &tag).unwrap_err();
    assert!(
        matches!(&err, LogError::EntryMismatch(m) if m.contains("kind")),
        "{err}"
    );
    let mut e = good.clone();
    e.log_id[0] ^= 1;
    assert!(matches!(
        check(&p, fresh().path(), &f, &e),
        Err(LogError::EntryMismatch(_))
    ));
    let mut e = good.clone();
    e.integrated_time += 1;
    assert!(matches!(
        check(&p, fresh().path(), &f, &e),
        Err(LogError::EntryMismatch(_))
    ));
    let mut e = good.clone();
    e.canonicalized_body.push(b'\n');
    assert!(matches!(
        check(&p, fresh().path(), &f, &e),
        Err(LogError::Entry { .. })
    ));

    // A log the policy does not configure.
    let err = check(&policy("other.example/log"), fresh().path(), &f, &good).unwrap_err();
    assert!(matches!(err, LogError::Unconfigured(_)), "{err}");

    // A fork: the stored checkpoint has this size and another root. The stored one is
    // kept, the new one saved as evidence.
    let forked = Fixture {
        entries: vec![
            f.entries[0].clone(),
            f.entries[1].clone(),
            f.entries[0].clone(),
        ],
        ..fixture()
    };
    let fork_state = fresh();
    let first = tlog_entry(&forked, 1, 3);
    check(&p, fork_state.path(), &forked, &first).unwrap();
    let err = check(&p, fork_state.path(), &f, &good).unwrap_err();
    let LogError::Inconsistent(fork) = &err else {
        panic!("{err}")
    };
    assert_eq!(fork.source, MerkleError::RootsDiffer(3));
    assert!(
        err.to_string().matches("(size 3, root ").count() == 2,
        "{err}"
    );
    let store = CheckpointStore::new(fork_state.path(), ORIGIN);
    assert!(store.load().unwrap().unwrap() == first.inclusion_proof.checkpoint.as_bytes());
    assert!(std::fs::read(&fork.evidence).unwrap() == good.inclusion_proof.checkpoint.as_bytes());
    assert_eq!(err.exit_code(), crate::exit::LOG_PROOF);
}
