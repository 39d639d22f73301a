//! `pqreg tag SRC NEWTAG`: gives an existing version a new tag in the same repository.
//! The signed statement binds repository, tag and version (spec/signing.md §3.1), so a
//! tag moved by hand fails a tag pull with exit 15; this command verifies the version as a
//! pull of SRC would (under `--policy`, or as the signer's own; see [`TagRead`]), signs
//! the same statement for the new tag with a fresh version, logs it like a push, and only
//! then points the tag at the manifest. No blob is copied and no key of a recipient is needed.

use serde_json::json;

use crate::cli::TagArgs;
use crate::common::{
    Outcome, TagRead, accept_own, binding_for, connect, credential, fail, has_log, parse_ref,
    passphrase, refuse_if_log_has_newer, resign_policy, resolve, signing_key, submitter,
};
use pqreg::exit;
use pqreg::pack::{BlobSink as _, SignOptions, sign_statement};
use pqreg::paths::Paths;
use pqreg::registry_io::{RegistrySink, RegistrySource};
use pqreg::tlog::{BundleLog, LogClient};
use pqreg::transfer::DEFAULT_CONCURRENCY;
use pqreg::unpack::{UnpackOptions, verify_statement};
use pqreg_spec::oci::Descriptor;

/// `pqreg tag SRC NEWTAG --sign-key KEY [--policy FILE]`.
pub(crate) fn run(a: &TagArgs) -> crate::common::Result<Outcome> {
    let r = parse_ref(&a.src)?;
    // The tag grammar is the reference's.
    let new = parse_ref(&format!("{}:{}", r.name(), a.tag))?;
    let Some(sign_path) = &a.sign_key else {
        return Err(fail(
            exit::USAGE,
            "tag needs --sign-key",
            "Pass --sign-key KEY: the signature binds the tag, so the new tag needs a signature of its own.",
        ));
    };
    let pp = passphrase(a.passphrase_file.as_deref())?;
    let signing = signing_key(sign_path, pp.as_ref(), "--sign-key")?;
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
    // SRC is verified exactly as a pull of SRC is (spec/signing.md §7.2): bound to this
    // repository, and by tag to that tag, not older than the newest version this client
    // accepted (or signed) for it, within max_age, its log entry verified. Otherwise
    // whoever can move SRC's tag would choose what the signer signs anew.
    let mut verify = UnpackOptions::new(r.name(), &policy);
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
    let verified = verify_statement(&source, &digest, &verify)?;
    // This machine's record of the tag knows what it pushed or pulled; the log knows
    // what every machine of every trusted signer signed for the tag.
    if let Some(t) = &by_tag {
        let version = verified
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
    if let (Some(t), Some(b)) = (&by_tag, &verified.signature.statement.binding) {
        t.accept(b.version, digest)?;
    }
    let previous = verified
        .signature
        .statement
        .binding
        .as_ref()
        .map(|b| b.version);
    let fetched = client.get_manifest(repo, &digest.to_string())?;
    let desc = Descriptor::of(fetched.media_type.clone(), &fetched.bytes);

    let log_client = LogClient::for_registry(r.registry(), credential(&r)?)?;
    let mut hook = submitter(
        &log_client,
        repo,
        Some(a.tag.clone()),
        &signing.verifying_key(),
        Some(&policy),
        &paths,
    );
    let mut signer = SignOptions {
        signing_key: &signing,
        classic_key: None,
        log_hook: if has_log(&log_client, r.registry()) {
            Some(&mut hook)
        } else {
            None
        },
        binding: Some(binding_for(&new, &a.tag, previous, &paths)?),
    };
    let mut sink = RegistrySink::new(&client, repo, &paths.cache.join("tmp"))?;
    let (bundle, _) = sign_statement(
        &mut signer,
        verified.signature.statement.clone(),
        &desc,
        &mut sink,
    )?;
    // Signature first, tag last: the tag never names a manifest unsigned for it.
    sink.put_manifest(&desc, &fetched.bytes, Some(&a.tag))?;
    let version = signer.binding.as_ref().map_or(0, |b| b.version);
    accept_own(&new, &a.tag, version, digest, &paths)?;
    let pinned = new.with_digest(digest);
    eprintln!(
        "pqreg: tagged {pinned} (from {}), signed for tag {} by {} (version {version}){}",
        r.with_digest(digest),
        a.tag,
        signing.key_id(),
        if bundle.bundle.tlog_entries.is_empty() {
            ""
        } else {
            ", logged"
        },
    );
    Ok(Outcome {
        text: pinned.to_string(),
        json: json!({
            "reference": pinned.to_string(),
            "digest": digest.to_string(),
            "tag": a.tag,
            "source": r.to_string(),
            "signer": signing.key_id().to_string(),
            "version": version,
            "logged": !bundle.bundle.tlog_entries.is_empty(),
        }),
    })
}
