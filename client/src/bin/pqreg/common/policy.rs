//! The trust policy: from `--policy FILE` or `$XDG_CONFIG_HOME/pqreg/policy.toml`, and
//! the warning a policy without witnesses earns.

use std::path::Path;

use super::fail;
use pqreg::exit;
use pqreg::paths::Paths;
use pqreg_spec::policy::Policy;

/// The trust policy at `path`, or `$XDG_CONFIG_HOME/pqreg/policy.toml`.
pub(crate) fn load_policy(path: Option<&Path>, paths: &Paths) -> crate::common::Result<Policy> {
    let policy_path = path
        .map(Path::to_owned)
        .unwrap_or_else(|| paths.config.join("policy.toml"));
    let text = std::fs::read_to_string(&policy_path).map_err(|e| {
        fail(
            exit::ERROR,
            format!("reading the trust policy {}: {e}", policy_path.display()),
            "Pass --policy FILE (spec/signing.md section 6 shows the format).",
        )
    })?;
    Policy::from_toml(&text).map_err(|e| {
        fail(
            exit::ERROR,
            format!("trust policy {}: {e}", policy_path.display()),
            "Fix the policy file (spec/signing.md section 6 shows the format).",
        )
    })
}

/// `$XDG_CONFIG_HOME/pqreg/policy.toml` if it exists (push, recipients and copy use its
/// `[[logs]]` to check the log's answer, and push its rules to decide what to reuse;
/// they do not need a policy). One that exists but does not parse stops the command:
/// ignoring it would silently drop the checks it asks for.
pub(crate) fn default_policy(paths: &Paths) -> crate::common::Result<Option<Policy>> {
    let path = paths.config.join("policy.toml");
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => load_policy(Some(&path), paths).map(Some),
    }
}

/// Warns on stderr when the log that vouches for `registry` was verified without any
/// witness cosignature (the policy sets no quorum): a log that shows this client one
/// history and others another (a split view) then goes unnoticed.
pub(crate) fn warn_unwitnessed(policy: &Policy, registry: &str) {
    for l in policy.logs.iter().filter(|l| l.vouches_for(registry)) {
        if l.verifier.witness_quorum == 0 {
            eprintln!(
                "pqreg: warning: the checkpoint of log {} was verified with no witness cosignature (quorum 0): a split view of the log would go unnoticed; add witnesses and a quorum to its [[logs]] entry in the trust policy",
                l.verifier.origin
            );
        }
    }
}
