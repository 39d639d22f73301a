//! What a read by tag checks beyond the signature (spec/signing.md §7 step 7), and what
//! it records once every check passed. Every command that acts on what a tag names goes
//! through here: `pull` and `verify` (online and `--offline`), and the commands that
//! re-sign the version a tag names (`tag`, `recipients`), so a tag moved by someone with
//! push rights cannot make one of them accept what the others refuse.

use pqreg::paths::Paths;
use pqreg::reference::{Reference, Target};
use pqreg::tag_state::{Seen, TagState};
use pqreg_spec::Digest;
use pqreg_spec::policy::Policy;
use pqreg_spec::statement::Expected;

use super::now;

/// A read of `host/path:tag`: the tag asked for and this client's newest accepted version
/// of it.
pub(crate) struct TagRead<'r> {
    tag: &'r str,
    state: TagState,
}

impl<'r> TagRead<'r> {
    /// The read `r` makes; `None` when `r` names a digest (any tag of this repository
    /// then verifies, and nothing is recorded).
    pub(crate) fn of(r: &'r Reference, paths: &Paths) -> Option<Self> {
        match r.target() {
            Target::Digest(_) => None,
            Target::Tag(tag) => Some(TagRead {
                tag,
                state: TagState::new(&paths.state, &r.name(), tag),
            }),
        }
    }

    /// The tag.
    pub(crate) fn tag(&self) -> &'r str {
        self.tag
    }

    /// What the statement's binding must say: this tag, a version not older than the
    /// newest accepted for it (unless `allow_rollback`), signed within the policy's
    /// `max_age` for `name` (`host/path`).
    pub(crate) fn expect(
        &self,
        expected: &mut Expected<'r>,
        policy: &Policy,
        name: &str,
        allow_rollback: bool,
    ) -> crate::common::Result<()> {
        expected.tag = Some(self.tag);
        if !allow_rollback {
            expected.seen = self.state.load()?.map(|s| (s.version, s.manifest));
        }
        expected.max_age = policy.max_age(name).map(|a| (a, now().1));
        Ok(())
    }

    /// Records `version` of `manifest` as accepted (it never lowers the mark).
    pub(crate) fn accept(&self, version: u64, manifest: Digest) -> crate::common::Result<()> {
        Ok(self.state.advance(Seen { version, manifest })?)
    }
}

/// Records what this client itself just signed for `r`'s repository and `tag` (a push,
/// a new tag, a recipient change): the signer has seen its own version, so a later move
/// of the tag below it is a rollback to this client too.
pub(crate) fn accept_own(
    r: &Reference,
    tag: &str,
    version: u64,
    manifest: Digest,
    paths: &Paths,
) -> crate::common::Result<()> {
    Ok(TagState::new(&paths.state, &r.name(), tag).advance(Seen { version, manifest })?)
}
