//! The statement's location binding (spec/signing.md §3.1, §7 step 7): the repository,
//! tag, version and signing time a statement was published as, and the check a puller
//! makes of them.

use super::{MAX_LOCATION_BYTES, Statement, StatementError};
use crate::Digest;
use crate::dsse::SigningError;

pub(super) fn shown_tag(t: &Option<String>) -> String {
    t.as_ref().map_or_else(
        || "(none: signed by digest)".to_owned(),
        |t| format!("{t:?}"),
    )
}

/// Where and as what a statement was published (spec/signing.md §3.1): the repository
/// and tag, a version that only increases per repository and tag, and the signing time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// `host[:port]/path`, as the trust policy matches it.
    pub repository: String,
    /// The tag published, if any.
    pub tag: Option<String>,
    /// The version (pqreg writes max(milliseconds since the epoch, previous + 1)).
    pub version: u64,
    /// POSIX seconds at signing.
    pub signed_at: u64,
}

impl Binding {
    pub(super) fn validate(&self) -> Result<(), StatementError> {
        let bad = |what: &str| Err(StatementError::BadBinding(what.to_owned()));
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= MAX_LOCATION_BYTES
                && s.bytes().all(|b| b.is_ascii_graphic())
        };
        if !name_ok(&self.repository) || !self.repository.contains('/') {
            return bad("repository");
        }
        if self.tag.as_deref().is_some_and(|t| !name_ok(t)) {
            return bad("tag");
        }
        Ok(())
    }
}

/// What a puller expects of a statement's binding (spec/signing.md §7 step 7).
#[derive(Debug, Clone, Default)]
pub struct Expected<'a> {
    /// The repositories the statement may be bound to: the one pulled from, and those
    /// the trust policy's `[[mirrors]]` map it to.
    pub repositories: Vec<String>,
    /// Accept any repository (a signer checking a statement it signed itself before it
    /// re-signs it for this location, spec/signing.md §7.2).
    pub any_repository: bool,
    /// The tag asked for (`None`: pulled by digest, any tag).
    pub tag: Option<&'a str>,
    /// The newest version and manifest accepted before for this tag.
    pub seen: Option<(u64, Digest)>,
    /// The policy's maximum age in seconds, and the current time (POSIX seconds).
    pub max_age: Option<(u64, u64)>,
}

impl Statement {
    /// The statement bound to a repository, tag, version and signing time (§3.1).
    pub fn with_binding(mut self, binding: Binding) -> Result<Self, SigningError> {
        binding.validate()?;
        self.binding = Some(binding);
        Ok(self)
    }

    /// Checks the binding against what the puller expects, in this order: present,
    /// repository, tag, not older than the newest accepted (nor equal with another
    /// manifest), not older than `max_age`. `manifest` is the digest pulled.
    pub fn check_binding(
        &self,
        expected: &Expected<'_>,
        manifest: &Digest,
    ) -> Result<&Binding, SigningError> {
        let Some(b) = &self.binding else {
            return Err(StatementError::BindingMissing.into());
        };
        if !expected.any_repository && !expected.repositories.contains(&b.repository) {
            return Err(StatementError::WrongRepository {
                signed: b.repository.clone(),
                pulled: expected.repositories.first().cloned().unwrap_or_default(),
            }
            .into());
        }
        if let Some(t) = expected.tag
            && b.tag.as_deref() != Some(t)
        {
            return Err(StatementError::WrongTag {
                signed: b.tag.clone(),
                pulled: t.to_owned(),
            }
            .into());
        }
        if let Some((seen, seen_manifest)) = expected.seen
            && (b.version < seen || (b.version == seen && *manifest != seen_manifest))
        {
            return Err(StatementError::Rollback {
                got: b.version,
                manifest: *manifest,
                seen,
                seen_manifest,
            }
            .into());
        }
        if let Some((max_age, now)) = expected.max_age
            && now.saturating_sub(b.signed_at) > max_age
        {
            return Err(StatementError::Stale {
                signed_at: b.signed_at,
                max_age,
                now,
            }
            .into());
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::FileEntry;

    fn bound(tag: Option<&str>, version: u64, signed_at: u64) -> Statement {
        let f = FileEntry {
            path: "a".into(),
            digest: Digest::sha256(b"a"),
            size: 1,
        };
        Statement::from_files("m", &[f], Some(Digest::sha256(b"m")))
            .unwrap()
            .with_binding(Binding {
                repository: "r.example/models/x".into(),
                tag: tag.map(str::to_owned),
                version,
                signed_at,
            })
            .unwrap()
    }

    fn err(r: Result<&Binding, SigningError>) -> StatementError {
        match r {
            Err(SigningError::Statement(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_check_refuses_on_its_own() {
        let m = Digest::sha256(b"m");
        let other = Digest::sha256(b"other");
        let exp = |tag, seen, max_age| Expected {
            repositories: vec!["r.example/models/x".into()],
            any_repository: false,
            tag,
            seen,
            max_age,
        };
        let s = bound(Some("latest"), 10, 1000);
        s.check_binding(&exp(Some("latest"), Some((10, m)), Some((60, 1060))), &m)
            .unwrap();
        let unbound = Statement {
            binding: None,
            ..s.clone()
        };
        assert!(matches!(
            err(unbound.check_binding(&exp(None, None, None), &m)),
            StatementError::BindingMissing
        ));
        let mut elsewhere = exp(None, None, None);
        elsewhere.repositories = vec!["r.example/team/x".into()];
        assert!(matches!(
            err(s.check_binding(&elsewhere, &m)),
            StatementError::WrongRepository { .. }
        ));
        elsewhere.any_repository = true;
        s.check_binding(&elsewhere, &m).unwrap();
        assert!(matches!(
            err(s.check_binding(&exp(Some("v1"), None, None), &m)),
            StatementError::WrongTag { .. }
        ));
        assert!(matches!(
            err(s.check_binding(&exp(Some("latest"), Some((11, m)), None), &m)),
            StatementError::Rollback { .. }
        ));
        assert!(matches!(
            err(s.check_binding(&exp(Some("latest"), Some((10, other)), None), &m)),
            StatementError::Rollback { .. }
        ));
        assert!(matches!(
            err(s.check_binding(&exp(Some("latest"), None, Some((60, 1061))), &m)),
            StatementError::Stale { .. }
        ));
        // Partial binding annotations do not parse.
        let json = String::from_utf8(s.to_json())
            .unwrap()
            .replace(",\"dev.pqreg.version\":\"10\"", "");
        assert!(matches!(
            Statement::from_json(json.as_bytes()),
            Err(SigningError::Statement(StatementError::BadBinding(_)))
        ));
    }
}
