//! Which previous version a push may build on (spec/signing.md §7.3): the one gate
//! between the repository's versions and the packer's reuse of their chunks.
//!
//! The candidates are the version named with `push --reuse-from` (a tag or digest), or
//! else every tag of the repository (the referrers-schema tags `sha256-…` left out, at
//! most [`MAX_CANDIDATES`] besides the tag pushed): push builds on the newest of them that
//! verifies (by its statement's signing time, then version), so `v2` pushed to a new tag
//! reuses what `v1` has (spec/artifact.md §10).
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

/// Most tags, besides the one pushed, checked for a version to reuse.
pub const MAX_CANDIDATES: usize = 64;

/// What push may reuse, and what to tell the user.
#[derive(Debug, Default)]
pub struct Previous {
    /// The version reused, or else the tag's current manifest, if there is one.
    pub digest: Option<Digest>,
    /// The tag (or digest) the reused version was found under.
    pub from: Option<String>,
    /// Distinct versions checked.
    pub checked: usize,
    /// Its index and content secret, when it verified and may be reused.
    pub reuse: Option<(Index, Option<ContentSecret>)>,
    /// How it verified: `"policy"` or `"own-key"`.
    pub verified_by: Option<&'static str>,
    /// The version its statement binds, when it verified.
    pub version: Option<u64>,
    /// Why nothing is reused, when the tag exists.
    pub reason: Option<String>,
}

/// The newest verified version among the candidates (see the module docs): `from`
/// names one (`--reuse-from`), else the repository's tags are the candidates.
/// `policy`: the pusher's trust policy, if any; `signer`: the key push signs with.
#[allow(clippy::too_many_arguments)]
pub fn verified_previous(
    client: &RegistryClient,
    r: &Reference,
    tag: &str,
    from: Option<&str>,
    identity: Option<&RecipientPrivateKey>,
    signer: &VerifyingKey,
    policy: Option<&Policy>,
    paths: &Paths,
) -> Result<Previous, Error> {
    let repo = r.repository();
    let names: Vec<String> = match from {
        Some(f) => vec![f.to_owned()],
        None => {
            let mut names = vec![tag.to_owned()];
            let tags = match client.list_tags(repo) {
                Ok(t) => t,
                Err(TransferError::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            names.extend(
                tags.into_iter()
                    .filter(|t| t != tag && !t.starts_with("sha256-"))
                    .take(MAX_CANDIDATES),
            );
            names
        }
    };
    // Each distinct version once, with the first name it was found under.
    let mut candidates: Vec<(String, Digest)> = Vec::new();
    for name in names {
        match client.get_manifest(repo, &name) {
            Ok(m) if !candidates.iter().any(|(_, d)| *d == m.digest) => {
                candidates.push((name, m.digest));
            }
            Ok(_) => {}
            // A tag deleted meanwhile; a named one that does not exist is an error.
            Err(TransferError::NotFound { .. }) if from.is_none() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut prev = Previous {
        digest: candidates
            .iter()
            .find(|(n, _)| n == tag)
            .or(candidates.first())
            .map(|(_, d)| *d),
        checked: candidates.len(),
        ..Previous::default()
    };
    if candidates.is_empty() {
        return Ok(prev);
    }
    let Some(identity) = identity else {
        prev.reason = Some("no --identity to open it".into());
        return Ok(prev);
    };
    let source = RegistrySource::new(client, repo, &paths.cache)?;
    let check = |p: &Policy, digest: &Digest| -> Result<VerifiedIndex, Error> {
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
        verify_index(&source, digest, &opts)
    };
    let own = own_key_policy(signer);
    let mut best: Option<(String, Digest, VerifiedIndex, &'static str)> = None;
    let mut reasons = Vec::new();
    for (name, digest) in candidates {
        let mut why = Vec::new();
        let verified = policy
            .and_then(|p| {
                check(p, &digest)
                    .map_err(|e| why.push(format!("trust policy: {e}")))
                    .ok()
                    .map(|v| (v, "policy"))
            })
            .or_else(|| {
                check(&own, &digest)
                    .map_err(|e| why.push(format!("own key: {e}")))
                    .ok()
                    .map(|v| (v, "own-key"))
            });
        match verified {
            Some((v, by)) => {
                if best.as_ref().is_none_or(|(_, _, b, _)| newer(&v, b)) {
                    best = Some((name, digest, v, by));
                }
            }
            None => reasons.push(format!("{name}: {}", why.join("; "))),
        }
    }
    match best {
        Some((name, digest, v, by)) => {
            prev.digest = Some(digest);
            prev.from = Some(name);
            Ok(reuse(prev, v, by))
        }
        None => {
            prev.reason = Some(format!("no version verified ({})", reasons.join("; ")));
            Ok(prev)
        }
    }
}

/// Whether `a` was signed after `b` (signing time, then version; unbound last).
fn newer(a: &VerifiedIndex, b: &VerifiedIndex) -> bool {
    let key = |v: &VerifiedIndex| {
        v.signature
            .statement
            .binding
            .as_ref()
            .map(|b| (b.signed_at, b.version))
    };
    key(a) > key(b)
}

fn reuse(mut prev: Previous, v: VerifiedIndex, by: &'static str) -> Previous {
    prev.version = v.signature.statement.binding.as_ref().map(|b| b.version);
    prev.verified_by = Some(by);
    prev.reuse = Some((v.index, v.secret));
    prev
}
