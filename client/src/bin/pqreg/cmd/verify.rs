//! `pqreg verify REF`: with `--identity`, every check `pull --verify-plaintext` runs,
//! writing nothing; without it, what an auditor with no decryption key can check
//! (signature, policy, log, every blob's digest; `pqreg::unpack::audit_model`), saying
//! what was left unchecked. With `--offline`, the model from an OCI layout and its log
//! entry from an offline proof (both written by `pqreg log proof REF --out FILE --layout
//! DIR`), without network.

use std::path::Path;

use crate::cli::VerifyArgs;
use crate::common::{
    Outcome, PullFlags, TagRead, connect, credential, load_policy, offline, parse_ref, policy_path,
    pull, require_rule, resolve, warn_unwitnessed,
};
use pqreg::paths::Paths;
use pqreg::registry_io::RegistrySource;
use pqreg::tlog::BundleLog;
use pqreg::unpack::{FileSelection, UnpackOptions, audit_model};
use serde_json::json;

/// `pqreg verify [--offline --layout DIR --proof FILE] REF`.
pub(crate) fn run(a: &VerifyArgs) -> crate::common::Result<Outcome> {
    if a.offline {
        return offline(
            &a.reference,
            a.layout.as_deref().unwrap_or(Path::new(".")),
            a.proof.as_deref().unwrap_or(Path::new("-")),
            a.identity.as_deref(),
            a.policy.as_deref(),
            None,
            FileSelection::default(),
            a.allow_rollback,
        );
    }
    if a.identity.is_none() {
        return keyless(&a.reference, a.policy.as_deref(), a.allow_rollback);
    }
    pull(
        &a.reference,
        None,
        a.identity.as_deref(),
        a.policy.as_deref(),
        None,
        None,
        PullFlags {
            allow_rollback: a.allow_rollback,
            ..PullFlags::default()
        },
    )
}

/// `pqreg verify REF` without `--identity`: signature, policy, log, binding and every
/// blob's digest; the plaintext is not (cannot be) checked, and the output says so.
fn keyless(
    reference: &str,
    policy: Option<&Path>,
    allow_rollback: bool,
) -> crate::common::Result<Outcome> {
    let r = parse_ref(reference)?;
    let paths = Paths::from_process_env();
    let policy_file = policy_path(policy, &paths);
    let policy = load_policy(Some(&policy_file), &paths)?;
    require_rule(&policy, &policy_file, &r.name())?;
    let client = connect(&r, pqreg::transfer::DEFAULT_CONCURRENCY)?;
    let repo = r.repository();
    let digest = resolve(&client, &r)?;
    let by_tag = TagRead::of(&r, &paths);
    let source = RegistrySource::new(&client, repo, &paths.cache)?;
    let mut opts = UnpackOptions::new(r.name(), &policy);
    if let Some(t) = &by_tag {
        t.expect(&mut opts.expected, &policy, &r.name(), allow_rollback)?;
    }
    let bundle_log = BundleLog {
        policy: &policy,
        registry: r.registry().to_owned(),
        credential: credential(&r)?,
        state: paths.state.clone(),
    };
    opts.log_verifier = Some(&bundle_log);
    let report = audit_model(&source, &digest, &opts)?;
    if let (Some(t), Some(b)) = (&by_tag, &report.binding) {
        t.accept(b.version, digest)?;
    }
    if report.log_verified {
        warn_unwitnessed(&policy, r.registry());
    }
    let pinned = r.with_digest(digest);
    eprintln!(
        "pqreg: verified {pinned} without a decryption key: signed by {} ({}), log entry {}, {} files, {} chunk layers and {} blob bytes hashed",
        report.signer,
        pqreg_spec::policy::algorithm_name(report.algorithm),
        if report.log_verified {
            "verified"
        } else {
            "not required"
        },
        report.files,
        report.layers,
        report.blob_bytes,
    );
    if !report.unchecked.is_empty() {
        eprintln!(
            "pqreg: not checked without the decryption key (encrypted to {}): {}; run `pqreg verify --identity KEY` or pull to check them",
            report
                .recipients
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            report.unchecked.join("; ")
        );
    }
    Ok(Outcome {
        text: pinned.to_string(),
        json: json!({
            "reference": pinned.to_string(),
            "digest": digest.to_string(),
            "signer": report.signer.to_string(),
            "algorithm": pqreg_spec::policy::algorithm_name(report.algorithm),
            "encrypted": report.encrypted,
            "recipients": report.recipients.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "files": report.files,
            "bytes": report.bytes,
            "layers": report.layers,
            "downloaded_bytes": source.downloaded_bytes(),
            "log_verified": report.log_verified,
            "plaintext_hashed": false,
            "unchecked": report.unchecked,
        }),
    })
}
