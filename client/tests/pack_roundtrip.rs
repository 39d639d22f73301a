//! Pack testdata/models/tiny into an OCI layout and unpack it: encrypted (X-Wing
//! recipient, ML-DSA-65 signer) and unencrypted; every file byte-identical.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::os::unix::fs::PermissionsExt;

use crate::pack_common::*;
use pqreg_spec::artifact::media_types;
use pqreg_spec::oci::ImageManifest;

fn round_trip(encrypted: bool) {
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let packed = pack(&tiny(), &layout, &keys, encrypted);
    assert!(layout.join("oci-layout").is_file());
    assert!(layout.join("index.json").is_file());
    let m = ImageManifest::from_json(&packed.manifest).unwrap();
    let (idx_type, chunk_type) = if encrypted {
        (media_types::INDEX_ENCRYPTED, media_types::CHUNK_ENCRYPTED)
    } else {
        (media_types::INDEX, media_types::CHUNK)
    };
    assert_eq!(m.layers[0].media_type, idx_type);
    assert!(m.layers[1..].iter().all(|l| l.media_type == chunk_type));
    assert_eq!(packed.config.is_encrypted(), encrypted);
    assert_eq!(packed.stats.files, 3);
    assert!(packed.stats.new_chunk_blobs >= 3);
    // bf16 weights compress: the chunk layers are smaller than the model.
    assert!(
        packed.stats.layer_bytes < packed.stats.model_bytes,
        "{:?}",
        packed.stats
    );

    let out = tmp.path().join("out");
    let policy = policy_for(&keys.signer);
    let report = unpack(&layout, &packed.manifest_digest, &keys, &policy, &out).unwrap();
    assert_eq!(report.files, 3);
    assert_eq!(report.encrypted, encrypted);
    assert_eq!(report.signer, keys.signer.key_id());
    assert_eq!(tree(&out), tree(&tiny()));
    let mode = std::fs::metadata(out.join("config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    assert!(leftovers(tmp.path()).is_empty());
    // An existing output directory is refused and left alone.
    let err = unpack(&layout, &packed.manifest_digest, &keys, &policy, &out).unwrap_err();
    assert_eq!(err.exit_code(), pqreg::exit::ALREADY_EXISTS, "{err}");
    assert_eq!(tree(&out), tree(&tiny()));
}

#[test]
fn encrypted_round_trip() {
    round_trip(true);
}

#[test]
fn unencrypted_round_trip() {
    round_trip(false);
}

#[test]
fn tag_resolves_and_bundle_is_a_referrer() {
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let packed = pack(&tiny(), &layout, &keys, true);
    let src = pqreg::unpack::DirSource::open(&layout).unwrap();
    assert_eq!(src.resolve("v1"), Some(packed.manifest_digest));
    use pqreg::unpack::BlobSource;
    let refs = src.referrers(&packed.manifest_digest).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].digest, packed.bundle.referrer_digest);
}

#[test]
fn classic_bundle_is_a_second_referrer() {
    use pqreg_spec::keys::{SignatureAlgorithm, SigningKey};
    let keys = Keys::new();
    let ec = SigningKey::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let mut opts = pqreg::pack::PackOptions::new(&keys.signer);
    opts.binding = Some(pqreg_spec::statement::Binding {
        repository: "registry.example/models/tiny".into(),
        tag: Some("v1".into()),
        version: 1,
        signed_at: 0,
    });
    opts.classic_key = Some(&ec);
    let mut sink = pqreg::pack::DirSink::create(&layout).unwrap();
    let packed = pqreg::pack::pack_model(&tiny(), &mut opts, &mut sink).unwrap();
    let classic = packed.classic_bundle.as_ref().unwrap();
    // Both bundles sign the very same statement bytes (spec/signing.md 3.2).
    assert_eq!(
        classic.bundle.dsse_envelope.payload,
        packed.bundle.bundle.dsse_envelope.payload
    );
    let src = pqreg::unpack::DirSource::open(&layout).unwrap();
    use pqreg::unpack::BlobSource;
    assert_eq!(src.referrers(&packed.manifest_digest).unwrap().len(), 2);
    // The puller picks the ML-DSA bundle.
    let out = tmp.path().join("out");
    let report = unpack(
        &layout,
        &packed.manifest_digest,
        &keys,
        &policy_for(&keys.signer),
        &out,
    )
    .unwrap();
    assert_eq!(report.signer, keys.signer.key_id());
}

#[test]
fn walk_refuses_symlinks_bad_names_and_empty_dirs() {
    use pqreg::pack::{DirSink, PackError, PackOptions, pack_model};
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    std::fs::create_dir_all(model.join("sub")).unwrap();
    let mut sink = DirSink::create(&tmp.path().join("layout")).unwrap();
    let mut opts = PackOptions::new(&keys.signer);
    opts.binding = Some(pqreg_spec::statement::Binding {
        repository: "registry.example/models/tiny".into(),
        tag: Some("v1".into()),
        version: 1,
        signed_at: 0,
    });
    let err = pack_model(&model, &mut opts, &mut sink).unwrap_err();
    assert!(
        matches!(err, pqreg::Error::Pack(PackError::EmptyModel)),
        "{err}"
    );
    std::fs::write(model.join("sub/w.bin"), b"weights").unwrap();
    std::os::unix::fs::symlink("sub/w.bin", model.join("link.bin")).unwrap();
    let err = pack_model(&model, &mut opts, &mut sink).unwrap_err();
    assert!(
        matches!(err, pqreg::Error::Pack(PackError::Symlink(_))),
        "{err}"
    );
    assert_eq!(err.exit_code().code, 1);
    opts.follow_symlinks = true;
    let packed = pack_model(&model, &mut opts, &mut sink).unwrap();
    let paths: Vec<_> = packed.index.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["link.bin", "sub/w.bin"]);
    std::fs::remove_file(model.join("link.bin")).unwrap();
    std::fs::write(model.join("caf\u{e9}.txt"), b"x").unwrap();
    let err = pack_model(&model, &mut opts, &mut sink).unwrap_err();
    assert!(
        matches!(err, pqreg::Error::Pack(PackError::BadPath { .. })),
        "{err}"
    );
}

/// A safetensors file past the size where packing hashes the whole file on a second
/// thread (scan.rs, 8 MiB): its digest in the index is the file's SHA-256, and the
/// model unpacks (step 9 re-hashes it against the statement).
#[test]
fn large_file_digest_hashed_in_parallel() {
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    pqreg::chunker::synth::write_bf16_model(&model, 64, 7).unwrap();
    let packed = pack(&model, &tmp.path().join("layout"), &keys, true);
    let bytes = std::fs::read(model.join("model.safetensors")).unwrap();
    assert!(bytes.len() > 64 << 20);
    let f = packed
        .index
        .files
        .iter()
        .find(|f| f.path == "model.safetensors")
        .unwrap();
    assert_eq!(f.digest, pqreg_spec::Digest::sha256(&bytes));
    assert!(f.chunks.len() > 1);
    let out = tmp.path().join("out");
    let policy = policy_for(&keys.signer);
    unpack(
        &tmp.path().join("layout"),
        &packed.manifest_digest,
        &keys,
        &policy,
        &out,
    )
    .unwrap();
    assert_eq!(tree(&out), tree(&model));
}

#[test]
fn chunks_sealed_in_memory_or_in_files_unpack_alike() {
    use pqreg::pack::{DirSink, PackOptions, pack_model};
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let rcpt = [keys.recipient.public_key().unwrap()];
    let mut layers = Vec::new();
    for budget in [pqreg::pack::MEMORY_BUDGET, 0] {
        let layout = tmp.path().join(format!("layout-{budget}"));
        let mut opts = PackOptions::new(&keys.signer);
        opts.binding = Some(pqreg_spec::statement::Binding {
            repository: "registry.example/models/tiny".into(),
            tag: Some("v1".into()),
            version: 1,
            signed_at: 0,
        });
        opts.recipients = &rcpt;
        opts.memory_budget = budget;
        let mut sink = DirSink::create(&layout).unwrap();
        let packed = pack_model(&tiny(), &mut opts, &mut sink).unwrap();
        let m = ImageManifest::from_json(&packed.manifest).unwrap();
        // Every layer is in the layout and hashes to its digest.
        for l in &m.layers {
            let path = layout.join("blobs/sha256").join(l.digest.hex());
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(pqreg_spec::Digest::sha256(&bytes), l.digest);
            assert_eq!(bytes.len() as u64, l.size);
        }
        let out = tmp.path().join(format!("out-{budget}"));
        let policy = policy_for(&keys.signer);
        unpack(&layout, &packed.manifest_digest, &keys, &policy, &out).unwrap();
        assert_eq!(tree(&out), tree(&tiny()));
        layers.push(m.layers);
    }
    // The same chunks encode to the same lengths either way, but every sealing draws its
    // own key (spec/encryption.md §5.2), so no blob is shared between the two packs.
    assert_eq!(layers[0].len(), layers[1].len());
    for (a, b) in layers[0].iter().zip(&layers[1]).skip(1) {
        assert_eq!(a.size, b.size);
        assert_ne!(a.digest, b.digest);
    }
}

#[test]
fn memory_budget_grants_and_gives_back() {
    let b = pqreg::pack::MemoryBudget::new(100);
    let g1 = b.try_take(60).unwrap();
    assert!(b.try_take(41).is_none(), "over the limit");
    let g2 = b.try_take(40).unwrap();
    assert_eq!(b.used(), 100);
    drop(g1);
    assert_eq!(b.used(), 40);
    assert!(b.try_take(61).is_none());
    drop(g2);
    assert_eq!(b.used(), 0);
    assert!(b.try_take(101).is_none(), "larger than the whole budget");
}

#[test]
fn memory_budget_hands_given_back_buffers_out_again() {
    let b = pqreg::pack::MemoryBudget::new(1000);
    let g = b.try_take(600).unwrap();
    let mut buf = b.buffer(600);
    buf.extend_from_slice(&[7; 600]);
    let ptr = buf.as_ptr();
    g.give_back(bytes::Bytes::from(buf));
    assert_eq!(b.used(), 0, "the grant is given back with the buffer");
    assert!(b.spare_bytes() >= 600);
    let again = b.buffer(500);
    assert!(again.is_empty() && again.capacity() >= 600);
    assert_eq!(again.as_ptr(), ptr, "the same allocation");
    assert_eq!(b.spare_bytes(), 0);
    // A buffer someone else still holds is not kept; nor one past the limit.
    let shared = bytes::Bytes::from(vec![1u8; 100]);
    b.try_take(100).unwrap().give_back(shared.clone());
    assert_eq!(b.spare_bytes(), 0);
    let mut big = Vec::with_capacity(1001);
    big.push(1u8);
    b.try_take(10).unwrap().give_back(bytes::Bytes::from(big));
    assert_eq!(b.spare_bytes(), 0);
    assert_eq!(b.used(), 0);
}

/// A signer whose index lies: model B's files and chunk digests (what the statement
/// signs), but its chunk layers are model A's (same shapes; built through `previous`,
/// which trusts the publisher's own index). Every blob digest, the signature and the
/// statement binding hold; the per-chunk digest check of every pull (spec/encryption.md
/// §6.2) refuses it with exit 10 and leaves nothing, with or without `verify_plaintext`.
/// (Before the check, a pull without `verify_plaintext` wrote A's weights.)
#[test]
fn chunk_digests_catch_a_signer_whose_index_lies() {
    use pqreg::pack::{DirSink, PackOptions, pack_model};
    use pqreg::unpack::{DirSource, UnpackOptions, unpack_model};
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let (model_a, model_b) = (tmp.path().join("a"), tmp.path().join("b"));
    pqreg::chunker::synth::write_bf16_model(&model_a, 2, 1).unwrap();
    pqreg::chunker::synth::write_bf16_model(&model_b, 2, 2).unwrap();
    let layout = tmp.path().join("layout");
    let a = pack(&model_a, &layout, &keys, false);
    let b_alone = pack(&model_b, &tmp.path().join("b-layout"), &keys, false);
    let mut forged = b_alone.index.clone();
    for (fb, fa) in forged.files.iter_mut().zip(&a.index.files) {
        assert_eq!(fb.chunks.len(), fa.chunks.len());
        for (cb, ca) in fb.chunks.iter_mut().zip(&fa.chunks) {
            assert_eq!(cb.length, ca.length);
            cb.layer = ca.layer;
            cb.layer_size = ca.layer_size;
        }
    }
    let mut opts = PackOptions::new(&keys.signer);
    opts.binding = Some(pqreg_spec::statement::Binding {
        repository: "registry.example/models/tiny".into(),
        tag: Some("v1".into()),
        version: 1,
        signed_at: 0,
    });
    opts.previous = Some(&forged);
    let mut sink = DirSink::create(&layout).unwrap();
    let lying = pack_model(&model_b, &mut opts, &mut sink).unwrap();
    assert_eq!(lying.stats.encoded_chunks, 0, "every chunk 'reused' from A");
    let policy = policy_for(&keys.signer);
    let src = DirSource::open(&layout).unwrap();
    let mut uo = UnpackOptions::new(REPO, &policy);
    for verify_plaintext in [true, false] {
        uo.verify_plaintext = verify_plaintext;
        let out = tmp.path().join(format!("lying-{verify_plaintext}"));
        let err = unpack_model(&src, &lying.manifest_digest, &uo, &out).unwrap_err();
        assert_eq!(err.exit_code().code, 10, "{err}");
        assert!(
            matches!(
                err,
                pqreg::Error::Unpack(pqreg::unpack::UnpackError::ChunkDigest { .. })
            ),
            "{err}"
        );
        assert!(!out.exists());
        assert!(
            leftovers(tmp.path()).is_empty(),
            "{:?}",
            leftovers(tmp.path())
        );
    }
    // And an honest model passes either way, hashed only when asked.
    for verify_plaintext in [false, true] {
        uo.verify_plaintext = verify_plaintext;
        let out = tmp.path().join(format!("honest-{verify_plaintext}"));
        let report = unpack_model(&src, &a.manifest_digest, &uo, &out).unwrap();
        assert_eq!(report.plaintext_hashed, verify_plaintext);
        assert_eq!(tree(&out), tree(&model_a));
    }
}
