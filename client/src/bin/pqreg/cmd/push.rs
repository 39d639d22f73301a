//! `pqreg push DIR REF`: pack, encrypt, sign, log and upload a model directory.

use serde_json::json;

use crate::cli::PushArgs;
use crate::common::{
    CliError, Outcome, accept_own, binding_for, connect, credential, default_policy, fail, has_log,
    identity_key, load_policy, parse_ref, passphrase, recipient_public, signing_keys, submitter,
};
use pqreg::exit;
use pqreg::pack::{PackOptions, pack_model};
use pqreg::paths::Paths;
use pqreg::reference::{Reference, Target};
use pqreg::registry_io::RegistrySink;
use pqreg::resume::Journal;
use pqreg::tlog::LogClient;
use pqreg::transfer::TransferError;
use pqreg_spec::artifact::Chunk;
use pqreg_spec::keys::RecipientPrivateKey;

/// `pqreg push DIR REF`.
pub(crate) fn run(a: &PushArgs) -> crate::common::Result<Outcome> {
    let r = parse_ref(&a.reference)?;
    push(a, &r).map_err(|e| refused_push(e, &r))
}

/// A push the registry refused is said as one: the first request a push makes may be a
/// read (does the blob exist?), and the registry's answer to it ("may not pull") would
/// send the publisher looking for the wrong permission.
fn refused_push(e: CliError, r: &Reference) -> CliError {
    let unauthorized = |t: &TransferError| matches!(t, TransferError::Unauthorized { .. });
    let refused = match &e {
        CliError::Lib(pqreg::Error::Transfer(t)) => unauthorized(t),
        CliError::Other(a) => a.chain().any(|c| {
            c.downcast_ref::<TransferError>().is_some_and(unauthorized)
                || matches!(c.downcast_ref::<pqreg::Error>(), Some(pqreg::Error::Transfer(t)) if unauthorized(t))
        }),
        CliError::Lib(_) | CliError::Failure(_) => false,
    };
    if !refused {
        return e;
    }
    fail(
        exit::ERROR,
        format!(
            "{} refused the push to {}: the credentials in use do not allow pushing there",
            r.registry(),
            r.repository()
        ),
        format!(
            "Run `pqreg login {}` with an account that has pull and push access to {}, or ask the registry's operator for it.",
            r.registry(),
            r.name()
        ),
    )
}

fn push(a: &PushArgs, r: &Reference) -> crate::common::Result<Outcome> {
    let r = r.clone();
    let tag = match (r.digest(), r.target()) {
        (None, Target::Tag(t)) => t.to_owned(),
        _ => {
            return Err(fail(
                exit::USAGE,
                "push takes a tag, not a digest",
                "Push to host/repo:tag; the digest is printed when the push is done.",
            ));
        }
    };
    // Plaintext only when the publisher says so (DESIGN.md: no plaintext by omission).
    if a.recipients.is_empty() && !a.unencrypted {
        return Err(fail(
            exit::USAGE,
            "refusing to push unencrypted: add --recipient PUB, or pass --unencrypted to publish the weights in the clear",
            "A recipient key comes from `pqreg keygen --recipient`; pass --recipient once per cluster that may read the model.",
        ));
    }
    let pp = passphrase(a.passphrase_file.as_deref())?;
    let Some(sign_path) = &a.sign_key else {
        return Err(fail(
            exit::USAGE,
            "push needs --sign-key",
            "Generate one with `pqreg keygen --sign --out NAME` and pass --sign-key NAME.key.",
        ));
    };
    let (signing, classic) = signing_keys(sign_path, a.classic_sign_key.as_deref(), pp.as_ref())?;
    let mut recipients = a
        .recipients
        .iter()
        .map(|p| recipient_public(p, "--recipient"))
        .collect::<crate::common::Result<Vec<_>>>()?;
    let identity = a
        .identity
        .as_deref()
        .map(|p| identity_key(p, pp.as_ref()))
        .transpose()?;
    // The publisher's own lineage key (spec/encryption.md §2.1): --identity is also a
    // recipient of the new version, so the same key opens it for the next push's reuse,
    // with no cluster's private key on the publisher's machine.
    if let Some(id) = &identity
        && !recipients.is_empty()
        && !a.no_self_recipient
    {
        let own = id
            .public_key()
            .map_err(|e| anyhow::anyhow!("--identity: {e}"))?;
        if !recipients.iter().any(|r| r.key_id() == own.key_id()) {
            recipients.push(own);
        }
    }
    let client = connect(&r, usize::from(a.concurrency))?;
    let repo = r.repository();
    let paths = Paths::from_process_env();

    let policy = match &a.policy {
        Some(p) => Some(load_policy(Some(p), &paths)?),
        None => default_policy(&paths)?,
    };
    // The newest verified version of the repository (or the one named), for dedup:
    // only if it verifies.
    let previous = pqreg::previous::verified_previous(
        &client,
        &r,
        &tag,
        a.reuse_from.as_deref(),
        identity.as_ref(),
        &signing.verifying_key(),
        policy.as_ref(),
        &paths,
    )?;
    match (&previous.digest, &previous.from, &previous.reason) {
        (Some(d), Some(from), _) => eprintln!(
            "pqreg: reusing the chunks of {repo}:{from} ({}, verified by {}; newest verified of {} version(s) checked)",
            r.with_digest(*d),
            previous.verified_by.unwrap_or("?"),
            previous.checked
        ),
        (Some(_), None, Some(why)) => eprintln!(
            "pqreg: nothing is reused: {why}; every chunk is sealed anew (nothing is deduplicated)"
        ),
        _ => {}
    }
    let binding = binding_for(&r, &tag, previous.version, &paths)?;
    let mut sink = RegistrySink::new(&client, repo, &paths.cache.join("tmp"))?;
    // The signed statement goes to the registry's log before either bundle is pushed
    // (the PQ bundle carries the entry; the registry refuses bundles it has not logged).
    let log_client = LogClient::for_registry(r.registry(), credential(&r)?)?;
    let mut submitter = submitter(
        &log_client,
        repo,
        Some(tag.clone()),
        &signing.verifying_key(),
        policy.as_ref(),
        &paths,
    );
    let mut opts = PackOptions::new(&signing);
    if has_log(&log_client, r.registry()) {
        opts.log_hook = Some(&mut submitter);
    }
    opts.recipients = &recipients;
    let bars = crate::progress::bars();
    opts.progress = bars.as_ref().map(|b| b as &dyn pqreg::progress::Progress);
    opts.follow_symlinks = a.follow_symlinks;
    opts.pad = a.pad;
    opts.classic_key = classic.as_ref();
    opts.tag = Some(tag.clone());
    opts.binding = Some(binding.clone());
    if let Some((index, _)) = &previous.reuse {
        opts.previous = Some(index);
    }
    // An interrupted push of this reference left a journal sealed to --identity: its
    // uploaded chunks are taken again (pqreg::resume, spec/artifact.md §10.1).
    let (resumed, mut journal) =
        journal_for(&r, &tag, identity.as_ref(), !recipients.is_empty(), &paths)?;
    opts.resume = &resumed;
    let mut record = |c: &Chunk| {
        journal
            .as_mut()
            .map_or(Ok(()), |j: &mut Journal| j.record(c))
    };
    opts.journal = Some(&mut record);
    let packed = pack_model(&a.dir, &mut opts, &mut sink);
    drop(opts);
    let packed = match packed {
        Ok(p) => p,
        Err(e) => {
            if let Some(j) = journal.as_mut()
                && let Err(f) = j.flush()
            {
                eprintln!("pqreg: warning: the push could not be journaled for a resume: {f}");
            }
            return Err(e.into());
        }
    };
    if let Some(j) = journal {
        j.remove()?;
    }
    // The publisher has seen its own version: a later move of the tag below it is a
    // rollback to this client's `tag`, `recipients` and `pull` too.
    accept_own(&r, &tag, binding.version, packed.manifest_digest, &paths)?;
    let st = sink.stats();
    let pinned = r.with_digest(packed.manifest_digest);
    eprintln!(
        "pqreg: pushed {r}: {} files, {} bytes; {} chunks ({} reused, {} resumed, {} new blobs); uploaded {} blobs, {} bytes ({} already there)",
        packed.stats.files,
        packed.stats.model_bytes,
        packed.stats.chunks,
        packed.stats.reused_chunks,
        packed.stats.resumed_chunks,
        packed.stats.new_chunk_blobs,
        st.uploaded_blobs,
        st.uploaded_bytes,
        st.skipped_blobs
    );
    Ok(Outcome {
        text: pinned.to_string(),
        json: json!({
            "reference": pinned.to_string(),
            "digest": packed.manifest_digest.to_string(),
            "uploaded_bytes": st.uploaded_bytes,
            "uploaded_blobs": st.uploaded_blobs,
            "skipped_blobs": st.skipped_blobs,
            "files": packed.stats.files,
            "bytes": packed.stats.model_bytes,
            "chunks": packed.stats.chunks,
            "reused_chunks": packed.stats.reused_chunks,
            "resumed_chunks": packed.stats.resumed_chunks,
            "new_chunk_blobs": packed.stats.new_chunk_blobs,
            "version": binding.version,
            "previous": previous.digest.map(|d| json!({
                "digest": d.to_string(),
                "from": previous.from,
                "reused": previous.reuse.is_some(),
                "verified_by": previous.verified_by,
                "reason": previous.reason,
            })),
        }),
    })
}

/// The chunks an interrupted push of `r`'s repository and `tag` journaled, and the journal
/// of this push: only for an encrypted push with `--identity`, the key the journal is
/// sealed to (without it nothing secret is written; an unencrypted push resumes by
/// content address anyway: its chunk blobs have the same digests again).
fn journal_for(
    r: &Reference,
    tag: &str,
    identity: Option<&RecipientPrivateKey>,
    encrypted: bool,
    paths: &Paths,
) -> crate::common::Result<(Vec<Chunk>, Option<Journal>)> {
    let Some(id) = identity.filter(|_| encrypted) else {
        return Ok((Vec::new(), None));
    };
    let name = format!("{}:{tag}", r.name());
    let path = pqreg::resume::journal_path(&paths.state, &name);
    let chunks = pqreg::resume::load(&path, &name, id).unwrap_or_else(|why| {
        eprintln!(
            "pqreg: warning: the journal of an interrupted push of {name} is not used ({why}); its chunks are sealed and uploaded anew"
        );
        Vec::new()
    });
    if !chunks.is_empty() {
        eprintln!(
            "pqreg: resuming an interrupted push of {name}: {} chunks were uploaded before; those still in the registry are not sealed or uploaded again",
            chunks.len()
        );
    }
    let owner = id
        .public_key()
        .map_err(|e| anyhow::anyhow!("--identity: {e}"))?;
    let journal = Journal::new(path, &name, owner, chunks.clone());
    Ok((chunks, Some(journal)))
}
