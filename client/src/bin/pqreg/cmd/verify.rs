//! `pqreg verify REF`: with `--identity`, every check `pull --verify-plaintext` runs,
//! writing nothing; without it, what an auditor with no decryption key can check
//! (signature, policy, log, every blob's digest; `pqreg::unpack::audit_model`), saying
//! what was left unchecked. With `--offline`, the model from an OCI layout and its log
//! entry from an offline proof (both written by `pqreg log proof REF --out FILE --layout
//! DIR`), without network.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use crate::cli::VerifyArgs;
use crate::common::{
    Outcome, PullFlags, connect, credential, fail, identity_key, load_policy, now, parse_ref,
    policy_path, pull, require_rule, verify_into, warn_unwitnessed,
};
use pqreg::exit;
use pqreg::paths::Paths;
use pqreg::reference::Target;
use pqreg::registry_io::RegistrySource;
use pqreg::tag_state::{Seen, TagState};
use pqreg::tlog::{BundleLog, LogError, ProofLog};
use pqreg::unpack::{DirSource, UnpackOptions, audit_model};
use pqreg_spec::checkpoint::proof::ProofFile;

/// `pqreg verify [--offline --layout DIR --proof FILE] REF`.
pub(crate) fn run(a: &VerifyArgs) -> anyhow::Result<Outcome> {
    if a.offline {
        return offline(
            &a.reference,
            a.layout.as_deref().unwrap_or(Path::new(".")),
            a.proof.as_deref().unwrap_or(Path::new("-")),
            a.identity.as_deref(),
            a.policy.as_deref(),
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
) -> anyhow::Result<Outcome> {
    let r = parse_ref(reference)?;
    let paths = Paths::from_process_env();
    let policy_file = policy_path(policy, &paths);
    let policy = load_policy(Some(&policy_file), &paths)?;
    require_rule(&policy, &policy_file, &r.name())?;
    let client = connect(&r, pqreg::transfer::DEFAULT_CONCURRENCY)?;
    let repo = r.repository();
    let (digest, tag) = match r.target() {
        Target::Digest(d) => (d, None),
        Target::Tag(t) => (client.get_manifest(repo, t)?.digest, Some(t)),
    };
    let tag_state = tag.map(|t| TagState::new(&paths.state, &r.name(), t));
    let source = RegistrySource::new(&client, repo, &paths.cache)?;
    let mut opts = UnpackOptions::new(r.name(), &policy);
    if let Some(state) = &tag_state {
        opts.expected.tag = tag;
        if !allow_rollback {
            opts.expected.seen = state.load()?.map(|s| (s.version, s.manifest));
        }
        opts.expected.max_age = policy.max_age(&r.name()).map(|a| (a, now().1));
    }
    let bundle_log = BundleLog {
        policy: &policy,
        registry: r.registry().to_owned(),
        credential: credential(&r)?,
        state: paths.state.clone(),
    };
    opts.log_verifier = Some(&bundle_log);
    let report = audit_model(&source, &digest, &opts)?;
    if let (Some(state), Some(b)) = (&tag_state, &report.binding) {
        state.advance(Seen {
            version: b.version,
            manifest: digest,
        })?;
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

/// `pqreg verify --offline --layout DIR --proof FILE REF`.
fn offline(
    reference: &str,
    layout: &Path,
    proof: &Path,
    identity: Option<&Path>,
    policy: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let r = parse_ref(reference)?;
    let paths = Paths::from_process_env();
    let policy_file = policy_path(policy, &paths);
    let policy = load_policy(Some(&policy_file), &paths)?;
    require_rule(&policy, &policy_file, &r.name())?;
    let identity = identity.map(|p| identity_key(p, None)).transpose()?;
    let source = DirSource::open(layout)?;
    let digest = match r.target() {
        Target::Digest(d) => d,
        Target::Tag(t) => source.resolve(t).ok_or_else(|| {
            fail(
                exit::USAGE,
                format!("the layout {} has no tag {t}", layout.display()),
                "Name the model by digest (REF@sha256:…) or by a tag the layout holds.",
            )
        })?,
    };
    let bytes = std::fs::read(proof).with_context(|| format!("reading {}", proof.display()))?;
    let proof_file =
        ProofFile::parse(&bytes).map_err(|e| pqreg::Error::from(LogError::ProofFile(e)))?;
    let log = ProofLog {
        policy: &policy,
        proof: proof_file,
        state: paths.state.clone(),
        registry: r.registry().to_owned(),
    };
    let mut opts = UnpackOptions::new(r.name(), &policy);
    opts.verify_plaintext = true;
    opts.identity = identity.as_ref();
    opts.log_verifier = Some(&log);
    let report = verify_into(&source, &digest, &opts, None, &paths)?;
    let pinned = r.with_digest(digest);
    eprintln!(
        "pqreg: verified {pinned} offline: signed by {}, log entry {} proven by {}, {} files, {} bytes",
        report.signer,
        log.proof.index,
        proof.display(),
        report.files,
        report.bytes
    );
    Ok(Outcome {
        text: pinned.to_string(),
        json: json!({
            "reference": pinned.to_string(),
            "digest": digest.to_string(),
            "signer": report.signer.to_string(),
            "files": report.files,
            "bytes": report.bytes,
            "log_verified": report.log_verified,
            "offline": true,
        }),
    })
}
