//! `pqreg::rewrap::change_recipients` on an OCI image layout (no network): what a
//! recipient change writes (the new config, manifest, bundle and referrer, and on removal
//! a re-sealed index: no chunk), who can open the result, and that a removal rotates the
//! content secret (spec/encryption.md §4.4).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::Path;

use pqreg::pack::{DirSink, SignOptions};
use pqreg::rewrap::{
    RecipientChange, RecipientsError, RewrapOptions, Rewrapped, change_recipients, own_key_policy,
};
use pqreg::unpack::{DirSource, UnpackOptions, read_index};
use pqreg_spec::Digest;
use pqreg_spec::keys::{KemAlgorithm, RecipientPrivateKey, SignatureAlgorithm, SigningKey};
use pqreg_spec::policy::Policy;
use pqreg_spec::segment::{ChunkKey, OpenReader};

use crate::pack_common::{Keys, REPO, pack, policy_for, tiny, tree, unpack};

fn blobs(layout: &Path) -> BTreeSet<String> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn change(
    layout: &Path,
    digest: &Digest,
    change: RecipientChange<'_>,
    identity: &RecipientPrivateKey,
    signer: &SigningKey,
    policy: &Policy,
) -> Result<Rewrapped, pqreg::Error> {
    let source = DirSource::open(layout).unwrap();
    let mut sink = DirSink::create(layout).unwrap();
    let mut verify = UnpackOptions::new(REPO, policy);
    verify.identity = Some(identity);
    let mut opts = RewrapOptions {
        verify,
        signer: SignOptions {
            signing_key: signer,
            classic_key: None,
            log_hook: None,
            binding: Some(pqreg_spec::statement::Binding {
                repository: REPO.into(),
                tag: Some("v1".into()),
                version: 2,
                signed_at: 0,
            }),
        },
        tag: Some("v1".into()),
    };
    change_recipients(&source, &mut sink, digest, change, &mut opts)
}

#[test]
fn add_then_remove() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let keys = Keys::new();
    let packed = pack(&tiny(), &layout, &keys, true);
    let own = own_key_policy(&keys.signer.verifying_key());
    let second = Keys {
        signer: SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap(),
        recipient: RecipientPrivateKey::generate(KemAlgorithm::MlKem1024).unwrap(),
    };
    let before = blobs(&layout);

    // Add an ML-KEM-1024 recipient.
    let added = change(
        &layout,
        &packed.manifest_digest,
        RecipientChange::Add(&second.recipient.public_key().unwrap()),
        &keys.recipient,
        &keys.signer,
        &own,
    )
    .unwrap();
    let new: BTreeSet<String> = blobs(&layout).difference(&before).cloned().collect();
    let expected: BTreeSet<String> = [
        Digest::sha256(&added.config.to_json()),
        added.manifest_digest,
        added.bundle.referrer_digest,
        Digest::sha256(&added.bundle.bundle_json),
    ]
    .iter()
    .map(|d| d.hex().to_owned())
    .collect();
    assert_eq!(
        new, expected,
        "only the config, manifest and signature are new"
    );
    assert_eq!(added.recipients.len(), 2);
    assert_eq!(added.previous_signer, keys.signer.key_id());
    let policy = policy_for(&keys.signer);
    let out = dir.path().join("out-second");
    unpack(&layout, &added.manifest_digest, &second, &policy, &out).unwrap();
    assert_eq!(tree(&out), tree(&tiny()));

    // Remove the first recipient, with the second's identity.
    let removed = change(
        &layout,
        &added.manifest_digest,
        RecipientChange::Remove(keys.recipient.key_id().unwrap()),
        &second.recipient,
        &keys.signer,
        &own,
    )
    .unwrap();
    assert_eq!(removed.recipients, vec![second.recipient.key_id().unwrap()]);
    let e = unpack(
        &layout,
        &removed.manifest_digest,
        &keys,
        &policy,
        &dir.path().join("out-removed"),
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), pqreg::exit::DECRYPTION, "{e}");
    assert!(!dir.path().join("out-removed").exists());

    // Revocation (spec/encryption.md §4.4): the removal drew a new content secret and
    // sealed the index again; the secret the removed key unwrapped from the older version
    // does not open the new index.
    let source = DirSource::open(&layout).unwrap();
    let (_, _, old_secret) =
        read_index(&source, &packed.manifest_digest, Some(&keys.recipient)).unwrap();
    let old_secret = old_secret.unwrap();
    let index_layer = index_layer_of(&layout, &removed.manifest_digest);
    assert_ne!(
        index_layer,
        index_layer_of(&layout, &packed.manifest_digest)
    );
    let mut plain = Vec::new();
    let opened =
        OpenReader::new(&index_layer[..], ChunkKey::index_key(&old_secret)).read_to_end(&mut plain);
    assert!(opened.is_err(), "the old secret opened the rotated index");
    // The remaining recipient reads the same index: the same chunks, with the same keys.
    let (_, index, _) =
        read_index(&source, &removed.manifest_digest, Some(&second.recipient)).unwrap();
    assert_eq!(index, packed.index);
    assert_eq!(
        removed.reused_layers,
        packed.index.layers().len(),
        "every chunk layer is reused, the index is new"
    );
}

/// The sealed index layer (layer 0) of the manifest `digest` in the layout.
fn index_layer_of(layout: &Path, digest: &Digest) -> Vec<u8> {
    let bytes = std::fs::read(layout.join("blobs/sha256").join(digest.hex())).unwrap();
    let m = pqreg_spec::artifact::ModelManifest::from_json(&bytes).unwrap();
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(m.index_layer().digest.hex()),
    )
    .unwrap()
}

#[test]
fn refusals() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let keys = Keys::new();
    let packed = pack(&tiny(), &layout, &keys, true);
    let own = own_key_policy(&keys.signer.verifying_key());
    let pk = keys.recipient.public_key().unwrap();
    let before = blobs(&layout);
    let stranger = RecipientPrivateKey::generate(KemAlgorithm::XWing).unwrap();
    let d = &packed.manifest_digest;

    // Each refusal names its reason.
    let refused = |c: RecipientChange<'_>| {
        change(&layout, d, c, &keys.recipient, &keys.signer, &own).unwrap_err()
    };
    let id = keys.recipient.key_id().unwrap();
    let sid = stranger.key_id().unwrap();
    for (e, want) in [
        (refused(RecipientChange::Add(&pk)), "AlreadyRecipient"),
        (refused(RecipientChange::Remove(id)), "LastRecipient"),
        (refused(RecipientChange::Remove(sid)), "NotRecipient"),
    ] {
        let got = match &e {
            pqreg::Error::Recipients(RecipientsError::AlreadyRecipient(_)) => "AlreadyRecipient",
            pqreg::Error::Recipients(RecipientsError::LastRecipient(_)) => "LastRecipient",
            pqreg::Error::Recipients(RecipientsError::NotRecipient(_)) => "NotRecipient",
            _ => "other",
        };
        assert_eq!(got, want, "{e}");
        assert_eq!(e.exit_code(), pqreg::exit::ERROR);
    }
    // A non-recipient identity cannot unwrap the secret.
    let spk = stranger.public_key().unwrap();
    let e = change(
        &layout,
        d,
        RecipientChange::Add(&spk),
        &stranger,
        &keys.signer,
        &own,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), pqreg::exit::DECRYPTION, "{e}");
    // Another signer does not re-sign without a policy trusting the current signature.
    let other = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let e = change(
        &layout,
        d,
        RecipientChange::Add(&spk),
        &keys.recipient,
        &other,
        &own_key_policy(&other.verifying_key()),
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), pqreg::exit::UNTRUSTED_SIGNER, "{e}");
    // A classical key cannot sign the pqreg bundle.
    let p256 = SigningKey::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let e = change(
        &layout,
        d,
        RecipientChange::Add(&spk),
        &keys.recipient,
        &p256,
        &own,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            pqreg::Error::Pack(pqreg::pack::PackError::NotPostQuantum(_))
        ),
        "{e}"
    );
    assert_eq!(blobs(&layout), before, "a refused change writes nothing");
}
