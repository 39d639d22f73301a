//! The pipeline `pqreg pull` and `pqreg verify` share: fetch, verify everything, then
//! write the model (pull) or delete it again (verify).

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use super::{
    Outcome, TagRead, connect, credential, identity_key, load_policy, parse_ref, passphrase,
    policy_path, require_rule, resolve, warn_unwitnessed,
};
use pqreg::paths::Paths;
use pqreg::registry_io::RegistrySource;
use pqreg::tlog::BundleLog;
use pqreg::unpack::{BlobSource, FileSelection, UnpackOptions, UnpackReport, unpack_model};
use pqreg_spec::Digest;

/// Options of `pqreg pull`.
#[derive(Debug, Clone, Default)]
pub(crate) struct PullFlags {
    /// Keep the chunk layers in the blob cache (`--cache`).
    pub cache: bool,
    /// Re-hash every written file (`--verify-plaintext`; always on for `pqreg verify`).
    pub verify_plaintext: bool,
    /// Accept an older version of the tag than the newest accepted (`--allow-rollback`).
    pub allow_rollback: bool,
    /// The files to write (`--include`/`--exclude`; default all).
    pub select: FileSelection,
}

/// `pqreg pull REF DIR` (`out` is `Some`) and `pqreg verify REF` (`None`: the model is
/// verified into a temporary directory under the cache, which is then deleted).
/// `oms_signature`: where to write the classical OMS bundle (`--oms-signature`).
pub(crate) fn pull(
    reference: &str,
    out: Option<&Path>,
    identity: Option<&Path>,
    policy: Option<&Path>,
    passphrase_file: Option<&Path>,
    oms_signature: Option<&Path>,
    flags: PullFlags,
) -> crate::common::Result<Outcome> {
    let r = parse_ref(reference)?;
    let paths = Paths::from_process_env();
    let policy_file = policy_path(policy, &paths);
    let policy = load_policy(Some(&policy_file), &paths)?;
    require_rule(&policy, &policy_file, &r.name())?;
    let pp = passphrase(passphrase_file)?;
    let identity = identity.map(|p| identity_key(p, pp.as_ref())).transpose()?;
    let client = connect(&r, pqreg::transfer::DEFAULT_CONCURRENCY)?;
    let repo = r.repository();
    let digest = resolve(&client, &r)?;
    // Pulled by tag: the statement must name it, a version not older than the newest
    // accepted for it, signed within the policy's max_age (spec/signing.md §7 step 7).
    let by_tag = TagRead::of(&r, &paths);
    let source = RegistrySource::new(&client, repo, &paths.cache)?.cache_layers(flags.cache);
    let mut opts = UnpackOptions::new(r.name(), &policy);
    opts.identity = identity.as_ref();
    let bars = crate::progress::bars();
    opts.progress = bars.as_ref().map(|b| b as &dyn pqreg::progress::Progress);
    if let Some(t) = &by_tag {
        t.expect(&mut opts.expected, &policy, &r.name(), flags.allow_rollback)?;
    }
    // `pqreg verify` is the auditor's command: it always re-hashes the plaintext.
    opts.verify_plaintext = flags.verify_plaintext || out.is_none();
    opts.select = flags.select;
    let bundle_log = BundleLog {
        policy: &policy,
        registry: r.registry().to_owned(),
        credential: credential(&r)?,
        state: paths.state.clone(),
    };
    opts.log_verifier = Some(&bundle_log);
    // The classical bundle is looked up first, so a model without one writes nothing; that
    // it signs the statement that verifies is checked before any chunk is fetched.
    let classic = oms_signature
        .map(|_| pqreg::oms::fetch_classic_bundle(&source, &digest))
        .transpose()?;
    opts.classic_statement = classic.as_ref().map(|c| c.statement_digest);
    let report = verify_into(&source, &digest, &opts, out, &paths)?;
    if let Some(t) = &by_tag {
        t.accept(report.binding.version, digest)?;
    }
    if let (Some(c), Some(path)) = (&classic, oms_signature) {
        c.write(path)?;
    }
    let pinned = r.with_digest(digest);
    if report.log_verified {
        warn_unwitnessed(&policy, r.registry());
    }
    eprintln!(
        "pqreg: {} {pinned}: signed by {} ({}), {}{} files, {} bytes; downloaded {} bytes",
        if out.is_some() { "pulled" } else { "verified" },
        report.signer,
        pqreg_spec::policy::algorithm_name(report.algorithm),
        if report.encrypted { "encrypted, " } else { "" },
        report.files,
        report.bytes,
        source.downloaded_bytes(),
    );
    Ok(Outcome {
        text: pinned.to_string(),
        json: json!({
            "reference": pinned.to_string(),
            "digest": digest.to_string(),
            "signer": report.signer.to_string(),
            "encrypted": report.encrypted,
            "files": report.files,
            "bytes": report.bytes,
            "downloaded_bytes": source.downloaded_bytes(),
            "log_verified": report.log_verified,
            "plaintext_hashed": report.plaintext_hashed,
            "written_to": out,
            "oms_signature": oms_signature,
        }),
    })
}

/// Unpacks into `out`, or (verify) into a scratch directory under the cache that is
/// deleted afterwards.
pub(crate) fn verify_into<S: BlobSource + Sync>(
    source: &S,
    digest: &Digest,
    opts: &UnpackOptions<'_>,
    out: Option<&Path>,
    paths: &Paths,
) -> crate::common::Result<UnpackReport> {
    let scratch;
    let out_dir = match out {
        Some(d) => d.to_owned(),
        None => {
            let tmp = paths.cache.join("tmp");
            std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            // 0700: the verified model is written here, then deleted.
            scratch = tempfile::Builder::new()
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir_in(&tmp)
                .with_context(|| format!("creating a directory in {}", tmp.display()))?;
            scratch.path().join("model")
        }
    };
    Ok(unpack_model(source, digest, opts, &out_dir)?)
}
