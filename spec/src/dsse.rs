//! DSSE v1 envelopes and the pre-authentication encoding (spec/signing.md, "DSSE").
//!
//! An [`Envelope`] carries a payload, its type and one or more signatures. Each signature
//! is over [`pae`]`(payloadType, payload)` exactly as the DSSE protocol defines it
//! (`secure-systems-lab/dsse` `protocol.md`), so the type is authenticated together with the
//! body and no signature can be moved to another kind of document.
//!
//! Signing and verification go through the [`Signer`] and [`Verifier`] traits so that
//! ML-DSA-65/87 (the pqreg signature) and ECDSA P-256 (the optional classical OMS bundle)
//! plug in the same way. Parsing is strict: unknown or duplicate fields, non-canonical
//! base64 and oversized inputs are refused before anything is verified.
//!
//! This module also holds [`SigningError`], the one error type of the four signing modules
//! (`dsse`, `statement`, `bundle`, `policy`), with one typed sub-enum per module.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyId, SignatureAlgorithm};

/// Largest envelope JSON document accepted, in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 24 << 20;
/// Largest decoded payload accepted, in bytes (a statement for ~100k files fits).
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;
/// Most signatures one envelope may carry.
pub const MAX_SIGNATURES: usize = 16;
/// Largest decoded signature accepted, in bytes (ML-DSA-87 signatures are 4627 bytes).
pub const MAX_SIGNATURE_BYTES: usize = 8192;
/// Longest `keyid` or `payloadType` string accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// Errors of the signing formats: DSSE envelopes, statements, bundles and trust policies.
///
/// Each module has its own sub-enum so a caller (and a negative test) can tell exactly
/// which check failed; [`SigningError::exit_code`] maps each to the CLI exit code of
/// spec/signing.md.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// A DSSE envelope was malformed or its signatures did not verify.
    #[error(transparent)]
    Dsse(#[from] DsseError),
    /// An in-toto statement was malformed or did not match the content.
    #[error(transparent)]
    Statement(#[from] crate::statement::StatementError),
    /// A Sigstore bundle was malformed or lacked what pqreg requires.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// A trust policy was malformed or refused the signer.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
}

/// Why a DSSE envelope was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DsseError {
    /// The envelope is not JSON of the DSSE shape (syntax, missing, unknown or duplicate
    /// fields, trailing data).
    #[error("DSSE envelope is malformed: {0}")]
    Json(String),
    /// An input exceeds its size limit.
    #[error("DSSE {what} is {got} bytes, limit {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// A base64 field is not canonical standard or URL-safe base64 with padding.
    #[error("DSSE field {0} is not canonical base64")]
    BadBase64(&'static str),
    /// The envelope carries no signature at all.
    #[error("DSSE envelope has no signatures")]
    NoSignatures,
    /// The envelope carries more signatures than [`MAX_SIGNATURES`].
    #[error("DSSE envelope has {0} signatures, limit {MAX_SIGNATURES}")]
    TooManySignatures(usize),
    /// The payload type is not the one the caller expects.
    #[error("DSSE payloadType is {got:?}, expected {expected:?}")]
    WrongPayloadType {
        /// The type the caller accepts.
        expected: String,
        /// The type in the envelope.
        got: String,
    },
    /// Every signature names (by `keyid`) a key that is not among the accepted keys.
    #[error("DSSE envelope is signed only by keys that are not accepted: {0:?}")]
    UnknownSigner(Vec<String>),
    /// A signature names an accepted key but does not verify under it.
    #[error("DSSE signature by {0} does not verify")]
    BadSignature(KeyId),
    /// No signature carries a key hint, and none verifies under any accepted key.
    #[error("no DSSE signature verifies under any accepted key")]
    NoValidSignature,
    /// No verifier was supplied at all.
    #[error("no accepted keys were supplied to verify the DSSE envelope")]
    NoAcceptedKeys,
    /// A signer failed to produce a signature.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Something that signs bytes with one private key.
pub trait Signer {
    /// The key ID of the public key (`sha256:` of its SPKI DER, spec/keys.md).
    fn key_id(&self) -> KeyId;
    /// Signs `message` (for DSSE, the PAE bytes) and returns the raw signature.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError>;
}

/// Something that checks signatures under one public key.
pub trait Verifier {
    /// The key ID of the public key (`sha256:` of its SPKI DER, spec/keys.md).
    fn key_id(&self) -> KeyId;
    /// The signature algorithm of the key.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// Whether `signature` is a valid signature of `message` under this key.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool;
}

/// The DSSE pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal without
/// leading zeros (DSSE `protocol.md`).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let t = payload_type.as_bytes();
    let mut out = Vec::with_capacity(32 + t.len() + payload.len());
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(t.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(t);
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The unauthenticated key hint. pqreg writes the signer's [`KeyId`]
    /// (`sha256:<hex>`); OMS tools write `""` or nothing, both read as `None`.
    pub keyid: Option<String>,
    /// The raw signature bytes.
    pub sig: Vec<u8>,
}

/// A DSSE v1 envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The serialized body that was signed.
    pub payload: Vec<u8>,
    /// What the payload is (for pqreg, `application/vnd.in-toto+json`).
    pub payload_type: String,
    /// The signatures, each over `pae(payload_type, payload)`.
    pub signatures: Vec<Signature>,
}

/// What a successful [`Envelope::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'a> {
    /// The payload, now authenticated.
    pub payload: &'a [u8],
    /// The key that verified a signature.
    pub key_id: KeyId,
    /// That key's algorithm.
    pub algorithm: SignatureAlgorithm,
}

impl Envelope {
    /// Signs `payload` as `payload_type` with each signer, in order.
    pub fn sign(
        payload_type: &str,
        payload: Vec<u8>,
        signers: &[&dyn Signer],
    ) -> Result<Self, SigningError> {
        check_len("payloadType", payload_type.len(), MAX_NAME_BYTES)?;
        check_len("payload", payload.len(), MAX_PAYLOAD_BYTES)?;
        if signers.is_empty() {
            return Err(DsseError::NoSignatures.into());
        }
        if signers.len() > MAX_SIGNATURES {
            return Err(DsseError::TooManySignatures(signers.len()).into());
        }
        let message = pae(payload_type, &payload);
        let mut signatures = Vec::with_capacity(signers.len());
        for signer in signers {
            let sig = signer.sign(&message)?;
            check_len("signature", sig.len(), MAX_SIGNATURE_BYTES)?;
            signatures.push(Signature {
                keyid: Some(signer.key_id().to_string()),
                sig,
            });
        }
        Ok(Self {
            payload,
            payload_type: payload_type.to_owned(),
            signatures,
        })
    }

    /// Parses an envelope from its JSON form, strictly (see the module docs).
    pub fn from_json(json: &[u8]) -> Result<Self, SigningError> {
        check_len("envelope", json.len(), MAX_ENVELOPE_BYTES)?;
        let wire: WireEnvelope =
            serde_json::from_slice(json).map_err(|e| DsseError::Json(e.to_string()))?;
        Ok(Self::from_wire(wire)?)
    }

    /// The JSON form: `{"payload","payloadType","signatures":[{"keyid","sig"}]}`, standard
    /// base64 with padding, `keyid` omitted when there is none.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing owned strings and vectors cannot fail.
        serde_json::to_vec(&self.to_wire()).unwrap_or_default()
    }

    /// Verifies the envelope: the payload type must be `payload_type`, and at least one
    /// signature must verify under one of `accepted` over the PAE.
    ///
    /// A signature's `keyid`, when present, only narrows which accepted key is tried
    /// (DSSE: it MUST NOT be used for security decisions); without one, every accepted
    /// key is tried. The errors say which case failed: [`DsseError::NoSignatures`],
    /// [`DsseError::UnknownSigner`] (every signature names a key not accepted),
    /// [`DsseError::BadSignature`] (a signature names an accepted key and fails under it),
    /// [`DsseError::NoValidSignature`] (no hints, nothing verified).
    pub fn verify(
        &self,
        payload_type: &str,
        accepted: &[&dyn Verifier],
    ) -> Result<Verified<'_>, SigningError> {
        if self.payload_type != payload_type {
            return Err(DsseError::WrongPayloadType {
                expected: payload_type.to_owned(),
                got: self.payload_type.clone(),
            }
            .into());
        }
        if self.signatures.is_empty() {
            return Err(DsseError::NoSignatures.into());
        }
        if accepted.is_empty() {
            return Err(DsseError::NoAcceptedKeys.into());
        }
        let message = pae(&self.payload_type, &self.payload);
        let mut failed_named: Option<KeyId> = None;
        let mut unknown = Vec::new();
        for signature in &self.signatures {
            let hinted: Option<KeyId> = signature
                .keyid
                .as_deref()
                .and_then(|k| k.parse().ok())
                .map(KeyId);
            let candidates: Vec<&&dyn Verifier> = match hinted {
                Some(id) => accepted.iter().filter(|v| v.key_id() == id).collect(),
                None if signature.keyid.is_some() => Vec::new(),
                None => accepted.iter().collect(),
            };
            if candidates.is_empty() {
                unknown.push(signature.keyid.clone().unwrap_or_default());
                continue;
            }
            for v in candidates {
                if v.verify(&message, &signature.sig) {
                    return Ok(Verified {
                        payload: &self.payload,
                        key_id: v.key_id(),
                        algorithm: v.algorithm(),
                    });
                }
            }
            if let Some(id) = hinted {
                failed_named.get_or_insert(id);
            }
        }
        let err = if let Some(id) = failed_named {
            DsseError::BadSignature(id)
        } else if unknown.len() == self.signatures.len() {
            DsseError::UnknownSigner(unknown)
        } else {
            DsseError::NoValidSignature
        };
        Err(err.into())
    }

    pub(crate) fn from_wire(wire: WireEnvelope) -> Result<Self, DsseError> {
        check_len_dsse("payloadType", wire.payload_type.len(), MAX_NAME_BYTES)?;
        if wire.signatures.len() > MAX_SIGNATURES {
            return Err(DsseError::TooManySignatures(wire.signatures.len()));
        }
        let payload = decode_base64("payload", &wire.payload)?;
        check_len_dsse("payload", payload.len(), MAX_PAYLOAD_BYTES)?;
        let mut signatures = Vec::with_capacity(wire.signatures.len());
        for s in wire.signatures {
            let sig = decode_base64("sig", &s.sig)?;
            check_len_dsse("signature", sig.len(), MAX_SIGNATURE_BYTES)?;
            let keyid = s.keyid.filter(|k| !k.is_empty());
            if let Some(k) = &keyid {
                check_len_dsse("keyid", k.len(), MAX_NAME_BYTES)?;
            }
            signatures.push(Signature { keyid, sig });
        }
        Ok(Self {
            payload,
            payload_type: wire.payload_type,
            signatures,
        })
    }

    pub(crate) fn to_wire(&self) -> WireEnvelope {
        let b64 = base64::engine::general_purpose::STANDARD;
        WireEnvelope {
            payload: b64.encode(&self.payload),
            payload_type: self.payload_type.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|s| WireSignature {
                    keyid: s.keyid.clone(),
                    sig: b64.encode(&s.sig),
                })
                .collect(),
        }
    }
}

/// The envelope as it appears in JSON (also embedded in a bundle's `dsseEnvelope`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireEnvelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<WireSignature>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSignature {
    // OMS: "Verifiers MUST accept any of: absent, empty string, or null".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyid: Option<String>,
    sig: String,
}

/// Decodes canonical base64 with padding, standard or URL-safe alphabet (DSSE: verifiers
/// MUST accept either). Non-canonical trailing bits and missing padding are refused.
pub(crate) fn decode_base64(field: &'static str, s: &str) -> Result<Vec<u8>, DsseError> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .map_err(|_| DsseError::BadBase64(field))
}

fn check_len_dsse(what: &'static str, got: usize, limit: usize) -> Result<(), DsseError> {
    if got > limit {
        Err(DsseError::TooLarge { what, got, limit })
    } else {
        Ok(())
    }
}

fn check_len(what: &'static str, got: usize, limit: usize) -> Result<(), SigningError> {
    Ok(check_len_dsse(what, got, limit)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // DSSE protocol.md "Test Vectors" (secure-systems-lab/dsse); the full case with its
    // signature is testdata/dsse_pae_hello_world.json.
    #[test]
    fn pae_known_answer() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn base64_is_canonical_either_alphabet() {
        assert_eq!(decode_base64("f", "-_8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("f", "+/8=").unwrap(), [0xfb, 0xff]);
        for bad in ["+/9=", "+/8", "+_8=", "+/8=\n", " +/8=", "+/8=="] {
            assert!(decode_base64("f", bad).is_err(), "{bad:?}");
        }
    }
}
