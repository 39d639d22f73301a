//! Where a pulled model comes from: the [`BlobSource`] trait the transfer layer
//! implements, and [`DirSource`], an OCI image layout directory (as
//! [`crate::pack::DirSink`] writes it, or `skopeo copy … oci:DIR` does).
//!
//! A source is untrusted: [`crate::unpack::unpack_model`] checks every digest itself.
//!
//! A layout is untrusted input too, read on an air-gapped node from whatever the operator
//! carried over: every file of it is opened with [`open_regular`] (regular files only,
//! after following symlinks: no device, FIFO or directory), and the small ones are read
//! with [`read_regular`], through `take(limit + 1)` so that a file that grows while it is
//! read cannot pass a size check made before. `index.json` and `oci-layout` may be
//! [`MAX_LAYOUT_FILE`] bytes, a manifest the registry's limit
//! ([`pqreg_spec::oci::MAX_MANIFEST_LEN`]); blobs are streamed by their readers up to
//! their descriptor's size plus one byte. Symlinks are followed: a layout copied with
//! `cp -s` or whose blobs link into a shared store still opens, and a symlink gains a
//! hostile layout nothing a copy of the same file would not (sizes are bounded, every
//! byte is hashed against the signed digests, and no content goes into a message).

use std::fs::{self, File};
use std::io::Read as _;
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

/// The most bytes of a layout's `index.json` and `oci-layout` (as many as a manifest).
pub const MAX_LAYOUT_FILE: u64 = pqreg_spec::oci::MAX_MANIFEST_LEN as u64;

/// What a file is, for a refusal that names it.
fn kind(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn not_regular(t: fs::FileType) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "is {} (after following symlinks), not a regular file; an OCI layout holds regular files only",
            kind(t)
        ),
    )
}

/// Opens `path` for reading if it is a regular file after following symlinks. The type
/// is checked before the open (opening a device or FIFO can block or act) and again on
/// the open file (the path may have been swapped in between); the open itself does not
/// block on a FIFO and does not take a terminal as the controlling one.
pub(crate) fn open_regular(path: &Path) -> std::io::Result<File> {
    let before = fs::metadata(path)?;
    if !before.is_file() {
        return Err(not_regular(before.file_type()));
    }
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    let opened = file.metadata()?;
    if !opened.is_file() {
        return Err(not_regular(opened.file_type()));
    }
    Ok(file)
}

/// The whole regular file at `path` (after following symlinks) if it has at most `limit`
/// bytes (`what` names it in the error); at most `limit + 1` bytes are read, whatever its
/// size says. For any small file handed over with a layout (e.g. an offline proof).
pub fn read_regular(path: &Path, limit: u64, what: &str) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let size = file.metadata()?.len();
    let mut bytes = Vec::with_capacity(size.min(limit) as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "exceeds the limit of {limit} bytes for {what}; this is not an OCI layout pqreg can read, copy it again (`pqreg log proof --layout`)"
            ),
        ));
    }
    Ok(bytes)
}

impl DirSource {
    /// Opens the layout at `root`: checks its `oci-layout` and reads its `index.json`.
    pub fn open(root: &Path) -> Result<Self, Error> {
        let p = root.join("oci-layout");
        let marker = read_regular(&p, MAX_LAYOUT_FILE, "an OCI layout's oci-layout")
            .map_err(|e| io_err(&p, e))?;
        check_layout_version(&marker).map_err(|e| io_err(&p, e))?;
        let p = root.join("index.json");
        let bytes = read_regular(&p, MAX_LAYOUT_FILE, "an OCI layout's index.json")
            .map_err(|e| io_err(&p, e))?;
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

/// `oci-layout` must be `{"imageLayoutVersion": "1.0.0"}` (OCI image-spec, image layout):
/// the only version there is, and what tells a layout from any other directory.
fn check_layout_version(bytes: &[u8]) -> std::io::Result<()> {
    #[derive(serde::Deserialize)]
    struct Marker {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    match serde_json::from_slice::<Marker>(bytes) {
        Ok(m) if m.version == "1.0.0" => Ok(()),
        Ok(m) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "OCI image layout version {:?}; pqreg reads version 1.0.0",
                m.version
            ),
        )),
        Err(e) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not an OCI image layout marker ({e})"),
        )),
    }
}

impl BlobSource for DirSource {
    type Reader = File;

    fn get_manifest(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let p = self.blob_path(digest);
        read_regular(
            &p,
            pqreg_spec::oci::MAX_MANIFEST_LEN as u64,
            "a manifest (the registry's limit)",
        )
        .map_err(|e| io_err(&p, e))
    }

    fn open_blob(&self, digest: &Digest) -> Result<File, Error> {
        let p = self.blob_path(digest);
        open_regular(&p).map_err(|e| io_err(&p, e))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn refused(r: std::io::Result<Vec<u8>>, needle: &str) {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }

    #[test]
    fn only_small_regular_files_are_read() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_regular(&f, 5, "f").unwrap(), b"12345");
        refused(
            read_regular(&f, 4, "f"),
            "exceeds the limit of 4 bytes for f",
        );
        // A symlink to a regular file is followed.
        let l = d.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert_eq!(read_regular(&l, 5, "f").unwrap(), b"12345");
        // Devices, FIFOs and directories are refused before anything is read; the FIFO
        // (with no writer) does not block the open.
        let z = d.path().join("z");
        std::os::unix::fs::symlink("/dev/zero", &z).unwrap();
        refused(read_regular(&z, 5, "z"), "is a character device");
        let p = d.path().join("p");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        refused(read_regular(&p, 5, "p"), "is a FIFO");
        refused(read_regular(d.path(), 5, "d"), "is a directory");
        let e = read_regular(&d.path().join("missing"), 5, "m").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn the_layout_marker_must_say_1_0_0() {
        assert!(check_layout_version(br#"{"imageLayoutVersion":"1.0.0"}"#).is_ok());
        assert!(check_layout_version(br#"{"imageLayoutVersion":"2.0.0"}"#).is_err());
        assert!(check_layout_version(b"{}").is_err());
        assert!(check_layout_version(b"").is_err());
    }
}
