//! Which previous version a push may build on (spec/signing.md §7.3): the one gate
//! between the tag's current manifest and the packer's reuse of its secret and chunks.
//!
//! Anyone with push rights can move a tag. If the publisher's next `push --identity`
//! adopted whatever the tag names, an attacker could make it reuse a secret the
//! attacker knows (confidentiality) or chunk layers the attacker sealed (integrity),
//! and then sign both. So the tag's current version is reused only if it passes the
//! verification of a pull (signature, policy, log proof, manifest and location binding,
//! index = signed files) under the pusher's trust policy, or carries a valid signature by
//! the pusher's own signing key (its log entry verified too where the pusher's policy
//! configures that log). Anything else, including a network error while checking, starts
//! a new lineage, and push says why.

use pqreg_spec::Digest;
use pqreg_spec::artifact::Index;
use pqreg_spec::envelope::ContentSecret;
use pqreg_spec::keys::{RecipientPrivateKey, VerifyingKey};
use pqreg_spec::policy::Policy;

use crate::Error;
use crate::auth::AuthEnv;
use crate::paths::Paths;
use crate::reference::Reference;
use crate::registry_io::RegistrySource;
use crate::rewrap::own_key_policy;
use crate::tlog::BundleLog;
use crate::transfer::{RegistryClient, TransferError};
use crate::unpack::{UnpackOptions, VerifiedIndex, verify_index};

/// What push may reuse, and what to tell the user.
#[derive(Debug, Default)]
pub struct Previous {
    /// The tag's current manifest, if the tag exists.
    pub digest: Option<Digest>,
    /// Its index and content secret, when it verified and may be reused.
    pub reuse: Option<(Index, Option<ContentSecret>)>,
    /// How it verified: `"policy"` or `"own-key"`.
    pub verified_by: Option<&'static str>,
    /// The version its statement binds, when it verified.
    pub version: Option<u64>,
    /// Why nothing is reused, when the tag exists.
    pub reason: Option<String>,
}

/// The tag's current version, for reuse only if it verifies (see the module docs).
/// `policy`: the pusher's trust policy, if any; `signer`: the key push signs with.
pub fn verified_previous(
    client: &RegistryClient,
    r: &Reference,
    tag: &str,
    identity: Option<&RecipientPrivateKey>,
    signer: &VerifyingKey,
    policy: Option<&Policy>,
    paths: &Paths,
) -> Result<Previous, Error> {
    let repo = r.repository();
    let digest = match client.get_manifest(repo, tag) {
        Ok(m) => m.digest,
        Err(TransferError::NotFound { .. }) => return Ok(Previous::default()),
        Err(e) => return Err(e.into()),
    };
    let mut prev = Previous {
        digest: Some(digest),
        ..Previous::default()
    };
    let Some(identity) = identity else {
        prev.reason = Some("no --identity to open it".into());
        return Ok(prev);
    };
    let source = RegistrySource::new(client, repo, &paths.cache)?;
    let check = |p: &Policy| -> Result<VerifiedIndex, Error> {
        let mut opts = UnpackOptions::new(r.name(), p);
        opts.identity = Some(identity);
        // The log of the pusher's policy verifies the entry: required where that policy
        // requires it; with the own-key policy, checked where the log is configured.
        let log_policy = policy.unwrap_or(p);
        let bundle_log = BundleLog {
            policy: log_policy,
            registry: r.registry().to_owned(),
            credential: AuthEnv::from_process_env()
                .lookup(r.registry())
                .ok()
                .flatten()
                .map(|(c, _)| c),
            state: paths.state.clone(),
        };
        opts.log_verifier = Some(&bundle_log);
        verify_index(&source, &digest, &opts)
    };
    let mut reasons = Vec::new();
    if let Some(p) = policy {
        match check(p) {
            Ok(v) => return Ok(reuse(prev, v, "policy")),
            Err(e) => reasons.push(format!("trust policy: {e}")),
        }
    }
    match check(&own_key_policy(signer)) {
        Ok(v) => return Ok(reuse(prev, v, "own-key")),
        Err(e) => reasons.push(format!("own key: {e}")),
    }
    prev.reason = Some(format!("it did not verify ({})", reasons.join("; ")));
    Ok(prev)
}

fn reuse(mut prev: Previous, v: VerifiedIndex, by: &'static str) -> Previous {
    prev.version = v.signature.statement.binding.as_ref().map(|b| b.version);
    prev.verified_by = Some(by);
    prev.reuse = Some((v.index, v.secret));
    prev
}
