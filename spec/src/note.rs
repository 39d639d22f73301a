//! C2SP signed notes: parse, sign, verify, key IDs and verifier keys
//! (spec/transparency-log.md, "Signed notes"; c2sp.org/signed-note, c2sp.org/tlog-cosignature).
//!
//! ```text
//! <text, each line ending in \n>
//! <blank line>
//! — <key name> <base64(key ID (4 bytes, big-endian) || signature)>\n   (1..=MAX_SIGNATURES)
//! ```
//!
//! Three signature types, each one arm of [`SignatureType`]:
//!
//! | byte | type | signed message | signature bytes |
//! |---|---|---|---|
//! | `0x01` | Ed25519 note signature | the note text | 64 |
//! | `0x04` | Ed25519 cosignature/v1 | `cosignature/v1\ntime <t>\n` + text | 8 (t) + 64 |
//! | `0x06` | ML-DSA-44 subtree cosignature | the `cosigned_message` struct | 8 (t) + 2420 |
//!
//! The log signs each checkpoint with `0x01` (what tlog-tiles requires of public logs) and
//! `0x06` (post-quantum, what tlog-checkpoint recommends); witnesses add `0x04` or `0x06`.
//! Verification follows signed-note: lines whose (name, key ID) match no configured key
//! are ignored; a line that matches one must verify or the whole note is rejected; at least
//! one must verify.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{
    ED25519, Ed25519KeyPair, KeyPair as _, ML_DSA_44, ML_DSA_44_SIGNING, PqdsaKeyPair,
    UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::checkpoint::Checkpoint;

/// The most signature lines a note may carry (signed-note requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 32;
/// The largest note accepted, in bytes: 32 ML-DSA-44 lines are about 110 KB.
pub const MAX_NOTE_BYTES: usize = 256 * 1024;
/// Ed25519 public key and seed length.
const ED25519_KEY_LEN: usize = 32;
/// ML-DSA-44 public key length (FIPS 204).
pub const ML_DSA_44_PUBLIC_KEY_LEN: usize = 1312;
/// ML-DSA-44 signature length (FIPS 204).
pub const ML_DSA_44_SIGNATURE_LEN: usize = 2420;
/// The label that starts the ML-DSA-44 `cosigned_message` (tlog-cosignature).
const SUBTREE_LABEL: &[u8; 12] = b"subtree/v1\n\0";
/// The line that starts each signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Errors of this module (and of [`crate::checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("note is {0} bytes, more than the limit")]
    TooLarge(usize),
    /// The note is not valid UTF-8.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// The note contains a control character other than newline.
    #[error("note contains control character {0:#04x}")]
    ControlCharacter(u32),
    /// The text is empty or does not end in a newline.
    #[error("note text is empty or does not end in a newline")]
    BadText,
    /// There is no blank line between text and signatures.
    #[error("note has no blank line before its signatures")]
    MissingBlankLine,
    /// There are no signature lines.
    #[error("note has no signature lines")]
    NoSignatures,
    /// There are more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has {0} signature lines, more than the limit")]
    TooManySignatures(usize),
    /// A signature line is malformed (prefix, separator, final newline).
    #[error("malformed signature line {0}")]
    BadSignatureLine(usize),
    /// A key name is empty or contains a space or `+`.
    #[error("bad key name {0:?}")]
    BadKeyName(String),
    /// Base64 did not decode (standard alphabet, padded, canonical).
    #[error("bad base64 in {0}")]
    BadBase64(&'static str),
    /// A signature is shorter than its key ID.
    #[error("signature line {0} is too short")]
    ShortSignature(usize),
    /// A verifier or signer key string is malformed.
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    /// A key's ID does not match its name, type and public key.
    #[error("key ID {got:08x} does not match the key (expected {expected:08x})")]
    KeyIdMismatch {
        /// The ID the key's material gives.
        expected: u32,
        /// The ID written in the key.
        got: u32,
    },
    /// A signature type byte pqreg does not implement.
    #[error("unsupported signature type {0:#04x}")]
    UnsupportedType(u8),
    /// A public key or seed had the wrong length for its type.
    #[error("key has {got} bytes, expected {expected}")]
    BadKeyLength {
        /// Length the type requires.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// Two configured keys share both name and key ID.
    #[error("ambiguous key {name}+{key_id:08x}")]
    AmbiguousKey {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// A signature from a known key did not verify: the note is rejected.
    #[error("invalid signature by {name}+{key_id:08x}")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// No signature from a known key: the note is rejected.
    #[error("no signature from a known key")]
    NoVerifiedSignature,
    /// A cosignature timestamp exceeds 2^63-1.
    #[error("cosignature timestamp {0} exceeds 2^63-1")]
    BadTimestamp(u64),
    /// An ML-DSA-44 cosignature was applied to a text that is not a checkpoint.
    #[error("ML-DSA-44 cosignature over a text that is not a checkpoint")]
    NotACheckpoint,
    /// A name or origin is too long for the ML-DSA-44 `cosigned_message` (1..=255 bytes).
    #[error("{0} is too long for a cosigned_message")]
    NameTooLong(&'static str),
    /// The key could not sign (aws-lc-rs failure).
    #[error("signing failed")]
    SigningFailed,
    /// A checkpoint body line is missing or malformed.
    #[error("checkpoint line {line}: {reason}")]
    BadCheckpoint {
        /// 1-based line number in the note text.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A checkpoint carries extension lines, which pqreg's log never writes and its
    /// ML-DSA-44 signature would not cover.
    #[error("checkpoint has extension lines")]
    UnexpectedExtension,
    /// A checkpoint names a different log than expected.
    #[error("checkpoint origin {got:?}, expected {expected:?}")]
    WrongOrigin {
        /// The configured origin.
        expected: String,
        /// The checkpoint's origin.
        got: String,
    },
    /// The log's required signature type is missing from a checkpoint.
    #[error("checkpoint lacks a verified {0} signature by the log")]
    MissingLogSignature(&'static str),
    /// Fewer witnesses cosigned than the policy requires.
    #[error("{got} witness cosignatures verified, policy requires {required}")]
    WitnessQuorum {
        /// Witnesses required.
        required: usize,
        /// Witnesses that verified.
        got: usize,
    },
    /// A newer checkpoint is smaller than the one already trusted: the log rewound.
    #[error("checkpoint size {new} is below the trusted size {old}")]
    Rewound {
        /// The trusted size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// A newer checkpoint is not consistent with the trusted one: the log forked.
    #[error("checkpoint is not consistent with the trusted one: {0}")]
    Inconsistent(crate::merkle::MerkleError),
}

/// A note signature type (the signed-note type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureType {
    /// `0x01`: Ed25519 over the note text (signed-note).
    Ed25519,
    /// `0x04`: timestamped Ed25519 cosignature/v1 (tlog-cosignature).
    CosignatureEd25519,
    /// `0x06`: timestamped ML-DSA-44 subtree/v1 cosignature (tlog-cosignature).
    CosignatureMlDsa44,
}

impl SignatureType {
    /// The type byte.
    pub const fn byte(self) -> u8 {
        match self {
            SignatureType::Ed25519 => 0x01,
            SignatureType::CosignatureEd25519 => 0x04,
            SignatureType::CosignatureMlDsa44 => 0x06,
        }
    }

    /// The type of a byte, if pqreg implements it.
    pub fn from_byte(b: u8) -> Result<Self, NoteError> {
        match b {
            0x01 => Ok(SignatureType::Ed25519),
            0x04 => Ok(SignatureType::CosignatureEd25519),
            0x06 => Ok(SignatureType::CosignatureMlDsa44),
            other => Err(NoteError::UnsupportedType(other)),
        }
    }

    /// The public key length.
    pub const fn public_key_len(self) -> usize {
        match self {
            SignatureType::Ed25519 | SignatureType::CosignatureEd25519 => ED25519_KEY_LEN,
            SignatureType::CosignatureMlDsa44 => ML_DSA_44_PUBLIC_KEY_LEN,
        }
    }

    /// A short name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            SignatureType::Ed25519 => "Ed25519",
            SignatureType::CosignatureEd25519 => "Ed25519 cosignature/v1",
            SignatureType::CosignatureMlDsa44 => "ML-DSA-44 cosignature",
        }
    }
}

/// `SHA-256(name || 0x0A || type || public key)[:4]` as a big-endian u32.
pub fn key_id(name: &str, typ: SignatureType, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', typ.byte()]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Checks a key name: non-empty, no Unicode space, no `+`.
pub fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(NoteError::BadKeyName(name.chars().take(100).collect()));
    }
    Ok(())
}

/// A public key that verifies note signatures: `<name>+<hex key ID>+<base64(type || key)>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    typ: SignatureType,
    public_key: Vec<u8>,
}

impl VerifierKey {
    /// A verifier key from its parts; computes the key ID.
    pub fn new(name: &str, typ: SignatureType, public_key: &[u8]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        if public_key.len() != typ.public_key_len() {
            return Err(NoteError::BadKeyLength {
                expected: typ.public_key_len(),
                got: public_key.len(),
            });
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id: key_id(name, typ, public_key),
            typ,
            public_key: public_key.to_vec(),
        })
    }

    /// Parses the text form, checking the key ID against the key.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("expected <name>+<hex id>+<base64 key>"));
        };
        let id = parse_key_id_hex(id)?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::BadBase64("verifier key"))?;
        let (&typ, key) = raw.split_first().ok_or(NoteError::BadKey("empty key"))?;
        let v = VerifierKey::new(name, SignatureType::from_byte(typ)?, key)?;
        if v.key_id != id {
            return Err(NoteError::KeyIdMismatch {
                expected: v.key_id,
                got: id,
            });
        }
        Ok(v)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature type.
    pub fn signature_type(&self) -> SignatureType {
        self.typ
    }

    /// The raw public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Verifies `sig` (the bytes after the key ID) over `text`; returns the cosignature
    /// timestamp for the timestamped types.
    fn verify(&self, text: &str, sig: &[u8]) -> Result<Option<u64>, ()> {
        match self.typ {
            SignatureType::Ed25519 => UnparsedPublicKey::new(&ED25519, &self.public_key)
                .verify(text.as_bytes(), sig)
                .map(|()| None)
                .map_err(|_| ()),
            SignatureType::CosignatureEd25519 => {
                let (ts, s) = split_timestamp(sig)?;
                let msg = cosignature_v1_message(text, ts);
                UnparsedPublicKey::new(&ED25519, &self.public_key)
                    .verify(&msg, s)
                    .map(|()| Some(ts))
                    .map_err(|_| ())
            }
            SignatureType::CosignatureMlDsa44 => {
                let (ts, s) = split_timestamp(sig)?;
                if s.len() != ML_DSA_44_SIGNATURE_LEN {
                    return Err(());
                }
                let msg = subtree_v1_message(&self.name, text, ts).map_err(|_| ())?;
                UnparsedPublicKey::new(&ML_DSA_44, &self.public_key)
                    .verify(&msg, s)
                    .map(|()| Some(ts))
                    .map_err(|_| ())
            }
        }
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![self.typ.byte()];
        raw.extend_from_slice(&self.public_key);
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(raw)
        )
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerifierKey::parse(s)
    }
}

fn parse_key_id_hex(s: &str) -> Result<u32, NoteError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::BadKey("key ID is not 8 hex digits"));
    }
    u32::from_str_radix(s, 16).map_err(|_| NoteError::BadKey("key ID is not 8 hex digits"))
}

fn split_timestamp(sig: &[u8]) -> Result<(u64, &[u8]), ()> {
    if sig.len() < 8 {
        return Err(());
    }
    let (t, s) = sig.split_at(8);
    let mut b = [0u8; 8];
    b.copy_from_slice(t);
    let ts = u64::from_be_bytes(b);
    if ts > i64::MAX as u64 {
        return Err(());
    }
    Ok((ts, s))
}

/// The message an Ed25519 cosignature/v1 (type `0x04`) signs.
pub fn cosignature_v1_message(text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{text}").into_bytes()
}

/// The `cosigned_message` an ML-DSA-44 cosignature (type `0x06`) signs, for a checkpoint
/// text (start 0, end = tree size; extension lines are not covered).
pub fn subtree_v1_message(
    cosigner_name: &str,
    checkpoint_text: &str,
    timestamp: u64,
) -> Result<Vec<u8>, NoteError> {
    let cp = Checkpoint::parse_body(checkpoint_text).map_err(|_| NoteError::NotACheckpoint)?;
    let name = cosigner_name.as_bytes();
    let origin = cp.origin.as_bytes();
    let name_len = u8::try_from(name.len()).map_err(|_| NoteError::NameTooLong("key name"))?;
    let origin_len = u8::try_from(origin.len()).map_err(|_| NoteError::NameTooLong("origin"))?;
    if name_len == 0 || origin_len == 0 {
        return Err(NoteError::NotACheckpoint);
    }
    let mut m = Vec::with_capacity(12 + 1 + name.len() + 8 + 1 + origin.len() + 8 + 8 + 32);
    m.extend_from_slice(SUBTREE_LABEL);
    m.push(name_len);
    m.extend_from_slice(name);
    m.extend_from_slice(&timestamp.to_be_bytes());
    m.push(origin_len);
    m.extend_from_slice(origin);
    m.extend_from_slice(&0u64.to_be_bytes());
    m.extend_from_slice(&cp.size.to_be_bytes());
    m.extend_from_slice(&cp.root);
    Ok(m)
}

enum SignerKey {
    Ed25519(Ed25519KeyPair),
    MlDsa44(PqdsaKeyPair),
}

/// A private key that signs notes, made from a 32-byte seed (Ed25519 seed, or ML-DSA-44
/// key-generation seed ξ).
pub struct NoteSigner {
    verifier: VerifierKey,
    seed: Zeroizing<Vec<u8>>,
    key: SignerKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("verifier", &self.verifier.to_string())
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer of type `typ` named `name` from its 32-byte seed.
    pub fn from_seed(name: &str, typ: SignatureType, seed: &[u8]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        if seed.len() != 32 {
            return Err(NoteError::BadKeyLength {
                expected: 32,
                got: seed.len(),
            });
        }
        let key = match typ {
            SignatureType::Ed25519 | SignatureType::CosignatureEd25519 => SignerKey::Ed25519(
                Ed25519KeyPair::from_seed_unchecked(seed)
                    .map_err(|_| NoteError::BadKey("Ed25519 seed"))?,
            ),
            SignatureType::CosignatureMlDsa44 => SignerKey::MlDsa44(
                PqdsaKeyPair::from_seed(&ML_DSA_44_SIGNING, seed)
                    .map_err(|_| NoteError::BadKey("ML-DSA-44 seed"))?,
            ),
        };
        let public = match &key {
            SignerKey::Ed25519(k) => k.public_key().as_ref().to_vec(),
            SignerKey::MlDsa44(k) => k.public_key().as_ref().to_vec(),
        };
        Ok(NoteSigner {
            verifier: VerifierKey::new(name, typ, &public)?,
            seed: Zeroizing::new(seed.to_vec()),
            key,
        })
    }

    /// A new random signer; keep [`private_key_string`](Self::private_key_string) to
    /// restore it.
    pub fn generate(name: &str, typ: SignatureType) -> Result<Self, NoteError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(&mut seed[..]).map_err(|_| NoteError::SigningFailed)?;
        Self::from_seed(name, typ, &seed[..])
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>` (the form Go's
    /// `sumdb/note` uses for Ed25519), checking the key ID.
    pub fn parse_private_key(s: &str) -> Result<Self, NoteError> {
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("expected PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("expected PRIVATE+KEY+<name>+<id>+<key>"));
        };
        let id = parse_key_id_hex(id)?;
        let raw = Zeroizing::new(
            STANDARD
                .decode(b64)
                .map_err(|_| NoteError::BadBase64("private key"))?,
        );
        let (&typ, seed) = raw.split_first().ok_or(NoteError::BadKey("empty key"))?;
        let signer = NoteSigner::from_seed(name, SignatureType::from_byte(typ)?, seed)?;
        if signer.verifier.key_id != id {
            return Err(NoteError::KeyIdMismatch {
                expected: signer.verifier.key_id,
                got: id,
            });
        }
        Ok(signer)
    }

    /// The private key in the form [`parse_private_key`](Self::parse_private_key) reads.
    pub fn private_key_string(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(vec![self.verifier.typ.byte()]);
        raw.extend_from_slice(&self.seed);
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.verifier.name,
            self.verifier.key_id,
            STANDARD.encode(&raw[..])
        ))
    }

    /// The matching verifier key.
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.verifier
    }

    /// Signs `text`. `timestamp` (POSIX seconds) is used by the cosignature types only.
    pub fn sign(&self, text: &str, timestamp: u64) -> Result<NoteSignature, NoteError> {
        if timestamp > i64::MAX as u64 {
            return Err(NoteError::BadTimestamp(timestamp));
        }
        let sig = match (&self.key, self.verifier.typ) {
            (SignerKey::Ed25519(k), SignatureType::Ed25519) => {
                k.sign(text.as_bytes()).as_ref().to_vec()
            }
            (SignerKey::Ed25519(k), SignatureType::CosignatureEd25519) => {
                let mut out = timestamp.to_be_bytes().to_vec();
                out.extend_from_slice(k.sign(&cosignature_v1_message(text, timestamp)).as_ref());
                out
            }
            (SignerKey::MlDsa44(k), SignatureType::CosignatureMlDsa44) => {
                let msg = subtree_v1_message(&self.verifier.name, text, timestamp)?;
                let mut s = vec![0u8; ML_DSA_44_SIGNATURE_LEN];
                let n = k.sign(&msg, &mut s).map_err(|_| NoteError::SigningFailed)?;
                s.truncate(n);
                let mut out = timestamp.to_be_bytes().to_vec();
                out.extend_from_slice(&s);
                out
            }
            _ => return Err(NoteError::SigningFailed),
        };
        Ok(NoteSignature {
            name: self.verifier.name.clone(),
            key_id: self.verifier.key_id,
            signature: sig,
        })
    }
}

/// One signature line: the key name, key ID and the signature bytes after the key ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID.
    pub key_id: u32,
    /// The signature (for cosignatures: the 8-byte timestamp, then the signature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    fn line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifiedSignature {
    /// The key name.
    pub name: String,
    /// The key ID.
    pub key_id: u32,
    /// The signature type.
    pub signature_type: SignatureType,
    /// The cosignature timestamp (POSIX seconds), for the timestamped types.
    pub timestamp: Option<u64>,
}

/// A signed note: text and signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

fn check_chars(s: &str) -> Result<(), NoteError> {
    match s.chars().find(|&c| c != '\n' && (c as u32) < 0x20) {
        Some(c) => Err(NoteError::ControlCharacter(c as u32)),
        None => Ok(()),
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    check_chars(text)?;
    // signed-note only asks for a final newline; pqreg also refuses an empty first line
    // (every note it signs is a checkpoint, whose first line is the origin).
    if text.is_empty() || !text.ends_with('\n') || text.starts_with('\n') {
        return Err(NoteError::BadText);
    }
    Ok(())
}

impl Note {
    /// An unsigned note with `text` (non-empty, newline-terminated, no control characters).
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        Ok(Note {
            text: text.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note, checking its syntax (not its signatures: see
    /// [`verify`](Self::verify)).
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge(bytes.len()));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        check_chars(s)?;
        let split = s.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
        let text = &s[..split + 1];
        let block = &s[split + 2..];
        check_text(text)?;
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if !block.ends_with('\n') {
            return Err(NoteError::BadSignatureLine(block.matches('\n').count() + 1));
        }
        let lines: Vec<&str> = block[..block.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures(lines.len()));
        }
        let mut signatures = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let n = i + 1;
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or(NoteError::BadSignatureLine(n))?;
            let (name, b64) = rest.split_once(' ').ok_or(NoteError::BadSignatureLine(n))?;
            check_key_name(name)?;
            let raw = STANDARD
                .decode(b64)
                .map_err(|_| NoteError::BadBase64("signature"))?;
            if raw.len() < 5 {
                return Err(NoteError::ShortSignature(n));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                signature: raw[4..].to_vec(),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text (including its final newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line (e.g. a witness cosignature received separately). A line by
    /// the same key (name and ID) is replaced.
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        check_key_name(&sig.name)?;
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures(self.signatures.len() + 1));
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// Signs the text with `signer` and adds the line.
    pub fn sign(&mut self, signer: &NoteSigner, timestamp: u64) -> Result<(), NoteError> {
        let sig = signer.sign(&self.text, timestamp)?;
        self.add_signature(sig)
    }

    /// The note's bytes: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Verifies the signatures of known keys (signed-note rules): lines of unknown keys
    /// are ignored; a line whose (name, key ID) matches a key must verify, or the note is
    /// rejected ([`NoteError::BadSignature`]); at least one must verify
    /// ([`NoteError::NoVerifiedSignature`]). Returns the verified signatures, one per key.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut out: Vec<VerifiedSignature> = Vec::new();
        for sig in &self.signatures {
            let mut matching = keys
                .iter()
                .filter(|k| k.name == sig.name && k.key_id == sig.key_id);
            let Some(key) = matching.next() else {
                continue;
            };
            if matching.next().is_some() {
                return Err(NoteError::AmbiguousKey {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            let ts =
                key.verify(&self.text, &sig.signature)
                    .map_err(|()| NoteError::BadSignature {
                        name: sig.name.clone(),
                        key_id: sig.key_id,
                    })?;
            if !out
                .iter()
                .any(|v| v.name == sig.name && v.key_id == sig.key_id)
            {
                out.push(VerifiedSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                    signature_type: key.typ,
                    timestamp: ts,
                });
            }
        }
        if out.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(out)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            f.write_str(&s.line())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
