//! `pqreg push`, `pull` and `verify`: keys and policy from files, the pack/unpack
//! pipelines over [`pqreg::remote`].

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use crate::cli::PushArgs;
use crate::{Outcome, fail, parse_ref};
use pqreg::auth::AuthEnv;
use pqreg::exit;
use pqreg::keyfile;
use pqreg::pack::{PackOptions, pack_model};
use pqreg::paths::Paths;
use pqreg::reference::{Reference, Target};
use pqreg::remote::{RegistrySink, RegistrySource};
use pqreg::transfer::{RegistryClient, TransferError, TransferOptions};
use pqreg::unpack::{UnpackOptions, read_index, unpack_model};
use pqreg_spec::keys::{PrivateKey, PublicKey, RecipientPrivateKey, SigningKey};
use pqreg_spec::policy::Policy;

type Passphrase = zeroize::Zeroizing<Vec<u8>>;

fn passphrase(p: Option<&Path>) -> anyhow::Result<Option<Passphrase>> {
    Ok(p.map(keyfile::read_passphrase).transpose()?)
}

fn signing_key(path: &Path, pp: Option<&Passphrase>, flag: &str) -> anyhow::Result<SigningKey> {
    match keyfile::load_private(path, pp.map(|p| &p[..]))? {
        PrivateKey::Signing(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a signing key", path.display()),
            format!("Pass a key made by `pqreg keygen --sign` to {flag}."),
        )),
    }
}

fn identity_key(path: &Path, pp: Option<&Passphrase>) -> anyhow::Result<RecipientPrivateKey> {
    match keyfile::load_private(path, pp.map(|p| &p[..]))? {
        PrivateKey::Recipient(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a recipient key", path.display()),
            "Pass a key made by `pqreg keygen --recipient` to --identity.",
        )),
    }
}

fn connect(r: &Reference, concurrency: usize) -> anyhow::Result<RegistryClient> {
    let cred = AuthEnv::from_process_env()
        .lookup(r.registry())?
        .map(|(c, _)| c);
    let opts = TransferOptions {
        concurrency,
        // Pulled blobs land in the cache, which RegistrySource re-hashes on later use.
        fsync_downloads: false,
        ..TransferOptions::default()
    };
    Ok(RegistryClient::new(r.registry(), cred, opts)?)
}

/// `pqreg push DIR REF`.
pub(crate) fn push(a: &PushArgs) -> anyhow::Result<Outcome> {
    let r = parse_ref(&a.reference)?;
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
    let pp = passphrase(a.passphrase_file.as_deref())?;
    let Some(sign_path) = &a.sign_key else {
        return Err(fail(
            exit::USAGE,
            "push needs --sign-key",
            "Generate one with `pqreg keygen --sign --out NAME` and pass --sign-key NAME.key.",
        ));
    };
    let signing = signing_key(sign_path, pp.as_ref(), "--sign-key")?;
    let classic = a
        .classic_sign_key
        .as_deref()
        .map(|p| signing_key(p, pp.as_ref(), "--classic-sign-key"))
        .transpose()?;
    let mut recipients = Vec::new();
    for p in &a.recipients {
        match keyfile::load_public(p)? {
            PublicKey::Recipient(k) => recipients.push(k),
            _ => {
                return Err(fail(
                    exit::USAGE,
                    format!("{} is not a recipient public key", p.display()),
                    "Pass the .pub file of `pqreg keygen --recipient` to --recipient.",
                ));
            }
        }
    }
    let identity = a
        .identity
        .as_deref()
        .map(|p| identity_key(p, pp.as_ref()))
        .transpose()?;
    let client = connect(&r, usize::from(a.concurrency))?;
    let repo = r.repository();
    let paths = Paths::from_process_env();

    // The tag's current version, for dedup within its lineage.
    let previous = match client.get_manifest(repo, &tag) {
        Ok(m) => match &identity {
            Some(id) => {
                let source = RegistrySource::new(&client, repo, &paths.cache)?;
                let (_, index, secret) = read_index(&source, &m.digest, Some(id))
                    .with_context(|| format!("reading the index of {}", r.with_digest(m.digest)))?;
                Some((index, secret))
            }
            None => {
                eprintln!(
                    "pqreg: {r} exists; without --identity its chunks cannot be reused (a new lineage starts)"
                );
                None
            }
        },
        Err(TransferError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let mut sink = RegistrySink::new(&client, repo, &paths.cache.join("tmp"))?;
    let mut opts = PackOptions::new(&signing);
    opts.recipients = &recipients;
    opts.classic_key = classic.as_ref();
    opts.tag = Some(tag.clone());
    if let Some((index, secret)) = &previous {
        opts.previous = Some(index);
        opts.lineage_secret = secret.as_ref();
    }
    let packed = pack_model(&a.dir, &mut opts, &mut sink)?;
    let st = sink.stats();
    let pinned = r.with_digest(packed.manifest_digest);
    eprintln!(
        "pqreg: pushed {r}: {} files, {} bytes; {} chunks ({} reused, {} new blobs); uploaded {} blobs, {} bytes ({} already there)",
        packed.stats.files,
        packed.stats.model_bytes,
        packed.stats.chunks,
        packed.stats.reused_chunks,
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
            "model_bytes": packed.stats.model_bytes,
            "chunks": packed.stats.chunks,
            "reused_chunks": packed.stats.reused_chunks,
            "new_chunk_blobs": packed.stats.new_chunk_blobs,
        }),
    })
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
) -> anyhow::Result<Outcome> {
    let r = parse_ref(reference)?;
    let paths = Paths::from_process_env();
    let policy_path = policy
        .map(Path::to_owned)
        .unwrap_or_else(|| paths.config.join("policy.toml"));
    let text = std::fs::read_to_string(&policy_path).map_err(|e| {
        fail(
            exit::ERROR,
            format!("reading the trust policy {}: {e}", policy_path.display()),
            "Pass --policy FILE (spec/signing.md section 6 shows the format).",
        )
    })?;
    let policy = Policy::from_toml(&text).map_err(|e| {
        fail(
            exit::ERROR,
            format!("trust policy {}: {e}", policy_path.display()),
            "Fix the policy file (spec/signing.md section 6 shows the format).",
        )
    })?;
    let pp = passphrase(passphrase_file)?;
    let identity = identity.map(|p| identity_key(p, pp.as_ref())).transpose()?;
    let client = connect(&r, pqreg::transfer::DEFAULT_CONCURRENCY)?;
    let repo = r.repository();
    let digest = match r.target() {
        Target::Digest(d) => d,
        Target::Tag(t) => client.get_manifest(repo, t)?.digest,
    };
    let source = RegistrySource::new(&client, repo, &paths.cache)?;
    let mut opts = UnpackOptions::new(r.name(), &policy);
    opts.identity = identity.as_ref();
    let scratch;
    let out_dir = match out {
        Some(d) => d.to_owned(),
        None => {
            let tmp = paths.cache.join("tmp");
            std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            scratch = tempfile::tempdir_in(&tmp)
                .with_context(|| format!("creating a directory in {}", tmp.display()))?;
            scratch.path().join("model")
        }
    };
    // The classical bundle is looked up first, so a model without one writes nothing.
    let classic = oms_signature
        .map(|_| pqreg::oms::fetch_classic_bundle(&source, &digest))
        .transpose()?;
    let report = unpack_model(&source, &digest, &opts, &out_dir)?;
    if let (Some(c), Some(path)) = (&classic, oms_signature) {
        if let Err(e) = c.check(&digest, &report.statement_digest) {
            // The model verified, but the user asked for both: leave neither.
            let _ = std::fs::remove_dir_all(&out_dir);
            return Err(e.into());
        }
        c.write(path)?;
    }
    let pinned = r.with_digest(digest);
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
            "written_to": out,
            "oms_signature": oms_signature,
        }),
    })
}
