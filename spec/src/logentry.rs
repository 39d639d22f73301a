//! The pqreg transparency-log entry (spec/transparency-log.md, "Entries").
//!
//! An entry is a few lines of ASCII in a fixed order, each `<field> <value>\n`:
//!
//! ```text
//! pqreg-log-entry/v1
//! kind signature | tag | tag-delete | manifest-delete
//! repository <OCI repository name> | repository-id <64 hex>
//! tag <OCI tag> | tag-id <64 hex> (optional for signature, required for tag and tag-delete,
//!                                 absent from manifest-delete)
//! manifest sha256:<hex>
//! statement sha256:<hex>         (signature entries only)
//! signer sha256:<hex>            (signature entries only: the signer's key ID)
//! time <POSIX seconds>
//! ```
//!
//! Every field has exactly one spelling (lowercase hex digests, decimal time without
//! leading zeros, no optional whitespace), and parsing refuses anything else, so one entry
//! has exactly one encoding and one leaf hash. Entries are at most [`MAX_ENTRY_BYTES`].
//!
//! An entry names its repository and tag either in clear or, for a repository whose names
//! are not public, by keyed ids ([`names`], spec/transparency-log.md §3.2); never a mix.

use crate::Digest;
use crate::keys::KeyId;
use crate::merkle::{Hash, leaf_hash};

pub mod names;

pub use names::{EntryName, NameId, NameKey};

/// The first line of every entry.
pub const ENTRY_HEADER: &str = "pqreg-log-entry/v1";
/// The largest entry accepted, in bytes.
pub const MAX_ENTRY_BYTES: usize = 1024;
/// The longest repository name accepted.
pub const MAX_REPOSITORY_LEN: usize = 255;
/// The longest tag (OCI distribution-spec: 128 characters).
pub const MAX_TAG_LEN: usize = 128;

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogEntryError {
    /// The entry is larger than [`MAX_ENTRY_BYTES`].
    #[error("entry is {0} bytes, more than {MAX_ENTRY_BYTES}")]
    TooLarge(usize),
    /// The entry is not UTF-8.
    #[error("entry is not UTF-8")]
    NotUtf8,
    /// The entry does not end in a newline.
    #[error("entry does not end in a newline")]
    MissingNewline,
    /// The first line is not [`ENTRY_HEADER`].
    #[error("entry does not start with {ENTRY_HEADER}")]
    BadHeader,
    /// A line is missing, out of order or misspelt.
    #[error("line {line}: expected field {expected:?}")]
    UnexpectedLine {
        /// 1-based line number.
        line: usize,
        /// The field expected there.
        expected: &'static str,
    },
    /// Lines follow the last field.
    #[error("line {0}: unexpected line after time")]
    TrailingData(usize),
    /// The kind is not one of `signature`, `tag`, `tag-delete`, `manifest-delete`.
    #[error("unknown entry kind {0:?}")]
    BadKind(String),
    /// A `manifest-delete` entry names a tag.
    #[error("manifest-delete entry with a tag")]
    UnexpectedTag,
    /// The repository is not an OCI repository name.
    #[error("bad repository name {0:?}")]
    BadRepository(String),
    /// The tag is not an OCI tag.
    #[error("bad tag {0:?}")]
    BadTag(String),
    /// A `tag` or `tag-delete` entry has no tag.
    #[error("tag entry without a tag")]
    MissingTag,
    /// A digest field is not `sha256:<64 lowercase hex>`.
    #[error("bad digest in field {0}")]
    BadDigest(&'static str),
    /// The time is not decimal seconds without leading zeros, up to 2^63-1.
    #[error("bad time {0:?}")]
    BadTime(String),
    /// A keyed id (or name key) is not 64 lowercase hexadecimal digits.
    #[error("bad {0}: expected 64 lowercase hexadecimal digits")]
    BadNameId(&'static str),
    /// The repository and the tag are not both clear or both keyed ids.
    #[error("the repository and the tag must both be names or both be keyed ids")]
    MixedNames,
    /// The system's random source failed (generating a name key).
    #[error("random source failed")]
    Random,
}

/// What an entry records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A publisher's signature over a model: the statement's digest and the signer's key.
    Signature {
        /// SHA-256 of the signed statement (the DSSE payload, spec/signing.md).
        statement: Digest,
        /// The signer's key ID (SHA-256 of its SPKI DER, spec/keys.md).
        signer: KeyId,
    },
    /// The registry moved a tag to a manifest (or created it).
    Tag,
    /// The registry removed a tag; `manifest` is what the tag named until then.
    TagDelete,
    /// The registry removed a manifest (its tags are logged as [`EntryKind::TagDelete`]
    /// entries just before).
    ManifestDelete,
}

impl EntryKind {
    /// The wire name of the kind (`kind <name>`).
    pub fn name(&self) -> &'static str {
        match self {
            EntryKind::Signature { .. } => "signature",
            EntryKind::Tag => "tag",
            EntryKind::TagDelete => "tag-delete",
            EntryKind::ManifestDelete => "manifest-delete",
        }
    }

    /// Whether entries of this kind must carry a tag.
    fn needs_tag(&self) -> bool {
        matches!(self, EntryKind::Tag | EntryKind::TagDelete)
    }
}

/// A log entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogEntry {
    /// What is recorded.
    pub kind: EntryKind,
    /// The repository, e.g. `acme/llama-3-8b`, or its keyed id.
    pub repository: EntryName,
    /// The tag, if any (always present for [`EntryKind::Tag`]), or its keyed id.
    pub tag: Option<EntryName>,
    /// The OCI manifest digest.
    pub manifest: Digest,
    /// When the registry accepted the entry, POSIX seconds (UTC).
    pub time: u64,
}

/// Checks an OCI repository name (distribution-spec `<name>` grammar), at most
/// [`MAX_REPOSITORY_LEN`] bytes.
pub fn check_repository(name: &str) -> Result<(), LogEntryError> {
    let bad = || LogEntryError::BadRepository(name.chars().take(300).collect());
    if name.is_empty() || name.len() > MAX_REPOSITORY_LEN {
        return Err(bad());
    }
    for component in name.split('/') {
        // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
        let b = component.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return Err(bad());
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &component[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
            if !ok {
                return Err(bad());
            }
        }
    }
    Ok(())
}

/// Checks an OCI tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), LogEntryError> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(LogEntryError::BadTag(tag.chars().take(200).collect()))
    }
}

impl LogEntry {
    /// A signature entry.
    pub fn signature(
        repository: &str,
        tag: Option<&str>,
        manifest: Digest,
        statement: Digest,
        signer: KeyId,
        time: u64,
    ) -> Result<Self, LogEntryError> {
        let e = LogEntry {
            kind: EntryKind::Signature { statement, signer },
            repository: EntryName::Clear(repository.to_owned()),
            tag: tag.map(|t| EntryName::Clear(t.to_owned())),
            manifest,
            time,
        };
        e.validate()?;
        Ok(e)
    }

    /// A tag-move entry.
    pub fn tag_move(
        repository: &str,
        tag: &str,
        manifest: Digest,
        time: u64,
    ) -> Result<Self, LogEntryError> {
        Self::for_tag(EntryKind::Tag, repository, tag, manifest, time)
    }

    /// A tag-deletion entry: `tag` named `manifest` until the registry removed it.
    pub fn tag_delete(
        repository: &str,
        tag: &str,
        manifest: Digest,
        time: u64,
    ) -> Result<Self, LogEntryError> {
        Self::for_tag(EntryKind::TagDelete, repository, tag, manifest, time)
    }

    /// An entry of a `kind` that names a tag (a move or a deletion).
    fn for_tag(
        kind: EntryKind,
        repository: &str,
        tag: &str,
        manifest: Digest,
        time: u64,
    ) -> Result<Self, LogEntryError> {
        let e = LogEntry {
            kind,
            repository: EntryName::Clear(repository.to_owned()),
            tag: Some(EntryName::Clear(tag.to_owned())),
            manifest,
            time,
        };
        e.validate()?;
        Ok(e)
    }

    /// A manifest-deletion entry.
    pub fn manifest_delete(
        repository: &str,
        manifest: Digest,
        time: u64,
    ) -> Result<Self, LogEntryError> {
        let e = LogEntry {
            kind: EntryKind::ManifestDelete,
            repository: EntryName::Clear(repository.to_owned()),
            tag: None,
            manifest,
            time,
        };
        e.validate()?;
        Ok(e)
    }

    /// Checks the field rules (the fields are public, so a caller may have changed them).
    pub fn validate(&self) -> Result<(), LogEntryError> {
        if let EntryName::Clear(r) = &self.repository {
            check_repository(r)?;
        }
        match &self.tag {
            Some(_) if self.kind == EntryKind::ManifestDelete => {
                return Err(LogEntryError::UnexpectedTag);
            }
            Some(t) if t.is_id() != self.repository.is_id() => {
                return Err(LogEntryError::MixedNames);
            }
            Some(EntryName::Clear(t)) => check_tag(t)?,
            Some(EntryName::Id(_)) => {}
            None if self.kind.needs_tag() => return Err(LogEntryError::MissingTag),
            None => {}
        }
        if self.time > i64::MAX as u64 {
            return Err(LogEntryError::BadTime(self.time.to_string()));
        }
        Ok(())
    }

    /// The canonical encoding (the bytes the leaf hash covers).
    pub fn encode(&self) -> Result<Vec<u8>, LogEntryError> {
        self.validate()?;
        let mut s = String::with_capacity(400);
        s.push_str(ENTRY_HEADER);
        s.push('\n');
        s.push_str("kind ");
        s.push_str(self.kind.name());
        s.push('\n');
        match &self.repository {
            EntryName::Clear(r) => s.push_str(&format!("repository {r}\n")),
            EntryName::Id(id) => s.push_str(&format!("repository-id {id}\n")),
        }
        match &self.tag {
            Some(EntryName::Clear(t)) => s.push_str(&format!("tag {t}\n")),
            Some(EntryName::Id(id)) => s.push_str(&format!("tag-id {id}\n")),
            None => {}
        }
        s.push_str(&format!("manifest {}\n", self.manifest));
        if let EntryKind::Signature { statement, signer } = &self.kind {
            s.push_str(&format!("statement {statement}\nsigner {signer}\n"));
        }
        s.push_str(&format!("time {}\n", self.time));
        if s.len() > MAX_ENTRY_BYTES {
            return Err(LogEntryError::TooLarge(s.len()));
        }
        Ok(s.into_bytes())
    }

    /// The RFC 9162 leaf hash of the canonical encoding.
    pub fn leaf_hash(&self) -> Result<Hash, LogEntryError> {
        Ok(leaf_hash(&self.encode()?))
    }

    /// The repository name, if the entry carries it in clear.
    pub fn repository_name(&self) -> Option<&str> {
        self.repository.clear()
    }

    /// The tag, if the entry has one and carries it in clear.
    pub fn tag_name(&self) -> Option<&str> {
        self.tag.as_ref().and_then(EntryName::clear)
    }

    /// Whether the entry names its repository and tag by keyed ids.
    pub fn is_keyed(&self) -> bool {
        self.repository.is_id()
    }

    /// The same entry with its repository and tag replaced by their keyed ids under `key`
    /// in the log `origin` (spec/transparency-log.md §3.2); an entry already keyed is
    /// returned as is.
    pub fn conceal(&self, key: &NameKey, origin: &str) -> Result<LogEntry, LogEntryError> {
        let EntryName::Clear(repository) = &self.repository else {
            return Ok(self.clone());
        };
        let tag = match &self.tag {
            Some(EntryName::Clear(t)) => Some(EntryName::Id(key.tag_id(repository, t)?)),
            Some(EntryName::Id(_)) => return Err(LogEntryError::MixedNames),
            None => None,
        };
        let e = LogEntry {
            repository: EntryName::Id(key.repository_id(origin, repository)?),
            tag,
            ..self.clone()
        };
        e.validate()?;
        Ok(e)
    }

    /// Whether the entry names `repository`: in clear, or by its id under `key` in the
    /// log `origin` (a keyed entry never matches without the key).
    pub fn names_repository(
        &self,
        repository: &str,
        key: Option<&NameKey>,
        origin: &str,
    ) -> Result<bool, LogEntryError> {
        Ok(match (&self.repository, key) {
            (EntryName::Clear(r), _) => r == repository,
            (EntryName::Id(id), Some(k)) => *id == k.repository_id(origin, repository)?,
            (EntryName::Id(_), None) => false,
        })
    }

    /// Whether the entry's tag is `tag` of `repository`: in clear, or by its id under
    /// `key` (an entry without a tag names none).
    pub fn names_tag(
        &self,
        repository: &str,
        tag: &str,
        key: Option<&NameKey>,
    ) -> Result<bool, LogEntryError> {
        Ok(match (&self.tag, key) {
            (Some(EntryName::Clear(t)), _) => t == tag,
            (Some(EntryName::Id(id)), Some(k)) => *id == k.tag_id(repository, tag)?,
            _ => false,
        })
    }

    /// Parses an entry, accepting only its canonical encoding.
    pub fn parse(bytes: &[u8]) -> Result<Self, LogEntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(LogEntryError::TooLarge(bytes.len()));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| LogEntryError::NotUtf8)?;
        let body = s.strip_suffix('\n').ok_or(LogEntryError::MissingNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines[0] != ENTRY_HEADER {
            return Err(LogEntryError::BadHeader);
        }
        let mut at = 1usize;
        let mut field =
            |name: &'static str, optional: bool| -> Result<Option<&str>, LogEntryError> {
                let value = lines
                    .get(at)
                    .and_then(|l| l.strip_prefix(name))
                    .and_then(|l| l.strip_prefix(' '));
                match value {
                    Some(v) => {
                        at += 1;
                        Ok(Some(v))
                    }
                    None if optional => Ok(None),
                    None => Err(LogEntryError::UnexpectedLine {
                        line: at + 1,
                        expected: name,
                    }),
                }
            };
        let required = |v: Option<&str>| v.unwrap_or_default().to_owned();
        let kind_s = required(field("kind", false)?);
        let bare = match kind_s.as_str() {
            "signature" => None,
            "tag" => Some(EntryKind::Tag),
            "tag-delete" => Some(EntryKind::TagDelete),
            "manifest-delete" => Some(EntryKind::ManifestDelete),
            _ => return Err(LogEntryError::BadKind(kind_s)),
        };
        // `repository <name>` or `repository-id <hex>` (then `tag-id`, never `tag`).
        let repository = match field("repository", true)? {
            Some(r) => {
                check_repository(r)?;
                EntryName::Clear(r.to_owned())
            }
            None => EntryName::Id(NameId::parse(
                field("repository-id", false)?.unwrap_or_default(),
                "repository-id",
            )?),
        };
        // A manifest-delete entry has no tag line; a tag line there is caught by
        // `validate` below (or, misspelt, as a line out of order).
        let tag_optional = bare.as_ref().is_none_or(|k| !k.needs_tag());
        let tag = if repository.is_id() {
            match field("tag-id", tag_optional)? {
                Some(t) => Some(EntryName::Id(NameId::parse(t, "tag-id")?)),
                None => None,
            }
        } else {
            match field("tag", tag_optional)? {
                Some(t) => {
                    check_tag(t)?;
                    Some(EntryName::Clear(t.to_owned()))
                }
                None => None,
            }
        };
        let digest = |v: Option<&str>, name: &'static str| -> Result<Digest, LogEntryError> {
            v.unwrap_or_default()
                .parse::<Digest>()
                .map_err(|_| LogEntryError::BadDigest(name))
        };
        let manifest = digest(field("manifest", false)?, "manifest")?;
        let kind = match bare {
            None => {
                let statement = digest(field("statement", false)?, "statement")?;
                let signer = KeyId(digest(field("signer", false)?, "signer")?);
                EntryKind::Signature { statement, signer }
            }
            Some(k) => k,
        };
        let time_s = required(field("time", false)?);
        let time_ok = !time_s.is_empty()
            && time_s.bytes().all(|b| b.is_ascii_digit())
            && (time_s == "0" || !time_s.starts_with('0'));
        let time: u64 = time_s
            .parse()
            .ok()
            .filter(|t| time_ok && *t <= i64::MAX as u64)
            .ok_or_else(|| LogEntryError::BadTime(time_s.chars().take(40).collect()))?;
        if at != lines.len() {
            return Err(LogEntryError::TrailingData(at + 1));
        }
        let e = LogEntry {
            kind,
            repository,
            tag,
            manifest,
            time,
        };
        e.validate()?;
        Ok(e)
    }
}

#[cfg(test)]
mod tests;
