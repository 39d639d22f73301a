//! `pqreg copy`: a model, every blob it names, and its referrers (signature bundles) from
//! one repository to another, in the same registry or another one (spec/signing.md §7.1).
//!
//! ```text
//!   source manifest (digest checked; must be a pqreg model)
//!   blobs: config, index, chunks   already there -> skipped
//!                                  same registry -> cross-repo mount
//!                                  otherwise     -> download to the blob cache, upload
//!   manifest by digest (same bytes, same digest)
//!   each referrer, ML-DSA bundles first: its blobs, then its manifest by digest
//!     an ML-DSA bundle, with a re-log hook (the destination has a pqreg log): the same
//!     DSSE envelope, its log entry replaced by one from the destination's log for the
//!     destination repository -> a new bundle blob and a new referrer manifest
//!     anything else (classical bundles too) unchanged
//!   the tag, last
//! ```
//!
//! Digests of the model (manifest, config, index, chunks) are preserved; so are those of
//! referrers that are copied unchanged. The blob cache is not trusted: the destination
//! registry checks every uploaded digest.

use std::path::{Path, PathBuf};

use pqreg_spec::Digest;
use pqreg_spec::bundle::referrer::{ReferrerManifest, bundle_algorithm, is_ml_dsa_bundle};
use pqreg_spec::bundle::{BUNDLE_MEDIA_TYPE, Bundle};
use pqreg_spec::keys::KeyId;
use pqreg_spec::oci::{self, Descriptor, media_types};

use crate::Error;
use crate::inspect::check_model;
use crate::pack::{BlobSink as _, LogHook, LogRequest};
use crate::registry_io::RegistrySink;
use crate::transfer::{BlobFile, PushOutcome, RegistryClient, TransferError};

/// Why a copy failed beyond transfer and format errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// A logged bundle's referrer names no signature algorithm, so its entry cannot be
    /// re-submitted.
    #[error(
        "referrer {0} carries a logged bundle but names no signature algorithm; it cannot be re-logged"
    )]
    NoAlgorithm(Digest),
    /// A logged bundle must be re-logged in the destination's log, which needs its
    /// signer's public key, and none was given.
    #[error(
        "the signature by {0} must be re-logged in the destination's log, which needs the signer's public key; pass --signer-pub FILE or a --policy that lists the key with its public_key"
    )]
    UnknownSigner(KeyId),
}

/// Where and how to copy.
pub struct CopyOptions<'a> {
    /// Downloaded blobs go to `<cache>/blobs/sha256/<hex>` (the pull cache).
    pub cache_dir: &'a Path,
    /// Re-logs ML-DSA bundles in the destination's log (spec/signing.md §7.1): the hook
    /// a push to the destination would use, with the signer's public key. `None` (the
    /// destination has no pqreg log): bundles are copied unchanged.
    pub relog: Option<&'a mut dyn LogHook>,
    /// The signers whose bundles `relog` can log (it needs their public keys); with
    /// `relog`, a bundle by another key fails the copy before anything is copied.
    pub signers: &'a [KeyId],
}

/// One referrer copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedReferrer {
    /// Its digest in the source.
    pub source: Digest,
    /// Its digest in the destination (equal unless re-logged).
    pub destination: Digest,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Whether its bundle carries a log entry of the source's log.
    pub logged: bool,
    /// Whether it was re-logged: its log entry (if any) replaced by one of the
    /// destination's log.
    pub relogged: bool,
}

/// What [`copy_model`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The model manifest's digest (the same in both places).
    pub digest: Digest,
    /// Blobs the destination already had.
    pub present: usize,
    /// Blobs mounted from the source repository (same registry).
    pub mounted: usize,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Bytes downloaded from the source.
    pub downloaded_bytes: u64,
    /// The referrers, in the source's order.
    pub referrers: Vec<CopiedReferrer>,
}

/// Copies the model `digest` of `src_repo` in `src` to `dst_repo` in `dst`, tagging it
/// `tag` there (see the module docs).
pub fn copy_model(
    src: &RegistryClient,
    src_repo: &str,
    dst: &RegistryClient,
    dst_repo: &str,
    digest: &Digest,
    tag: Option<&str>,
    opts: &mut CopyOptions<'_>,
) -> Result<Copied, Error> {
    let mut copied = Copied {
        digest: *digest,
        present: 0,
        mounted: 0,
        uploaded: 0,
        uploaded_bytes: 0,
        downloaded_bytes: 0,
        referrers: Vec::new(),
    };
    let m = src.get_manifest(src_repo, &digest.to_string())?;
    let model = check_model(&m.bytes, digest)?;
    let mut blobs = vec![model.config().clone()];
    blobs.extend(model.manifest.layers.iter().cloned());
    let mut c = Copier {
        src,
        src_repo,
        dst,
        dst_repo,
        cache: opts.cache_dir.join("blobs").join("sha256"),
        sink: RegistrySink::new(dst, dst_repo, &opts.cache_dir.join("tmp"))?,
        stats: &mut copied,
    };
    // ML-DSA bundles first: a destination with a log accepts a classical bundle only
    // once the same statement is logged there (spec/signing.md §5).
    let mut referrers = Vec::new();
    for r in src.referrers(src_repo, digest, None)?.manifests {
        let rm = src.get_manifest(src_repo, &r.digest.to_string())?;
        let refs = oci::references(&rm.bytes, &rm.media_type).map_err(|e| Error::Spec(e.into()))?;
        let bundle = r.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE);
        let pq = is_ml_dsa_bundle(&r);
        if pq && opts.relog.is_some() {
            // Before anything is copied: every signature to re-log has a known signer.
            let key_id = c.bundle_signer(&rm.bytes)?;
            if !opts.signers.contains(&key_id) {
                return Err(CopyError::UnknownSigner(key_id).into());
            }
        }
        referrers.push((pq, bundle, r, rm, refs));
    }
    c.blobs(&blobs)?;
    c.put(&m.bytes, &m.media_type, None)?;
    referrers.sort_by_key(|(pq, ..)| !pq);
    for (pq, bundle, r, rm, refs) in referrers {
        let mut entry = CopiedReferrer {
            source: r.digest,
            destination: r.digest,
            artifact_type: r.artifact_type.clone(),
            logged: bundle && bundle_has_log_entry(&c, &refs.layers)?,
            relogged: false,
        };
        match (pq, opts.relog.as_deref_mut()) {
            (true, Some(hook)) => {
                entry.destination = c.relog(&rm.bytes, &r, digest, hook)?;
                entry.relogged = true;
            }
            _ => {
                let mut rb: Vec<Descriptor> = refs.config.into_iter().collect();
                rb.extend(refs.layers);
                c.blobs(&rb)?;
                c.put(&rm.bytes, &rm.media_type, None)?;
            }
        }
        c.stats.referrers.push(entry);
    }
    if let Some(t) = tag {
        c.put(&m.bytes, &m.media_type, Some(t))?;
    }
    Ok(copied)
}

struct Copier<'c> {
    src: &'c RegistryClient,
    src_repo: &'c str,
    dst: &'c RegistryClient,
    dst_repo: &'c str,
    cache: PathBuf,
    /// Manifests go through the push sink: it checks the digest and, on registries
    /// without the referrers API, lists referrers in the referrers tag.
    sink: RegistrySink<'c>,
    stats: &'c mut Copied,
}

impl Copier<'_> {
    /// Stores manifest `bytes` by digest, or under `tag`.
    fn put(&mut self, bytes: &[u8], media_type: &str, tag: Option<&str>) -> Result<(), Error> {
        let desc = Descriptor::of(media_type, bytes);
        self.sink.put_manifest(&desc, bytes, tag)
    }

    fn cache_path(&self, d: &Digest) -> PathBuf {
        self.cache.join(d.hex())
    }

    /// Makes every blob of `descs` present in the destination.
    fn blobs(&mut self, descs: &[Descriptor]) -> Result<(), Error> {
        let mut missing = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for d in descs {
            if !seen.insert(d.digest) {
                continue;
            }
            if self.dst.has_blob(self.dst_repo, &d.digest)? {
                self.stats.present += 1;
            } else if self.src.host() == self.dst.host()
                && self
                    .dst
                    .mount_blob(self.dst_repo, self.src_repo, &d.digest)?
            {
                self.stats.mounted += 1;
            } else {
                missing.push(BlobFile {
                    digest: d.digest,
                    size: d.size,
                    path: self.cache_path(&d.digest),
                });
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.cache).map_err(|source| TransferError::Io {
            path: self.cache.clone(),
            source,
        })?;
        let to_pull: Vec<BlobFile> = missing
            .iter()
            .filter(|b| !cached(&b.path, b.size))
            .cloned()
            .collect();
        for s in self.src.pull_blobs(self.src_repo, &to_pull)? {
            self.stats.downloaded_bytes += s.downloaded;
        }
        for o in self.dst.push_blobs(self.dst_repo, &missing)? {
            self.count(o);
        }
        Ok(())
    }

    fn count(&mut self, o: PushOutcome) {
        match o {
            PushOutcome::Uploaded(n) => {
                self.stats.uploaded += 1;
                self.stats.uploaded_bytes += n;
            }
            PushOutcome::Mounted => self.stats.mounted += 1,
            PushOutcome::Skipped => self.stats.present += 1,
        }
    }

    /// Reads a small blob of the source (through the cache; its download is not counted:
    /// the blob is counted when it is copied).
    fn read(&self, d: &Descriptor) -> Result<Vec<u8>, Error> {
        if d.size > pqreg_spec::bundle::MAX_BUNDLE_BYTES as u64 {
            return Err(crate::unpack::UnpackError::TooLarge {
                what: "bundle",
                size: d.size,
            }
            .into());
        }
        let path = self.cache_path(&d.digest);
        std::fs::create_dir_all(&self.cache).map_err(|source| TransferError::Io {
            path: self.cache.clone(),
            source,
        })?;
        if !cached(&path, d.size) {
            self.src
                .pull_blob_to(self.src_repo, &d.digest, d.size, &path)?;
        }
        let bytes = std::fs::read(&path).map_err(|source| TransferError::Io {
            path: path.clone(),
            source,
        })?;
        let actual = Digest::sha256(&bytes);
        if actual != d.digest {
            return Err(TransferError::mismatch("cached blob", &d.digest, &actual).into());
        }
        Ok(bytes)
    }

    /// The referrer manifest and the bundle it stores, read from the source.
    fn bundle_of(&self, referrer_bytes: &[u8]) -> Result<(ReferrerManifest, Bundle), Error> {
        let spec = |e: pqreg_spec::dsse::SigningError| Error::Spec(e.into());
        let referrer = ReferrerManifest::from_json(referrer_bytes).map_err(spec)?;
        let desc = Descriptor::new(
            referrer.bundle.media_type.clone(),
            referrer.bundle.digest,
            referrer.bundle.size,
        );
        let bundle = Bundle::from_json(&self.read(&desc)?).map_err(spec)?;
        Ok((referrer, bundle))
    }

    /// The key ID the bundle of a referrer manifest names as its signer (its hint).
    fn bundle_signer(&self, referrer_bytes: &[u8]) -> Result<KeyId, Error> {
        hint_key_id(&self.bundle_of(referrer_bytes)?.1)
    }

    /// Replaces the bundle's log entry with one of the destination's log and stores the
    /// new bundle and referrer; returns the new referrer's digest.
    fn relog(
        &mut self,
        referrer_bytes: &[u8],
        r: &Descriptor,
        subject: &Digest,
        hook: &mut dyn LogHook,
    ) -> Result<Digest, Error> {
        let (referrer, mut bundle) = self.bundle_of(referrer_bytes)?;
        let key_id = hint_key_id(&bundle)?;
        let algorithm = bundle_algorithm(r).ok_or(CopyError::NoAlgorithm(r.digest))?;
        bundle.tlog_entries.clear();
        let entries = hook.log_entries(&LogRequest {
            manifest_digest: *subject,
            statement_digest: bundle.statement_digest(),
            key_id,
            algorithm,
            bundle: &bundle,
        })?;
        bundle.tlog_entries = entries;
        let bundle_json = bundle.to_json();
        let new = ReferrerManifest::new(
            &bundle_json,
            referrer.subject.clone(),
            pqreg_spec::policy::algorithm_name(algorithm),
        );
        let json = new.to_json();
        let tmp = self
            .cache
            .join(format!("{}.relog", new.bundle.digest.hex()));
        std::fs::write(&tmp, &bundle_json).map_err(|source| TransferError::Io {
            path: tmp.clone(),
            source,
        })?;
        let pushed = self.dst.push_blobs(
            self.dst_repo,
            &[BlobFile {
                digest: new.bundle.digest,
                size: new.bundle.size,
                path: tmp.clone(),
            }],
        );
        let _ = std::fs::remove_file(&tmp);
        for o in pushed? {
            self.count(o);
        }
        self.blobs(&[Descriptor::empty()])?;
        self.put(&json, media_types::OCI_MANIFEST, None)?;
        Ok(Digest::sha256(&json))
    }
}

/// The key ID of a pqreg bundle's public-key hint.
fn hint_key_id(bundle: &Bundle) -> Result<KeyId, Error> {
    bundle
        .public_key_hint()
        .map_err(|e| Error::Spec(e.into()))?
        .parse()
        .map_err(|e: pqreg_spec::keys::KeyError| Error::Spec(e.into()))
}

/// Whether the bundle among `layers` carries a pqreg log entry.
fn bundle_has_log_entry(c: &Copier<'_>, layers: &[Descriptor]) -> Result<bool, Error> {
    let Some(d) = layers.iter().find(|l| l.media_type == BUNDLE_MEDIA_TYPE) else {
        return Ok(false);
    };
    let bytes = c.read(d)?;
    Ok(Bundle::from_json(&bytes).is_ok_and(|b| b.pqreg_log_entry().is_ok()))
}

/// Whether the cache holds a file of the right size (its content is checked by whoever
/// reads or receives it).
fn cached(path: &Path, size: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() == size)
}
