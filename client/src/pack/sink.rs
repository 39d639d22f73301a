//! Where packed blobs go: the [`BlobSink`] trait the transfer layer implements, and
//! [`DirSink`], an OCI image layout directory (image-spec `image-layout.md`).
//!
//! ```text
//!   DIR/
//!   ├── oci-layout              {"imageLayoutVersion":"1.0.0"}
//!   ├── index.json              OCI image index: the model manifest (tagged with
//!   │                           org.opencontainers.image.ref.name) and its referrers
//!   └── blobs/sha256/<hex>      every blob and manifest, by digest
//! ```
//!
//! `skopeo copy oci:DIR:TAG docker://…` pushes such a directory (the referrers are copied
//! separately); [`crate::unpack::DirSource`] reads it back.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use pqreg_spec::Digest;
use pqreg_spec::oci::{Descriptor, ImageIndex, media_types};

use super::PackError;
use crate::Error;

/// The annotation an OCI layout's `index.json` names a tag with.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A destination for the blobs and manifests of a packed model.
///
/// The packer calls it from one thread only; uploads may be slow, encoding continues on
/// worker threads meanwhile.
pub trait BlobSink {
    /// Whether the destination already holds this blob (then it is not stored again).
    fn has_blob(&mut self, digest: &Digest) -> Result<bool, Error>;
    /// Stores a blob the packer wrote to `path` (its digest and size already computed and
    /// in `desc`). The sink may move the file; the packer deletes it afterwards if it is
    /// still there.
    fn put_blob_file(&mut self, desc: &Descriptor, path: &Path) -> Result<(), Error>;
    /// Stores a small blob held in memory (config, index, bundle).
    fn put_blob_bytes(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<(), Error>;
    /// Stores a sealed chunk the packer kept in memory; `grant` is its share of the
    /// packer's [`MemoryBudget`], to be dropped once the bytes are no longer needed (a sink
    /// that uploads in the background keeps it until the upload ends).
    fn put_blob_vec(
        &mut self,
        desc: &Descriptor,
        bytes: Vec<u8>,
        grant: MemoryGrant,
    ) -> Result<(), Error> {
        let r = self.put_blob_bytes(desc, &bytes);
        drop(grant);
        r
    }
    /// Stores a manifest (after every blob it references), under `tag` if given.
    fn put_manifest(
        &mut self,
        desc: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<(), Error>;
    /// A directory for the packer's temporary blob files: one on the sink's file system
    /// lets [`BlobSink::put_blob_file`] rename instead of copy. `None`: the system's.
    fn temp_dir(&self) -> Option<PathBuf> {
        None
    }
}

/// The bytes of sealed chunks the packer may hold in memory at once, across encoding,
/// waiting and uploading; a chunk that does not fit is sealed into a temporary file, as
/// every chunk was before. Writing a sealed chunk to a file and reading it back for the
/// upload cost a tenth of a push's CPU time (client/bench/README.md).
///
/// Buffers given back after their upload ([`MemoryGrant::give_back`]) are kept, up to the
/// limit, and handed out again by [`MemoryBudget::buffer`]: a new 32 MiB buffer is a fresh
/// mapping whose pages the kernel faults in and zeroes, which cost 4% of a push's CPU.
#[derive(Debug)]
pub struct MemoryBudget {
    used: std::sync::Mutex<u64>,
    limit: u64,
    spare: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> std::sync::Arc<Self> {
        std::sync::Arc::new(MemoryBudget {
            used: std::sync::Mutex::new(0),
            limit,
            spare: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// An empty buffer of at least `capacity` bytes: a spare one if one is large enough,
    /// else a new one.
    pub fn buffer(&self, capacity: usize) -> Vec<u8> {
        let reused = self.spare.lock().ok().and_then(|mut spare| {
            let i = spare.iter().position(|b| b.capacity() >= capacity)?;
            Some(spare.swap_remove(i))
        });
        reused.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// `n` bytes of the budget if they are free now (never waits).
    pub fn try_take(self: &std::sync::Arc<Self>, n: u64) -> Option<MemoryGrant> {
        let mut used = self.used.lock().ok()?;
        if *used + n > self.limit {
            return None;
        }
        *used += n;
        Some(MemoryGrant {
            budget: std::sync::Arc::clone(self),
            bytes: n,
        })
    }

    /// Capacity of the spare buffers kept now.
    pub fn spare_bytes(&self) -> u64 {
        self.spare
            .lock()
            .map(|s| s.iter().map(|b| b.capacity() as u64).sum())
            .unwrap_or(0)
    }

    /// Bytes taken now.
    pub fn used(&self) -> u64 {
        self.used.lock().map(|u| *u).unwrap_or(0)
    }
}

/// A share of a [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
pub struct MemoryGrant {
    budget: std::sync::Arc<MemoryBudget>,
    bytes: u64,
}

impl MemoryGrant {
    /// Gives the grant back, and with it `body` (the buffer it paid for) to be handed out
    /// again by [`MemoryBudget::buffer`], if no one else holds it and the spare buffers stay
    /// within the limit.
    pub fn give_back(self, body: bytes::Bytes) {
        let Ok(buf) = body.try_into_mut() else {
            return;
        };
        let mut buf: Vec<u8> = buf.into();
        buf.clear();
        if let Ok(mut spare) = self.budget.spare.lock() {
            let kept: usize = spare.iter().map(Vec::capacity).sum();
            if ((kept + buf.capacity()) as u64) <= self.budget.limit {
                spare.push(buf);
            }
        }
    }
}

impl Drop for MemoryGrant {
    fn drop(&mut self) {
        if let Ok(mut used) = self.budget.used.lock() {
            *used = used.saturating_sub(self.bytes);
        }
    }
}

/// An OCI image layout directory as a [`BlobSink`].
#[derive(Debug)]
pub struct DirSink {
    root: PathBuf,
    index: Vec<Descriptor>,
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    PackError::Io {
        path: path.to_owned(),
        source,
    }
    .into()
}

impl DirSink {
    /// Opens the layout at `root`, creating it (and `oci-layout`, `index.json`) if needed.
    /// An existing `index.json` is kept and extended.
    pub fn create(root: &Path) -> Result<Self, Error> {
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| io_err(&blobs, e))?;
        let layout = root.join("oci-layout");
        if !layout.exists() {
            fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(|e| io_err(&layout, e))?;
        }
        let index_path = root.join("index.json");
        // An existing layout may come from anywhere: read like one being pulled from.
        let index = match crate::unpack::read_regular(
            &index_path,
            crate::unpack::MAX_LAYOUT_FILE,
            "an OCI layout's index.json",
        ) {
            Ok(b) => {
                ImageIndex::from_json(&b)
                    .map_err(|e| Error::Spec(e.into()))?
                    .manifests
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&index_path, e)),
        };
        let mut s = DirSink {
            root: root.to_owned(),
            index,
        };
        s.write_index()?;
        Ok(s)
    }

    /// The layout's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of the blob with this digest.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    fn write_index(&mut self) -> Result<(), Error> {
        let idx = ImageIndex {
            schema_version: 2,
            media_type: Some(media_types::OCI_INDEX.into()),
            artifact_type: None,
            manifests: self.index.clone(),
            subject: None,
            annotations: None,
        };
        let path = self.root.join("index.json");
        let tmp = self.root.join(".index.json.tmp");
        let mut f = fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&idx.to_json())
            .and_then(|()| f.sync_all())
            .map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))
    }
}

impl BlobSink for DirSink {
    fn has_blob(&mut self, digest: &Digest) -> Result<bool, Error> {
        Ok(self.blob_path(digest).is_file())
    }

    fn put_blob_file(&mut self, desc: &Descriptor, path: &Path) -> Result<(), Error> {
        let dest = self.blob_path(&desc.digest);
        fs::File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err(path, e))?;
        // Same file system (temp_dir below): a rename. Otherwise copy.
        if fs::rename(path, &dest).is_err() {
            fs::copy(path, &dest).map_err(|e| io_err(&dest, e))?;
        }
        Ok(())
    }

    fn put_blob_bytes(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<(), Error> {
        let dest = self.blob_path(&desc.digest);
        if dest.is_file() {
            return Ok(());
        }
        let tmp = self.root.join(format!(".{}.tmp", desc.digest.hex()));
        let mut f = fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, &dest).map_err(|e| io_err(&dest, e))
    }

    fn put_manifest(
        &mut self,
        desc: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<(), Error> {
        self.put_blob_bytes(desc, bytes)?;
        let mut d = desc.clone();
        if let Some(t) = tag {
            d.annotations = Some(BTreeMap::from([(REF_NAME.to_owned(), t.to_owned())]));
            // A tag names one manifest: drop the tag from the entry that had it, and the
            // untagged entry of this manifest (pushed by digest before it was signed).
            self.index.retain(|e| {
                let name = e.annotations.as_ref().and_then(|a| a.get(REF_NAME));
                name.is_none_or(|n| n != t) && !(name.is_none() && e.digest == desc.digest)
            });
        } else if self.index.iter().any(|e| e.digest == desc.digest) {
            return Ok(());
        }
        self.index.push(d);
        self.write_index()
    }

    fn temp_dir(&self) -> Option<PathBuf> {
        Some(self.root.clone())
    }
}
