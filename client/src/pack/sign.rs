//! Signing a model manifest (spec/signing.md): the in-toto statement over the plaintext
//! files, bound to the manifest digest; its DSSE envelope signed with ML-DSA; the
//! Sigstore bundle with its log entry (from the [`LogHook`]); the OCI referrer manifest
//! that stores it next to the model. An optional classical ECDSA P-256 bundle signs the
//! same statement bytes for OMS tools.
//!
//! [`sign_model`] is the one signing step: `push` ([`super::pack_model`]) and a
//! recipient change ([`crate::rewrap`]) both call it, so a log hook set on
//! [`SignOptions`] applies to both.

use pqreg_spec::Digest;
use pqreg_spec::bundle::referrer::{self, ReferrerManifest};
use pqreg_spec::bundle::{Bundle, TlogEntry, oms_key_hint};
use pqreg_spec::dsse::{Envelope, Signer};
use pqreg_spec::keys::{KeyId, SignatureAlgorithm, SigningKey};
use pqreg_spec::oci::{self, Descriptor};
use pqreg_spec::statement::{Binding, FileEntry, PAYLOAD_TYPE, Statement};

use super::{BlobSink, PackError};
use crate::Error;

/// What a log hook is asked to record (spec/transparency-log.md §3 entry fields).
#[derive(Debug)]
pub struct LogRequest<'r> {
    /// The model manifest digest.
    pub manifest_digest: Digest,
    /// SHA-256 of the DSSE payload (the statement bytes).
    pub statement_digest: Digest,
    /// The signer's key ID.
    pub key_id: KeyId,
    /// The signature algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The bundle, with no log entries yet.
    pub bundle: &'r Bundle,
}

/// Fills a bundle's `tlogEntries`: the log client implements it (submits the entry,
/// returns it with its inclusion proof and checkpoint).
pub trait LogHook {
    /// The entries to put in the bundle of `req`.
    fn log_entries(&mut self, req: &LogRequest<'_>) -> Result<Vec<TlogEntry>, Error>;
}

/// A bundle as stored.
#[derive(Debug, Clone)]
pub struct SignedBundle {
    /// The bundle.
    pub bundle: Bundle,
    /// Its JSON bytes (the referrer's layer).
    pub bundle_json: Vec<u8>,
    /// The referrer manifest's digest.
    pub referrer_digest: Digest,
    /// The referrer manifest bytes.
    pub referrer: Vec<u8>,
    /// Bytes handed to the sink for it.
    pub stored_bytes: u64,
}

/// Who signs, and where its log entry comes from.
pub struct SignOptions<'a> {
    /// The ML-DSA key that signs the statement.
    pub signing_key: &'a SigningKey,
    /// An optional ECDSA P-256 key for a second, classical bundle OMS tools verify.
    pub classic_key: Option<&'a SigningKey>,
    /// Called once for the ML-DSA bundle to obtain its transparency-log entries; `None`
    /// leaves `tlogEntries` empty.
    pub log_hook: Option<&'a mut dyn LogHook>,
    /// The repository, tag, version and signing time the statement binds
    /// (spec/signing.md §3.1); `None` signs an unbound statement, which pull refuses.
    pub binding: Option<Binding>,
}

impl std::fmt::Debug for SignOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOptions")
            .field("signing_key", &self.signing_key.key_id())
            .field("classic_key", &self.classic_key.map(SigningKey::key_id))
            .field("log_hook", &self.log_hook.is_some())
            .field("binding", &self.binding)
            .finish()
    }
}

impl SignOptions<'_> {
    /// Refuses a non-ML-DSA signing key and a classical key that is not ECDSA P-256.
    pub fn check_keys(&self) -> Result<(), PackError> {
        let a = self.signing_key.alg();
        if !a.is_ml_dsa() {
            return Err(PackError::NotPostQuantum(a.name()));
        }
        if let Some(c) = self.classic_key
            && c.alg() != SignatureAlgorithm::EcdsaP256Sha256
        {
            return Err(PackError::NotClassical(c.alg().name()));
        }
        Ok(())
    }
}

/// Signs the model `manifest` whose plaintext files are `files` (spec/signing.md §3:
/// statement with the manifest annotation, DSSE, bundle with the log hook's entries) and
/// stores each bundle in `sink` as a referrer of `manifest` (§5). Returns the ML-DSA
/// bundle and, with a classical key, the classical one.
pub fn sign_model(
    signer: &mut SignOptions<'_>,
    model_name: &str,
    files: &[FileEntry],
    manifest: &Descriptor,
    sink: &mut impl BlobSink,
) -> Result<(SignedBundle, Option<SignedBundle>), Error> {
    let statement = Statement::from_files(model_name, files, Some(manifest.digest))
        .map_err(|e| Error::Spec(e.into()))?;
    sign_statement(signer, statement, manifest, sink)
}

/// Signs `statement` (an unbound statement over `manifest`; the signer's binding is
/// added) and stores the bundles as [`sign_model`] does: what `pqreg tag` uses to sign
/// an already verified statement for another tag.
pub fn sign_statement(
    signer: &mut SignOptions<'_>,
    mut statement: Statement,
    manifest: &Descriptor,
    sink: &mut impl BlobSink,
) -> Result<(SignedBundle, Option<SignedBundle>), Error> {
    signer.check_keys()?;
    if let Some(b) = &signer.binding {
        statement.binding = None;
        statement = statement
            .with_binding(b.clone())
            .map_err(|e| Error::Spec(e.into()))?;
    }
    let payload = statement.to_json();
    let key = signer.signing_key;
    let pq = store_bundle(
        signer,
        key,
        key.key_id().to_string(),
        payload.clone(),
        manifest,
        sink,
    )?;
    let classic = match signer.classic_key {
        Some(k) => {
            let hint = oms_key_hint(&k.verifying_key().to_spki_der());
            Some(store_bundle(signer, k, hint, payload, manifest, sink)?)
        }
        None => None,
    };
    Ok((pq, classic))
}

fn store_bundle(
    opts: &mut SignOptions<'_>,
    key: &SigningKey,
    hint: String,
    payload: Vec<u8>,
    manifest: &Descriptor,
    sink: &mut impl BlobSink,
) -> Result<SignedBundle, Error> {
    let env = Envelope::sign(PAYLOAD_TYPE, payload, &[key as &dyn Signer])
        .map_err(|e| Error::Spec(e.into()))?;
    let mut bundle = Bundle::new(hint, env, Vec::new());
    // The classical bundle carries no log entry (spec/signing.md §4).
    if key.alg().is_ml_dsa()
        && let Some(hook) = opts.log_hook.as_deref_mut()
    {
        let req = LogRequest {
            manifest_digest: manifest.digest,
            statement_digest: bundle.statement_digest(),
            key_id: key.key_id(),
            algorithm: key.alg(),
            bundle: &bundle,
        };
        let entries = hook.log_entries(&req)?;
        bundle.tlog_entries = entries;
    }
    let bundle_json = bundle.to_json();
    let subject = referrer::Descriptor {
        media_type: manifest.media_type.clone(),
        digest: manifest.digest,
        size: manifest.size,
    };
    let mut r = ReferrerManifest::new(&bundle_json, subject, key.alg().name());
    // The tag the statement is bound to, as an ordering hint for pulls (spec/signing.md §5).
    r.tag = opts.binding.as_ref().and_then(|b| b.tag.clone());
    let referrer_json = r.to_json();
    let bundle_desc = Descriptor::new(r.bundle.media_type.clone(), r.bundle.digest, r.bundle.size);
    sink.put_blob_bytes(&Descriptor::empty(), oci::EMPTY_JSON)?;
    sink.put_blob_bytes(&bundle_desc, &bundle_json)?;
    let mut referrer_desc = Descriptor::of(oci::media_types::OCI_MANIFEST, &referrer_json);
    referrer_desc.artifact_type = Some(pqreg_spec::bundle::BUNDLE_MEDIA_TYPE.to_owned());
    sink.put_manifest(&referrer_desc, &referrer_json, None)?;
    Ok(SignedBundle {
        stored_bytes: (bundle_json.len() + referrer_json.len() + 2) as u64,
        bundle,
        referrer_digest: referrer_desc.digest,
        referrer: referrer_json,
        bundle_json,
    })
}
