//! Verifying a model without its decryption key (`pqreg verify REF` without
//! `--identity`): what an auditor with no cluster key can check (spec/signing.md §7.1).
//!
//! Checked: the manifest digest, the signature under the trust policy, the log entry,
//! the statement's location binding, the config and index blobs against their
//! descriptors, and every chunk layer streamed, hashed against its descriptor and
//! discarded. Unencrypted, the index is read too and its files are checked against the
//! statement. Not checked without the key (encrypted models): that each layer decrypts
//! (segment tags), that the plaintext chunks hash to the index's chunk digests, and that
//! the files reassemble to the statement's file digests. Nothing is written to disk.

use std::io::Read as _;

use pqreg_spec::Digest;
use pqreg_spec::artifact::{Config, Index, MAX_CONFIG_LEN, MAX_INDEX_LEN};
use pqreg_spec::keys::{KeyId, SignatureAlgorithm};
use pqreg_spec::statement::Binding;

use super::fetch::{HashingReader, read_small};
use super::{BlobSource, UnpackOptions, file_entries, verify_statement};
use crate::Error;

/// What [`audit_model`] verified, and what it could not.
#[derive(Debug, Clone)]
pub struct AuditReport {
    /// The manifest digest.
    pub manifest_digest: Digest,
    /// The signer's key ID.
    pub signer: KeyId,
    /// Its algorithm.
    pub algorithm: SignatureAlgorithm,
    /// Whether a log entry was verified.
    pub log_verified: bool,
    /// Whether the model is encrypted.
    pub encrypted: bool,
    /// Key IDs of the recipients (empty when unencrypted).
    pub recipients: Vec<KeyId>,
    /// Files the signed statement lists.
    pub files: usize,
    /// Their plaintext bytes, as the statement's index says (`None`: encrypted, the sizes
    /// are in the encrypted index).
    pub bytes: Option<u64>,
    /// Chunk layers streamed and hashed against their descriptors.
    pub layers: usize,
    /// Blob bytes read (manifest, referrer, bundle, config, index, layers).
    pub blob_bytes: u64,
    /// The statement's repository, tag, version and signing time.
    pub binding: Option<Binding>,
    /// What could not be checked without the decryption key (empty when unencrypted).
    pub unchecked: Vec<&'static str>,
}

/// What an encrypted model's audit leaves unchecked.
pub const UNCHECKED_WITHOUT_KEY: [&str; 3] = [
    "that each chunk layer decrypts (its segment tags)",
    "that the decrypted chunks hash to the index's plaintext chunk digests",
    "that the files reassemble to the file digests the statement signs",
];

/// Verifies `manifest_digest` from `source` without a decryption key (`opts.identity` is
/// not used): see the module documentation for what is and is not checked.
pub fn audit_model<S: BlobSource + Sync>(
    source: &S,
    manifest_digest: &Digest,
    opts: &UnpackOptions<'_>,
) -> Result<AuditReport, Error> {
    let signed = verify_statement(source, manifest_digest, opts)?;
    let model = &signed.model;
    let config_bytes = read_small(source, "config", model.config(), MAX_CONFIG_LEN as u64)?;
    let config = Config::from_json(&config_bytes).map_err(|e| Error::Spec(e.into()))?;
    model
        .check_config(&config)
        .map_err(|e| Error::Spec(e.into()))?;
    let layer = model.index_layer();
    let max = MAX_INDEX_LEN as u64 + 22 * (MAX_INDEX_LEN as u64 >> 20) + 22;
    let index_blob = read_small(source, "index", layer, max)?;
    let statement = &signed.signature.statement;
    let encrypted = config.key_envelope.is_some();
    let mut bytes = None;
    if !encrypted {
        // An unencrypted index is plaintext: its files must be the signed ones.
        let index_json = super::fetch::open_small("index", layer, &index_blob, None)?;
        let index = Index::from_json(&index_json).map_err(|e| Error::Spec(e.into()))?;
        model
            .check_index(&index)
            .map_err(|e| Error::Spec(e.into()))?;
        statement
            .check_files(&file_entries(&index))
            .map_err(|e| Error::Spec(e.into()))?;
        bytes = Some(index.files.iter().map(|f| f.size).sum());
    }
    let chunks = model.chunk_layers();
    source.prefetch(chunks);
    let mut read = signed.blob_bytes + config_bytes.len() as u64 + layer.size;
    for desc in chunks {
        let blob = source.open_blob(&desc.digest)?;
        // Streamed to a sink through the hasher; one byte past the promised size is read
        // so that a longer blob is caught.
        HashingReader::new(blob.take(desc.size + 1), source.verified(&desc.digest))
            .finish("chunk", desc)?;
        read += desc.size;
    }
    Ok(AuditReport {
        manifest_digest: *manifest_digest,
        signer: signed.signature.key_id,
        algorithm: signed.signature.algorithm,
        log_verified: signed.log_verified,
        encrypted,
        recipients: config
            .key_envelope
            .as_ref()
            .map(|e| e.key_ids().copied().collect())
            .unwrap_or_default(),
        files: statement.resources.len(),
        bytes,
        layers: chunks.len(),
        blob_bytes: read,
        binding: statement.binding.clone(),
        unchecked: if encrypted {
            UNCHECKED_WITHOUT_KEY.to_vec()
        } else {
            Vec::new()
        },
    })
}
