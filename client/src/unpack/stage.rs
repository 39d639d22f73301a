//! The staging directory: `out_dir.parent()/.<name>.pqreg-partial-<random>/`, removed
//! on drop unless [`Staging::commit`] renamed it to `out_dir`.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pqreg_spec::artifact::Index;

use super::UnpackError;
use crate::Error;

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| {
        UnpackError::Io {
            path: path.to_owned(),
            source,
        }
        .into()
    }
}

/// A staging directory next to the output directory.
pub(crate) struct Staging {
    dir: tempfile::TempDir,
    out: PathBuf,
    parent: PathBuf,
}

impl Staging {
    /// Refuses an existing `out`, then creates the staging directory beside it.
    pub fn new(out: &Path) -> Result<Self, Error> {
        if fs::symlink_metadata(out).is_ok() {
            return Err(UnpackError::OutputExists(out.to_owned()).into());
        }
        let name = out
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| UnpackError::BadOutput(out.to_owned()))?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}.pqreg-partial-"))
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        Ok(Staging {
            dir,
            out: out.to_owned(),
            parent,
        })
    }

    /// Creates every file of the index at its full length (chunks are written at their
    /// offsets); returns their staged paths, in index order.
    pub fn create_files(&self, index: &Index) -> Result<Vec<PathBuf>, Error> {
        let mut out = Vec::with_capacity(index.files.len());
        for f in &index.files {
            // Index paths are checked (spec/artifact.md 5.1): relative, no `.`/`..`.
            let p = f
                .path
                .split('/')
                .fold(self.dir.path().to_owned(), |p, c| p.join(c));
            if let Some(d) = p.parent() {
                fs::create_dir_all(d).map_err(io(d))?;
            }
            let file = File::create(&p).map_err(io(&p))?;
            file.set_len(f.size).map_err(io(&p))?;
            out.push(p);
        }
        Ok(out)
    }

    /// Makes the staged tree durable and renames it to the output directory.
    pub fn commit(self) -> Result<(), Error> {
        sync_dirs(self.dir.path())?;
        let root = self.dir.path().to_owned();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).map_err(io(&root))?;
        if fs::symlink_metadata(&self.out).is_ok() {
            return Err(UnpackError::OutputExists(self.out.clone()).into());
        }
        let kept = self.dir.keep();
        if let Err(e) = fs::rename(&kept, &self.out) {
            let _ = fs::remove_dir_all(&kept);
            return Err(io(&self.out)(e));
        }
        File::open(&self.parent)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.parent))
    }
}

/// fsyncs every directory under `dir` (children first) and `dir` itself.
fn sync_dirs(dir: &Path) -> Result<(), Error> {
    for e in fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        if e.file_type().map_err(io(dir))?.is_dir() {
            sync_dirs(&e.path())?;
        }
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Sets a staged file's mode and fsyncs it.
pub(crate) fn set_mode_and_sync(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))?;
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}
