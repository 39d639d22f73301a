//! `pqreg recipients add|remove REF PUB`: rewraps the content key for a changed set of
//! recipients and signs the new manifest (no chunk is re-uploaded). The JSON shape is
//! client/OUTPUT.md.

use std::path::Path;

use serde_json::json;

use crate::cli::RecipientArgs;
use crate::common::{
    Outcome, TagRead, accept_own, binding_for, connect, count, credential, fail, has_log,
    identity_key, parse_ref, passphrase, recipient_public, refuse_if_log_has_newer, resign_policy,
    resolve, signing_keys, submitter,
};
use pqreg::exit;
use pqreg::pack::SignOptions;
use pqreg::paths::Paths;
use pqreg::reference::Target;
use pqreg::registry_io::{RegistrySink, RegistrySource};
use pqreg::rewrap::{RecipientChange, RewrapOptions, change_recipients};
use pqreg::tlog::{BundleLog, LogClient};
use pqreg::transfer::{DEFAULT_CONCURRENCY, RegistryClient};
use pqreg::unpack::{UnpackOptions, verify_statement};
use pqreg_spec::Digest;
use pqreg_spec::bundle::BUNDLE_MEDIA_TYPE;
use pqreg_spec::bundle::referrer::bundle_algorithm;
use pqreg_spec::keys::{KeyId, SignatureAlgorithm};
use pqreg_spec::statement::Binding;

/// `pqreg recipients add|remove REF PUB`.
pub(crate) fn run(a: &RecipientArgs, add: bool) -> crate::common::Result<Outcome> {
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
    let policy = resign_policy(
        a.policy.as_deref(),
        &signing.verifying_key(),
        &r.name(),
        &paths,
    )?;
    let client = connect(&r, DEFAULT_CONCURRENCY)?;
    let digest = resolve(&client, &r)?;
    let repo = r.repository();
    let source = RegistrySource::new(&client, repo, &paths.cache)?;
    let mut sink = RegistrySink::new(&client, repo, &paths.cache.join("tmp"))?;
    // The current version is verified exactly as a pull of REF verifies it (spec/signing.md
    // §7.2): bound to this repository, and by tag to that tag, not older than the newest
    // version this client accepted (or signed) for it, within max_age, its log entry
    // verified; otherwise whoever can move the tag would choose what the signer re-signs.
    let mut verify = UnpackOptions::new(r.name(), &policy);
    verify.identity = Some(&identity);
    let by_tag = TagRead::of(&r, &paths);
    if let Some(t) = &by_tag {
        t.expect(&mut verify.expected, &policy, &r.name(), false)?;
    }
    let bundle_log = BundleLog {
        policy: &policy,
        registry: r.registry().to_owned(),
        credential: credential(&r)?,
        state: paths.state.clone(),
    };
    verify.log_verifier = Some(&bundle_log);
    // The new signature is logged like a push's (the registry stores only logged ones).
    let log_client = LogClient::for_registry(r.registry(), credential(&r)?)?;
    let mut hook = submitter(
        &log_client,
        repo,
        tag.clone(),
        &signing.verifying_key(),
        Some(&policy),
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
                ..binding_for(&r, tag.as_deref().unwrap_or(""), None, &paths)?
            }),
        },
        tag: tag.clone(),
    };
    // This machine's record of the tag knows what it pushed or pulled; the log knows
    // what every machine of every trusted signer signed for the tag (the version the tag
    // names is verified once more here for its signed version: the rewrap verifies it
    // again before it signs).
    if let Some(t) = &by_tag {
        let current = verify_statement(&source, &digest, &opts.verify)?;
        let version = current
            .signature
            .statement
            .binding
            .as_ref()
            .map_or(0, |b| b.version);
        refuse_if_log_has_newer(
            &r,
            t.tag(),
            (digest, version),
            &policy,
            a.policy.as_deref(),
            &source,
            &paths,
        )?;
    }
    let done = change_recipients(&source, &mut sink, &digest, change, &mut opts)?;
    if let (Some(t), Some(v)) = (&by_tag, done.previous_version) {
        t.accept(v, digest)?;
    }
    if let (Some(t), Some(b)) = (&tag, &opts.signer.binding) {
        accept_own(&r, t, b.version, done.manifest_digest, &paths)?;
    }
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
        "pqreg: {} {changed} {} {pinned}: {}; {} reused, {} uploaded ({} bytes){}",
        if add { "added" } else { "removed" },
        if add { "to" } else { "from" },
        count(done.recipients.len() as u64, "recipient"),
        count(done.reused_layers as u64, "layer"),
        count(st.uploaded_blobs as u64, "blob"),
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
            "recipients": pqreg::inspect::recipients_of(&done.config),
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
            idx.manifests
                .iter()
                .any(|d| bundle_algorithm(d) == Some(SignatureAlgorithm::EcdsaP256Sha256))
        })
}

/// The key ID to remove: a recipient public key file, or a key ID as `pqreg inspect`
/// prints it.
fn removed_key_id(arg: &Path) -> crate::common::Result<KeyId> {
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
