//! Repository names and references, validated against the grammar of OCI
//! distribution-spec v1.1, "Pulling manifests":
//!
//! - name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`,
//!   at most [`MAX_NAME_LEN`] characters;
//! - tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`;
//! - digest: `sha256:<64 lowercase hex>` (pqreg accepts only SHA-256, see `pqreg_spec::digest`).
//!
//! A name that passes has no `..`, no empty component and no leading `/`, so it is safe as
//! a metadata key; it never becomes a file path (blobs are stored by digest only).

use pqreg_spec::Digest;

use crate::error::{ApiError, Code};

/// Longest repository name accepted (the spec says names SHOULD be under 256 characters).
pub const MAX_NAME_LEN: usize = 255;

/// Longest tag (the grammar allows 128 characters).
pub const MAX_TAG_LEN: usize = 128;

/// Checks a repository name.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let bad = || ApiError::new(Code::NameInvalid).detail(serde_json::json!({ "name": name }));
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(bad());
    }
    for component in name.split('/') {
        if !component_ok(component) {
            return Err(bad());
        }
    }
    Ok(())
}

/// One path component: alphanumeric runs joined by `.`, `_`, `__` or one or more `-`.
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        // An alphanumeric run.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // A separator.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// Whether `tag` matches the tag grammar.
pub fn tag_ok(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'.' || x == b'_' || x == b'-')
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A tag.
    Tag(String),
    /// A digest: SHA-256, or SHA-512 (distribution-spec v1.1; spec/api.md, Manifests).
    Digest(crate::digest::BlobDigest),
}

/// Parses a manifest reference from a path.
pub fn parse_reference(r: &str) -> Result<Reference, ApiError> {
    if r.contains(':') {
        parse_blob_digest(r).map(Reference::Digest)
    } else if tag_ok(r) {
        Ok(Reference::Tag(r.to_owned()))
    } else {
        Err(ApiError::new(Code::ReferenceInvalid).detail(serde_json::json!({ "reference": r })))
    }
}

/// Parses a blob digest (SHA-256 or SHA-512, [`crate::digest`]) from a path or a query,
/// answering `DIGEST_INVALID` (400) if malformed.
pub fn parse_blob_digest(d: &str) -> Result<crate::digest::BlobDigest, ApiError> {
    d.parse::<crate::digest::BlobDigest>().map_err(|e| {
        ApiError::new(Code::DigestInvalid)
            .msg(e.to_string())
            .detail(serde_json::json!({ "digest": d }))
    })
}

/// Parses a digest from a path or a query, answering `DIGEST_INVALID` (400) if malformed.
pub fn parse_digest(d: &str) -> Result<Digest, ApiError> {
    d.parse::<Digest>().map_err(|e| {
        ApiError::new(Code::DigestInvalid)
            .msg(e.to_string())
            .detail(serde_json::json!({ "digest": d }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "library/ubuntu", "a.b_c__d-e---f/g0", "x/y/z/w", "0"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "", "A", "a/", "/a", "a//b", "..", "a/../b", "a/.b", "a.", "a..b", "a___b", "_a", "a-",
            "a b", "a/%2e%2e", &long,
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"a".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn tags_and_references() {
        assert!(tag_ok("latest") && tag_ok("_x") && tag_ok("v1.0-rc_2"));
        assert!(tag_ok(&"a".repeat(128)) && !tag_ok(&"a".repeat(129)));
        assert!(!tag_ok(".x") && !tag_ok("-x") && !tag_ok("") && !tag_ok("a/b"));
        assert!(matches!(parse_reference("v1"), Ok(Reference::Tag(_))));
        let d = Digest::sha256(b"x").to_string();
        assert!(matches!(parse_reference(&d), Ok(Reference::Digest(_))));
        assert_eq!(
            parse_reference("sha256:zz").unwrap_err().code,
            Code::DigestInvalid
        );
        assert_eq!(
            parse_reference("..").unwrap_err().code,
            Code::ReferenceInvalid
        );
    }
}
