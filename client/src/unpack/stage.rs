//! The staging directory of a pull: where the model is written while it is verified, so
//! that its output directory appears (one rename) only when everything verified.
//!
//! ```text
//!   parent/
//!     .NAME.pqreg-partial-XXXXXX/   0700; an exclusive flock on it while the pull runs
//!       tree/                       the model; renamed to parent/NAME at commit
//!     NAME/                         the output, after commit
//! ```
//!
//! An output directory that already exists and is empty (a Kubernetes emptyDir, which is
//! a mount point, so nothing can be renamed over it) holds the staging directory itself,
//! `NAME/.pqreg-partial-XXXXXX/tree/`, and commit moves each entry of `tree/` into `NAME/`;
//! a non-empty one is refused, and so is one owned by another user than the one pulling
//! or root (its owner could swap the files after they are verified). Commit never replaces
//! anything (`RENAME_NOREPLACE`).
//!
//! Plaintext weights land in `tree/` before every check has passed, so nothing of them
//! may be readable by other users or outlive the pull (DESIGN.md threat model, "other
//! local users of an inference node"):
//!
//! - The staging directory is created 0700: while it exists, only its owner can reach
//!   anything inside it, whatever the modes below it.
//! - Files and directories in `tree/` are created with the modes `tar` gives them: 0666
//!   (0777 for executables) and 0777 for directories, less the process umask, which the
//!   kernel applies at creation. `tree/` itself is made by `mkdir`, so the output directory
//!   has the umask's mode too, with no need to read the umask.
//! - It is removed when the pull fails or panics ([`Drop`]), and on SIGINT, SIGTERM and
//!   SIGHUP by the `pqreg` binary's signal thread through [`remove_staging_dirs`].
//! - A pull killed with SIGKILL (or by a power cut) cannot remove it. The next pull of the
//!   same output removes every staging directory of that output that is provably stale:
//!   named exactly `.NAME.pqreg-partial-` plus six letters or digits, a real directory (not
//!   a symlink), owned by this user, and not locked. The kernel drops a flock when its
//!   process dies, so a locked one belongs to a pull that is still running and is left
//!   alone.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pqreg_spec::artifact::Index;
use rustix::fs::{FlockOperation, Mode, OFlags};

use super::UnpackError;
use crate::Error;

/// The random part of a staging directory's name ([`tempfile::Builder`]'s default).
const RANDOM_LEN: usize = 6;

/// Attempts at creating and locking a staging directory that a concurrent cleaner (another
/// pull of the same output) may remove between the two steps.
const CREATE_ATTEMPTS: usize = 4;

/// Staging directories of this process that are not committed or removed yet.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| {
        UnpackError::Io {
            path: path.to_owned(),
            source,
        }
        .into()
    }
}

/// Removes every staging directory this process has open, with the decrypted files in
/// them: for a signal handler that is about to end the process. A pull still running
/// afterwards fails (its files are gone); it never commits a partial tree, since commit
/// renames `tree/` and that is gone too. Returns how many there were.
pub fn remove_staging_dirs() -> usize {
    // Removed under the lock: a commit (which renames under it) either happened before,
    // and the directory is no longer listed, or fails after, finding nothing to rename.
    let mut live = live();
    for d in live.iter() {
        remove_tree(d);
    }
    std::mem::take(&mut *live).len()
}

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes `dir` and everything below it; a worker that creates a file in it meanwhile
/// makes one attempt fail with "directory not empty", so a few are made.
fn remove_tree(dir: &Path) {
    for _ in 0..5 {
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => continue,
            _ => return,
        }
    }
}

fn register(dir: &Path) {
    live().push(dir.to_owned());
}

fn unregister(dir: &Path) {
    live().retain(|d| d != dir);
}

/// A staging directory next to the output directory; removed on drop unless
/// [`Staging::commit`] moved its tree into place.
pub(crate) struct Staging {
    /// `.NAME.pqreg-partial-XXXXXX`, 0700.
    root: PathBuf,
    /// `root/tree`, what becomes the output directory.
    tree: PathBuf,
    /// The open staging directory, flock'ed while this value lives.
    _lock: rustix::fd::OwnedFd,
    out: PathBuf,
    parent: PathBuf,
    /// `out` is an existing empty directory (a Kubernetes emptyDir, often a mount point):
    /// the staging directory is inside it, and commit moves the tree's entries into it.
    into_existing: bool,
}

impl Staging {
    /// Refuses an existing `out` unless it is an empty directory, removes stale staging
    /// directories of `out` (module docs), then creates, locks and registers a new one
    /// beside it (inside it when it exists).
    pub fn new(out: &Path) -> Result<Self, Error> {
        let (parent, prefix, into_existing) = match fs::symlink_metadata(out) {
            Ok(m) if m.is_dir() => {
                check_owner(out, &m)?;
                let prefix = EXISTING_PREFIX.to_owned();
                remove_stale(out, &prefix);
                check_empty(out, None)?;
                (out.to_owned(), prefix, true)
            }
            Ok(_) => return Err(UnpackError::OutputExists(out.to_owned()).into()),
            Err(_) => {
                let name = out
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| UnpackError::BadOutput(out.to_owned()))?;
                let parent = match out.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                    _ => PathBuf::from("."),
                };
                // Said here with the user's path: creating the staging directory would
                // fail naming its internal name.
                // Only a parent that is missing: one that is a file (or unreadable) fails
                // below with the OS error.
                if std::fs::symlink_metadata(&parent)
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                {
                    return Err(UnpackError::NoParent {
                        out: out.to_owned(),
                        parent,
                    }
                    .into());
                }
                let prefix = format!(".{name}.pqreg-partial-");
                remove_stale(&parent, &prefix);
                (parent, prefix, false)
            }
        };
        let mut last = None;
        for _ in 0..CREATE_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix(&prefix)
                .rand_bytes(RANDOM_LEN)
                .permissions(fs::Permissions::from_mode(0o700))
                .disable_cleanup(true)
                .tempdir_in(&parent)
                .map_err(io(&parent))?;
            let root = dir.path().to_owned();
            match lock_if_same(&root, FlockOperation::NonBlockingLockExclusive) {
                Ok(Some(lock)) => {
                    // Registered before anything is written into it.
                    register(&root);
                    let staging = Staging {
                        tree: root.join("tree"),
                        root,
                        _lock: lock,
                        out: out.to_owned(),
                        parent,
                        into_existing,
                    };
                    fs::create_dir(&staging.tree).map_err(io(&staging.tree))?;
                    return Ok(staging);
                }
                // Another pull of the same output found it unlocked and removed it (or
                // holds it to do so): make another.
                Ok(None) => {
                    let _ = fs::remove_dir(&root);
                    last = Some(std::io::Error::other(
                        "a concurrent pull removed the new staging directory",
                    ));
                }
                Err(e) => {
                    let _ = fs::remove_dir(&root);
                    last = Some(e);
                }
            }
        }
        Err(io(&parent)(last.unwrap_or_else(|| {
            std::io::Error::other("could not create a staging directory")
        })))
    }

    /// The staging directory (on the output's file system).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Creates every file of the index at its full length (chunks are written at their
    /// offsets), with the umask's modes (module docs); returns their staged paths, in
    /// index order.
    pub fn create_files(&self, index: &Index) -> Result<Vec<PathBuf>, Error> {
        let mut out = Vec::with_capacity(index.files.len());
        for f in &index.files {
            // Index paths are checked (spec/artifact.md 5.1): relative, no `.`/`..`.
            let parts: Vec<&str> = f.path.split('/').collect();
            let mut p = self.tree.clone();
            // One level at a time, never above `tree/`: once a signal removed the staging
            // directory, nothing recreates it.
            for dir in &parts[..parts.len().saturating_sub(1)] {
                p.push(dir);
                match fs::DirBuilder::new().mode(0o777).create(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                        return Err(io(&p)(e));
                    }
                    _ => {}
                }
            }
            p.push(parts[parts.len() - 1]);
            let mode = if f.mode & 0o111 != 0 { 0o777 } else { 0o666 };
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .open(&p)
                .map_err(io(&p))?;
            file.set_len(f.size).map_err(io(&p))?;
            out.push(p);
        }
        Ok(out)
    }

    /// Makes the staged tree durable and renames it to the output directory (or, into an
    /// existing empty one, each of its entries), never replacing anything.
    pub fn commit(self) -> Result<(), Error> {
        sync_dirs(&self.tree)?;
        if self.into_existing {
            check_empty(&self.out, Some(&self.root))?;
        }
        {
            let mut live = live();
            if !live.contains(&self.root) {
                // A signal removed it (and the process is about to exit).
                return Err(io(&self.tree)(std::io::ErrorKind::NotFound.into()));
            }
            if self.into_existing {
                self.move_entries()?;
            } else {
                rename_noreplace(&self.tree, &self.out)?;
            }
            live.retain(|d| d != &self.root);
        }
        File::open(&self.parent)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.parent))
        // Drop removes the (now empty) staging directory.
    }

    /// Moves every entry of the tree into the existing output directory; if one cannot be
    /// moved, those already moved are moved back, so no partial model is left.
    fn move_entries(&self) -> Result<(), Error> {
        let mut names = Vec::new();
        for e in fs::read_dir(&self.tree).map_err(io(&self.tree))? {
            names.push(e.map_err(io(&self.tree))?.file_name());
        }
        for (i, name) in names.iter().enumerate() {
            if let Err(e) = rename_noreplace(&self.tree.join(name), &self.out.join(name)) {
                for back in &names[..i] {
                    let _ = fs::rename(self.out.join(back), self.tree.join(back));
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

/// The staging directory's prefix inside an existing output directory.
const EXISTING_PREFIX: &str = ".pqreg-partial-";

/// Refuses an existing output directory that belongs to another user than the one pulling
/// (root's are accepted: root can replace anything anyway). Its owner could otherwise swap
/// the verified files once they are in it (DESIGN.md, "other local users").
fn check_owner(dir: &Path, m: &fs::Metadata) -> Result<(), Error> {
    let me = rustix::process::geteuid().as_raw();
    let owner = m.uid();
    if owner == me || owner == 0 {
        Ok(())
    } else {
        Err(UnpackError::OutputNotOwned {
            dir: dir.to_owned(),
            owner,
            me,
        }
        .into())
    }
}

/// Refuses a directory that holds anything but `except`.
fn check_empty(dir: &Path, except: Option<&Path>) -> Result<(), Error> {
    // By name, not by path: `tempfile` makes the staging path absolute, while `dir` (and
    // so each entry's path) may be relative.
    let except = except.and_then(Path::file_name);
    for e in fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        if Some(e.file_name().as_os_str()) != except {
            return Err(UnpackError::OutputNotEmpty {
                dir: dir.to_owned(),
                entry: e.file_name().to_string_lossy().into_owned(),
            }
            .into());
        }
    }
    Ok(())
}

/// Renames `from` to `to` unless `to` exists (renameat2 `RENAME_NOREPLACE`, so nothing
/// created meanwhile is replaced); where the filesystem lacks it, checks, then renames.
fn rename_noreplace(from: &Path, to: &Path) -> Result<(), Error> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(UnpackError::OutputExists(to.to_owned()).into()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(UnpackError::OutputExists(to.to_owned()).into());
            }
            fs::rename(from, to).map_err(io(to))
        }
        Err(e) => Err(io(to)(e.into())),
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Still locked while it is removed, so no other pull's cleaner races this one.
        remove_tree(&self.root);
        unregister(&self.root);
    }
}

/// Opens the directory `path` without following a symlink and takes `op` on it; `None`
/// when it is locked by someone else, or when `path` no longer names the directory that
/// was locked (it was removed, or replaced, meanwhile).
fn lock_if_same(path: &Path, op: FlockOperation) -> std::io::Result<Option<rustix::fd::OwnedFd>> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    match rustix::fs::flock(&fd, op) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let locked = rustix::fs::fstat(&fd)?;
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && m.dev() == locked.st_dev && m.ino() == locked.st_ino => Ok(Some(fd)),
        _ => Ok(None),
    }
}

/// Removes the staging directories in `parent` named `prefix` + [`RANDOM_LEN`] letters or
/// digits that are owned by this user and not locked: those of pulls of the same output
/// that were killed (module docs). Best effort: what cannot be read or removed is left.
fn remove_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let me = rustix::process::geteuid().as_raw();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        if suffix.len() != RANDOM_LEN || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let path = e.path();
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && m.uid() == me => {}
            _ => continue,
        }
        // Held until the removal is done, so a pull that just created this very name
        // sees it vanish and makes another (`Staging::new`).
        if let Ok(Some(_lock)) = lock_if_same(&path, FlockOperation::NonBlockingLockExclusive) {
            remove_tree(&path);
        }
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

/// fsyncs a staged file (its mode was set when it was created).
pub(crate) fn sync_file(path: &Path) -> Result<(), Error> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}
