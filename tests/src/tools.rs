//! Locating the third-party clients (skopeo, oras-py) the interoperability tests drive.
//! Under `CI=true` a missing tool fails the test; elsewhere the test is skipped with a reason.

use std::path::PathBuf;
use std::process::Command;

use crate::server::workspace_root;

/// True under CI (`CI=true`), where every tool `.ci/run` installs must be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Called when a tool is missing: panics under CI, otherwise prints why the test is skipped
/// and returns `None`.
pub fn missing(what: &str, why: &str) -> Option<PathBuf> {
    let msg = format!("{what} not available ({why}); .ci/run installs it");
    assert!(!in_ci(), "CI=true: {msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

/// The path of an executable on `PATH` that runs `probe_args` successfully.
pub fn require_tool(name: &str, probe_args: &[&str]) -> Option<PathBuf> {
    match Command::new(name).args(probe_args).output() {
        Ok(o) if o.status.success() => Some(PathBuf::from(name)),
        Ok(o) => missing(
            name,
            &format!("`{name} {}` exited {}", probe_args.join(" "), o.status),
        ),
        Err(e) => missing(name, &e.to_string()),
    }
}

/// A Python interpreter that can `import oras`: `$PQREG_TEST_PYTHON`, else the workspace's
/// `.venv/bin/python` (what `.ci/run` creates).
pub fn oras_python() -> Option<PathBuf> {
    let py = std::env::var_os("PQREG_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    match Command::new(&py)
        .args(["-c", "import oras.client"])
        .output()
    {
        Ok(o) if o.status.success() => Some(py),
        Ok(o) => missing(
            "oras-py",
            &format!(
                "{} cannot import oras: {}",
                py.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        ),
        Err(e) => missing("oras-py", &format!("{}: {e}", py.display())),
    }
}
