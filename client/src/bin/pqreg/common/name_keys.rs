//! The log name keys of the repositories `log monitor` and `log search` look for
//! (spec/transparency-log.md §3.2, §10). An entry of a private repository names it by a
//! keyed id, recognisable only with the key the registry hands out. So these commands
//! never treat a missing key as "no entries": when an entry they read carries a keyed id
//! and the key of a repository they look for is missing, they stop, say why, and (the
//! monitor) keep their position. Each key received is pinned at first use
//! (`pqreg::tlog::CheckpointStore::check_name_key`); another key later stops them too.

use pqreg::exit::{self, ExitCode};
use pqreg::tlog::{Log, PinCheck};
use pqreg_spec::logentry::NameKey;

use super::{CliError, fail, rfc3339};

/// What the registry gave for one repository's name key.
pub(crate) struct RepoKey {
    registry: String,
    repository: String,
    state: KeyState,
}

enum KeyState {
    /// The key, equal to the pinned one (or pinned now).
    Key(NameKey),
    /// The registry answers that the repository has no name key (404) and none is pinned.
    NoKey,
    /// The registry did not give it: the exit code and text of the error.
    Unavailable { code: ExitCode, why: String },
}

/// Fetches `repository`'s name key from `registry` (the log API's registry) and checks
/// it against the one pinned for the log, pinning it if none is. A key other than the
/// pinned one, or a 404 for a repository whose key is pinned, fails (exit 13); other
/// errors are kept and only fail the command when a keyed entry needs the key.
pub(crate) fn repo_key(
    log: &Log<'_>,
    registry: &str,
    repository: &str,
) -> Result<RepoKey, CliError> {
    let store = log.store();
    let path = store.name_key_pin_path(repository);
    let path = path.display();
    let state = match log.api().and_then(|c| c.name_key(repository)) {
        Ok(Some(key)) => match store.check_name_key(repository, &key, registry)? {
            PinCheck::Pinned => {
                eprintln!("pqreg: pinned the log name key of {repository} at first use ({path})");
                KeyState::Key(key)
            }
            PinCheck::Same => KeyState::Key(key),
            PinCheck::Changed(pin) => {
                return Err(fail(
                    exit::LOG_PROOF,
                    format!(
                        "{registry} hands out another log name key for {repository} than the \
                         one pinned at first use ({}, from {}; {path})",
                        rfc3339(pin.pinned_at),
                        pin.registry
                    ),
                    format!(
                        "The registry may log {repository} under a second key to hide its \
                         entries: report it to its operator; only if they rotated the key on \
                         purpose, delete {path} and run again."
                    ),
                ));
            }
        },
        Ok(None) => match store.name_key_pin(repository)? {
            None => KeyState::NoKey,
            Some(pin) => {
                return Err(fail(
                    exit::LOG_PROOF,
                    format!(
                        "{registry} answers that {repository} has no log name key, but one \
                         was handed out and pinned before ({}, from {}; {path})",
                        rfc3339(pin.pinned_at),
                        pin.registry
                    ),
                    format!(
                        "The registry may be hiding {repository}'s keyed entries: report it \
                         to its operator."
                    ),
                ));
            }
        },
        Err(e) => KeyState::Unavailable {
            code: e.exit_code(),
            why: e.to_string(),
        },
    };
    Ok(RepoKey {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        state,
    })
}

impl RepoKey {
    /// The key, if the registry gave one.
    pub(crate) fn key(&self) -> Option<&NameKey> {
        match &self.state {
            KeyState::Key(k) => Some(k),
            KeyState::NoKey | KeyState::Unavailable { .. } => None,
        }
    }

    /// The key to tell whether `entry` (a description, e.g. "log entry 12"), which
    /// names its repository by a keyed id, is this repository's; or why that cannot be
    /// told. `by_name`: the user said the repository is logged by name, so a 404 (no
    /// key) is accepted and the keyed entry is not this repository's.
    pub(crate) fn for_keyed(
        &self,
        entry: &str,
        by_name: bool,
    ) -> Result<Option<&NameKey>, CliError> {
        let (r, reg) = (&self.repository, &self.registry);
        let keyless = "watch its signers with --key <key ID>, which is clear in every entry";
        match &self.state {
            KeyState::Key(k) => Ok(Some(k)),
            KeyState::NoKey if by_name => Ok(None),
            KeyState::NoKey => Err(fail(
                exit::LOG_PROOF,
                format!(
                    "{entry} names its repository by a keyed id, and {reg} answers that {r} \
                     has no log name key: whether the entry is {r}'s cannot be told"
                ),
                format!(
                    "Ask the registry's operator why {r} has no name key (if {r} is public and \
                     logged by name, `log monitor --repo-by-name {r}` accepts that); meanwhile \
                     {keyless}."
                ),
            )),
            KeyState::Unavailable { code, why } => Err(fail(
                *code,
                format!(
                    "{entry} names its repository by a keyed id, and the log name key of {r} \
                     could not be fetched: {why}"
                ),
                format!(
                    "{}; without it, {keyless}.",
                    unavailable_hint(*code, r, reg)
                ),
            )),
        }
    }

    /// Fails unless the registry gave the key or answered that there is none: without
    /// the key, a search by repository cannot find the repository's keyed entries.
    pub(crate) fn require_answer(&self) -> Result<(), CliError> {
        let (r, reg) = (&self.repository, &self.registry);
        match &self.state {
            KeyState::Key(_) | KeyState::NoKey => Ok(()),
            KeyState::Unavailable { code, why } => Err(fail(
                *code,
                format!(
                    "a search by repository needs the log name key of {r} (its entries may \
                     name it by a keyed id), which could not be fetched: {why}"
                ),
                format!(
                    "{}, or search by --key or --digest, which need no key.",
                    unavailable_hint(*code, r, reg)
                ),
            )),
        }
    }
}

/// What to do when the registry did not give `r`'s key: an answer that is not a key
/// (exit 13) is the registry's fault; anything else is access or the network.
fn unavailable_hint(code: ExitCode, r: &str, reg: &str) -> String {
    if code == exit::LOG_PROOF {
        "The registry's answer is not a name key: report it to its operator".to_owned()
    } else {
        format!(
            "Log in with pull access to {r} (`pqreg login {reg}`) or fix the connection, then run again"
        )
    }
}
