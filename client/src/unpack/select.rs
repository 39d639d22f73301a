//! What a pull writes: the files `--include`/`--exclude` select (globs over the index's
//! `/`-separated paths), and the free-space check before anything is written.
//!
//! Selection happens after the signature, the statement and the whole index are verified
//! (the index's files against the statement's), so leaving files out never weakens a
//! check: the selected files' chunks are fetched, decrypted and checked against their
//! index digests as in a full pull; the others' chunks are not fetched at all.
//!
//! Glob syntax is globset's: `*` and `?` stay within one path component, `**` spans
//! components, `{a,b}` alternates, `[...]` is a class. A file is written when it matches
//! an include (or none was given) and no exclude.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use pqreg_spec::artifact::Index;

use super::UnpackError;

/// The files a pull writes (default: all).
#[derive(Debug, Clone, Default)]
pub struct FileSelection {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    patterns: Vec<String>,
}

impl FileSelection {
    /// From `--include` and `--exclude` globs; an empty `include` selects every file.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, UnpackError> {
        let set = |globs: &[String]| -> Result<Option<GlobSet>, UnpackError> {
            if globs.is_empty() {
                return Ok(None);
            }
            let mut b = GlobSetBuilder::new();
            for g in globs {
                let glob = GlobBuilder::new(g)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| UnpackError::BadGlob {
                        glob: g.clone(),
                        reason: e.kind().to_string(),
                    })?;
                b.add(glob);
            }
            b.build().map(Some).map_err(|e| UnpackError::BadGlob {
                glob: globs.join(" "),
                reason: e.to_string(),
            })
        };
        let patterns = include
            .iter()
            .map(|g| format!("--include {g}"))
            .chain(exclude.iter().map(|g| format!("--exclude {g}")))
            .collect();
        Ok(FileSelection {
            include: set(include)?,
            exclude: set(exclude)?,
            patterns,
        })
    }

    /// Whether every file is selected (no globs given).
    pub fn is_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// Whether the file at index path `path` is written.
    pub fn matches(&self, path: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(path))
            && !self.exclude.as_ref().is_some_and(|s| s.is_match(path))
    }

    /// The verified `index` with only the selected files; refuses a selection of none.
    pub(crate) fn apply(&self, index: &Index) -> Result<Index, UnpackError> {
        let mut out = index.clone();
        if self.is_all() {
            return Ok(out);
        }
        out.files.retain(|f| self.matches(&f.path));
        if out.files.is_empty() && !index.files.is_empty() {
            return Err(UnpackError::NothingSelected(self.patterns.join(" ")));
        }
        Ok(out)
    }
}

/// Refuses to start writing `needed` bytes into `dir` when its file system has less free
/// space for this user (statvfs `f_bavail` × `f_frsize`). Sparse or compressing file
/// systems may need less, so this can refuse a pull that would just fit; it never lets
/// one start that cannot.
pub(crate) fn check_space(dir: &Path, needed: u64) -> Result<(), UnpackError> {
    let st = rustix::fs::statvfs(dir).map_err(|e| UnpackError::Io {
        path: dir.to_owned(),
        source: e.into(),
    })?;
    let available = st.f_bavail.saturating_mul(st.f_frsize);
    if needed > available {
        return Err(UnpackError::NoSpace {
            dir: dir.to_owned(),
            needed,
            available,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(inc: &[&str], exc: &[&str]) -> FileSelection {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        FileSelection::new(&v(inc), &v(exc)).unwrap()
    }

    #[test]
    fn star_stays_in_one_component() {
        let s = sel(&["*.json"], &[]);
        assert!(s.matches("config.json"));
        assert!(!s.matches("onnx/config.json"));
        let s = sel(&["**/*.json"], &[]);
        assert!(s.matches("config.json") && s.matches("onnx/config.json"));
    }

    #[test]
    fn exclude_wins_and_empty_include_is_all() {
        let s = sel(&[], &["*.gguf"]);
        assert!(s.matches("model.safetensors") && !s.matches("model.gguf"));
        let s = sel(&["model*"], &["*.gguf"]);
        assert!(s.matches("model.safetensors") && !s.matches("model.gguf"));
        assert!(sel(&[], &[]).is_all());
    }

    #[test]
    fn a_bad_glob_is_refused() {
        let e = FileSelection::new(&["[".to_owned()], &[]).unwrap_err();
        assert!(matches!(e, UnpackError::BadGlob { .. }), "{e}");
    }
}
