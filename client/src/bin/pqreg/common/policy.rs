//! The trust policy: from `--policy FILE` or `$XDG_CONFIG_HOME/pqreg/policy.toml`, and
//! the warning a policy without witnesses earns.

use std::path::{Path, PathBuf};

use super::fail;
use pqreg::exit;
use pqreg::paths::Paths;
use pqreg_spec::policy::Policy;

/// `path`, or `$XDG_CONFIG_HOME/pqreg/policy.toml`.
pub(crate) fn policy_path(path: Option<&Path>, paths: &Paths) -> PathBuf {
    path.map(Path::to_owned)
        .unwrap_or_else(|| paths.config.join("policy.toml"))
}

/// Refuses (exit 12) a repository no rule of the policy covers, naming the gap: which
/// policy, what its rules cover, and the command that adds a rule. Pull and verify call it
/// before contacting the registry, so the user never sees the signature check fail for
/// want of a key instead.
pub(crate) fn require_rule(
    policy: &Policy,
    path: &Path,
    repository: &str,
) -> crate::common::Result<()> {
    if !pqreg::trust::covering_rules(policy, repository).is_empty() {
        return Ok(());
    }
    let patterns = pqreg::trust::all_patterns(policy);
    let covered = if patterns.is_empty() {
        "the policy has no rules".to_owned()
    } else {
        format!("the rules cover {}", patterns.join(", "))
    };
    Err(fail(
        exit::UNTRUSTED_SIGNER,
        format!(
            "no rule in {} covers {repository}; {covered}",
            path.display()
        ),
        format!(
            "If you trust the publisher's key, add one with `pqreg trust add-signer NAME KEY.pub --repos {repository}` (a pattern like host/org/* covers a whole namespace); `pqreg trust check REF` shows what a pull requires."
        ),
    ))
}

/// The trust policy at `path`, or `$XDG_CONFIG_HOME/pqreg/policy.toml`.
pub(crate) fn load_policy(path: Option<&Path>, paths: &Paths) -> crate::common::Result<Policy> {
    let policy_path = policy_path(path, paths);
    let text = std::fs::read_to_string(&policy_path).map_err(|e| {
        fail(
            exit::ERROR,
            format!("reading the trust policy {}: {e}", policy_path.display()),
            "Create one with `pqreg trust init` and `pqreg trust add-signer`, or pass --policy FILE.",
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

/// The policy `tag` and `recipients` verify the version they re-sign under: `--policy`,
/// or else "signed by the re-signing key itself" for this repository, with the logs, the
/// log requirement and the max_age that the default policy (if any) sets for `name`
/// (`host/path`), so that its log entry is verified wherever a configured log exists.
pub(crate) fn resign_policy(
    policy: Option<&Path>,
    key: &pqreg_spec::keys::VerifyingKey,
    name: &str,
    paths: &Paths,
) -> crate::common::Result<Policy> {
    if let Some(p) = policy {
        return load_policy(Some(p), paths);
    }
    let mut own = pqreg::rewrap::own_key_policy(key);
    if let Some(d) = default_policy(paths)? {
        own.require_log = d.log_required(name);
        own.max_age = d.max_age(name);
        own.logs = d.logs;
    }
    Ok(own)
}
