//! Talking to a registry: credentials, the transfer client, tag resolution, and the
//! registry's transparency log (whether it has one, the submitter that logs a new
//! signature, and the location binding a new signature carries).

use pqreg::auth::AuthEnv;
use pqreg::paths::Paths;
use pqreg::reference::{Reference, Target};
use pqreg::tag_state::TagState;
use pqreg::tlog::{LogClient, Submitter};
use pqreg::transfer::{RegistryClient, TransferOptions};
use pqreg_spec::Digest;
use pqreg_spec::keys::VerifyingKey;
use pqreg_spec::policy::Policy;
use pqreg_spec::statement::Binding;

pub(crate) fn credential(r: &Reference) -> crate::common::Result<Option<pqreg::auth::Credential>> {
    Ok(AuthEnv::from_process_env()
        .lookup(r.registry())?
        .map(|(c, _)| c))
}

pub(crate) fn connect(r: &Reference, concurrency: usize) -> crate::common::Result<RegistryClient> {
    let cred = credential(r)?;
    let opts = TransferOptions {
        concurrency,
        // Pulled blobs land in the cache, which RegistrySource re-hashes on later use.
        fsync_downloads: false,
        ..TransferOptions::default()
    };
    Ok(RegistryClient::new(r.registry(), cred, opts)?)
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
) -> crate::common::Result<Binding> {
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

/// The manifest digest `r` names: its digest, else what its tag resolves to.
pub(crate) fn resolve(client: &RegistryClient, r: &Reference) -> crate::common::Result<Digest> {
    Ok(match r.target() {
        Target::Digest(d) => d,
        Target::Tag(t) => client.get_manifest(r.repository(), t)?.digest,
    })
}
