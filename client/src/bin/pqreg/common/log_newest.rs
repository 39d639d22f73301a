//! Before `tag` or `recipients` re-sign what a tag names: has a trusted key signed a
//! newer version of that tag than the one it names now? This client's own record of the
//! tag ([`super::TagRead`]) knows only what this machine pushed or pulled. The registry's
//! log names every manifest a trusted key signed for the tag, by any machine; the signed
//! statements of those manifests say which version is newest (spec/signing.md §7.2).
//!
//! Log order proves nothing here: anyone with push rights can log an old statement again
//! (a copy re-logs it), so the check compares signed versions, never entry positions.

use std::collections::BTreeSet;

use pqreg::exit;
use pqreg::reference::Reference;
use pqreg::registry_io::RegistrySource;
use pqreg::tlog::LogError;
use pqreg::unpack::{BlobSource as _, MAX_BUNDLES_TRIED, UnpackOptions, verify_statement};
use pqreg_spec::Digest;
use pqreg_spec::bundle::referrer::bundle_algorithm;
use pqreg_spec::logentry::{EntryKind, LogEntry};
use pqreg_spec::policy::{Policy, Rule};

use pqreg::paths::Paths;

use super::{CliError, advance, default_policy, fail, repo_key, with_log_host};

/// Most result pages read, of [`PAGE`] entries each; a tag with more log entries than
/// that is refused rather than checked in part.
const MAX_PAGES: usize = 100;
/// Entries asked for per page (the API's maximum).
const PAGE: u32 = 1000;

/// The policy the log check trusts: `--policy`; else the re-signing key's own policy
/// together with the default policy's keys and rules, so that a newer version signed by
/// another trusted key (CI's) counts too.
fn log_check_policy(resign: &Policy, default: Option<Policy>, name: &str) -> Policy {
    let Some(mut p) = default else {
        return resign.clone();
    };
    for k in &resign.keys {
        if p.key(&k.id).is_none() {
            p.keys.push(k.clone());
        }
        if let Some(i) = p.keys.iter().position(|x| x.id == k.id) {
            p.rules.push(Rule {
                repositories: vec![name.to_owned()],
                signers: vec![i],
                require_log: None,
                min_algorithm: None,
                max_age: None,
            });
        }
    }
    p
}

/// Refuses (exit 16) when the log of `r`'s registry holds a signature, by a key the log
/// check trusts ([`log_check_policy`] of `resign`, the policy the re-signing command
/// verified under, and of the default policy unless `policy_flag` named one) for `r`'s
/// repository, for `tag` over a manifest other than `src` that the registry still serves
/// and whose signed statement for `tag` has a version above `src_version`. The log is
/// the one `policy_flag` (or the default policy) configures; without one for the
/// registry it checks nothing and says so.
pub(crate) fn refuse_if_log_has_newer(
    r: &Reference,
    tag: &str,
    (src, src_version): (Digest, u64),
    resign: &Policy,
    policy_flag: Option<&std::path::Path>,
    source: &RegistrySource<'_>,
    paths: &Paths,
) -> crate::common::Result<()> {
    let fallback = match policy_flag {
        Some(_) => None,
        None => default_policy(paths)?,
    };
    let policy = &log_check_policy(resign, fallback, &r.name());
    let log_policy = policy_flag;
    let host = r.registry();
    if !policy.logs.iter().any(|l| l.vouches_for(host)) {
        eprintln!(
            "pqreg: note: no log configured for {host}: only this machine's record of {}:{tag} was checked for a rollback",
            r.name()
        );
        return Ok(());
    }
    let (repo, name) = (r.repository(), r.name());
    let candidates = with_log_host(host, log_policy, |log| -> Result<_, CliError> {
        let (c, _) = advance(log)?;
        let size = c.checkpoint.size;
        let mut tiles = log.tiles(size);
        let key = repo_key(log, host, repo)?;
        let mut found = BTreeSet::new();
        let mut after: Option<u64> = None;
        for page_no in 0.. {
            if page_no == MAX_PAGES {
                return Err(fail(
                    exit::ROLLBACK,
                    format!(
                        "the log holds more than {} entries for {name}:{tag}; which version is newest was not checked",
                        MAX_PAGES * PAGE as usize
                    ),
                    format!("Name the version to re-sign by digest ({name}@sha256:…)."),
                ));
            }
            let mut q = vec![
                ("repository", repo.to_owned()),
                ("tag", tag.to_owned()),
                ("limit", PAGE.to_string()),
            ];
            if let Some(a) = after {
                q.push(("after", a.to_string()));
            }
            let page = log.api()?.search(&q)?;
            for h in page.entries {
                if h.index >= size {
                    continue;
                }
                let bytes = h.entry.into_bytes();
                log.check_inclusion(&mut tiles, &bytes, h.index, &c)?;
                let e = LogEntry::parse(&bytes).map_err(|cause| LogError::Entry {
                    index: h.index,
                    cause,
                })?;
                let k = if e.repository.is_id() || e.tag.as_ref().is_some_and(|t| t.is_id()) {
                    key.for_keyed(&format!("log entry {}", h.index), false)?
                } else {
                    key.key()
                };
                let ours = e
                    .names_repository(repo, k, log.origin())
                    .and_then(|a| Ok(a && e.names_tag(repo, tag, k)?))
                    .map_err(|cause| LogError::Entry {
                        index: h.index,
                        cause,
                    })?;
                if !ours {
                    return Err(LogError::EntryMismatch(format!(
                        "search returned entry {} that is not {repo}:{tag}'s",
                        h.index
                    ))
                    .into());
                }
                if let EntryKind::Signature { signer, .. } = &e.kind
                    && policy.authorize(&name, signer).is_ok()
                    && e.manifest != src
                {
                    found.insert(e.manifest);
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        Ok(found)
    })?;
    // Each candidate whose statement for this tag is newer than src's: verified with
    // src's version as the newest seen, so only a newer trusted signature passes.
    // The candidates come from the log: their entries were just proven included, so the
    // statements are checked without a second log proof.
    let mut unlogged = policy.clone();
    unlogged.require_log = false;
    for rule in &mut unlogged.rules {
        rule.require_log = Some(false);
    }
    let mut opts = UnpackOptions::new(name.clone(), &unlogged);
    opts.expected.tag = Some(tag);
    opts.expected.seen = Some((src_version, src));
    for m in candidates {
        match verify_statement(source, &m, &opts) {
            Ok(v) => {
                let newer = v.signature.statement.binding.map_or(0, |b| b.version);
                return Err(fail(
                    exit::ROLLBACK,
                    format!(
                        "{name}:{tag} names {src} (version {src_version}), but {m} is signed for that tag with the newer version {newer}: someone may have moved the tag back"
                    ),
                    format!(
                        "Check which version {tag} should name; to re-sign an older one on purpose, name it by digest ({name}@sha256:…)."
                    ),
                ));
            }
            // Withdrawn since.
            Err(e) if e.exit_code() == exit::NOT_FOUND => {}
            // No newer trusted signature for this tag among the bundles tried: that says
            // so only if every bundle was tried. Anyone with push rights can add bundles
            // (their own, or other tags', announcing this tag) that a pull tries first,
            // to push the newer one out of those tried.
            Err(e) if (10..=17).contains(&e.exit_code().code) => {
                let bundles = source
                    .referrers(&m)?
                    .iter()
                    .filter(|d| bundle_algorithm(d).is_some())
                    .count();
                if bundles > MAX_BUNDLES_TRIED {
                    return Err(fail(
                        exit::ROLLBACK,
                        format!(
                            "{m}, also signed for {name}:{tag} according to the log, has {bundles} signature bundles, more than the {MAX_BUNDLES_TRIED} checked: whether it is newer than {src} was not checked"
                        ),
                        format!(
                            "Name the version to re-sign by digest ({name}@sha256:…) after checking which version {tag} should name."
                        ),
                    ));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
