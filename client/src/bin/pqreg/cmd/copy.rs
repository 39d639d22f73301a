//! `pqreg copy SRC DST`: a model, its signatures and referrers, to another repository
//! or registry; signatures are re-logged in the destination's log when it has one. The
//! JSON shape is client/OUTPUT.md.

use serde_json::json;

use crate::cli::CopyArgs;
use crate::common::{
    Outcome, connect, count, credential, default_policy, fail, has_log, load_policy, parse_ref,
    resolve, signing_public, submitter,
};
use pqreg::copy::{CopyError, CopyOptions, copy_model};
use pqreg::exit;
use pqreg::pack::{LogHook, LogRequest};
use pqreg::paths::Paths;
use pqreg::tlog::LogClient;
use pqreg_spec::bundle::TlogEntry;
use pqreg_spec::keys::{KeyId, VerifyingKey};
use pqreg_spec::policy::Policy;

/// `copy`'s log hook: a [`submitter`] for the destination with the public key of each
/// bundle's signer, found by key ID.
struct Relog<'a> {
    client: &'a LogClient,
    repo: String,
    tag: Option<String>,
    keys: Vec<VerifyingKey>,
    policy: Option<&'a Policy>,
    paths: &'a Paths,
}

impl LogHook for Relog<'_> {
    fn log_entries(&mut self, req: &LogRequest<'_>) -> Result<Vec<TlogEntry>, pqreg::Error> {
        let Some(key) = self.keys.iter().find(|k| k.key_id() == req.key_id) else {
            return Err(CopyError::UnknownSigner(req.key_id).into());
        };
        submitter(
            self.client,
            &self.repo,
            self.tag.clone(),
            key,
            self.policy,
            self.paths,
        )
        .log_entries(req)
    }
}

/// `pqreg copy SRC DST`.
pub(crate) fn run(a: &CopyArgs) -> crate::common::Result<Outcome> {
    let src = parse_ref(&a.src)?;
    let dst = parse_ref(&a.dst)?;
    if dst.digest().is_some() {
        return Err(fail(
            exit::USAGE,
            "the destination of a copy takes a tag, not a digest",
            "Copy to host/repo[:tag]; the digest stays the source's and is printed when done.",
        ));
    }
    if src.name() == dst.name() {
        return Err(fail(
            exit::USAGE,
            "source and destination are the same repository",
            "Copy to another repository or registry.",
        ));
    }
    let tag = dst.tag().or(src.tag()).map(str::to_owned);
    let concurrency = usize::from(a.concurrency);
    let src_client = connect(&src, concurrency)?;
    let dst_client = connect(&dst, concurrency)?;
    let digest = resolve(&src_client, &src)?;
    let paths = Paths::from_process_env();
    // Signatures are re-logged when the destination has a pqreg log (spec/signing.md
    // §7.1), with their signers' public keys from the policy and --signer-pub.
    let policy = match &a.policy {
        Some(p) => Some(load_policy(Some(p), &paths)?),
        None => default_policy(&paths)?,
    };
    let mut keys: Vec<VerifyingKey> = policy
        .iter()
        .flat_map(|p| p.keys.iter().filter_map(|k| k.public_key.clone()))
        .collect();
    for p in &a.signer_pubs {
        keys.push(signing_public(p, "--signer-pub")?);
    }
    let log_client = LogClient::for_registry(dst.registry(), credential(&dst)?)?;
    let logged = has_log(&log_client, dst.registry());
    let signers: Vec<KeyId> = keys.iter().map(VerifyingKey::key_id).collect();
    let mut relog = Relog {
        client: &log_client,
        repo: dst.repository().to_owned(),
        tag: tag.clone(),
        keys,
        policy: policy.as_ref(),
        paths: &paths,
    };
    let mut opts = CopyOptions {
        cache_dir: &paths.cache,
        relog: if logged { Some(&mut relog) } else { None },
        signers: &signers,
    };
    let done = copy_model(
        &src_client,
        src.repository(),
        &dst_client,
        dst.repository(),
        &digest,
        tag.as_deref(),
        &mut opts,
    )?;
    let pinned = dst.with_digest(digest);
    let unlogged = done
        .referrers
        .iter()
        .filter(|r| r.logged && !r.relogged)
        .count();
    eprintln!(
        "pqreg: copied {} to {pinned}: {} uploaded ({} bytes), {} mounted, {} already there; {}",
        src.with_digest(digest),
        count(done.uploaded as u64, "blob"),
        done.uploaded_bytes,
        done.mounted,
        done.present,
        count(done.referrers.len() as u64, "referrer"),
    );
    if unlogged > 0 {
        eprintln!(
            "pqreg: warning: {unlogged} signature bundle(s) carry a log entry of the source's log for {}; a trust policy that requires the log will not accept them for {} until they are re-logged in the destination's log (spec/signing.md §7.1)",
            src.name(),
            dst.name()
        );
    }
    Ok(Outcome {
        text: pinned.to_string(),
        json: json!({
            "reference": pinned.to_string(),
            "source": src.with_digest(digest).to_string(),
            "digest": digest.to_string(),
            "tag": tag,
            "uploaded_blobs": done.uploaded,
            "uploaded_bytes": done.uploaded_bytes,
            "mounted_blobs": done.mounted,
            "skipped_blobs": done.present,
            "downloaded_bytes": done.downloaded_bytes,
            "referrers": done.referrers.iter().map(|r| json!({
                "source": r.source.to_string(),
                "destination": r.destination.to_string(),
                "artifact_type": r.artifact_type,
                "logged": r.logged,
                "relogged": r.relogged,
            })).collect::<Vec<_>>(),
        }),
    })
}
