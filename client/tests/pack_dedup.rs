//! Dedup across versions (spec/artifact.md §10, spec/encryption.md §5.2): re-packing an
//! unchanged model with the previous index encodes and stores no chunk (each keeps its
//! layer and key); changing one tensor stores exactly that tensor's chunk; a chunk that
//! comes back after a version without it is sealed under a new key; a file rewritten
//! between the hashing read and the sealing read is refused.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::fs;

use crate::pack_common::*;
use pqreg::chunker::safetensors::Header;
use pqreg::pack::{DirSink, PackOptions, PackedModel, pack_model};

fn repack(
    dir: &std::path::Path,
    layout: &std::path::Path,
    keys: &Keys,
    prev: &PackedModel,
) -> PackedModel {
    let rcpt = [keys.recipient.public_key().unwrap()];
    let mut opts = PackOptions::new(&keys.signer);
    opts.binding = Some(pqreg_spec::statement::Binding {
        repository: "registry.example/models/tiny".into(),
        tag: Some("v1".into()),
        version: 1,
        signed_at: 0,
    });
    opts.recipients = &rcpt;
    opts.previous = Some(&prev.index);
    let mut sink = DirSink::create(layout).unwrap();
    pack_model(dir, &mut opts, &mut sink).unwrap()
}

#[test]
fn unchanged_model_stores_no_chunk() {
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let v1 = pack(&tiny(), &layout, &keys, true);
    let before = blobs(&layout);
    let v2 = repack(&tiny(), &layout, &keys, &v1);
    assert_eq!(v2.stats.encoded_chunks, 0, "{:?}", v2.stats);
    assert_eq!(v2.stats.new_chunk_blobs, 0);
    assert_eq!(v2.stats.reused_chunks, v1.stats.encoded_chunks);
    // Same chunks, same layers, same keys.
    assert_eq!(v2.index, v1.index);
    // New blobs: config (new envelope), index (sealed under the new version's own
    // content secret), manifest, bundle, referrer; no chunk.
    let new: Vec<_> = blobs(&layout).difference(&before).cloned().collect();
    assert_eq!(new.len(), 5, "{new:?}");
    assert_ne!(
        v2.secret, v1.secret,
        "every version has its own content secret"
    );
    let chunk_layers: std::collections::BTreeSet<String> =
        v1.index.layers().iter().map(|(d, _)| d.hex()).collect();
    assert!(new.iter().all(|b| !chunk_layers.contains(b)));
    // v2 pulls.
    let out = tmp.path().join("out");
    unpack(
        &layout,
        &v2.manifest_digest,
        &keys,
        &policy_for(&keys.signer),
        &out,
    )
    .unwrap();
    assert_eq!(tree(&out), tree(&tiny()));
}

#[test]
fn one_changed_tensor_stores_one_chunk() {
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let v1 = pack(&tiny(), &layout, &keys, true);
    let model = tmp.path().join("model");
    copy_dir(&tiny(), &model);
    let st = model.join("model.safetensors");
    let mut bytes = fs::read(&st).unwrap();
    let h = Header::parse(&bytes, bytes.len() as u64).unwrap();
    // The largest tensor has a chunk of its own (>= 1 MiB tensors are not grouped; at
    // tiny's size the largest may be grouped: either way one chunk changes).
    let t = h.tensors.iter().max_by_key(|t| t.len()).unwrap();
    let at = (h.data_start() + t.begin + 10) as usize;
    bytes[at] ^= 0x01;
    fs::write(&st, &bytes).unwrap();
    let before = blobs(&layout);
    let v2 = repack(&model, &layout, &keys, &v1);
    assert_eq!(v2.stats.encoded_chunks, 1, "{:?}", v2.stats);
    assert_eq!(v2.stats.new_chunk_blobs, 1);
    assert_eq!(v2.stats.reused_chunks, v1.stats.encoded_chunks - 1);
    let new_layers: Vec<_> = v2
        .index
        .layers()
        .into_iter()
        .filter(|(d, _)| !before.contains(&d.hex()))
        .collect();
    assert_eq!(new_layers.len(), 1);
    let out = tmp.path().join("out");
    unpack(
        &layout,
        &v2.manifest_digest,
        &keys,
        &policy_for(&keys.signer),
        &out,
    )
    .unwrap();
    assert_eq!(tree(&out), tree(&model));
}

#[test]
fn reused_layer_missing_from_destination_is_refused() {
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let v1 = pack(&tiny(), &tmp.path().join("a"), &keys, true);
    let rcpt = [keys.recipient.public_key().unwrap()];
    let mut opts = PackOptions::new(&keys.signer);
    opts.binding = Some(pqreg_spec::statement::Binding {
        repository: "registry.example/models/tiny".into(),
        tag: Some("v1".into()),
        version: 1,
        signed_at: 0,
    });
    opts.recipients = &rcpt;
    opts.previous = Some(&v1.index);
    let mut sink = DirSink::create(&tmp.path().join("b")).unwrap();
    let err = pack_model(&tiny(), &mut opts, &mut sink).unwrap_err();
    assert!(
        matches!(
            err,
            pqreg::Error::Pack(pqreg::pack::PackError::ReusedLayerMissing { .. })
        ),
        "{err}"
    );
}

/// A chunk dropped in one version and restored in the next is sealed again, under a new
/// key: a key never seals two byte strings, whatever the encoder (version 1 derived the
/// key from the chunk digest, so a re-encoding under another zstd would have reused key
/// and nonces on different bodies).
#[test]
fn restored_chunk_is_sealed_under_a_new_key() {
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let v1 = pack(&tiny(), &layout, &keys, true);
    let model = tmp.path().join("model");
    copy_dir(&tiny(), &model);
    let st = model.join("model.safetensors");
    let orig = fs::read(&st).unwrap();
    let mut bytes = orig.clone();
    let h = Header::parse(&bytes, bytes.len() as u64).unwrap();
    let t = h.tensors.iter().max_by_key(|t| t.len()).unwrap();
    bytes[(h.data_start() + t.begin + 10) as usize] ^= 0x01;
    fs::write(&st, &bytes).unwrap();
    let v2 = repack(&model, &layout, &keys, &v1);
    fs::write(&st, &orig).unwrap();
    let v3 = repack(&model, &layout, &keys, &v2);
    assert_eq!(v3.stats.encoded_chunks, 1, "{:?}", v3.stats);
    let chunks = |p: &PackedModel| -> Vec<pqreg_spec::artifact::Chunk> {
        p.index
            .files
            .iter()
            .flat_map(|f| f.chunks.clone())
            .collect()
    };
    let in_v2: std::collections::BTreeSet<_> = chunks(&v2).iter().map(|c| c.digest).collect();
    let restored: Vec<_> = chunks(&v3)
        .into_iter()
        .filter(|c| !in_v2.contains(&c.digest))
        .collect();
    assert_eq!(restored.len(), 1);
    let before = chunks(&v1)
        .into_iter()
        .find(|c| c.digest == restored[0].digest)
        .unwrap();
    assert_ne!(
        before.key, restored[0].key,
        "the restored chunk reused its old key"
    );
    assert_ne!(before.layer, restored[0].layer);
    let out = tmp.path().join("out");
    unpack(
        &layout,
        &v3.manifest_digest,
        &keys,
        &policy_for(&keys.signer),
        &out,
    )
    .unwrap();
    assert_eq!(tree(&out), tree(&tiny()));
}

/// A file rewritten between the read that hashes and chunks it and the read that seals it
/// (same length, modification time put back, so only the content tells) is refused:
/// the digest the index lists is that of the bytes actually sealed
/// (spec/encryption.md §5.2). Version 1 sealed the second read under a key derived from
/// the first read's digest and pushed it.
#[test]
fn file_rewritten_between_hashing_and_sealing_is_refused() {
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    copy_dir(&tiny(), &model);
    let st = model.join("model.safetensors");
    let rewrite = || {
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&st)
            .unwrap();
        let mtime = f.metadata().unwrap().modified().unwrap();
        let mut bytes = fs::read(&st).unwrap();
        let at = bytes.len() - 100;
        bytes[at] ^= 0xff;
        use std::io::Write as _;
        (&f).write_all(&bytes).unwrap();
        f.set_modified(mtime).unwrap();
    };
    let rcpt = [keys.recipient.public_key().unwrap()];
    for encrypted in [true, false] {
        copy_dir(&tiny(), &model);
        let mut opts = PackOptions::new(&keys.signer);
        if encrypted {
            opts.recipients = &rcpt;
        }
        opts.between_passes = Some(&rewrite);
        let layout = tmp.path().join(format!("layout-{encrypted}"));
        let mut sink = DirSink::create(&layout).unwrap();
        let err = pack_model(&model, &mut opts, &mut sink).unwrap_err();
        assert!(
            matches!(
                &err,
                pqreg::Error::Pack(pqreg::pack::PackError::FileChanged(p)) if p.ends_with("model.safetensors")
            ),
            "{err}"
        );
        // Nothing names the rewritten chunk: no manifest, no tag.
        let idx: serde_json::Value =
            serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
        assert_eq!(idx["manifests"].as_array().map_or(0, Vec::len), 0, "{idx}");
    }
}
