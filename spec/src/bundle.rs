//! The Sigstore bundle v0.3 that carries a pqreg signature (spec/signing.md, "The bundle").
//!
//! A bundle is JSON in the protobuf JSON mapping of `sigstore/protobuf-specs`
//! (`sigstore_bundle.proto`, `sigstore_rekor.proto`, `sigstore_common.proto`): lowerCamelCase
//! names, `int64` as decimal strings, `bytes` as standard base64. It holds the DSSE envelope
//! ([`crate::dsse::Envelope`]), a public-key hint and the transparency-log entries.
//!
//! The types are written here rather than taken from a sigstore crate: `sigstore-bundle`
//! pulls an HTTP stack (via `sigstore-rekor`/`sigstore-tsa`) into a crate that must do no
//! network I/O, and `sigstore_protobuf_specs` brings prost, prost-reflect and protobuf code
//! generation while parsing permissively (unknown fields, numbers or strings for `int64`),
//! where pqreg refuses anything not exactly of the format.
//!
//! Log entries are exposed as raw fields; their cryptographic checks (inclusion proof,
//! checkpoint signature, consistency) belong to the `merkle`, `checkpoint` and `logentry`
//! modules. [`Bundle::pqreg_log_entry`] only checks the structure pqreg requires.

pub mod referrer;
pub mod verify;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::dsse::{DsseError, Envelope, SigningError, WireEnvelope, decode_base64};

/// The bundle media type (also the OCI `artifactType` of the referrer).
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The `kindVersion.kind` of a pqreg log entry.
pub const PQREG_ENTRY_KIND: &str = "pqreg-entry";
/// The `kindVersion.version` of a pqreg log entry.
pub const PQREG_ENTRY_VERSION: &str = "0.1";
/// Largest bundle JSON accepted, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 32 << 20;
/// Most transparency-log entries one bundle may carry.
pub const MAX_TLOG_ENTRIES: usize = 8;
/// Most hashes in one inclusion proof (a tree of 2^64 leaves needs 64).
pub const MAX_PROOF_HASHES: usize = 64;
/// Largest `canonicalizedBody` accepted, in bytes.
pub const MAX_ENTRY_BYTES: usize = 64 << 10;
/// Largest checkpoint envelope accepted, in bytes.
pub const MAX_CHECKPOINT_BYTES: usize = 64 << 10;
/// Longest public-key hint accepted, in bytes.
pub const MAX_HINT_BYTES: usize = 256;

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Not JSON of the bundle's shape (syntax, missing, unknown or duplicate fields).
    #[error("bundle is malformed: {0}")]
    Json(String),
    /// Larger than its limit.
    #[error("bundle {what} is {got} bytes or items, limit {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// `mediaType` is not [`BUNDLE_MEDIA_TYPE`].
    #[error("bundle mediaType is {0:?}, expected {BUNDLE_MEDIA_TYPE:?}")]
    WrongMediaType(String),
    /// `verificationMaterial` has none, or more than one, of publicKey/certificate/chain.
    #[error(
        "verificationMaterial must hold exactly one of publicKey, certificate, x509CertificateChain"
    )]
    BadVerificationMaterial,
    /// The key material is a certificate or chain; pqreg bundles carry a public-key hint.
    #[error("verificationMaterial is {0}; pqreg requires publicKey")]
    UnsupportedVerificationMaterial(&'static str),
    /// A field that must be a non-negative decimal `int64` string is not.
    #[error("bundle field {0} is not a canonical non-negative int64 string")]
    BadInteger(&'static str),
    /// A base64 field is malformed.
    #[error("bundle field {0} is not canonical base64")]
    BadBase64(&'static str),
    /// A hash in an inclusion proof is not 32 bytes.
    #[error("bundle field {0} is not a 32-byte hash")]
    BadHashLength(&'static str),
    /// The bundle carries no pqreg log entry.
    #[error("bundle carries no {PQREG_ENTRY_KIND} {PQREG_ENTRY_VERSION} log entry")]
    MissingLogEntry,
    /// The bundle carries more than one pqreg log entry.
    #[error("bundle carries {0} {PQREG_ENTRY_KIND} log entries, expected one")]
    DuplicateLogEntry(usize),
    /// A pqreg log entry is internally inconsistent.
    #[error("pqreg log entry is inconsistent: {0}")]
    BadLogEntry(&'static str),
    /// An OCI referrer manifest is not a bundle referrer.
    #[error("referrer manifest is not a bundle referrer: {0}")]
    BadReferrer(&'static str),
}

/// The signer's key as the bundle names it (`verificationMaterial` content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// `publicKey.hint`: pqreg writes the signer's key ID (`sha256:<hex>` of the SPKI
    /// DER); OMS writes [`oms_key_hint`]. Unauthenticated: it only selects the key.
    PublicKey {
        /// The hint.
        hint: String,
    },
    /// `certificate.rawBytes`: a DER X.509 certificate (Sigstore keyless). Parsed so OMS
    /// bundles can be read; pqreg does not verify with it.
    Certificate(Vec<u8>),
    /// `x509CertificateChain.certificates[].rawBytes`: leaf first. Parsed, not used.
    X509CertificateChain(Vec<Vec<u8>>),
}

/// An inclusion proof of a log entry (`InclusionProof`), with its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's index in the tree.
    pub log_index: u64,
    /// The root hash of the tree of `tree_size` leaves.
    pub root_hash: [u8; 32],
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The audit path, leaf to root.
    pub hashes: Vec<[u8; 32]>,
    /// `checkpoint.envelope`: the signed note (C2SP tlog-checkpoint) for `tree_size`.
    pub checkpoint: String,
}

/// One transparency-log entry of the bundle (`TransparencyLogEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    /// The entry's index in the log.
    pub log_index: u64,
    /// `logId.keyId`: for pqreg, SHA-256 of the log's checkpoint origin line.
    pub log_id: Vec<u8>,
    /// `kindVersion.kind` (pqreg: [`PQREG_ENTRY_KIND`]).
    pub kind: String,
    /// `kindVersion.version` (pqreg: [`PQREG_ENTRY_VERSION`]).
    pub version: String,
    /// When the log integrated the entry, Unix seconds.
    pub integrated_time: u64,
    /// `inclusionPromise.signedEntryTimestamp`, if any (Rekor; pqreg writes none).
    pub inclusion_promise: Option<Vec<u8>>,
    /// The inclusion proof.
    pub inclusion_proof: InclusionProof,
    /// The entry exactly as the log hashed it (leaf = SHA-256(0x00 || body)).
    pub canonicalized_body: Vec<u8>,
}

/// A Sigstore bundle v0.3 with a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Who signed (a hint, a certificate or a chain).
    pub key: KeyMaterial,
    /// The log entries, in bundle order.
    pub tlog_entries: Vec<TlogEntry>,
    /// `timestampVerificationData.rfc3161Timestamps[].signedTimestamp`, kept for
    /// round-tripping OMS bundles; pqreg does not use them.
    pub rfc3161_timestamps: Option<Vec<Vec<u8>>>,
    /// The signed envelope.
    pub dsse_envelope: Envelope,
}

/// The hint OMS's `model_signing` writes for a key: lowercase hex SHA-256 of the key's
/// SPKI as PEM text (64-column base64 lines, `\n` line ends, trailing newline).
pub fn oms_key_hint(spki_der: &[u8]) -> String {
    Digest::sha256(spki_pem(spki_der).as_bytes()).hex()
}

/// PEM text of an SPKI DER key (`PUBLIC KEY` label, 64-column lines).
pub fn spki_pem(spki_der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki_der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

impl Bundle {
    /// A bundle with a public-key hint, the envelope and the log entries.
    pub fn new(hint: String, dsse_envelope: Envelope, tlog_entries: Vec<TlogEntry>) -> Self {
        Self {
            key: KeyMaterial::PublicKey { hint },
            tlog_entries,
            rfc3161_timestamps: None,
            dsse_envelope,
        }
    }

    /// Parses a bundle strictly; the envelope is parsed as [`Envelope::from_json`] does.
    pub fn from_json(json: &[u8]) -> Result<Self, SigningError> {
        too_large("bundle", json.len(), MAX_BUNDLE_BYTES)?;
        let wire: WireBundle =
            serde_json::from_slice(json).map_err(|e| BundleError::Json(e.to_string()))?;
        if wire.media_type != BUNDLE_MEDIA_TYPE {
            return Err(BundleError::WrongMediaType(wire.media_type).into());
        }
        let vm = wire.verification_material;
        let key = match (vm.public_key, vm.certificate, vm.x509_certificate_chain) {
            (Some(pk), None, None) => {
                too_large("publicKey.hint", pk.hint.len(), MAX_HINT_BYTES)?;
                KeyMaterial::PublicKey { hint: pk.hint }
            }
            (None, Some(c), None) => {
                KeyMaterial::Certificate(b64(&c.raw_bytes, "certificate.rawBytes")?)
            }
            (None, None, Some(chain)) => KeyMaterial::X509CertificateChain(
                chain
                    .certificates
                    .iter()
                    .map(|c| b64(&c.raw_bytes, "x509CertificateChain.certificates"))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(BundleError::BadVerificationMaterial.into()),
        };
        let entries = vm.tlog_entries.unwrap_or_default();
        too_large("tlogEntries", entries.len(), MAX_TLOG_ENTRIES)?;
        let tlog_entries = entries
            .into_iter()
            .map(TlogEntry::from_wire)
            .collect::<Result<_, _>>()?;
        let rfc3161_timestamps = vm
            .timestamp_verification_data
            .map(|t| {
                t.rfc3161_timestamps
                    .iter()
                    .map(|s| b64(&s.signed_timestamp, "signedTimestamp"))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let dsse_envelope = Envelope::from_wire(wire.dsse_envelope)?;
        Ok(Self {
            key,
            tlog_entries,
            rfc3161_timestamps,
            dsse_envelope,
        })
    }

    /// The JSON form (field order as in spec/signing.md; `tlogEntries` always written).
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing owned strings cannot fail.
        serde_json::to_vec(&self.to_wire()).unwrap_or_default()
    }

    /// The public-key hint; a certificate or chain is refused.
    pub fn public_key_hint(&self) -> Result<&str, SigningError> {
        match &self.key {
            KeyMaterial::PublicKey { hint } => Ok(hint),
            KeyMaterial::Certificate(_) => {
                Err(BundleError::UnsupportedVerificationMaterial("certificate").into())
            }
            KeyMaterial::X509CertificateChain(_) => {
                Err(BundleError::UnsupportedVerificationMaterial("x509CertificateChain").into())
            }
        }
    }

    /// SHA-256 of the DSSE payload (the statement bytes): what a pqreg log entry records.
    pub fn statement_digest(&self) -> Digest {
        Digest::sha256(&self.dsse_envelope.payload)
    }

    /// The one pqreg log entry, checked for structure: kind and version, proof index equal
    /// to the entry index, index inside the tree. Its proof and checkpoint are for the log
    /// module to verify.
    pub fn pqreg_log_entry(&self) -> Result<&TlogEntry, SigningError> {
        let mut ours = self
            .tlog_entries
            .iter()
            .filter(|e| e.kind == PQREG_ENTRY_KIND && e.version == PQREG_ENTRY_VERSION);
        let first = ours.next().ok_or(BundleError::MissingLogEntry)?;
        let extra = ours.count();
        if extra > 0 {
            return Err(BundleError::DuplicateLogEntry(extra + 1).into());
        }
        let p = &first.inclusion_proof;
        if p.log_index != first.log_index {
            return Err(BundleError::BadLogEntry("inclusionProof.logIndex != logIndex").into());
        }
        if p.log_index >= p.tree_size {
            return Err(BundleError::BadLogEntry("logIndex outside the tree").into());
        }
        if first.log_id.len() != 32 {
            return Err(BundleError::BadLogEntry("logId.keyId is not 32 bytes").into());
        }
        Ok(first)
    }

    fn to_wire(&self) -> WireBundle {
        let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let (public_key, certificate, x509_certificate_chain) = match &self.key {
            KeyMaterial::PublicKey { hint } => (Some(WireHint { hint: hint.clone() }), None, None),
            KeyMaterial::Certificate(c) => (None, Some(WireCert { raw_bytes: enc(c) }), None),
            KeyMaterial::X509CertificateChain(cs) => (
                None,
                None,
                Some(WireChain {
                    certificates: cs.iter().map(|c| WireCert { raw_bytes: enc(c) }).collect(),
                }),
            ),
        };
        WireBundle {
            media_type: BUNDLE_MEDIA_TYPE.to_owned(),
            verification_material: WireMaterial {
                public_key,
                x509_certificate_chain,
                certificate,
                tlog_entries: Some(self.tlog_entries.iter().map(TlogEntry::to_wire).collect()),
                timestamp_verification_data: self.rfc3161_timestamps.as_ref().map(|ts| {
                    WireTimestamps {
                        rfc3161_timestamps: ts
                            .iter()
                            .map(|t| WireSignedTimestamp {
                                signed_timestamp: enc(t),
                            })
                            .collect(),
                    }
                }),
            },
            dsse_envelope: self.dsse_envelope.to_wire(),
        }
    }
}

impl TlogEntry {
    fn from_wire(w: WireTlogEntry) -> Result<Self, BundleError> {
        let p = w.inclusion_proof;
        too_large("inclusionProof.hashes", p.hashes.len(), MAX_PROOF_HASHES)?;
        too_large(
            "checkpoint.envelope",
            p.checkpoint.envelope.len(),
            MAX_CHECKPOINT_BYTES,
        )?;
        let hashes = p
            .hashes
            .iter()
            .map(|h| hash32(h, "inclusionProof.hashes"))
            .collect::<Result<_, _>>()?;
        let canonicalized_body = b64(&w.canonicalized_body, "canonicalizedBody")?;
        too_large(
            "canonicalizedBody",
            canonicalized_body.len(),
            MAX_ENTRY_BYTES,
        )?;
        Ok(Self {
            log_index: int64(&w.log_index, "logIndex")?,
            log_id: b64(&w.log_id.key_id, "logId.keyId")?,
            kind: w.kind_version.kind,
            version: w.kind_version.version,
            integrated_time: int64(&w.integrated_time, "integratedTime")?,
            inclusion_promise: w
                .inclusion_promise
                .map(|p| b64(&p.signed_entry_timestamp, "signedEntryTimestamp"))
                .transpose()?,
            inclusion_proof: InclusionProof {
                log_index: int64(&p.log_index, "inclusionProof.logIndex")?,
                root_hash: hash32(&p.root_hash, "inclusionProof.rootHash")?,
                tree_size: int64(&p.tree_size, "inclusionProof.treeSize")?,
                hashes,
                checkpoint: p.checkpoint.envelope,
            },
            canonicalized_body,
        })
    }

    fn to_wire(&self) -> WireTlogEntry {
        let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let p = &self.inclusion_proof;
        WireTlogEntry {
            log_index: self.log_index.to_string(),
            log_id: WireLogId {
                key_id: enc(&self.log_id),
            },
            kind_version: WireKindVersion {
                kind: self.kind.clone(),
                version: self.version.clone(),
            },
            integrated_time: self.integrated_time.to_string(),
            inclusion_promise: self.inclusion_promise.as_ref().map(|s| WirePromise {
                signed_entry_timestamp: enc(s),
            }),
            inclusion_proof: WireProof {
                log_index: p.log_index.to_string(),
                root_hash: enc(&p.root_hash),
                tree_size: p.tree_size.to_string(),
                hashes: p.hashes.iter().map(|h| enc(h)).collect(),
                checkpoint: WireCheckpoint {
                    envelope: p.checkpoint.clone(),
                },
            },
            canonicalized_body: enc(&self.canonicalized_body),
        }
    }
}

fn too_large(what: &'static str, got: usize, limit: usize) -> Result<(), BundleError> {
    if got > limit {
        Err(BundleError::TooLarge { what, got, limit })
    } else {
        Ok(())
    }
}

fn b64(s: &str, field: &'static str) -> Result<Vec<u8>, BundleError> {
    decode_base64(field, s).map_err(|e| match e {
        DsseError::BadBase64(f) => BundleError::BadBase64(f),
        _ => BundleError::BadBase64(field),
    })
}

fn hash32(s: &str, field: &'static str) -> Result<[u8; 32], BundleError> {
    b64(s, field)?
        .try_into()
        .map_err(|_| BundleError::BadHashLength(field))
}

/// Protobuf JSON `int64`: pqreg reads only the string form, canonical decimal, >= 0.
fn int64(s: &str, field: &'static str) -> Result<u64, BundleError> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    let v: u64 = if canonical {
        s.parse().map_err(|_| BundleError::BadInteger(field))?
    } else {
        return Err(BundleError::BadInteger(field));
    };
    if v > i64::MAX as u64 {
        return Err(BundleError::BadInteger(field));
    }
    Ok(v)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireBundle {
    media_type: String,
    verification_material: WireMaterial,
    dsse_envelope: WireEnvelope,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<WireHint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x509_certificate_chain: Option<WireChain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<WireCert>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tlog_entries: Option<Vec<WireTlogEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp_verification_data: Option<WireTimestamps>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireHint {
    hint: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireCert {
    raw_bytes: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireChain {
    certificates: Vec<WireCert>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireTimestamps {
    rfc3161_timestamps: Vec<WireSignedTimestamp>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireSignedTimestamp {
    signed_timestamp: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireTlogEntry {
    log_index: String,
    log_id: WireLogId,
    kind_version: WireKindVersion,
    integrated_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inclusion_promise: Option<WirePromise>,
    inclusion_proof: WireProof,
    canonicalized_body: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireLogId {
    key_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireKindVersion {
    kind: String,
    version: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WirePromise {
    signed_entry_timestamp: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireProof {
    log_index: String,
    root_hash: String,
    tree_size: String,
    hashes: Vec<String>,
    checkpoint: WireCheckpoint,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireCheckpoint {
    envelope: String,
}
