//! The transparency log over real HTTP: concurrent submissions, proofs, checkpoints,
//! tiles, restart.
#![allow(clippy::unwrap_used)]

use crate::common;

use crate::common::signed::{Publisher, log_verifier as verifier, push_model, submit, submit_ok};
use crate::common::{agent, body, err_code, hdr, start};
use pqreg_spec::Digest;
use pqreg_spec::checkpoint::{LogVerifier, VerifiedCheckpoint};
use pqreg_spec::keys::SignatureAlgorithm;
use pqreg_spec::merkle::{self, api::B64Hash};
use pqreg_spec::tile::{TileId, TileSet};
use serde_json::Value;

fn checkpoint(base: &str, v: &LogVerifier) -> VerifiedCheckpoint {
    let mut r = agent()
        .get(format!("{base}/log/checkpoint"))
        .call()
        .unwrap();
    assert_eq!(hdr(&r, "cache-control").as_deref(), Some("no-cache"));
    v.open(&body(&mut r)).unwrap()
}

/// A registry's model `acme/model:v1` and a publisher that signs statements over it.
struct Model {
    digest: Digest,
    publisher: std::sync::Arc<Publisher>,
}

fn model(base: &str) -> Model {
    let m = push_model(&agent(), base, "acme/model", "v1", b"weights");
    Model {
        digest: Digest::sha256(&m),
        publisher: std::sync::Arc::new(Publisher::new(SignatureAlgorithm::MlDsa65)),
    }
}

/// `tasks` threads submit `per` signed statements each (statements `from..`); every
/// answer's proof is checked against its checkpoint. Returns (index, entry) pairs.
fn submit_all(
    base: &str,
    v: &LogVerifier,
    m: &Model,
    from: u64,
    tasks: u64,
    per: u64,
) -> Vec<(u64, String)> {
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let base = base.to_owned();
            let v = v.clone();
            let (p, digest) = (m.publisher.clone(), m.digest);
            std::thread::spawn(move || {
                let a = agent();
                let mut out = vec![];
                for k in 0..per {
                    let env = p.envelope(Publisher::statement(Some(digest), from + t * per + k));
                    let j = submit_ok(&a, &base, &p.submission("acme/model", None, digest, &env));
                    let e = j["entry"].as_str().unwrap().to_owned();
                    let cp = v
                        .open(j["checkpoint"].as_str().unwrap().as_bytes())
                        .unwrap();
                    let index = j["index"].as_u64().unwrap();
                    let proof: Vec<merkle::Hash> = j["proof"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|h| B64Hash::parse(h.as_str().unwrap()).unwrap().0)
                        .collect();
                    assert_eq!(cp.checkpoint.size, j["size"].as_u64().unwrap());
                    assert_eq!(
                        B64Hash::parse(j["leaf_hash"].as_str().unwrap()).unwrap().0,
                        merkle::leaf_hash(e.as_bytes())
                    );
                    merkle::verify_inclusion(
                        &merkle::leaf_hash(e.as_bytes()),
                        index,
                        cp.checkpoint.size,
                        &proof,
                        &cp.checkpoint.root,
                    )
                    .unwrap();
                    out.push((index, e));
                }
                out
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

fn consistency(base: &str, a: &VerifiedCheckpoint, b: &VerifiedCheckpoint) {
    let (m, n) = (a.checkpoint.size, b.checkpoint.size);
    let mut r = agent()
        .get(format!("{base}/log/v1/proof/consistency?from={m}&to={n}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let j: Value = serde_json::from_slice(&body(&mut r)).unwrap();
    let proof: Vec<merkle::Hash> = j["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64Hash::parse(h.as_str().unwrap()).unwrap().0)
        .collect();
    merkle::verify_consistency(m, n, &proof, &a.checkpoint.root, &b.checkpoint.root).unwrap();
}

/// Root of the tree of `size` rebuilt from level-0 and level-1 tiles fetched over HTTP.
fn root_from_tiles(base: &str, size: u64) -> merkle::Hash {
    let a = agent();
    let mut set = TileSet::new(size);
    for level in 0..2u8 {
        let count = size >> (8 * level);
        for n in 0..count.div_ceil(256) {
            let id = TileId::at_size(level, n, size).unwrap();
            let mut r = a.get(format!("{base}/log/{}", id.path())).call().unwrap();
            assert_eq!(r.status(), 200, "{}", id.path());
            if id.is_full() {
                assert_eq!(
                    hdr(&r, "cache-control").as_deref(),
                    Some("public, max-age=31536000, immutable")
                );
            }
            set.insert(id, &body(&mut r)).unwrap();
        }
    }
    merkle::root(&set, size).unwrap()
}

#[test]
fn concurrent_submissions_proofs_tiles_restart() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let base = reg.url();
    let origin = "127.0.0.1:0/log";
    let v = verifier(&base, origin);
    let m = model(&base);
    // Pushing the tagged model logged its tag move: entry 0.
    let cp0 = checkpoint(&base, &v);
    assert_eq!(cp0.checkpoint.size, 1);

    // 63 tasks x 4 entries, then 3 more, then one: 257 entries, the first level-0 tile is full.
    let mut acked = submit_all(&base, &v, &m, 0, 63, 4);
    acked.extend(submit_all(&base, &v, &m, 252, 3, 1));
    let cp1 = checkpoint(&base, &v);
    assert_eq!(cp1.checkpoint.size, 256);
    acked.extend(submit_all(&base, &v, &m, 256, 1, 1));
    let cp2 = checkpoint(&base, &v);
    assert_eq!(cp2.checkpoint.size, 257);
    consistency(&base, &cp1, &cp2);
    consistency(&base, &cp0, &cp2);
    assert_eq!(root_from_tiles(&base, 257), cp2.checkpoint.root);

    // An old partial width is served as the first hashes of the current (here full)
    // tile: a client that read an older checkpoint asks for it while the log grows.
    // A width above the current one, and a bad path, are 404.
    let a = agent();
    let mut r = a.get(format!("{base}/log/tile/0/000.p/5")).call().unwrap();
    assert_eq!(r.status(), 200);
    let old = body(&mut r);
    let mut r = a.get(format!("{base}/log/tile/0/000")).call().unwrap();
    assert_eq!(old[..], body(&mut r)[..5 * 32]);
    let mut r = a.get(format!("{base}/log/tile/0/001.p/5")).call().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(err_code(&mut r), "LOG_TILE_UNKNOWN");
    let mut r = a
        .get(format!("{base}/log/tile/entries/000.p/3"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        pqreg_spec::tile::parse_entry_bundle(&body(&mut r), 3)
            .unwrap()
            .len(),
        3
    );
    let r = a.get(format!("{base}/log/tile/0/0")).call().unwrap();
    assert_eq!(r.status(), 404);
    let r = a
        .get(format!("{base}/log/tile/entries/000"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut r = submit(&a, &base, b"garbage\n");
    assert_eq!(r.status(), 400);
    assert_eq!(err_code(&mut r), "LOG_ENTRY_INVALID");
    let mut r = a
        .get(format!("{base}/log/v1/proof/inclusion?index=5&size=5"))
        .call()
        .unwrap();
    assert_eq!(err_code(&mut r), "INDEX_OUT_OF_RANGE");
    let mut r = a
        .get(format!("{base}/log/v1/proof/inclusion?index=0&size=999"))
        .call()
        .unwrap();
    assert_eq!(err_code(&mut r), "SIZE_UNKNOWN");
    let mut r = a
        .get(format!("{base}/log/v1/proof/consistency?from=9&to=5"))
        .call()
        .unwrap();
    assert_eq!(err_code(&mut r), "SIZE_DECREASED");

    // Inclusion by index at an older size (not a published one) still verifies.
    let mut r = a
        .get(format!("{base}/log/v1/proof/inclusion?index=3&size=100"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let j: Value = serde_json::from_slice(&body(&mut r)).unwrap();
    assert_eq!(
        j["proof"].as_array().unwrap().len(),
        merkle::inclusion_proof_len(3, 100).unwrap()
    );

    // Restart: same keys, every acknowledged entry kept, consistent checkpoint.
    reg.stop();
    let reg = start(dir.path(), |_| {});
    let base = reg.url();
    let v2 = verifier(&base, origin);
    assert_eq!(v2.log_keys, v.log_keys);
    let cp3 = checkpoint(&base, &v);
    assert_eq!(cp3.checkpoint.size, 257);
    acked.extend(submit_all(&base, &v, &m, 257, 8, 2));
    let cp4 = checkpoint(&base, &v);
    assert_eq!(cp4.checkpoint.size, 273);
    consistency(&base, &cp2, &cp4);
    assert_eq!(root_from_tiles(&base, 273), cp4.checkpoint.root);
    // Every acknowledged entry is in the bundles at its index.
    let mut r = a
        .get(format!("{base}/log/tile/entries/000"))
        .call()
        .unwrap();
    let b0 = body(&mut r);
    let bundle = pqreg_spec::tile::parse_entry_bundle(&b0, 256).unwrap();
    for (i, e) in &acked {
        if *i < 256 {
            assert_eq!(bundle[*i as usize], e.as_bytes());
        }
    }
    assert_eq!(acked.len(), 272);
    reg.stop();
}

/// A manifest PUT that moves a tag appends one tag entry; re-pushing the same manifest
/// under the same tag appends nothing.
#[test]
fn tag_move_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let base = reg.url();
    let a = agent();
    let cfg = b"{}";
    common::push_blob(&a, &base, "acme/model", cfg);
    let layer = b"layer";
    common::push_blob(&a, &base, "acme/model", layer);
    let m = common::image_manifest(cfg, &[layer], None);
    assert_eq!(
        common::put_manifest(&a, &base, "acme/model", "v1", &m).status(),
        201
    );
    assert_eq!(
        common::put_manifest(&a, &base, "acme/model", "v1", &m).status(),
        201
    );
    let v = verifier(&base, "127.0.0.1:0/log");
    let cp = checkpoint(&base, &v);
    assert_eq!(cp.checkpoint.size, 1);
    let mut r = a
        .get(format!("{base}/log/tile/entries/000.p/1"))
        .call()
        .unwrap();
    let b = body(&mut r);
    let entries = pqreg_spec::tile::parse_entry_bundle(&b, 1).unwrap();
    let e = pqreg_spec::logentry::LogEntry::parse(entries[0]).unwrap();
    let text = String::from_utf8(e.encode().unwrap()).unwrap();
    assert!(
        text.contains("kind tag\nrepository acme/model\ntag v1\n"),
        "{text}"
    );
    assert!(text.contains(&format!("manifest {}", pqreg_spec::Digest::sha256(&m))));
    reg.stop();
}
