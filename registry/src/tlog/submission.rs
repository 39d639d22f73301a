//! What the log accepts from outside: signed submissions (`POST <prefix>/v1/entries`,
//! spec/transparency-log.md §8.5) and, at manifest push, signature-bundle referrers that
//! must already be logged (spec/signing.md §5).
//!
//! A submission carries the DSSE envelope and the signer's public key; the registry
//! verifies the signature and the statement's manifest binding and writes the entry
//! itself, so nobody can log an entry in another key's name.

use base64::Engine as _;
use pqreg_spec::Digest;
use pqreg_spec::bundle::Bundle;
use pqreg_spec::dsse::{Envelope, SigningError};
use pqreg_spec::keys::{KeyId, VerifyingKey};
use pqreg_spec::logentry::{EntryKind, LogEntry, LogEntryError, check_repository, check_tag};
use pqreg_spec::statement::{PAYLOAD_TYPE, Statement};
use serde::Deserialize;

use super::{Log, LogError};

/// Largest submission body accepted, in bytes.
pub const MAX_SUBMISSION_BYTES: usize = 1 << 20;

/// The JSON body of a submission. The envelope is kept as its raw JSON text and parsed
/// once, strictly, by [`Envelope::from_json`] (no detour through `serde_json::Value`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    repository: String,
    #[serde(default)]
    tag: Option<String>,
    manifest: String,
    #[serde(rename = "dsseEnvelope", borrow)]
    dsse_envelope: &'a serde_json::value::RawValue,
    #[serde(rename = "publicKey")]
    public_key: String,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmissionError {
    /// The body is not the JSON object of §8.5 (syntax, missing or unknown fields).
    #[error("submission is malformed: {0}")]
    Json(String),
    /// The repository name or the tag breaks the grammar.
    #[error("{0}")]
    Name(#[source] LogEntryError),
    /// `manifest` is not `sha256:<64 hex>`.
    #[error("manifest is not a sha256 digest: {0}")]
    Manifest(String),
    /// `dsseEnvelope` is not a DSSE envelope.
    #[error("dsseEnvelope: {0}")]
    Envelope(#[source] SigningError),
    /// `publicKey` is not base64 of an SPKI DER signing key of spec/keys.md.
    #[error("publicKey: {0}")]
    PublicKey(String),
    /// The envelope has no signature that verifies under `publicKey`.
    #[error("signature does not verify: {0}")]
    Signature(#[source] SigningError),
    /// The payload is not a pqreg/OMS statement.
    #[error("statement: {0}")]
    Statement(#[source] SigningError),
    /// The statement does not bind `manifest` (spec/signing.md §3.1).
    #[error("statement does not bind the manifest: {0}")]
    Binding(#[source] SigningError),
}

/// A verified submission: everything the entry needs but the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The repository.
    pub repository: String,
    /// The tag, if given.
    pub tag: Option<String>,
    /// The manifest the statement binds.
    pub manifest: Digest,
    /// SHA-256 of the DSSE payload.
    pub statement: Digest,
    /// SHA-256 of the signer's SPKI DER.
    pub signer: KeyId,
}

impl Submission {
    /// Parses and verifies a submission body (at most [`MAX_SUBMISSION_BYTES`], checked by
    /// the caller). Does not check that the manifest exists: that is the registry's store.
    pub fn verify(body: &[u8]) -> Result<Self, SubmissionError> {
        let w: Wire =
            serde_json::from_slice(body).map_err(|e| SubmissionError::Json(e.to_string()))?;
        check_repository(&w.repository).map_err(SubmissionError::Name)?;
        if let Some(t) = &w.tag {
            check_tag(t).map_err(SubmissionError::Name)?;
        }
        let manifest: Digest = w
            .manifest
            .parse()
            .map_err(|_| SubmissionError::Manifest(w.manifest.chars().take(100).collect()))?;
        let envelope = Envelope::from_json(w.dsse_envelope.get().as_bytes())
            .map_err(SubmissionError::Envelope)?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(w.public_key.as_bytes())
            .map_err(|_| SubmissionError::PublicKey("not standard base64".into()))?;
        let key = VerifyingKey::from_spki_der(&der)
            .map_err(|e| SubmissionError::PublicKey(e.to_string()))?;
        let verified = envelope
            .verify(PAYLOAD_TYPE, &[&key])
            .map_err(SubmissionError::Signature)?;
        let statement =
            Statement::from_json(verified.payload).map_err(SubmissionError::Statement)?;
        statement
            .check_manifest(&manifest)
            .map_err(SubmissionError::Binding)?;
        Ok(Submission {
            repository: w.repository,
            tag: w.tag,
            manifest,
            statement: Digest::sha256(&envelope.payload),
            signer: KeyId::of_spki_der(&der),
        })
    }

    /// The entry the registry logs for this submission at `time`.
    pub fn entry(&self, time: u64) -> Result<LogEntry, LogEntryError> {
        LogEntry::signature(
            &self.repository,
            self.tag.as_deref(),
            self.manifest,
            self.statement,
            self.signer,
            time,
        )
    }
}

/// Why a signature-bundle referrer was refused (answered as `LOG_ENTRY_MISSING`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleCheckError {
    /// The bundle blob is not a Sigstore bundle.
    #[error("bundle does not parse: {0}")]
    Bundle(#[source] SigningError),
    /// The bundle has log entries but no pqreg entry (or a malformed one).
    #[error("bundle has no usable pqreg log entry: {0}")]
    NoEntry(#[source] SigningError),
    /// `logId.keyId` is not SHA-256 of this log's origin.
    #[error("bundle's log entry names another log")]
    OtherLog,
    /// `logIndex` is not below this log's size.
    #[error("log index {0} is not in this log")]
    NotInLog(u64),
    /// The log holds other bytes at `logIndex`.
    #[error("the log holds another entry at index {0}")]
    BodyMismatch(u64),
    /// The logged entry is not a signature entry for this repository, subject and
    /// statement; names the field that differs.
    #[error("the logged entry does not match the bundle: {0}")]
    EntryMismatch(&'static str),
    /// A classical bundle (no log entries) whose statement the log does not hold.
    #[error("no signature entry in the log for this repository, manifest and statement")]
    ClassicalNotLogged,
    /// The log could not be read.
    #[error(transparent)]
    Log(#[from] LogError),
}

impl Log {
    /// Checks that a bundle pushed as a referrer of `subject` in `repository` is logged
    /// here (spec/signing.md §5): a PQ bundle's entry must be in this log at `logIndex`
    /// byte for byte, a signature entry of this repository, subject and statement; a
    /// classical bundle (`tlogEntries: []`) needs such an entry anywhere in the log.
    pub fn check_bundle(
        &self,
        repository: &str,
        subject: &Digest,
        bundle_json: &[u8],
    ) -> Result<(), BundleCheckError> {
        let bundle = Bundle::from_json(bundle_json).map_err(BundleCheckError::Bundle)?;
        let statement = bundle.statement_digest();
        if bundle.tlog_entries.is_empty() {
            return if self.has_signature(repository, subject, &statement)? {
                Ok(())
            } else {
                Err(BundleCheckError::ClassicalNotLogged)
            };
        }
        let te = bundle
            .pqreg_log_entry()
            .map_err(BundleCheckError::NoEntry)?;
        if te.log_id != Digest::sha256(self.origin().as_bytes()).as_bytes() {
            return Err(BundleCheckError::OtherLog);
        }
        let index = te.log_index;
        let logged = self
            .entry(index)?
            .ok_or(BundleCheckError::NotInLog(index))?;
        if logged != te.canonicalized_body {
            return Err(BundleCheckError::BodyMismatch(index));
        }
        let e = LogEntry::parse(&logged).map_err(|_| BundleCheckError::BodyMismatch(index))?;
        let EntryKind::Signature { statement: s, .. } = e.kind else {
            return Err(BundleCheckError::EntryMismatch("kind"));
        };
        if !self.entry_names(&e, repository)? {
            return Err(BundleCheckError::EntryMismatch("repository"));
        }
        if e.manifest != *subject {
            return Err(BundleCheckError::EntryMismatch("manifest"));
        }
        if s != statement {
            return Err(BundleCheckError::EntryMismatch("statement"));
        }
        Ok(())
    }
}
