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
use pqreg::seen::{Seen, TagState};
use pqreg::tlog::{BundleLog, LogClient, Submitter};
use pqreg::transfer::{RegistryClient, TransferOptions};
use pqreg::unpack::{BlobSource, UnpackOptions, UnpackReport, unpack_model};
use pqreg_spec::Digest;
use pqreg_spec::keys::{
    PrivateKey, PublicKey, RecipientPrivateKey, RecipientPublicKey, SigningKey, VerifyingKey,
};
use pqreg_spec::policy::Policy;
use pqreg_spec::statement::Binding;

pub(crate) type Passphrase = zeroize::Zeroizing<Vec<u8>>;

pub(crate) fn passphrase(p: Option<&Path>) -> anyhow::Result<Option<Passphrase>> {
    Ok(p.map(keyfile::read_passphrase).transpose()?)
}

pub(crate) fn signing_key(
    path: &Path,
    pp: Option<&Passphrase>,
    flag: &str,
) -> anyhow::Result<SigningKey> {
    match keyfile::load_private(path, pp.map(|p| &p[..]))? {
        PrivateKey::Signing(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a signing key", path.display()),
            format!("Pass a key made by `pqreg keygen --sign` to {flag}."),
        )),
    }
}

/// The ML-DSA key of `--sign-key` and the optional ECDSA key of `--classic-sign-key`.
pub(crate) fn signing_keys(
    sign: &Path,
    classic: Option<&Path>,
    pp: Option<&Passphrase>,
) -> anyhow::Result<(SigningKey, Option<SigningKey>)> {
    let signing = signing_key(sign, pp, "--sign-key")?;
    let classic = classic
        .map(|p| signing_key(p, pp, "--classic-sign-key"))
        .transpose()?;
    Ok((signing, classic))
}

pub(crate) fn identity_key(
    path: &Path,
    pp: Option<&Passphrase>,
) -> anyhow::Result<RecipientPrivateKey> {
    match keyfile::load_private(path, pp.map(|p| &p[..]))? {
        PrivateKey::Recipient(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a recipient key", path.display()),
            "Pass a key made by `pqreg keygen --recipient` to --identity.",
        )),
    }
}

pub(crate) fn credential(r: &Reference) -> anyhow::Result<Option<pqreg::auth::Credential>> {
    Ok(AuthEnv::from_process_env()
        .lookup(r.registry())?
        .map(|(c, _)| c))
}

/// The recipient public key in `path` (given with `flag`).
pub(crate) fn recipient_public(path: &Path, flag: &str) -> anyhow::Result<RecipientPublicKey> {
    match keyfile::load_public(path)? {
        PublicKey::Recipient(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a recipient public key", path.display()),
            format!("Pass the .pub file of `pqreg keygen --recipient` to {flag}."),
        )),
    }
}

/// The signature verification key in `path` (given with `flag`).
pub(crate) fn signing_public(path: &Path, flag: &str) -> anyhow::Result<VerifyingKey> {
    match keyfile::load_public(path)? {
        PublicKey::Signing(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a signing public key", path.display()),
            format!("Pass the .pub file of `pqreg keygen --sign` to {flag}."),
        )),
    }
}

pub(crate) fn connect(r: &Reference, concurrency: usize) -> anyhow::Result<RegistryClient> {
    let cred = credential(r)?;
    let opts = TransferOptions {
        concurrency,
        // Pulled blobs land in the cache, which RegistrySource re-hashes on later use.
        fsync_downloads: false,
        ..TransferOptions::default()
    };
    Ok(RegistryClient::new(r.registry(), cred, opts)?)
}

/// The trust policy at `path`, or `$XDG_CONFIG_HOME/pqreg/policy.toml`.
pub(crate) fn load_policy(path: Option<&Path>, paths: &Paths) -> anyhow::Result<Policy> {
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
pub(crate) fn default_policy(paths: &Paths) -> anyhow::Result<Option<Policy>> {
    let path = paths.config.join("policy.toml");
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => load_policy(Some(&path), paths).map(Some),
    }
}

/// Whether the registry of `log_client` runs a pqreg transparency log (its
/// `/log/checkpoint` answers). Any other OCI registry has none: signatures stored there
/// are not logged (a policy that requires the log refuses them), which is said on stderr.
pub(crate) fn has_log(log_client: &LogClient, registry: &str) -> bool {
    let yes = log_client.checkpoint().is_ok();
    if !yes {
        eprintln!(
            "pqreg: {registry} has no pqreg transparency log: signatures stored there are not logged in it (pullers from there whose policy requires the log will refuse them)"
        );
    }
    yes
}

/// The log hook of a signature by `signer` stored in `repo` (without host) of the
/// registry `log_client` belongs to, for `push`, `recipients` and `copy`: it submits the
/// signed statement to that registry's log before the bundle is stored.
pub(crate) fn submitter<'a>(
    log_client: &'a LogClient,
    repo: &str,
    tag: Option<String>,
    signer: &VerifyingKey,
    policy: Option<&'a Policy>,
    paths: &Paths,
) -> Submitter<'a> {
    Submitter {
        client: log_client,
        repository: repo.to_owned(),
        tag,
        public_key: signer.to_spki_der(),
        policy,
        state: paths.state.clone(),
    }
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
    let recipients = a
        .recipients
        .iter()
        .map(|p| recipient_public(p, "--recipient"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let identity = a
        .identity
        .as_deref()
        .map(|p| identity_key(p, pp.as_ref()))
        .transpose()?;
    let client = connect(&r, usize::from(a.concurrency))?;
    let repo = r.repository();
    let paths = Paths::from_process_env();

    let policy = match &a.policy {
        Some(p) => Some(load_policy(Some(p), &paths)?),
        None => default_policy(&paths)?,
    };
    // The tag's current version, for dedup within its lineage: only if it verifies.
    let previous = crate::previous::verified_previous(
        &client,
        &r,
        &tag,
        identity.as_ref(),
        &signing.verifying_key(),
        policy.as_ref(),
        &paths,
    )?;
    if let (Some(d), Some(why)) = (&previous.digest, &previous.reason) {
        eprintln!(
            "pqreg: {} is not reused: {why}; a new lineage starts (nothing is deduplicated with it)",
            r.with_digest(*d)
        );
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
    opts.follow_symlinks = a.follow_symlinks;
    opts.pad = a.pad;
    opts.classic_key = classic.as_ref();
    opts.tag = Some(tag.clone());
    opts.binding = Some(binding.clone());
    if let Some((index, _)) = &previous.reuse {
        opts.previous = Some(index);
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
            "version": binding.version,
            "previous": previous.digest.map(|d| json!({
                "digest": d.to_string(),
                "reused": previous.reuse.is_some(),
                "verified_by": previous.verified_by,
                "reason": previous.reason,
            })),
        }),
    })
}

/// Milliseconds since the epoch, and seconds.
pub(crate) fn now() -> (u64, u64) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        d.as_secs(),
    )
}

/// What a new signature for `r`'s repository and `tag` binds (spec/signing.md §3.1): the
/// version is max(now in milliseconds, the previous verified version + 1, the newest
/// this client accepted for the tag + 1), so it only increases even across clock skew.
pub(crate) fn binding_for(
    r: &Reference,
    tag: &str,
    previous: Option<u64>,
    paths: &Paths,
) -> anyhow::Result<Binding> {
    let (ms, secs) = now();
    let seen = TagState::new(&paths.state, &r.name(), tag)
        .load()?
        .map(|s| s.version);
    let version = [Some(ms), previous.map(|v| v + 1), seen.map(|v| v + 1)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(ms);
    Ok(Binding {
        repository: r.name(),
        tag: Some(tag.to_owned()),
        version,
        signed_at: secs,
    })
}

/// Options of `pqreg pull`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PullFlags {
    /// Keep the chunk layers in the blob cache (`--cache`).
    pub cache: bool,
    /// Re-hash every written file (`--verify-plaintext`; always on for `pqreg verify`).
    pub verify_plaintext: bool,
    /// Accept an older version of the tag than the newest accepted (`--allow-rollback`).
    pub allow_rollback: bool,
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
) -> anyhow::Result<Outcome> {
    let r = parse_ref(reference)?;
    let paths = Paths::from_process_env();
    let policy = load_policy(policy, &paths)?;
    let pp = passphrase(passphrase_file)?;
    let identity = identity.map(|p| identity_key(p, pp.as_ref())).transpose()?;
    let client = connect(&r, pqreg::transfer::DEFAULT_CONCURRENCY)?;
    let repo = r.repository();
    let (digest, tag) = match r.target() {
        Target::Digest(d) => (d, None),
        Target::Tag(t) => (client.get_manifest(repo, t)?.digest, Some(t)),
    };
    // Pulled by tag: the statement must name it, a version not older than the newest
    // accepted for it, signed within the policy's max_age (spec/signing.md §7 step 7).
    let tag_state = tag.map(|t| TagState::new(&paths.state, &r.name(), t));
    let source = RegistrySource::new(&client, repo, &paths.cache)?.cache_layers(flags.cache);
    let mut opts = UnpackOptions::new(r.name(), &policy);
    opts.identity = identity.as_ref();
    if let Some(state) = &tag_state {
        opts.expected.tag = tag;
        if !flags.allow_rollback {
            opts.expected.seen = state.load()?.map(|s| (s.version, s.manifest));
        }
        opts.expected.max_age = policy.max_age(&r.name()).map(|a| (a, now().1));
    }
    // `pqreg verify` is the auditor's command: it always re-hashes the plaintext.
    opts.verify_plaintext = flags.verify_plaintext || out.is_none();
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
    if let Some(state) = &tag_state {
        state.advance(Seen {
            version: report.binding.version,
            manifest: digest,
        })?;
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

/// Unpacks into `out`, or (verify) into a scratch directory under the cache that is
/// deleted afterwards.
pub(crate) fn verify_into<S: BlobSource + Sync>(
    source: &S,
    digest: &Digest,
    opts: &UnpackOptions<'_>,
    out: Option<&Path>,
    paths: &Paths,
) -> anyhow::Result<UnpackReport> {
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
