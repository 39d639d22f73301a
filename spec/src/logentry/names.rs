//! Keyed names (spec/transparency-log.md §3.2): an entry of a repository whose names are
//! not public carries `repository-id` and `tag-id`, HMAC-SHA256 values under the
//! repository's *name key*, instead of `repository` and `tag`.
//!
//! ```text
//! repository-id = HMAC-SHA256(name_key, len16("pqreg-log-repository-id/v1") || len16(origin) || len16(repository))
//! tag-id        = HMAC-SHA256(name_key, len16("pqreg-log-tag-id/v1") || len16(repository) || len16(tag))
//! ```
//!
//! `len16(x)` is `x`'s length as a big-endian u16 followed by `x`, so no two inputs share
//! an encoding; the two labels keep a repository id from ever equalling a tag id.

use aws_lc_rs::hmac;

use super::LogEntryError;

/// The label of repository ids.
pub const REPOSITORY_ID_LABEL: &str = "pqreg-log-repository-id/v1";
/// The label of tag ids.
pub const TAG_ID_LABEL: &str = "pqreg-log-tag-id/v1";
/// Bytes of a name key.
pub const NAME_KEY_LEN: usize = 32;

/// A keyed id: 32 bytes, lowercase hex on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameId(pub [u8; 32]);

impl std::fmt::Display for NameId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for NameId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NameId({self})")
    }
}

impl NameId {
    /// Parses 64 lowercase hexadecimal digits (the only spelling).
    pub fn parse(s: &str, field: &'static str) -> Result<Self, LogEntryError> {
        let ok = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let bytes = ok
            .then(|| hex::decode(s).ok())
            .flatten()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or(LogEntryError::BadNameId(field))?;
        Ok(NameId(bytes))
    }
}

/// How an entry names its repository or tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryName {
    /// The name itself (`repository <name>`, `tag <tag>`).
    Clear(String),
    /// Its keyed id (`repository-id <hex>`, `tag-id <hex>`).
    Id(NameId),
}

impl EntryName {
    /// The name, if the entry carries it in clear.
    pub fn clear(&self) -> Option<&str> {
        match self {
            EntryName::Clear(s) => Some(s),
            EntryName::Id(_) => None,
        }
    }

    /// Whether this is a keyed id.
    pub fn is_id(&self) -> bool {
        matches!(self, EntryName::Id(_))
    }
}

impl std::fmt::Display for EntryName {
    /// The name, or `id:<hex>` for a keyed id.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryName::Clear(s) => f.write_str(s),
            EntryName::Id(id) => write!(f, "id:{id}"),
        }
    }
}

impl PartialEq<str> for EntryName {
    /// Equal only to a clear name (an id never equals a string).
    fn eq(&self, other: &str) -> bool {
        self.clear() == Some(other)
    }
}

impl PartialEq<&str> for EntryName {
    fn eq(&self, other: &&str) -> bool {
        self.clear() == Some(*other)
    }
}

/// A repository's name key: 32 random bytes the registry keeps, and hands to those who
/// may pull the repository.
#[derive(Clone, PartialEq, Eq)]
pub struct NameKey(pub [u8; NAME_KEY_LEN]);

impl std::fmt::Debug for NameKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NameKey(..)")
    }
}

fn push16(out: &mut Vec<u8>, part: &str) -> Result<(), LogEntryError> {
    let len = u16::try_from(part.len()).map_err(|_| LogEntryError::TooLarge(part.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part.as_bytes());
    Ok(())
}

impl NameKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, LogEntryError> {
        let mut k = [0u8; NAME_KEY_LEN];
        aws_lc_rs::rand::fill(&mut k).map_err(|_| LogEntryError::Random)?;
        Ok(NameKey(k))
    }

    /// Parses the key's wire form (64 lowercase hex digits).
    pub fn parse(s: &str) -> Result<Self, LogEntryError> {
        NameId::parse(s, "name key").map(|id| NameKey(id.0))
    }

    /// The key's wire form (64 lowercase hex digits).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn mac(&self, parts: &[&str]) -> Result<NameId, LogEntryError> {
        let mut msg = Vec::with_capacity(parts.iter().map(|p| p.len() + 2).sum());
        for p in parts {
            push16(&mut msg, p)?;
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let tag = hmac::sign(&key, &msg);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        Ok(NameId(out))
    }

    /// The id of `repository` in the log `origin`.
    pub fn repository_id(&self, origin: &str, repository: &str) -> Result<NameId, LogEntryError> {
        self.mac(&[REPOSITORY_ID_LABEL, origin, repository])
    }

    /// The id of `tag` in `repository`.
    pub fn tag_id(&self, repository: &str, tag: &str) -> Result<NameId, LogEntryError> {
        self.mac(&[TAG_ID_LABEL, repository, tag])
    }
}

impl From<&str> for EntryName {
    /// A clear name.
    fn from(s: &str) -> Self {
        EntryName::Clear(s.to_owned())
    }
}
