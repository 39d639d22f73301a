//! Crash safety of the transparency log: 16 threads submit signed statements
//! (spec/transparency-log.md §8.5) to a real `pqreg-registry` process while another polls
//! `/log/checkpoint`; the process is killed with SIGKILL as the 150th answer arrives (no
//! timing guess: the kill follows a counted acknowledgement). After a restart on the same
//! data directory:
//!
//! - the new checkpoint verifies under the same log keys and is at least as large as every
//!   size acknowledged;
//! - every acknowledged entry is in the log at its index, byte for byte (its leaf hash is
//!   proven included in the new checkpoint);
//! - every checkpoint observed before the crash (answers and polls) is consistent with the
//!   new one;
//! - the log keeps appending, consistently.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pqreg_spec::Digest;
use pqreg_spec::checkpoint::{LogVerifier, VerifiedCheckpoint};
use pqreg_spec::merkle::{self, api::B64Hash};
use pqreg_spec::note::VerifierKey;
use pqreg_tests::oci::push_image;
use pqreg_tests::{Client, Registry};
use serde_json::Value;

const THREADS: usize = 16;
const PER_THREAD: usize = 40;
const KILL_AFTER: usize = 150;

fn hashes(v: &Value) -> Vec<merkle::Hash> {
    v.as_array()
        .expect("proof array")
        .iter()
        .map(|h| {
            B64Hash::parse(h.as_str().expect("hash string"))
                .expect("b64 hash")
                .0
        })
        .collect()
}

fn verifier(c: &Client) -> LogVerifier {
    let r = c.get("/log/v1/keys");
    assert_eq!(r.status, 200);
    let text = r.text();
    let origin = VerifierKey::parse(text.lines().next().expect("a key"))
        .expect("verifier key")
        .name()
        .to_owned();
    LogVerifier {
        origin,
        log_keys: text
            .lines()
            .map(|l| VerifierKey::parse(l).expect("verifier key"))
            .collect(),
        witnesses: vec![],
        witness_quorum: 0,
    }
}

#[test]
fn log_survives_kill9_during_concurrent_submissions() {
    let mut reg = Registry::start();
    let c = reg.client();
    let (_, digest) = push_image(&c, "acme/model", "v1", 7, 1);
    let manifest: Digest = digest.parse().expect("digest");
    let v = verifier(&c);
    let all = pqreg_tests::log::signed_submissions("acme/model", manifest, THREADS * PER_THREAD);

    let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let killer = reg.killer();
    let poller = {
        let (c, seen, done) = (reg.client(), seen.clone(), done.clone());
        std::thread::spawn(move || {
            while done.load(Ordering::SeqCst) < THREADS {
                match c.request("GET", "/log/checkpoint", &[], b"") {
                    Ok(r) if r.status == 200 => seen.lock().expect("lock").push(r.body),
                    _ => break,
                }
            }
        })
    };
    let workers: Vec<_> = all
        .chunks(PER_THREAD)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            let (c, acked, seen, count, done, killer) = (
                reg.client(),
                acked.clone(),
                seen.clone(),
                count.clone(),
                done.clone(),
                killer.clone(),
            );
            std::thread::spawn(move || {
                for b in chunk {
                    let hdr = [("Content-Type", "application/json")];
                    let Ok(r) = c.request("POST", "/log/v1/entries", &hdr, &b) else {
                        break;
                    };
                    if r.status != 200 {
                        break;
                    }
                    let j = r.json();
                    let index = j["index"].as_u64().expect("index");
                    let entry = j["entry"].as_str().expect("entry").to_owned();
                    acked.lock().expect("lock").push((index, entry));
                    seen.lock().expect("lock").push(
                        j["checkpoint"]
                            .as_str()
                            .expect("checkpoint")
                            .as_bytes()
                            .to_vec(),
                    );
                    if count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                        killer.kill9();
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    poller.join().expect("poller");
    let acked = acked.lock().expect("lock").clone();
    let seen = seen.lock().expect("lock").clone();
    assert!(
        acked.len() >= KILL_AFTER,
        "only {} acknowledged",
        acked.len()
    );
    assert!(
        acked.len() < THREADS * PER_THREAD,
        "the kill did not interrupt the burst"
    );

    reg.restart();
    let c = reg.client();
    let v2 = verifier(&c);
    assert_eq!(v2, v, "same log keys and origin after the restart");
    let cp = |c: &Client| -> VerifiedCheckpoint {
        let r = c.get("/log/checkpoint");
        v.open(&r.body).expect("checkpoint verifies")
    };
    let now = cp(&c);
    let n = now.checkpoint.size;
    let max_acked = acked.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
    assert!(n >= max_acked, "size {n} < acknowledged {max_acked}");

    for (i, entry) in &acked {
        let r = c.get(&format!("/log/v1/proof/inclusion?index={i}&size={n}"));
        assert_eq!(r.status, 200);
        let j = r.json();
        let leaf = merkle::leaf_hash(entry.as_bytes());
        assert_eq!(
            B64Hash::parse(j["leaf_hash"].as_str().expect("leaf"))
                .expect("b64")
                .0,
            leaf
        );
        merkle::verify_inclusion(&leaf, *i, n, &hashes(&j["proof"]), &now.checkpoint.root)
            .unwrap_or_else(|e| panic!("entry {i} not included after restart: {e}"));
    }
    let check = |old: &VerifiedCheckpoint, new: &VerifiedCheckpoint| {
        let (m, k) = (old.checkpoint.size, new.checkpoint.size);
        let r = c.get(&format!("/log/v1/proof/consistency?from={m}&to={k}"));
        assert_eq!(r.status, 200);
        pqreg_spec::checkpoint::check_update(
            &old.checkpoint,
            &new.checkpoint,
            &hashes(&r.json()["proof"]),
        )
        .unwrap_or_else(|e| panic!("checkpoint {m} inconsistent with {k}: {e}"));
    };
    let mut observed: Vec<VerifiedCheckpoint> = seen
        .iter()
        .map(|b| v.open(b).expect("observed checkpoint verifies"))
        .collect();
    observed.sort_by_key(|o| o.checkpoint.size);
    observed.dedup_by_key(|o| o.checkpoint.size);
    for o in &observed {
        check(o, &now);
    }

    // The log goes on: more submissions, consistent with everything before.
    let more = pqreg_tests::log::signed_submissions("acme/model", manifest, 8);
    for b in &more {
        let r = c.must(
            "POST",
            "/log/v1/entries",
            &[("Content-Type", "application/json")],
            b,
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let after = cp(&c);
    assert_eq!(after.checkpoint.size, n + 8);
    check(&now, &after);
    for o in &observed {
        check(o, &after);
    }
}
