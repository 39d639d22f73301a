//! The classical (ECDSA P-256) OMS bundle of a model, for OpenSSF model_signing:
//! `pqreg pull --oms-signature PATH` writes it where `model_signing verify key
//! --signature PATH` reads it (spec/signing.md section 5.1).
//!
//! pqreg never trusts this bundle (its own verification is the ML-DSA bundle's). What
//! pqreg checks before handing it out is that it covers exactly the statement that
//! verified: [`fetch_classic_bundle`] requires the statement's manifest annotation to
//! name the model pulled (before anything is written), and its DSSE payload must be
//! byte-identical to the ML-DSA-signed one: `pull` hands its statement digest to
//! [`crate::unpack::UnpackOptions::classic_statement`], which is compared as soon as the
//! ML-DSA signature verified, before any chunk is fetched, so a mismatch writes nothing
//! ([`ClassicBundle::check`] is the same comparison for other callers). The ECDSA
//! signature itself is what model_signing checks, with the publisher's public key the
//! user holds.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use pqreg_spec::Digest;
use pqreg_spec::bundle::referrer::{ReferrerManifest, bundle_algorithm};
use pqreg_spec::bundle::{Bundle, MAX_BUNDLE_BYTES};
use pqreg_spec::keys::SignatureAlgorithm;
use pqreg_spec::statement::Statement;

use crate::Error;
use crate::unpack::{BlobSource, UnpackError};

/// A classical bundle fetched from the referrers of a model manifest.
#[derive(Debug, Clone)]
pub struct ClassicBundle {
    /// The bundle JSON exactly as stored (what model_signing reads).
    pub json: Vec<u8>,
    /// SHA-256 of its DSSE payload (the statement).
    pub statement_digest: Digest,
}

impl ClassicBundle {
    /// Checks that this bundle signs the statement whose SHA-256 is `verified` (the
    /// ML-DSA bundle's, [`crate::unpack::UnpackReport::statement_digest`]).
    pub fn check(&self, manifest: &Digest, verified: &Digest) -> Result<(), Error> {
        if self.statement_digest != *verified {
            return Err(UnpackError::ClassicStatementMismatch(*manifest).into());
        }
        Ok(())
    }

    /// Writes the bundle to `path` atomically (a temp file beside it, then rename).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let io = |source| UnpackError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, &self.json).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// Finds the ECDSA P-256 bundle among the referrers of `manifest`, checks its referrer
/// manifest and blob digests, parses it, and checks that its statement names `manifest`.
pub fn fetch_classic_bundle<S: BlobSource>(
    source: &S,
    manifest: &Digest,
) -> Result<ClassicBundle, Error> {
    let referrers = source.referrers(manifest)?;
    let Some(r) = referrers
        .iter()
        .find(|r| bundle_algorithm(r) == Some(SignatureAlgorithm::EcdsaP256Sha256))
    else {
        return Err(UnpackError::NoClassicSignature(*manifest).into());
    };
    let bytes = source.get_manifest(&r.digest)?;
    check_digest("classic referrer manifest", &r.digest, &bytes)?;
    let referrer = ReferrerManifest::from_json(&bytes).map_err(|e| Error::Spec(e.into()))?;
    if referrer.subject.digest != *manifest {
        return Err(UnpackError::NoClassicSignature(*manifest).into());
    }
    let want = &referrer.bundle;
    if want.size > MAX_BUNDLE_BYTES as u64 {
        return Err(UnpackError::TooLarge {
            what: "classic bundle",
            size: want.size,
        }
        .into());
    }
    let mut json = Vec::new();
    source
        .open_blob(&want.digest)?
        .take(want.size + 1)
        .read_to_end(&mut json)
        .map_err(|source| UnpackError::Io {
            path: PathBuf::from(want.digest.to_string()),
            source,
        })?;
    if json.len() as u64 != want.size {
        return Err(UnpackError::BlobSize {
            what: "classic bundle",
            digest: want.digest,
            expected: want.size,
            actual: json.len() as u64,
        }
        .into());
    }
    check_digest("classic bundle", &want.digest, &json)?;
    let bundle = Bundle::from_json(&json).map_err(|e| Error::Spec(e.into()))?;
    let statement =
        Statement::from_json(&bundle.dsse_envelope.payload).map_err(|e| Error::Spec(e.into()))?;
    statement
        .check_manifest(manifest)
        .map_err(|e| Error::Spec(e.into()))?;
    Ok(ClassicBundle {
        statement_digest: bundle.statement_digest(),
        json,
    })
}

fn check_digest(what: &'static str, expected: &Digest, bytes: &[u8]) -> Result<(), Error> {
    let actual = Digest::sha256(bytes);
    if actual != *expected {
        return Err(UnpackError::BlobDigest {
            what,
            expected: *expected,
            actual,
        }
        .into());
    }
    Ok(())
}
