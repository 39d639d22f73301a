//! `pqreg inspect`, `pqreg recipients add|remove` and `pqreg copy`: argument handling and
//! output over [`pqreg::inspect`], [`pqreg::rewrap`] and [`pqreg::copy`]. The JSON
//! shapes are client/OUTPUT.md.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::cli::{CopyArgs, InspectArgs, RecipientArgs};
use crate::remote_cmd::{
    connect, credential, default_policy, has_log, identity_key, load_policy, passphrase,
    recipient_public, signing_keys, signing_public, submitter,
};
use crate::{Outcome, fail, parse_ref};
use pqreg::copy::{CopyError, CopyOptions, copy_model};
use pqreg::exit;
use pqreg::inspect::{InspectOptions, Inspection, inspect};
use pqreg::pack::{LogHook, LogRequest, SignOptions};
use pqreg::paths::Paths;
use pqreg::reference::{Reference, Target};
use pqreg::remote::{RegistrySink, RegistrySource};
use pqreg::rewrap::{RecipientChange, RewrapOptions, change_recipients, own_key_policy};
use pqreg::tlog::{BundleLog, LogClient};
use pqreg::transfer::{DEFAULT_CONCURRENCY, RegistryClient};
use pqreg::unpack::UnpackOptions;
use pqreg_spec::Digest;
use pqreg_spec::bundle::referrer::ANNOTATION_ALGORITHM;
use pqreg_spec::bundle::{BUNDLE_MEDIA_TYPE, TlogEntry};
use pqreg_spec::keys::{KeyId, SignatureAlgorithm, VerifyingKey};
use pqreg_spec::policy::{Policy, algorithm_name};
use pqreg_spec::statement::Binding;

/// The manifest digest `r` names: its digest, else what its tag resolves to.
fn resolve(client: &RegistryClient, r: &Reference) -> anyhow::Result<Digest> {
    Ok(match r.target() {
        Target::Digest(d) => d,
        Target::Tag(t) => client.get_manifest(r.repository(), t)?.digest,
    })
}

/// `pqreg inspect REF`.
pub(crate) fn inspect_cmd(a: &InspectArgs) -> anyhow::Result<Outcome> {
    let r = parse_ref(&a.reference)?;
    let paths = Paths::from_process_env();
    let policy_path = match &a.policy {
        Some(p) => Some(p.clone()),
        None => Some(paths.config.join("policy.toml")).filter(|p| p.exists()),
    };
    let policy = policy_path
        .as_deref()
        .map(|p| load_policy(Some(p), &paths))
        .transpose()?;
    let client = connect(&r, DEFAULT_CONCURRENCY)?;
    let digest = resolve(&client, &r)?;
    let source = RegistrySource::new(&client, r.repository(), &paths.cache)?;
    let repository = r.name();
    let bundle_log = match &policy {
        Some(p) => Some(BundleLog {
            policy: p,
            registry: r.registry().to_owned(),
            credential: credential(&r)?,
            state: paths.state.clone(),
        }),
        None => None,
    };
    let opts = InspectOptions {
        policy: policy.as_ref().map(|p| (p, repository.as_str())),
        log_verifier: bundle_log
            .as_ref()
            .map(|b| b as &dyn pqreg::unpack::LogVerifier),
    };
    let info = inspect(&source, &digest, opts)?;
    let pinned = r.with_digest(digest);
    let mut value = serde_json::to_value(&info)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("reference".into(), json!(pinned.to_string()));
        obj.insert(
            "policy".into(),
            json!(policy_path.map(|p| p.display().to_string())),
        );
    }
    Ok(Outcome {
        text: inspect_text(&pinned, &info, policy.is_some()),
        json: value,
    })
}

fn inspect_text(r: &Reference, i: &Inspection, with_policy: bool) -> String {
    let mut t = String::new();
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(t, "{k:<15}{v}");
    };
    line("reference", &r.to_string());
    line("media type", &i.media_type);
    line(
        "artifact type",
        i.artifact_type.as_deref().unwrap_or("(none)"),
    );
    line(
        "config",
        &format!("{} ({} bytes)", i.config.digest, i.config.size),
    );
    line(
        "encrypted",
        &if i.encrypted {
            format!("yes ({}, {})", i.algorithms.aead, i.algorithms.kdf)
        } else {
            "no".to_owned()
        },
    );
    line(
        "index",
        &format!("{} ({} bytes)", i.index.digest, i.index.size),
    );
    line(
        "layers",
        &format!(
            "{} chunk blobs, {} bytes",
            i.layers.count, i.layers.total_bytes
        ),
    );
    line("recipients", &i.recipients.len().to_string());
    for rc in &i.recipients {
        let _ = writeln!(t, "  {}  {}", rc.key_id, rc.kem);
    }
    let _ = writeln!(t, "{:<15}{}", "signatures", i.signatures.len());
    for s in &i.signatures {
        let status = match (&s.verification, &s.error) {
            (_, Some(e)) => format!("unreadable: {e}"),
            (None, None) if with_policy => "not checked".to_owned(),
            (None, None) => "not verified (no trust policy)".to_owned(),
            (Some(v), None) if v.verified => format!("verified (log {})", v.log),
            (Some(v), None) => format!(
                "FAILED {}: {}",
                v.error_code.unwrap_or("ERROR"),
                v.error.as_deref().unwrap_or("")
            ),
        };
        let _ = writeln!(
            t,
            "  {}  signer {}  statement {}  {status}",
            s.algorithm.as_deref().unwrap_or("?"),
            s.key_hint.as_deref().unwrap_or("?"),
            s.statement_digest
                .map_or_else(|| "?".to_owned(), |d| d.to_string()),
        );
        for e in &s.log_entries {
            let _ = writeln!(
                t,
                "    log entry {} of tree size {}, origin {}{}",
                e.index,
                e.tree_size,
                e.origin.as_deref().unwrap_or("?"),
                e.repository
                    .as_deref()
                    .map_or_else(String::new, |r| format!(", repository {r}")),
            );
        }
    }
    for o in &i.other_referrers {
        let _ = writeln!(t, "{:<15}{} {}", "referrer", o.digest, o.media_type);
    }
    t.trim_end().to_owned()
}

/// `pqreg recipients add|remove REF PUB`.
pub(crate) fn recipients_cmd(a: &RecipientArgs, add: bool) -> anyhow::Result<Outcome> {
    let r = parse_ref(&a.reference)?;
    let tag = match (&a.tag, r.digest(), r.target()) {
        (Some(t), _, _) => Some(t.clone()),
        (None, None, Target::Tag(t)) => Some(t.to_owned()),
        (None, _, _) => None,
    };
    if let Some(t) = &tag {
        parse_ref(&format!("{}:{t}", r.name()))?;
    }
    let pp = passphrase(a.passphrase_file.as_deref())?;
    let (Some(id_path), Some(sign_path)) = (&a.identity, &a.sign_key) else {
        return Err(fail(
            exit::USAGE,
            "recipients needs --identity and --sign-key",
            "Pass --identity KEY (a current recipient's private key, to unwrap the content key) and --sign-key KEY (to sign the new manifest).",
        ));
    };
    let identity = identity_key(id_path, pp.as_ref())?;
    let (signing, classic) = signing_keys(sign_path, a.classic_sign_key.as_deref(), pp.as_ref())?;
    let public = if add {
        Some(recipient_public(&a.public_key, "recipients add")?)
    } else {
        None
    };
    let change = match &public {
        Some(pk) => RecipientChange::Add(pk),
        None => RecipientChange::Remove(removed_key_id(&a.public_key)?),
    };
    let paths = Paths::from_process_env();
    let policy = match &a.policy {
        Some(p) => load_policy(Some(p), &paths)?,
        None => own_key_policy(&signing.verifying_key()),
    };
    let client = connect(&r, DEFAULT_CONCURRENCY)?;
    let digest = resolve(&client, &r)?;
    let repo = r.repository();
    let source = RegistrySource::new(&client, repo, &paths.cache)?;
    let mut sink = RegistrySink::new(&client, repo, &paths.cache.join("tmp"))?;
    let mut verify = UnpackOptions::new(r.name(), &policy);
    verify.identity = Some(&identity);
    // With --policy, the current version's log entry is verified as `pqreg verify` does;
    // the own-key check leaves it (the signer re-signs its own signature).
    let bundle_log = BundleLog {
        policy: &policy,
        registry: r.registry().to_owned(),
        credential: credential(&r)?,
        state: paths.state.clone(),
    };
    if a.policy.is_some() {
        verify.log_verifier = Some(&bundle_log);
    } else {
        // Its own signature: the signer re-signs for this location whatever location it
        // signed for before (e.g. a copy); under --policy the location must match.
        verify.expected.any_repository = true;
    }
    // The new signature is logged like a push's (the registry stores only logged ones).
    let log_client = LogClient::for_registry(r.registry(), credential(&r)?)?;
    let fallback = default_policy(&paths)?;
    let log_policy = if a.policy.is_some() {
        Some(&policy)
    } else {
        fallback.as_ref()
    };
    let mut hook = submitter(
        &log_client,
        repo,
        tag.clone(),
        &signing.verifying_key(),
        log_policy,
        &paths,
    );
    let mut opts = RewrapOptions {
        verify,
        signer: SignOptions {
            signing_key: &signing,
            classic_key: classic.as_ref(),
            log_hook: if has_log(&log_client, r.registry()) {
                Some(&mut hook)
            } else {
                None
            },
            binding: Some(Binding {
                repository: r.name(),
                tag: tag.clone(),
                ..crate::remote_cmd::binding_for(&r, tag.as_deref().unwrap_or(""), None, &paths)?
            }),
        },
        tag: tag.clone(),
    };
    let done = change_recipients(&source, &mut sink, &digest, change, &mut opts)?;
    let st = sink.stats();
    if classic.is_none() && has_classic_bundle(&client, repo, &digest) {
        eprintln!(
            "pqreg: warning: {} had a classical (ECDSA P-256) bundle for OMS tools; the new manifest has none (pass --classic-sign-key to sign one)",
            r.with_digest(digest)
        );
    }
    let pinned = r.with_digest(done.manifest_digest);
    let changed = match change {
        RecipientChange::Add(pk) => pk.key_id(),
        RecipientChange::Remove(id) => id,
    };
    eprintln!(
        "pqreg: {} {changed} {} {pinned}: {} recipients; {} layers reused, {} blobs uploaded ({} bytes){}",
        if add { "added" } else { "removed" },
        if add { "to" } else { "from" },
        done.recipients.len(),
        done.reused_layers,
        st.uploaded_blobs,
        st.uploaded_bytes,
        tag.as_deref()
            .map_or_else(String::new, |t| format!("; tag {t} moved")),
    );
    if !add {
        eprintln!(
            "pqreg: note: the new version has a new content secret and index key; the removed key keeps the versions it was given (and the chunks they share with this one), and cannot read anything pushed from here on (spec/encryption.md §4.4)."
        );
    }
    Ok(Outcome {
        text: pinned.to_string(),
        json: json!({
            "reference": pinned.to_string(),
            "digest": done.manifest_digest.to_string(),
            "previous_digest": done.previous.to_string(),
            "previous_signer": done.previous_signer.to_string(),
            "action": if add { "add" } else { "remove" },
            "key_id": changed.to_string(),
            "recipients": done.recipients.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "tag": tag,
            "signer": signing.key_id().to_string(),
            "reused_layers": done.reused_layers,
            "uploaded_blobs": st.uploaded_blobs,
            "uploaded_bytes": st.uploaded_bytes,
            "skipped_blobs": st.skipped_blobs,
        }),
    })
}

/// Whether `digest` has a classical signature bundle among its referrers (best effort:
/// only for a warning).
fn has_classic_bundle(client: &RegistryClient, repo: &str, digest: &Digest) -> bool {
    client
        .referrers(repo, digest, Some(BUNDLE_MEDIA_TYPE))
        .is_ok_and(|idx| {
            idx.manifests.iter().any(|d| {
                d.annotations
                    .as_ref()
                    .and_then(|a| a.get(ANNOTATION_ALGORITHM))
                    .is_some_and(|a| a == algorithm_name(SignatureAlgorithm::EcdsaP256Sha256))
            })
        })
}

/// The key ID to remove: a recipient public key file, or a key ID as `pqreg inspect`
/// prints it.
fn removed_key_id(arg: &Path) -> anyhow::Result<KeyId> {
    if let Some(s) = arg.to_str()
        && s.starts_with("sha256:")
        && !arg.exists()
    {
        return s.parse::<KeyId>().map_err(|e| {
            fail(
                exit::USAGE,
                format!("{s} is not a key ID: {e}"),
                "Give the recipient's .pub file or its key ID as `pqreg inspect` lists it.",
            )
        });
    }
    Ok(recipient_public(arg, "recipients remove")?.key_id())
}

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
pub(crate) fn copy_cmd(a: &CopyArgs) -> anyhow::Result<Outcome> {
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
        "pqreg: copied {} to {pinned}: {} blobs uploaded ({} bytes), {} mounted, {} already there; {} referrers",
        src.with_digest(digest),
        done.uploaded,
        done.uploaded_bytes,
        done.mounted,
        done.present,
        done.referrers.len(),
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
