//! `pqreg verify --offline` and `pqreg pull --offline`: verify (and write) a model on a
//! machine without network (an air-gapped cluster) from the copy `pqreg log proof
//! --layout` writes: signature, trust policy and the log entry's offline proof.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use super::{
    Outcome, TagRead, fail, identity_key, load_policy, parse_ref, policy_path, require_rule,
    verify_into,
};
use pqreg::exit;
use pqreg::paths::Paths;
use pqreg::reference::Target;
use pqreg::tlog::{LogError, ProofLog};
use pqreg::unpack::{DirSource, FileSelection, UnpackOptions};
use pqreg_spec::checkpoint::proof::ProofFile;

/// `pqreg verify --offline --layout DIR --proof FILE REF` (`out` is `None`) and `pqreg
/// pull --offline … REF OUT`: the model from an OCI layout, its log entry from an offline
/// proof, both written by `pqreg log proof REF --out FILE --layout DIR`; no network.
#[allow(clippy::too_many_arguments)]
pub(crate) fn offline(
    reference: &str,
    layout: &Path,
    proof: &Path,
    identity: Option<&Path>,
    policy: Option<&Path>,
    out: Option<&Path>,
    select: FileSelection,
    allow_rollback: bool,
) -> crate::common::Result<Outcome> {
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
    // A regular file, read to its limit and no further (like the layout's files).
    let bytes = pqreg::unpack::read_regular(
        proof,
        pqreg_spec::checkpoint::proof::MAX_PROOF_FILE_BYTES as u64,
        "a tlog-proof file",
    )
    .with_context(|| format!("reading {}", proof.display()))?;
    let proof_file =
        ProofFile::parse(&bytes).map_err(|e| pqreg::Error::from(LogError::ProofFile(e)))?;
    let log = ProofLog {
        policy: &policy,
        proof: proof_file,
        state: paths.state.clone(),
        registry: r.registry().to_owned(),
    };
    let mut opts = UnpackOptions::new(r.name(), &policy);
    // `verify` always re-hashes the plaintext; a pull checks each chunk's digest.
    opts.verify_plaintext = out.is_none();
    opts.identity = identity.as_ref();
    opts.log_verifier = Some(&log);
    opts.select = select;
    // By tag, exactly as online (spec/signing.md §7 step 7): the statement must be bound
    // to that tag (the layout's own tag list is not trusted for it), not older than the
    // newest version this client accepted for it, within the policy's max_age; and what
    // passes is recorded, so an online pull cannot then be rolled back below it either.
    let by_tag = TagRead::of(&r, &paths);
    if let Some(t) = &by_tag {
        t.expect(&mut opts.expected, &policy, &r.name(), allow_rollback)?;
    }
    let report = verify_into(&source, &digest, &opts, out, &paths)?;
    if let Some(t) = &by_tag {
        t.accept(report.binding.version, digest)?;
    }
    let pinned = r.with_digest(digest);
    eprintln!(
        "pqreg: {} {pinned} offline: signed by {}, log entry {} proven by {}, {} files, {} bytes",
        if out.is_some() { "pulled" } else { "verified" },
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
            "plaintext_hashed": report.plaintext_hashed,
            "written_to": out,
            "offline": true,
        }),
    })
}
