//! `pqreg inspect`: what a model is, from its plaintext parts only (no decryption): the
//! manifest and media types, a summary of the chunk layers, the recipients' key IDs from
//! the config's key envelope, and every signature bundle among the referrers with the log
//! entries it carries.
//!
//! Nothing here is trusted. Without a trust policy, the signature fields are what the
//! bundles claim (hints, statement digest, log entry bodies). With one,
//! [`Signature::verification`] says whether each bundle's signature verifies under the
//! policy's keys for the repository and binds this manifest (spec/signing.md steps 3-5
//! and 7); the log proof (step 6) is checked only when a [`LogVerifier`] is given. `pqreg
//! verify` is the command that checks everything.
//!
//! The JSON shape ([`Inspection`], serialized with serde) is documented in
//! `client/OUTPUT.md`; its field names are stable.

use std::collections::BTreeMap;

use serde::Serialize;

use pqreg_spec::Digest;
use pqreg_spec::artifact::{Algorithms, Config, MAX_CONFIG_LEN, ModelManifest};
use pqreg_spec::bundle::referrer::{ANNOTATION_ALGORITHM, ReferrerManifest};
use pqreg_spec::bundle::verify::verify_signature;
use pqreg_spec::bundle::{BUNDLE_MEDIA_TYPE, Bundle, MAX_BUNDLE_BYTES, TlogEntry};
use pqreg_spec::dsse::Verifier;
use pqreg_spec::logentry::LogEntry;
use pqreg_spec::oci::Descriptor;
use pqreg_spec::policy::Policy;

use crate::Error;
use crate::unpack::{BlobSource, LogContext, LogVerifier, read_small};

/// Why a manifest cannot be inspected as a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// The manifest is valid OCI but not a pqreg model (another artifact, an image, an
    /// index).
    #[error(
        "{digest} is not a pqreg model ({reason}); `pqreg inspect` reads manifests pushed by `pqreg push`"
    )]
    NotAModel {
        /// The manifest.
        digest: Digest,
        /// What the format check said.
        reason: String,
    },
}

/// What [`inspect`] checks signatures with.
#[derive(Clone, Copy)]
pub struct InspectOptions<'a> {
    /// The policy and the repository (`host[:port]/path`) it is applied to.
    pub policy: Option<(&'a Policy, &'a str)>,
    /// Verifies log entries (spec/signing.md step 6); `None`: not checked.
    pub log_verifier: Option<&'a dyn LogVerifier>,
}

/// A descriptor, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct Blob {
    /// Media type.
    pub media_type: String,
    /// Digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
}

impl From<&Descriptor> for Blob {
    fn from(d: &Descriptor) -> Self {
        Blob {
            media_type: d.media_type.clone(),
            digest: d.digest,
            size: d.size,
        }
    }
}

/// The chunk layers (layers 1..n).
#[derive(Debug, Clone, Serialize)]
pub struct Layers {
    /// Number of chunk blobs.
    pub count: usize,
    /// Their total size in bytes.
    pub total_bytes: u64,
    /// Their media type (`None` when there are none).
    pub media_type: Option<String>,
}

/// One entry of the key envelope.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    /// The recipient key's ID.
    pub key_id: String,
    /// Its KEM (`x-wing`, `ml-kem-1024`).
    pub kem: String,
}

/// A transparency-log entry carried in a bundle (not verified by itself).
#[derive(Debug, Clone, Serialize)]
pub struct LogEntryInfo {
    /// The entry's index in the log.
    pub index: u64,
    /// The size of the tree its inclusion proof is for.
    pub tree_size: u64,
    /// The log's origin (first line of the carried checkpoint), if it reads as one.
    pub origin: Option<String>,
    /// When the log integrated it, POSIX seconds.
    pub integrated_time: u64,
    /// The entry kind (`signature`, `tag`), if the body parses.
    pub kind: Option<String>,
    /// The repository the entry names, if the body parses.
    pub repository: Option<String>,
    /// The tag the entry names, if any.
    pub tag: Option<String>,
    /// The manifest digest the entry names, if the body parses.
    pub manifest: Option<Digest>,
}

/// The outcome of checking one bundle against the trust policy.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Whether the signature verified, the signer is authorized for the repository, and
    /// the statement binds this manifest (and the log entry verified, when checked).
    pub verified: bool,
    /// The key that verified, if one did.
    pub signer: Option<String>,
    /// `verified`, `not-checked` (no log verifier, or not reached) or `absent`.
    pub log: &'static str,
    /// The exit-code name of the failure (client/EXIT_CODES.md), if it failed.
    pub error_code: Option<&'static str>,
    /// What failed.
    pub error: Option<String>,
}

/// One signature bundle among the referrers.
#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    /// The referrer manifest's digest.
    pub referrer: Digest,
    /// The algorithm the referrer's annotation names.
    pub algorithm: Option<String>,
    /// The bundle blob's digest.
    pub bundle: Option<Digest>,
    /// The bundle's public-key hint (the signer's key ID for pqreg bundles; the OMS
    /// PEM hash for classical ones). Unverified.
    pub key_hint: Option<String>,
    /// SHA-256 of the signed statement (the DSSE payload).
    pub statement_digest: Option<Digest>,
    /// The statement's subject name. Unverified.
    pub model_name: Option<String>,
    /// The manifest digest the statement binds, if any. Unverified.
    pub statement_manifest: Option<Digest>,
    /// The log entries the bundle carries.
    pub log_entries: Vec<LogEntryInfo>,
    /// The policy check (`None` without a policy).
    pub verification: Option<Verification>,
    /// Why the referrer or bundle could not be read, if it could not.
    pub error: Option<String>,
}

/// Everything `pqreg inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The manifest digest.
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// The config blob.
    pub config: Blob,
    /// The config's format version.
    pub format_version: u32,
    /// The config's algorithms.
    pub algorithms: Algorithms,
    /// Whether the model is encrypted.
    pub encrypted: bool,
    /// Layer 0, the index.
    pub index: Blob,
    /// The chunk layers.
    pub layers: Layers,
    /// The key envelope's recipients (empty when unencrypted).
    pub recipients: Vec<Recipient>,
    /// The signature bundles among the referrers.
    pub signatures: Vec<Signature>,
    /// Other referrers (not signature bundles), by digest and artifact type.
    pub other_referrers: Vec<Blob>,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Reads the model `digest` from `source` and describes it (see the module docs).
pub fn inspect<S: BlobSource>(
    source: &S,
    digest: &Digest,
    opts: InspectOptions<'_>,
) -> Result<Inspection, Error> {
    let bytes = source.get_manifest(digest)?;
    let actual = Digest::sha256(&bytes);
    if actual != *digest {
        return Err(crate::unpack::UnpackError::ManifestDigest {
            expected: *digest,
            actual,
        }
        .into());
    }
    let size = bytes.len() as u64;
    let model = check_model(&bytes, digest)?;
    let config_bytes = read_small(source, "config", model.config(), MAX_CONFIG_LEN as u64)?;
    let config = Config::from_json(&config_bytes).map_err(|e| Error::Spec(e.into()))?;
    model
        .check_config(&config)
        .map_err(|e| Error::Spec(e.into()))?;
    let chunks = model.chunk_layers();
    let recipients = config
        .key_envelope
        .as_ref()
        .map(|env| {
            env.recipients()
                .iter()
                .map(|r| Recipient {
                    key_id: r.key_id.to_string(),
                    kem: r.kem.name().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut signatures = Vec::new();
    let mut other_referrers = Vec::new();
    for r in source.referrers(digest)? {
        if r.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE) {
            signatures.push(signature(source, digest, &r, opts));
        } else {
            let mut b = Blob::from(&r);
            if let Some(t) = &r.artifact_type {
                b.media_type = t.clone();
            }
            other_referrers.push(b);
        }
    }
    Ok(Inspection {
        digest: *digest,
        media_type: model
            .manifest
            .media_type
            .clone()
            .unwrap_or_else(|| pqreg_spec::oci::media_types::OCI_MANIFEST.to_owned()),
        artifact_type: model.manifest.artifact_type.clone(),
        size,
        config: Blob::from(model.config()),
        format_version: config.format_version,
        algorithms: config.algorithms.clone(),
        encrypted: model.encrypted,
        index: Blob::from(model.index_layer()),
        layers: Layers {
            count: chunks.len(),
            total_bytes: chunks.iter().map(|d| d.size).sum(),
            media_type: chunks.first().map(|d| d.media_type.clone()),
        },
        recipients,
        signatures,
        other_referrers,
        annotations: model.manifest.annotations.clone().unwrap_or_default(),
    })
}

/// Reads one bundle referrer; failures become [`Signature::error`], not an error of the
/// whole inspection.
fn signature<S: BlobSource>(
    source: &S,
    subject: &Digest,
    r: &Descriptor,
    opts: InspectOptions<'_>,
) -> Signature {
    let mut sig = Signature {
        referrer: r.digest,
        algorithm: r
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_ALGORITHM))
            .cloned(),
        bundle: None,
        key_hint: None,
        statement_digest: None,
        model_name: None,
        statement_manifest: None,
        log_entries: Vec::new(),
        verification: None,
        error: None,
    };
    let read = || -> Result<(Digest, Vec<u8>), Error> {
        let bytes = source.get_manifest(&r.digest)?;
        let actual = Digest::sha256(&bytes);
        if actual != r.digest {
            return Err(crate::unpack::UnpackError::BlobDigest {
                what: "referrer manifest",
                expected: r.digest,
                actual,
            }
            .into());
        }
        let referrer = ReferrerManifest::from_json(&bytes).map_err(|e| Error::Spec(e.into()))?;
        let desc = Descriptor::new(
            referrer.bundle.media_type.clone(),
            referrer.bundle.digest,
            referrer.bundle.size,
        );
        let json = read_small(source, "bundle", &desc, MAX_BUNDLE_BYTES as u64)?;
        Ok((desc.digest, json))
    };
    let (bundle_digest, json) = match read() {
        Ok(v) => v,
        Err(e) => {
            sig.error = Some(e.to_string());
            return sig;
        }
    };
    sig.bundle = Some(bundle_digest);
    let bundle = match Bundle::from_json(&json) {
        Ok(b) => b,
        Err(e) => {
            sig.error = Some(e.to_string());
            return sig;
        }
    };
    sig.key_hint = bundle.public_key_hint().ok().map(str::to_owned);
    sig.statement_digest = Some(bundle.statement_digest());
    if let Ok(st) = pqreg_spec::statement::Statement::from_json(&bundle.dsse_envelope.payload) {
        sig.model_name = Some(st.model_name.clone());
        sig.statement_manifest = st.manifest;
    }
    sig.log_entries = bundle.tlog_entries.iter().map(log_entry_info).collect();
    if let Some((policy, repository)) = opts.policy {
        sig.verification = Some(verify(
            &json,
            subject,
            policy,
            repository,
            opts.log_verifier,
        ));
    }
    sig
}

fn log_entry_info(e: &TlogEntry) -> LogEntryInfo {
    let body = LogEntry::parse(&e.canonicalized_body).ok();
    LogEntryInfo {
        index: e.log_index,
        tree_size: e.inclusion_proof.tree_size,
        origin: e
            .inclusion_proof
            .checkpoint
            .split('\n')
            .next()
            .filter(|l| !l.is_empty())
            .map(str::to_owned),
        integrated_time: e.integrated_time,
        kind: body.as_ref().map(|b| b.kind.name().to_owned()),
        repository: body.as_ref().map(|b| b.repository.to_string()),
        tag: body
            .as_ref()
            .and_then(|b| b.tag.as_ref().map(ToString::to_string)),
        manifest: body.as_ref().map(|b| b.manifest),
    }
}

fn verify(
    bundle_json: &[u8],
    subject: &Digest,
    policy: &Policy,
    repository: &str,
    log_verifier: Option<&dyn LogVerifier>,
) -> Verification {
    let fail = |e: Error, signer: Option<String>, log: &'static str| Verification {
        verified: false,
        signer,
        log,
        error_code: Some(e.exit_code().name),
        error: Some(e.to_string()),
    };
    let spec = |e: pqreg_spec::dsse::SigningError| Error::Spec(e.into());
    let accepted: Vec<&dyn Verifier> = policy
        .verifying_keys_for(repository)
        .into_iter()
        .map(|k| k as &dyn Verifier)
        .collect();
    let v = match verify_signature(bundle_json, repository, policy, &accepted) {
        Ok(v) => v,
        Err(e) => return fail(spec(e), None, "not-checked"),
    };
    let signer = Some(v.key_id.to_string());
    if let Err(e) = v.statement.check_manifest(subject) {
        return fail(spec(e), signer, "not-checked");
    }
    let log = match (&v.log_entry, log_verifier) {
        (None, _) => "absent",
        (Some(_), None) => "not-checked",
        (Some(entry), Some(lv)) => {
            // As `unpack` passes it: the log verifier compares it with the entry.
            let ctx = LogContext {
                repository,
                manifest_digest: *subject,
                statement_digest: v.bundle.statement_digest(),
                key_id: v.key_id,
            };
            match lv.verify(entry, &ctx) {
                Ok(true) => "verified",
                // The verifier may skip an entry the policy does not require.
                Ok(false) => "not-checked",
                Err(e) => return fail(e, signer, "not-checked"),
            }
        }
    };
    Verification {
        verified: true,
        signer,
        log,
        error_code: None,
        error: None,
    }
}

/// Parses manifest `bytes` (of `digest`) as a pqreg model, or says why it is not one.
pub fn check_model(bytes: &[u8], digest: &Digest) -> Result<ModelManifest, Error> {
    ModelManifest::from_json(bytes).map_err(|e| {
        InspectError::NotAModel {
            digest: *digest,
            reason: e.to_string(),
        }
        .into()
    })
}
