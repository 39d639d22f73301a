//! Dedup within a lineage (spec/encryption.md §9, spec/artifact.md §10): re-packing an
//! unchanged model with the previous index encodes and stores no chunk; changing one
//! tensor stores exactly that tensor's chunk.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod pack_common;

use std::fs;

use pack_common::*;
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
    opts.lineage_secret = prev.lineage_secret.as_ref();
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
    assert_eq!(v2.index, v1.index);
    // New blobs: config (new envelope), manifest, bundle, referrer; no chunk, and the
    // index (same plaintext, same lineage) is the same blob.
    let new: Vec<_> = blobs(&layout).difference(&before).cloned().collect();
    assert_eq!(new.len(), 4, "{new:?}");
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
    opts.lineage_secret = v1.lineage_secret.as_ref();
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
