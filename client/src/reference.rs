//! Model references: `[host[:port]/]repo[:tag][@sha256:hex]`.
//!
//! The repository and tag follow the OCI distribution-spec v1.1 grammar ("Pulling
//! manifests"): a repository is `/`-separated components matching
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, a tag matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`,
//! and `host/repository` is at most 255 characters (the limit the spec says clients
//! impose). The digest is a [`Digest`]: `sha256:` and 64 lowercase hex characters.
//!
//! **The registry host.** The first component is the host when it contains a `.` or a
//! `:`, is `localhost`, or is a bracketed IPv6 address — Docker's rule, so references
//! read the same in `docker`, `skopeo`, `oras` and `pqreg`. There is no implicit
//! default registry: a reference without a host is refused by [`Reference::parse`]
//! (pushing encrypted weights to a registry the user did not name is the wrong default,
//! and `docker.io` is not one pqreg talks to). A caller that has a configured default
//! passes it to [`Reference::parse_with_default_registry`]; the CLI takes it from
//! `$PQREG_REGISTRY`.
//!
//! **Tag or digest.** When both are given, the digest wins: it is what is fetched and
//! checked, and the tag is kept only for display and log entries. With neither, the tag
//! is `latest`, as in every OCI client.
//!
//! **Display** is the canonical form: `host/repo@sha256:…` when a digest is known,
//! otherwise `host/repo:tag`.

use std::fmt;
use std::str::FromStr;

use pqreg_spec::Digest;
use pqreg_spec::digest::DigestError;

/// The tag used when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

/// Longest `host/repository` accepted (distribution-spec: "many clients impose a limit
/// of 255 characters").
pub const MAX_NAME_LEN: usize = 255;

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The reference is empty.
    #[error("empty reference (expected host[:port]/repo[:tag][@sha256:hex])")]
    Empty,
    /// No registry host and no default registry.
    #[error(
        "reference {0:?} names no registry host: write it as host[:port]/{0} (e.g. localhost:5000/{0}) or set PQREG_REGISTRY"
    )]
    MissingRegistry(String),
    /// The registry host or port is malformed.
    #[error("registry {0:?} is not a valid host[:port]")]
    BadRegistry(String),
    /// The repository does not match the OCI name grammar.
    #[error(
        "repository {0:?} is not a valid OCI name (lowercase letters, digits, and . _ __ - between them, components separated by /)"
    )]
    BadRepository(String),
    /// `host/repository` is longer than [`MAX_NAME_LEN`].
    #[error("name {0:?} is longer than 255 characters")]
    NameTooLong(String),
    /// The tag does not match the OCI tag grammar.
    #[error("tag {0:?} is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})")]
    BadTag(String),
    /// The digest after `@` is malformed.
    #[error("bad digest in reference: {0}")]
    BadDigest(#[from] DigestError),
}

/// A parsed reference to a model in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// What a reference resolves to on the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Fetch by digest (it wins over any tag).
    Digest(Digest),
    /// Fetch by tag (the explicit one, or [`DEFAULT_TAG`]).
    Tag(&'a str),
}

impl Reference {
    /// Parses a reference that must name its registry host.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        Self::parse_with_default_registry(s, None)
    }

    /// Parses a reference, using `default_registry` when `s` names no host.
    pub fn parse_with_default_registry(
        s: &str,
        default_registry: Option<&str>,
    ) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (rest, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        // A tag is a `:` after the last `/` (a `:` before it belongs to host:port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(&rest[i + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(ReferenceError::BadTag(tag.to_owned()));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, repo)) if looks_like_host(first) => (first.to_owned(), repo),
            _ => match default_registry {
                Some(d) => (d.to_owned(), name),
                None => return Err(ReferenceError::MissingRegistry(name.to_owned())),
            },
        };
        if !is_valid_registry(&registry) {
            return Err(ReferenceError::BadRegistry(registry));
        }
        if !is_valid_repository(repository) {
            return Err(ReferenceError::BadRepository(repository.to_owned()));
        }
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(ReferenceError::NameTooLong(format!(
                "{registry}/{repository}"
            )));
        }
        Ok(Reference {
            registry,
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry host, with its port if one was given (`localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`org/model`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag as written, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest as written, if any.
    pub fn digest(&self) -> Option<Digest> {
        self.digest
    }

    /// What to fetch: the digest if there is one, else the tag (default `latest`).
    pub fn target(&self) -> Target<'_> {
        match (self.digest, &self.tag) {
            (Some(d), _) => Target::Digest(d),
            (None, Some(t)) => Target::Tag(t),
            (None, None) => Target::Tag(DEFAULT_TAG),
        }
    }

    /// `host/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same reference pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target() {
            Target::Digest(d) => write!(f, "{}/{}@{d}", self.registry, self.repository),
            Target::Tag(t) => write!(f, "{}/{}:{t}", self.registry, self.repository),
        }
    }
}

/// Checks a registry `host[:port]` on its own (for `pqreg login`).
pub fn validate_registry(registry: &str) -> Result<(), ReferenceError> {
    if is_valid_registry(registry) {
        Ok(())
    } else {
        Err(ReferenceError::BadRegistry(registry.to_owned()))
    }
}

/// Docker's rule for telling a host from the first repository component.
fn looks_like_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

/// `host[:port]` where host is DNS labels or a bracketed IPv6 address.
fn is_valid_registry(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if let Some(port) = port {
        let ok = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !ok {
            return false;
        }
    }
    if s.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
fn is_valid_repository(s: &str) -> bool {
    !s.is_empty() && s.split('/').all(is_valid_component)
}

fn is_valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return false;
    }
    // Every maximal run of separators must be ".", "_", "__" or one or more "-".
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let run = &c[start..i];
        let ok = matches!(run, "." | "_" | "__") || run.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
fn is_valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn p(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }

    #[test]
    fn parses_the_forms() {
        let r = p("localhost:5000/org/model:v1").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "org/model");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.target(), Target::Tag("v1"));
        assert_eq!(r.to_string(), "localhost:5000/org/model:v1");

        let r = p("registry.example.com/m").unwrap();
        assert_eq!(r.target(), Target::Tag("latest"));
        assert_eq!(r.to_string(), "registry.example.com/m:latest");

        let r = p("localhost/m").unwrap();
        assert_eq!(r.registry(), "localhost");

        let r = p("[::1]:5000/a/b").unwrap();
        assert_eq!(r.registry(), "[::1]:5000");
        assert_eq!(r.name(), "[::1]:5000/a/b");
    }

    #[test]
    fn digest_wins_over_tag() {
        let s = format!("127.0.0.1:5000/org/model:v1@sha256:{HEX}");
        let r = p(&s).unwrap();
        assert_eq!(r.tag(), Some("v1"));
        let d: Digest = format!("sha256:{HEX}").parse().unwrap();
        assert_eq!(r.target(), Target::Digest(d));
        assert_eq!(
            r.to_string(),
            format!("127.0.0.1:5000/org/model@sha256:{HEX}")
        );
        // Display round-trips.
        assert_eq!(p(&r.to_string()).unwrap().target(), Target::Digest(d));
        let pinned = p("localhost:5000/m:v2").unwrap().with_digest(d);
        assert_eq!(pinned.to_string(), format!("localhost:5000/m@sha256:{HEX}"));
    }

    #[test]
    fn host_is_required_unless_defaulted() {
        assert_eq!(
            p("org/model:v1"),
            Err(ReferenceError::MissingRegistry("org/model".into()))
        );
        assert_eq!(
            p("model"),
            Err(ReferenceError::MissingRegistry("model".into()))
        );
        let r =
            Reference::parse_with_default_registry("org/model:v1", Some("localhost:5000")).unwrap();
        assert_eq!(r.to_string(), "localhost:5000/org/model:v1");
        // An explicit host beats the default.
        let r = Reference::parse_with_default_registry("reg.io/org/model", Some("localhost:5000"))
            .unwrap();
        assert_eq!(r.registry(), "reg.io");
        // A bad default is still checked.
        assert!(matches!(
            Reference::parse_with_default_registry("m", Some("bad host")),
            Err(ReferenceError::BadRegistry(_))
        ));
    }

    #[test]
    fn repository_grammar() {
        for ok in ["a", "a0/b1", "a.b", "a_b", "a__b", "a-b", "a---b", "x/y/z"] {
            assert!(p(&format!("localhost/{ok}")).is_ok(), "{ok}");
        }
        for bad in [
            "A", "a..b", "a___b", "_a", "a_", "a-", "-a", "a/", "a//b", "a.-b", "a b", "a%b",
            "a/../b",
        ] {
            assert_eq!(
                p(&format!("localhost/{bad}")),
                Err(ReferenceError::BadRepository(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn tag_grammar() {
        let max = format!("_{}", "a".repeat(127));
        assert_eq!(p(&format!("localhost/m:{max}")).unwrap().tag(), Some(&*max));
        for bad in ["", ".x", "-x", "a+b", &format!("a{}", "b".repeat(128))] {
            assert_eq!(
                p(&format!("localhost/m:{bad}")),
                Err(ReferenceError::BadTag(bad.to_string())),
                "{bad}"
            );
        }
        // A `/` after the `:` makes the `:` part of the repository, which then fails.
        assert!(matches!(
            p("localhost/m:a/b"),
            Err(ReferenceError::BadRepository(_))
        ));
    }

    #[test]
    fn registry_grammar() {
        for bad in [
            "localhost:/m",
            "localhost:0/m",
            "localhost:65536/m",
            "localhost:5x/m",
            "-a.b/m",
            "a..b/m",
            "[::1/m",
            "[zz]:5000/m",
            "[::1]x/m",
        ] {
            assert!(
                matches!(p(bad), Err(ReferenceError::BadRegistry(_))),
                "{bad}: {:?}",
                p(bad)
            );
        }
    }

    #[test]
    fn digest_and_length_errors() {
        assert_eq!(p(""), Err(ReferenceError::Empty));
        assert!(matches!(
            p("localhost/m@sha256:abc"),
            Err(ReferenceError::BadDigest(DigestError::BadEncoding(_)))
        ));
        assert!(matches!(
            p(&format!("localhost/m@sha512:{HEX}")),
            Err(ReferenceError::BadDigest(
                DigestError::UnsupportedAlgorithm(_)
            ))
        ));
        assert!(matches!(
            p(&format!("localhost/m@sha256:{HEX}@x")),
            Err(ReferenceError::BadDigest(_))
        ));
        let long = format!(
            "localhost/{}",
            "a".repeat(MAX_NAME_LEN - "localhost/".len())
        );
        assert!(p(&long).is_ok());
        assert!(matches!(
            p(&format!("{long}b")),
            Err(ReferenceError::NameTooLong(_))
        ));
    }
}
