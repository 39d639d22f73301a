//! What the test suites of every crate share: the workspace root, the fixture model, and
//! the lookup of the third-party tools `.ci/setup` installs (skopeo, docker-registry, the
//! workspace's Python with oras-py and gguf, `model_signing`).
//!
//! One file, standard library only: `pqreg-tests` serves it as `pqreg_tests::tools`, and the
//! client's and the spec crate's tests include it with `#[path]`, so no test binary waits
//! for another crate to use it. Under `CI=true` a missing tool fails the test; elsewhere
//! the test is skipped with the reason on stderr.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root: every crate that includes this file sits one level below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("a workspace crate has a parent directory")
        .to_path_buf()
}

/// The tiny fixture model (`testdata/models/tiny`).
pub fn tiny() -> PathBuf {
    workspace_root().join("testdata/models/tiny")
}

/// True under CI (`CI=true`), where every tool `.ci/setup` installs must be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Called when something a test needs is missing: panics under CI, otherwise prints why
/// the test is skipped and returns `None`.
pub fn missing(what: &str, why: &str) -> Option<PathBuf> {
    let msg = format!("{what} not available ({why}); .ci/setup installs it");
    assert!(!in_ci(), "CI=true: {msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

/// The tool at `path` (a path, or a name looked up on `PATH`) if `path probe…` succeeds.
pub fn tool(path: impl Into<PathBuf>, probe: &[&str]) -> Option<PathBuf> {
    let path = path.into();
    let why = match Command::new(&path).args(probe).output() {
        Ok(o) if o.status.success() => return Some(path),
        Ok(o) => format!(
            "`{} {}` exited {}: {}",
            path.display(),
            probe.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("{}: {e}", path.display()),
    };
    missing(&path.display().to_string(), &why)
}

/// The workspace's Python: `$PQREG_TEST_PYTHON`, else `.venv/bin/python` (what `.ci/setup`
/// creates), if it can `import module`.
pub fn python_with(module: &str) -> Option<PathBuf> {
    let py = std::env::var_os("PQREG_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    tool(py, &["-c", &format!("import {module}")])
}

/// A Python interpreter that can `import oras` (oras-py).
pub fn oras_python() -> Option<PathBuf> {
    python_with("oras.client")
}

/// The `model_signing` CLI (sigstore/model-transparency): `$PQREG_TEST_MODEL_SIGNING`, else
/// `$MODEL_SIGNING`, else the workspace's `.venv/bin/model_signing`.
pub fn model_signing() -> Option<PathBuf> {
    let bin = ["PQREG_TEST_MODEL_SIGNING", "MODEL_SIGNING"]
        .iter()
        .find_map(std::env::var_os)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/model_signing"));
    tool(bin, &["--help"])
}
