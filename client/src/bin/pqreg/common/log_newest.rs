//! Before `tag` or `recipients` re-sign what a tag names: does the registry's log hold a
//! newer trusted signature for that tag than the one of the version the tag names now?
//! This client's own record of the tag ([`super::TagRead`]) knows only what this machine
//! pushed or pulled; the log knows what every publisher's machine signed, and someone
//! with push rights cannot remove an entry from it (spec/signing.md §7.2).

use pqreg::exit;
use pqreg::reference::Reference;
use pqreg::tlog::LogError;
use pqreg::transfer::{RegistryClient, TransferError};
use pqreg_spec::Digest;
use pqreg_spec::keys::KeyId;
use pqreg_spec::logentry::{EntryKind, LogEntry};
use pqreg_spec::policy::Policy;

use super::{CliError, advance, fail, repo_key, with_log_host};

/// Most result pages read (100 entries each by default).
const MAX_PAGES: usize = 100;

/// Refuses (exit 16) when the log of `r`'s registry, as `log_policy` (a policy file;
/// `None`: the default one) configures it, holds a signature for `r`'s repository and
/// `tag` by a key `trusted` accepts, over a manifest other than `src` that the registry
/// still serves, logged after every such signature over `src`. Without a configured log
/// for the registry it checks nothing and says so.
pub(crate) fn refuse_if_log_has_newer(
    r: &Reference,
    tag: &str,
    src: Digest,
    policy: &Policy,
    log_policy: Option<&std::path::Path>,
    client: &RegistryClient,
    trusted: &dyn Fn(&KeyId) -> bool,
) -> crate::common::Result<()> {
    let host = r.registry();
    if !policy.logs.iter().any(|l| l.vouches_for(host)) {
        eprintln!(
            "pqreg: note: no log configured for {host}: only this machine's record of {}:{tag} was checked for a rollback",
            r.name()
        );
        return Ok(());
    }
    let repo = r.repository();
    let found = with_log_host(host, log_policy, |log| -> Result<_, CliError> {
        let (c, _) = advance(log)?;
        let size = c.checkpoint.size;
        let mut tiles = log.tiles(size);
        let key = repo_key(log, host, repo)?;
        // (index, manifest) of the newest trusted signature over src, and over another.
        let (mut newest_src, mut newest_other) = (None::<u64>, None::<(u64, Digest)>);
        let mut after: Option<u64> = None;
        for _ in 0..MAX_PAGES {
            let mut q = vec![("repository", repo.to_owned()), ("tag", tag.to_owned())];
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
                    && trusted(signer)
                {
                    if e.manifest == src {
                        newest_src = Some(h.index);
                    } else {
                        newest_other = Some((h.index, e.manifest));
                    }
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        Ok((newest_src, newest_other))
    })?;
    let (newest_src, newest_other) = found;
    let Some((index, other)) = newest_other else {
        return Ok(());
    };
    if newest_src.is_some_and(|s| s > index) {
        return Ok(());
    }
    // A newer version that was deleted since is not one to fall back from.
    match client.get_manifest(repo, &other.to_string()) {
        Err(TransferError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(pqreg::Error::from(e).into()),
        Ok(_) => {}
    }
    Err(fail(
        exit::ROLLBACK,
        format!(
            "{}:{tag} names {src}, but the log holds a newer trusted signature for that tag, over {other} (entry {index}): someone may have moved the tag back",
            r.name()
        ),
        format!(
            "Check which version {tag} should name; to re-sign an older one on purpose, name it by digest ({}@sha256:…).",
            r.name()
        ),
    ))
}
