//! Changing who can decrypt a model (spec/encryption.md §4.4). The content secret is
//! opened with a current recipient's identity; then
//!
//! - **add**: the same secret is wrapped for the new key too (one more envelope entry);
//!   the new manifest names the same index and chunk layers;
//! - **remove**: a fresh content secret is sealed to the remaining recipients (their
//!   public keys are in the envelope), and the (small) index is sealed again under the
//!   new secret's index key; the chunk layers, and the chunk keys the index lists, stay.
//!   The removed key cannot open the new envelope nor the new index, so nothing pushed
//!   from this version on (fresh chunks under fresh keys, listed in indexes under fresh
//!   secrets) is readable to it.
//!
//! No chunk is re-encrypted or re-uploaded either way; the new manifest is signed like a
//! push ([`crate::pack::sign_model`]) and the tag moves to it.
//!
//! ```text
//!   verify the current version (signature, log, manifest binding; index = signed files)
//!   open the key envelope with the identity              -> content secret  (exit 14)
//!   add: envelope + one entry;  remove: new secret, envelope to the others, index resealed
//!   config' = config with the new envelope; manifest' = (new) index, same chunks, config'
//!   put config' (and index'), put manifest' by digest, sign manifest' (statement = the
//!   index's files, bound to manifest'), then move the tag
//! ```
//!
//! The current version is verified before it is re-signed, so a recipient change never
//! signs content the signer has not vouched for: a tag moved by someone else to a model
//! encrypted to the same identity is refused. [`own_key_policy`] is the policy for "I
//! re-sign what I signed".
//!
//! What a removed key keeps: the versions it was given, and so the keys of the chunks
//! they list (the new version shares those chunk blobs, which it could already read).

use pqreg_spec::Digest;
use pqreg_spec::artifact::{Config, ModelManifest, media_types as artifact_media};
use pqreg_spec::envelope::{ContentSecret, KeyEnvelope};
use pqreg_spec::keys::{KeyId, RecipientPublicKey, VerifyingKey};
use pqreg_spec::oci::{Descriptor, media_types};
use pqreg_spec::policy::{Policy, PolicyKey, Rule};
use pqreg_spec::statement::FileEntry;

use crate::Error;
use crate::pack::{BlobSink, SignOptions, SignedBundle, seal_index, sign_model};
use crate::unpack::{BlobSource, UnpackOptions, VerifiedIndex, verify_index};

/// Why a recipient change was refused (exit code 1: nothing was changed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecipientsError {
    /// The model is not encrypted: it has no recipients to change.
    #[error("{0} is not encrypted: it has no recipients; push it again with --recipient")]
    NotEncrypted(Digest),
    /// The key to add is already a recipient.
    #[error("{0} is already a recipient")]
    AlreadyRecipient(KeyId),
    /// The key to remove is not a recipient.
    #[error("{0} is not a recipient of this model; `pqreg inspect` lists them")]
    NotRecipient(KeyId),
    /// Removing the only recipient would leave nobody able to decrypt.
    #[error("{0} is the only recipient; add another before removing it")]
    LastRecipient(KeyId),
}

/// What to change.
#[derive(Debug, Clone, Copy)]
pub enum RecipientChange<'k> {
    /// Wrap the content secret for this key too.
    Add(&'k RecipientPublicKey),
    /// Drop this key: a new content secret for the others, the index sealed again.
    Remove(KeyId),
}

/// How to verify the current version and sign the new one.
pub struct RewrapOptions<'a> {
    /// Verification of the current version: the trust policy (see [`own_key_policy`]),
    /// keyring, log verifier, and the identity that opens the envelope (required).
    pub verify: UnpackOptions<'a>,
    /// Who signs the new manifest, and its log hook (as for a push).
    pub signer: SignOptions<'a>,
    /// The tag to move to the new manifest, if any.
    pub tag: Option<String>,
}

/// The result of [`change_recipients`].
#[derive(Debug)]
pub struct Rewrapped {
    /// The manifest the change started from.
    pub previous: Digest,
    /// Who had signed it (the key that verified).
    pub previous_signer: KeyId,
    /// The version its statement's binding names (spec/signing.md §3.1), if bound.
    pub previous_version: Option<u64>,
    /// The new manifest's digest.
    pub manifest_digest: Digest,
    /// The new manifest bytes.
    pub manifest: Vec<u8>,
    /// The new config.
    pub config: Config,
    /// The recipients of the new config, sorted.
    pub recipients: Vec<KeyId>,
    /// Layers (index and chunks) the new manifest shares with the old one: all of them
    /// after an add, all but the index after a remove.
    pub reused_layers: usize,
    /// The ML-DSA bundle of the new manifest.
    pub bundle: SignedBundle,
    /// The classical bundle, when a classical key was given.
    pub classic_bundle: Option<SignedBundle>,
}

/// A trust policy that accepts exactly `key`, for any repository, without the log: what
/// a signer uses to check it signed the version it is about to re-sign. (With no log
/// verifier, [`verify_index`] then leaves a carried log entry unchecked.)
pub fn own_key_policy(key: &VerifyingKey) -> Policy {
    Policy {
        require_log: false,
        min_algorithm: None,
        keys: vec![PolicyKey {
            name: None,
            id: key.key_id(),
            alg: key.alg(),
            public_key: Some(key.clone()),
        }],
        rules: vec![Rule {
            repositories: vec!["**".to_owned()],
            signers: vec![0],
            require_log: None,
            min_algorithm: None,
            max_age: None,
        }],
        logs: Vec::new(),
        max_age: None,
        mirrors: Vec::new(),
    }
}

/// Verifies the model `manifest_digest` of `source`, applies `change` to its recipients,
/// and stores the new config, manifest and signature in `sink` (see the module docs).
pub fn change_recipients<S: BlobSource, K: BlobSink>(
    source: &S,
    sink: &mut K,
    manifest_digest: &Digest,
    change: RecipientChange<'_>,
    opts: &mut RewrapOptions<'_>,
) -> Result<Rewrapped, Error> {
    opts.signer.check_keys()?;
    let VerifiedIndex {
        model,
        config,
        index,
        secret,
        signature,
        ..
    } = verify_index(source, manifest_digest, &opts.verify)?;
    // The new version is newer than the one it replaces (spec/signing.md §3.1).
    if let (Some(new), Some(old)) = (
        opts.signer.binding.as_mut(),
        signature.statement.binding.as_ref(),
    ) {
        new.version = new.version.max(old.version.saturating_add(1));
    }
    let (Some(envelope), Some(secret)) = (&config.key_envelope, &secret) else {
        return Err(RecipientsError::NotEncrypted(*manifest_digest).into());
    };
    let mut envelope = envelope.clone();
    let spec = |e: pqreg_spec::envelope::EnvelopeError| Error::Spec(e.into());
    // A removal replaces the index layer: (descriptor, sealed bytes).
    let mut new_index = None;
    match change {
        RecipientChange::Add(pk) => {
            let id = pk.key_id();
            if envelope.key_ids().any(|k| *k == id) {
                return Err(RecipientsError::AlreadyRecipient(id).into());
            }
            envelope.add_recipient(secret, pk).map_err(spec)?;
        }
        RecipientChange::Remove(id) => {
            if !envelope.key_ids().any(|k| *k == id) {
                return Err(RecipientsError::NotRecipient(id).into());
            }
            if envelope.recipients().len() == 1 {
                return Err(RecipientsError::LastRecipient(id).into());
            }
            envelope.remove_recipient(&id).map_err(spec)?;
            // Rotate: the removed key knows `secret`, so nothing new is sealed under it.
            let fresh = ContentSecret::generate().map_err(spec)?;
            envelope = KeyEnvelope::seal(&fresh, &envelope.public_keys()).map_err(spec)?;
            let sealed = seal_index(&index, &fresh)?;
            let desc = Descriptor::of(artifact_media::INDEX_ENCRYPTED, &sealed);
            new_index = Some((desc, sealed));
        }
    }
    let recipients: Vec<KeyId> = envelope.key_ids().copied().collect();
    let config = Config {
        key_envelope: Some(envelope),
        ..config
    };
    let config_json = config.to_json();
    let index_desc = match &new_index {
        Some((d, _)) => d.clone(),
        None => model.index_layer().clone(),
    };
    let new = ModelManifest::build(
        &config_json,
        model.encrypted,
        index_desc,
        model.chunk_layers().to_vec(),
        model.manifest.annotations.clone(),
    );
    let manifest = new.manifest.to_json();
    let desc = Descriptor::of(media_types::OCI_MANIFEST, &manifest);

    // By digest first, signature next, tag last: the tag never names an unsigned manifest.
    sink.put_blob_bytes(new.config(), &config_json)?;
    if let Some((d, bytes)) = &new_index {
        sink.put_blob_bytes(d, bytes)?;
    }
    sink.put_manifest(&desc, &manifest, None)?;
    let files: Vec<FileEntry> = index
        .files
        .iter()
        .map(|f| FileEntry {
            path: f.path.clone(),
            digest: f.digest,
            size: f.size,
        })
        .collect();
    let (bundle, classic_bundle) = sign_model(
        &mut opts.signer,
        &signature.statement.model_name,
        &files,
        &desc,
        sink,
    )?;
    if let Some(tag) = &opts.tag {
        sink.put_manifest(&desc, &manifest, Some(tag))?;
    }
    Ok(Rewrapped {
        previous: *manifest_digest,
        previous_signer: signature.key_id,
        previous_version: signature.statement.binding.as_ref().map(|b| b.version),
        manifest_digest: desc.digest,
        manifest,
        config,
        recipients,
        reused_layers: model.manifest.layers.len() - usize::from(new_index.is_some()),
        bundle,
        classic_bundle,
    })
}
