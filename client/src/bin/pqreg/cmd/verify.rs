//! `pqreg verify REF`: every check `pull --verify-plaintext` runs, writing nothing; with
//! `--offline`, the model from an OCI layout and its log entry from an offline proof
//! (both written by `pqreg log proof REF --out FILE --layout DIR`), without network.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use crate::cli::VerifyArgs;
use crate::common::{
    Outcome, PullFlags, fail, identity_key, load_policy, parse_ref, pull, verify_into,
};
use pqreg::exit;
use pqreg::paths::Paths;
use pqreg::reference::Target;
use pqreg::tlog::{LogError, ProofLog};
use pqreg::unpack::{DirSource, UnpackOptions};
use pqreg_spec::checkpoint::proof::ProofFile;

/// `pqreg verify [--offline --layout DIR --proof FILE] REF`.
pub(crate) fn run(a: &VerifyArgs) -> crate::common::Result<Outcome> {
    if a.offline {
        return offline(
            &a.reference,
            a.layout.as_deref().unwrap_or(Path::new(".")),
            a.proof.as_deref().unwrap_or(Path::new("-")),
            a.identity.as_deref(),
            a.policy.as_deref(),
        );
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

/// `pqreg verify --offline --layout DIR --proof FILE REF`.
fn offline(
    reference: &str,
    layout: &Path,
    proof: &Path,
    identity: Option<&Path>,
    policy: Option<&Path>,
) -> crate::common::Result<Outcome> {
    let r = parse_ref(reference)?;
    let paths = Paths::from_process_env();
    let policy = load_policy(policy, &paths)?;
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
