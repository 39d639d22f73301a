//! The pure steps of the verification algorithm of spec/signing.md ("Verification"), and
//! the CLI exit codes each failure maps to.
//!
//! [`verify_signature`] runs steps 3–5 (bundle parse, signature over the PAE, signer
//! authorized by the trust policy) and parses the statement; the caller then runs the
//! log check (step 6, with the `merkle`/`checkpoint`/`logentry` modules on
//! [`VerifiedSignature::log_entry`]), [`crate::statement::Statement::check_manifest`]
//! (step 7), decryption (step 8) and [`crate::statement::Statement::check_files`] or
//! `check_shards` (step 9).

use super::{Bundle, BundleError, TlogEntry};
use crate::dsse::{DsseError, SigningError, Verifier};
use crate::keys::{KeyId, SignatureAlgorithm};
use crate::policy::{Policy, PolicyError};
use crate::statement::{PAYLOAD_TYPE, Statement, StatementError};

/// Process exit codes of the `pqreg` CLI (spec/signing.md, "Exit codes").
///
/// Not `#[non_exhaustive]`: the client maps each code to its constant in an exhaustive
/// `match`, so a code added here is a compile error there until the client names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything verified.
    Ok = 0,
    /// Any other error (I/O, network, malformed local configuration).
    Error = 1,
    /// The command line was wrong.
    Usage = 2,
    /// Content does not match a digest that covers it (blob vs descriptor, manifest vs
    /// the signed statement, plaintext vs the statement's resources).
    DigestMismatch = 10,
    /// The signature is missing, malformed or does not verify.
    BadSignature = 11,
    /// The signer is not trusted by the policy for this repository.
    UntrustedSigner = 12,
    /// The log entry, inclusion proof, checkpoint or consistency proof failed.
    LogProof = 13,
    /// Decryption failed (no usable recipient key, AEAD tag, truncation).
    Decryption = 14,
    /// The statement is bound to another repository or tag than the one pulled, or to
    /// none (spec/signing.md §3.1).
    WrongLocation = 15,
    /// The tag's version is older than one this client accepted before, or the same
    /// version with another manifest.
    Rollback = 16,
    /// The tag's signature is older than the trust policy's `max_age`.
    Stale = 17,
}

impl ExitCode {
    /// All codes, in numeric order (for generating the documentation table).
    pub const ALL: [ExitCode; 11] = [
        ExitCode::Ok,
        ExitCode::Error,
        ExitCode::Usage,
        ExitCode::DigestMismatch,
        ExitCode::BadSignature,
        ExitCode::UntrustedSigner,
        ExitCode::LogProof,
        ExitCode::Decryption,
        ExitCode::WrongLocation,
        ExitCode::Rollback,
        ExitCode::Stale,
    ];

    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The constant's name as spec/signing.md writes it.
    pub fn name(self) -> &'static str {
        match self {
            ExitCode::Ok => "OK",
            ExitCode::Error => "ERROR",
            ExitCode::Usage => "USAGE",
            ExitCode::DigestMismatch => "DIGEST_MISMATCH",
            ExitCode::BadSignature => "BAD_SIGNATURE",
            ExitCode::UntrustedSigner => "UNTRUSTED_SIGNER",
            ExitCode::LogProof => "LOG_PROOF",
            ExitCode::Decryption => "DECRYPTION",
            ExitCode::WrongLocation => "WRONG_LOCATION",
            ExitCode::Rollback => "ROLLBACK",
            ExitCode::Stale => "STALE",
        }
    }
}

impl crate::Error {
    /// The exit code spec/signing.md section 8 assigns to this failure: a digest mismatch
    /// is 10, a failed segment or envelope 14, a log check 13, a signature check what
    /// [`SigningError::exit_code`] says, and a malformed format, key or compressed chunk 1.
    pub fn exit_code(&self) -> ExitCode {
        use crate::Error as E;
        use crate::digest::DigestError as D;
        match self {
            E::Digest(D::Mismatch { .. }) => ExitCode::DigestMismatch,
            E::Digest(D::MissingAlgorithm(_) | D::UnsupportedAlgorithm(_) | D::BadEncoding(_)) => {
                ExitCode::Error
            }
            E::Segment(_) | E::Envelope(_) => ExitCode::Decryption,
            E::Signing(e) => e.exit_code(),
            E::Merkle(_) | E::Note(_) | E::LogEntry(_) => ExitCode::LogProof,
            E::Format(_) | E::Compress(_) | E::Key(_) => ExitCode::Error,
        }
    }
}

impl SigningError {
    /// The exit code spec/signing.md assigns to this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            SigningError::Dsse(DsseError::UnknownSigner(_) | DsseError::NoAcceptedKeys) => {
                ExitCode::UntrustedSigner
            }
            SigningError::Dsse(_) => ExitCode::BadSignature,
            SigningError::Bundle(
                BundleError::MissingLogEntry
                | BundleError::DuplicateLogEntry(_)
                | BundleError::BadLogEntry(_),
            ) => ExitCode::LogProof,
            SigningError::Bundle(_) => ExitCode::BadSignature,
            SigningError::Statement(
                StatementError::ManifestMismatch { .. }
                | StatementError::MissingResource(_)
                | StatementError::UnsignedResource(_)
                | StatementError::ResourceDigestMismatch { .. }
                | StatementError::MethodMismatch(_),
            ) => ExitCode::DigestMismatch,
            SigningError::Statement(
                StatementError::BindingMissing
                | StatementError::WrongRepository { .. }
                | StatementError::WrongTag { .. },
            ) => ExitCode::WrongLocation,
            SigningError::Statement(StatementError::Rollback { .. }) => ExitCode::Rollback,
            SigningError::Statement(StatementError::Stale { .. }) => ExitCode::Stale,
            SigningError::Statement(_) => ExitCode::BadSignature,
            SigningError::Policy(
                PolicyError::NoRuleForRepository(_)
                | PolicyError::UntrustedSigner { .. }
                | PolicyError::WeakAlgorithm { .. },
            ) => ExitCode::UntrustedSigner,
            SigningError::Policy(_) => ExitCode::Error,
        }
    }
}

/// What steps 3–5 established.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    /// The parsed bundle.
    pub bundle: Bundle,
    /// The signed statement, parsed and checked (subject = OMS root of the resources).
    pub statement: Statement,
    /// The key that signed, authorized by the policy for the repository.
    pub key_id: KeyId,
    /// Its algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The pqreg log entry to verify in step 6, or `None` when the policy does not
    /// require the log and the bundle carries none.
    pub log_entry: Option<TlogEntry>,
}

/// Steps 3–5 of the verification algorithm for a bundle pulled for `repository`:
/// parse the bundle (3), verify the DSSE signature over the PAE with one of `accepted`
/// (4), check the policy authorizes that key for `repository` (5); then parse the signed
/// statement and pick out the log entry (structure only) if the policy requires it.
pub fn verify_signature(
    bundle_json: &[u8],
    repository: &str,
    policy: &Policy,
    accepted: &[&dyn Verifier],
) -> Result<VerifiedSignature, SigningError> {
    let bundle = Bundle::from_json(bundle_json)?;
    bundle.public_key_hint()?;
    let verified = bundle.dsse_envelope.verify(PAYLOAD_TYPE, accepted)?;
    let (key_id, algorithm) = (verified.key_id, verified.algorithm);
    policy.authorize(repository, &key_id)?;
    let statement = Statement::from_json(&bundle.dsse_envelope.payload)?;
    let log_entry = match bundle.pqreg_log_entry() {
        Ok(e) => Some(e.clone()),
        Err(e) if policy.log_required(repository) => return Err(e),
        Err(SigningError::Bundle(BundleError::MissingLogEntry)) => None,
        Err(e) => return Err(e),
    };
    Ok(VerifiedSignature {
        bundle,
        statement,
        key_id,
        algorithm,
        log_entry,
    })
}
