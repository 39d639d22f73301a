//! Where a pulled model comes from: the [`BlobSource`] trait the transfer layer
//! implements, and [`DirSource`], an OCI image layout directory (as
//! [`crate::pack::DirSink`] writes it, or `skopeo copy … oci:DIR` does).
//!
//! A source is untrusted: [`crate::unpack::unpack_model`] checks every digest itself.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use pqreg_spec::Digest;
use pqreg_spec::oci::{Descriptor, ImageIndex, ImageManifest};

use super::UnpackError;
use crate::Error;
use crate::pack::REF_NAME;

/// Read access to a repository's manifests and blobs.
pub trait BlobSource {
    /// A blob's byte stream.
    type Reader: std::io::Read;
    /// The bytes of the manifest with this digest (unchecked: the caller hashes them).
    fn get_manifest(&self, digest: &Digest) -> Result<Vec<u8>, Error>;
    /// Opens a blob by digest (unchecked: the caller hashes it while reading).
    fn open_blob(&self, digest: &Digest) -> Result<Self::Reader, Error>;
    /// The referrers of `subject`, as the referrers API lists them: descriptors of
    /// manifests with their `artifactType` and annotations.
    fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error>;
    /// A hint that these blobs will be opened next, in this order: a network source starts
    /// fetching them in the background. The default does nothing.
    fn prefetch(&self, _blobs: &[Descriptor]) {}
    /// True when this source itself checked, in this process, that the blob it will hand
    /// out for `digest` hashes to `digest` (a download it hashed on arrival and renamed into
    /// place only when it matched): the unpacker then counts the blob's bytes without
    /// hashing them a second time. The default is false: everything is hashed.
    fn verified(&self, _digest: &Digest) -> bool {
        false
    }
}

/// An OCI image layout directory as a [`BlobSource`].
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
    index: Vec<Descriptor>,
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    UnpackError::Io {
        path: path.to_owned(),
        source,
    }
    .into()
}

impl DirSource {
    /// Opens the layout at `root` (reads its `index.json`).
    pub fn open(root: &Path) -> Result<Self, Error> {
        let p = root.join("index.json");
        let bytes = fs::read(&p).map_err(|e| io_err(&p, e))?;
        let index = ImageIndex::from_json(&bytes).map_err(|e| Error::Spec(e.into()))?;
        Ok(DirSource {
            root: root.to_owned(),
            index: index.manifests,
        })
    }

    /// The manifest digest `index.json` tags `tag`.
    pub fn resolve(&self, tag: &str) -> Option<Digest> {
        self.index
            .iter()
            .find(|d| {
                d.annotations
                    .as_ref()
                    .and_then(|a| a.get(REF_NAME))
                    .is_some_and(|t| t == tag)
            })
            .map(|d| d.digest)
    }

    /// Path of the blob with this digest.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }
}

impl BlobSource for DirSource {
    type Reader = File;

    fn get_manifest(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let p = self.blob_path(digest);
        let meta = fs::metadata(&p).map_err(|e| io_err(&p, e))?;
        if meta.len() > pqreg_spec::oci::MAX_MANIFEST_LEN as u64 {
            return Err(UnpackError::TooLarge {
                what: "manifest",
                size: meta.len(),
            }
            .into());
        }
        fs::read(&p).map_err(|e| io_err(&p, e))
    }

    fn open_blob(&self, digest: &Digest) -> Result<File, Error> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| io_err(&p, e))
    }

    fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        let mut out = Vec::new();
        for d in &self.index {
            let Ok(bytes) = self.get_manifest(&d.digest) else {
                continue;
            };
            // Like a registry, list what parses as a manifest with this subject; the
            // caller checks digests and contents.
            let Ok(m) = ImageManifest::from_json(&bytes) else {
                continue;
            };
            if m.subject.as_ref().is_some_and(|s| s.digest == *subject) {
                let mut r = Descriptor::new(d.media_type.clone(), d.digest, d.size);
                r.artifact_type = Some(m.effective_artifact_type().to_owned());
                r.annotations = m.annotations.clone();
                out.push(r);
            }
        }
        Ok(out)
    }
}
