//! The in-toto Statement v1 with the OpenSSF Model Signing (OMS) v1.0 predicate
//! (spec/signing.md, "The statement").
//!
//! The statement lists every plaintext file of the model (or every shard of it) with its
//! SHA-256, exactly as OMS v1.0 defines its predicate, and has one subject whose digest is
//! the OMS root digest: SHA-256 over the concatenated raw resource digests in name order.
//! pqreg adds one thing OMS tooling ignores: an annotation on that subject,
//! [`MANIFEST_ANNOTATION`], holding the OCI manifest digest, so the signature also binds
//! the ciphertext layout. The statement stays valid under the OMS v1.0 schema (subjects
//! allow extra properties) and `model_signing`'s verifier (it reads only the subject's
//! name and `sha256`), which is why pqreg does not add a second subject: both the schema
//! (`maxItems: 1`) and `model_signing` (`len(subjects) != 1`) reject that.
//!
//! Parsing is strict: unknown or duplicate fields, unsorted or duplicate resources,
//! non-canonical paths, hash algorithms other than SHA-256 and a subject digest that does
//! not match the resources are all refused, each with its own [`StatementError`].

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::dsse::SigningError;

mod binding;
pub use binding::{Binding, Expected};

/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The OMS v1.0 predicate type.
pub const OMS_PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The subject annotation that carries the OCI manifest digest (`sha256:<hex>`).
pub const MANIFEST_ANNOTATION: &str = "dev.pqreg.oci-manifest";
/// The subject annotation naming the repository (`host[:port]/path`) signed for.
pub const REPOSITORY_ANNOTATION: &str = "dev.pqreg.repository";
/// The subject annotation naming the tag signed for (absent: signed by digest only).
pub const TAG_ANNOTATION: &str = "dev.pqreg.tag";
/// The subject annotation carrying the version number (decimal), increasing per
/// repository and tag.
pub const VERSION_ANNOTATION: &str = "dev.pqreg.version";
/// The subject annotation carrying the signing time (decimal POSIX seconds).
pub const SIGNED_AT_ANNOTATION: &str = "dev.pqreg.signed-at";
/// Longest repository or tag accepted in a binding, in bytes.
pub const MAX_LOCATION_BYTES: usize = 512;
/// The only hash algorithm pqreg accepts in resources and `hash_type`.
pub const HASH_SHA256: &str = "sha256";
/// The OMS default shard size (1,000,000,000 bytes) for `shards` statements.
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;
/// Largest statement JSON accepted, in bytes (the DSSE payload limit).
pub const MAX_STATEMENT_BYTES: usize = crate::dsse::MAX_PAYLOAD_BYTES;
/// Longest resource name or subject name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 4096;

/// Why a statement was refused or did not match the content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// Not JSON of the statement's shape (syntax, missing, unknown or duplicate fields).
    #[error("statement is malformed: {0}")]
    Json(String),
    /// Larger than [`MAX_STATEMENT_BYTES`].
    #[error("statement is {0} bytes, limit {MAX_STATEMENT_BYTES}")]
    TooLarge(usize),
    /// `_type` is not [`STATEMENT_TYPE`].
    #[error("statement _type is {0:?}, expected {STATEMENT_TYPE:?}")]
    WrongStatementType(String),
    /// `predicateType` is not [`OMS_PREDICATE_TYPE`].
    #[error("predicateType is {0:?}, expected {OMS_PREDICATE_TYPE:?}")]
    WrongPredicateType(String),
    /// The statement does not have exactly one subject.
    #[error("statement has {0} subjects, OMS requires exactly 1")]
    SubjectCount(usize),
    /// The subject name is empty or too long.
    #[error("subject name is empty or longer than {MAX_NAME_BYTES} bytes")]
    BadSubjectName,
    /// A digest is not 64 lowercase hex characters (or `sha256:<hex>` where OCI form is used).
    #[error("digest of {0:?} is malformed")]
    BadDigest(String),
    /// The subject digest is not the OMS root digest of the resources.
    #[error("subject digest {signed} is not the root digest of the resources ({computed})")]
    SubjectMismatch {
        /// The digest in the subject.
        signed: Digest,
        /// The digest recomputed from the resources.
        computed: Digest,
    },
    /// A hash algorithm other than SHA-256 is named.
    #[error("hash algorithm {0:?} is not supported (only sha256)")]
    UnsupportedHash(String),
    /// The serialization block is inconsistent (unknown method, shard size rules).
    #[error("serialization is invalid: {0}")]
    BadSerialization(String),
    /// A resource name is not a canonical relative path (or `path:start:end` for shards).
    #[error("resource name {0:?} is not canonical")]
    BadResourceName(String),
    /// The resources are not sorted by name.
    #[error("resources are not sorted by name at {0:?}")]
    Unsorted(String),
    /// Two resources have the same name.
    #[error("resource {0:?} appears twice")]
    DuplicateResource(String),
    /// The shards of one file do not tile it from 0 in `shard_size` steps.
    #[error("shards of {0:?} do not cover the file contiguously")]
    BadShards(String),
    /// The resource list is empty (OMS: at least one file).
    #[error("statement lists no resources")]
    NoResources,
    /// The statement carries no OCI manifest digest (required in pqreg's statement).
    #[error("statement does not carry the OCI manifest digest ({MANIFEST_ANNOTATION})")]
    ManifestMissing,
    /// The signed OCI manifest digest is not the one pulled.
    #[error("signed manifest digest {signed} does not match the pulled manifest {pulled}")]
    ManifestMismatch {
        /// The digest in the statement.
        signed: Digest,
        /// The digest of the manifest actually pulled.
        pulled: Digest,
    },
    /// A resource in the statement has no counterpart in the content.
    #[error("signed resource {0:?} is missing from the content")]
    MissingResource(String),
    /// A file or shard in the content is not in the statement.
    #[error("resource {0:?} is not covered by the signature")]
    UnsignedResource(String),
    /// A resource's content digest differs from the signed one.
    #[error("resource {name:?} has digest {actual}, signed {signed}")]
    ResourceDigestMismatch {
        /// The resource name.
        name: String,
        /// The signed digest.
        signed: Digest,
        /// The digest of the content.
        actual: Digest,
    },
    /// The content was hashed with a different serialization than the statement's.
    #[error("content serialization ({0}) differs from the statement's")]
    MethodMismatch(&'static str),
    /// The binding annotations are incomplete or malformed (a repository, version and
    /// signing time come together; values are canonical decimals and bounded names).
    #[error("the statement's location binding is malformed: {0}")]
    BadBinding(String),
    /// The statement names no repository, tag and version (required by pull).
    #[error("the statement does not bind a repository, tag and version ({REPOSITORY_ANNOTATION})")]
    BindingMissing,
    /// The statement was signed for another repository than the one pulled from.
    #[error("signed for repository {signed:?}, pulled from {pulled:?}")]
    WrongRepository {
        /// The repository in the statement.
        signed: String,
        /// The repository pulled from.
        pulled: String,
    },
    /// The statement was signed for another tag than the one asked for.
    #[error("signed for tag {}, pulled as tag {pulled:?}", binding::shown_tag(.signed))]
    WrongTag {
        /// The tag in the statement (`None`: signed by digest only).
        signed: Option<String>,
        /// The tag asked for.
        pulled: String,
    },
    /// The version is older than one already accepted for the tag, or equal with another
    /// manifest.
    #[error(
        "version {got} ({manifest}) of this tag is not newer than version {seen} ({seen_manifest}) accepted before"
    )]
    Rollback {
        /// The version signed.
        got: u64,
        /// Its manifest.
        manifest: Digest,
        /// The newest version accepted before.
        seen: u64,
        /// Its manifest.
        seen_manifest: Digest,
    },
    /// The signature is older than the policy's `max_age`.
    #[error(
        "signed at {signed_at} (POSIX seconds), more than {max_age} seconds before now ({now})"
    )]
    Stale {
        /// The statement's signing time.
        signed_at: u64,
        /// The policy's maximum age in seconds.
        max_age: u64,
        /// The time of the check.
        now: u64,
    },
}

/// How files map to resources (OMS `serialization.method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One resource per file, named by its path.
    Files,
    /// One resource per `shard_size` byte range, named `path:start:end`; empty files are
    /// omitted.
    Shards {
        /// The shard size in bytes (> 0).
        shard_size: u64,
    },
}

/// One entry of the predicate's `resources`: a file or a shard and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resource {
    /// The path (files) or `path:start:end` (shards).
    pub name: String,
    /// SHA-256 of the file or byte range.
    pub digest: Digest,
}

/// A plaintext file as the publisher hashed it, for [`Method::Files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Canonical relative path (`/`-separated, no `.`/`..`/empty components).
    pub path: String,
    /// SHA-256 of the whole file.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// A plaintext file hashed by shards, for [`Method::Shards`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardedFile {
    /// Canonical relative path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of each range of [`shard_ranges`]`(size, shard_size)`, in order.
    pub shard_digests: Vec<Digest>,
}

/// The statement pqreg signs (and OMS verifies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The subject name (informational; OMS writes the model directory's basename).
    pub model_name: String,
    /// The OCI manifest digest the statement binds, if any.
    pub manifest: Option<Digest>,
    /// The resources, sorted by name.
    pub resources: Vec<Resource>,
    /// The serialization method.
    pub method: Method,
    /// OMS `allow_symlinks` (pqreg writes `false`).
    pub allow_symlinks: bool,
    /// OMS `ignore_paths`, written only when present.
    pub ignore_paths: Option<Vec<String>>,
    /// Repository, tag, version and signing time (§3.1), when bound.
    pub binding: Option<Binding>,
}

/// The byte ranges `[start, end)` a file of `size` bytes is cut into with `shard_size`
/// (none for an empty file, as OMS omits empty files in shard mode).
pub fn shard_ranges(size: u64, shard_size: u64) -> impl Iterator<Item = (u64, u64)> {
    let step = shard_size.max(1);
    (0..size.div_ceil(step)).map(move |i| {
        let start = i * step;
        (start, size.min(start.saturating_add(step)))
    })
}

/// The OMS root digest: SHA-256 over the raw digests of `resources` in the given order.
pub fn root_digest(resources: &[Resource]) -> Digest {
    let mut h = crate::digest::Hasher::new();
    for r in resources {
        h.update(r.digest.as_bytes());
    }
    h.finalize()
}

impl Statement {
    /// Builds a `files` statement: one resource per file, sorted by path.
    pub fn from_files(
        model_name: &str,
        files: &[FileEntry],
        manifest: Option<Digest>,
    ) -> Result<Self, SigningError> {
        let resources = files_to_resources(files)?;
        Self::assemble(model_name, resources, Method::Files, manifest)
    }

    /// Builds a `shards` statement: one resource per shard, named `path:start:end`.
    pub fn from_shards(
        model_name: &str,
        shard_size: u64,
        files: &[ShardedFile],
        manifest: Option<Digest>,
    ) -> Result<Self, SigningError> {
        let resources = shards_to_resources(shard_size, files)?;
        Self::assemble(
            model_name,
            resources,
            Method::Shards { shard_size },
            manifest,
        )
    }

    fn assemble(
        model_name: &str,
        mut resources: Vec<Resource>,
        method: Method,
        manifest: Option<Digest>,
    ) -> Result<Self, SigningError> {
        resources.sort();
        let s = Self {
            model_name: model_name.to_owned(),
            manifest,
            resources,
            method,
            allow_symlinks: false,
            ignore_paths: None,
            binding: None,
        };
        s.validate()?;
        Ok(s)
    }

    /// The subject digest: the OMS root digest of the resources.
    pub fn subject_digest(&self) -> Digest {
        root_digest(&self.resources)
    }

    /// The JSON payload to sign (compact; field order as in spec/signing.md).
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing owned strings cannot fail.
        serde_json::to_vec(&self.to_wire()).unwrap_or_default()
    }

    /// Parses and validates a statement (see the module docs for what is refused).
    pub fn from_json(json: &[u8]) -> Result<Self, SigningError> {
        if json.len() > MAX_STATEMENT_BYTES {
            return Err(StatementError::TooLarge(json.len()).into());
        }
        // First pass: the envelope of the statement, so a wrong type is reported as such
        // rather than as a shape error in a predicate we do not know.
        let head: WireHead = serde_json::from_slice(json).map_err(json_err)?;
        if head.type_ != STATEMENT_TYPE {
            return Err(StatementError::WrongStatementType(head.type_).into());
        }
        if head.predicate_type != OMS_PREDICATE_TYPE {
            return Err(StatementError::WrongPredicateType(head.predicate_type).into());
        }
        let wire: WireStatement = serde_json::from_slice(json).map_err(json_err)?;
        Ok(Self::from_wire(wire)?)
    }

    /// Checks that the statement binds `pulled`, the digest of the OCI manifest pulled.
    pub fn check_manifest(&self, pulled: &Digest) -> Result<(), SigningError> {
        match self.manifest {
            None => Err(StatementError::ManifestMissing.into()),
            Some(signed) if signed != *pulled => Err(StatementError::ManifestMismatch {
                signed,
                pulled: *pulled,
            }
            .into()),
            Some(_) => Ok(()),
        }
    }

    /// Checks a `files` statement against the files actually obtained.
    pub fn check_files(&self, files: &[FileEntry]) -> Result<(), SigningError> {
        if self.method != Method::Files {
            return Err(StatementError::MethodMismatch("files").into());
        }
        self.check_resources(&files_to_resources(files)?)
    }

    /// Checks a `shards` statement against the shard digests actually obtained.
    pub fn check_shards(&self, files: &[ShardedFile]) -> Result<(), SigningError> {
        let Method::Shards { shard_size } = self.method else {
            return Err(StatementError::MethodMismatch("shards").into());
        };
        self.check_resources(&shards_to_resources(shard_size, files)?)
    }

    /// Compares the signed resources with `actual`, in any order: every signed resource
    /// must be present with the same digest, and nothing else may be present.
    pub fn check_resources(&self, actual: &[Resource]) -> Result<(), SigningError> {
        let mut have: BTreeMap<&str, &Digest> = BTreeMap::new();
        for r in actual {
            if have.insert(&r.name, &r.digest).is_some() {
                return Err(StatementError::DuplicateResource(r.name.clone()).into());
            }
        }
        for r in &self.resources {
            match have.remove(r.name.as_str()) {
                None => return Err(StatementError::MissingResource(r.name.clone()).into()),
                Some(d) if *d != r.digest => {
                    return Err(StatementError::ResourceDigestMismatch {
                        name: r.name.clone(),
                        signed: r.digest,
                        actual: *d,
                    }
                    .into());
                }
                Some(_) => {}
            }
        }
        if let Some((name, _)) = have.into_iter().next() {
            return Err(StatementError::UnsignedResource(name.to_owned()).into());
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), StatementError> {
        if self.model_name.is_empty() || self.model_name.len() > MAX_NAME_BYTES {
            return Err(StatementError::BadSubjectName);
        }
        if self.resources.is_empty() {
            return Err(StatementError::NoResources);
        }
        if let Method::Shards { shard_size: 0 } = self.method {
            return Err(StatementError::BadSerialization(
                "shard_size must be > 0".into(),
            ));
        }
        for pair in self.resources.windows(2) {
            match pair[0].name.cmp(&pair[1].name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    return Err(StatementError::DuplicateResource(pair[1].name.clone()));
                }
                std::cmp::Ordering::Greater => {
                    return Err(StatementError::Unsorted(pair[1].name.clone()));
                }
            }
        }
        match self.method {
            Method::Files => {
                for r in &self.resources {
                    check_path(&r.name)?;
                }
            }
            Method::Shards { shard_size } => check_shard_tiling(&self.resources, shard_size)?,
        }
        Ok(())
    }

    fn from_wire(w: WireStatement) -> Result<Self, StatementError> {
        if w.subject.len() != 1 {
            return Err(StatementError::SubjectCount(w.subject.len()));
        }
        let subject = w
            .subject
            .into_iter()
            .next()
            .ok_or(StatementError::SubjectCount(0))?;
        let signed_root = Digest::from_hex(&subject.digest.sha256)
            .map_err(|_| StatementError::BadDigest(subject.name.clone()))?;
        let (manifest, binding) = match subject.annotations {
            None => (None, None),
            Some(a) => {
                let binding = binding_from_wire(&a)?;
                (a.oci_manifest, binding)
            }
        };
        let s = &w.predicate.serialization;
        if s.hash_type != HASH_SHA256 {
            return Err(StatementError::UnsupportedHash(s.hash_type.clone()));
        }
        let method = match (s.method.as_str(), s.shard_size) {
            ("files", None) => Method::Files,
            ("files", Some(_)) => {
                return Err(StatementError::BadSerialization(
                    "shard_size must be absent for files".into(),
                ));
            }
            ("shards", Some(shard_size)) => Method::Shards { shard_size },
            ("shards", None) => {
                return Err(StatementError::BadSerialization(
                    "shard_size is required for shards".into(),
                ));
            }
            (other, _) => {
                return Err(StatementError::BadSerialization(format!(
                    "unknown method {other:?}"
                )));
            }
        };
        let mut resources = Vec::with_capacity(w.predicate.resources.len());
        for r in w.predicate.resources {
            if r.algorithm != HASH_SHA256 {
                return Err(StatementError::UnsupportedHash(r.algorithm));
            }
            let digest = Digest::from_hex(&r.digest)
                .map_err(|_| StatementError::BadDigest(r.name.clone()))?;
            resources.push(Resource {
                name: r.name,
                digest,
            });
        }
        let st = Self {
            model_name: subject.name,
            manifest,
            resources,
            method,
            allow_symlinks: w.predicate.serialization.allow_symlinks,
            ignore_paths: w.predicate.serialization.ignore_paths,
            binding,
        };
        st.validate()?;
        if let Some(b) = &st.binding {
            b.validate()?;
        }
        let computed = st.subject_digest();
        if computed != signed_root {
            return Err(StatementError::SubjectMismatch {
                signed: signed_root,
                computed,
            });
        }
        Ok(st)
    }

    fn to_wire(&self) -> WireStatement {
        let (method, shard_size) = match self.method {
            Method::Files => ("files", None),
            Method::Shards { shard_size } => ("shards", Some(shard_size)),
        };
        WireStatement {
            type_: STATEMENT_TYPE.to_owned(),
            subject: vec![WireSubject {
                name: self.model_name.clone(),
                digest: WireDigestSet {
                    sha256: self.subject_digest().hex(),
                },
                annotations: self.wire_annotations(),
            }],
            predicate_type: OMS_PREDICATE_TYPE.to_owned(),
            predicate: WirePredicate {
                resources: self
                    .resources
                    .iter()
                    .map(|r| WireResource {
                        name: r.name.clone(),
                        algorithm: HASH_SHA256.to_owned(),
                        digest: r.digest.hex(),
                    })
                    .collect(),
                serialization: WireSerialization {
                    method: method.to_owned(),
                    hash_type: HASH_SHA256.to_owned(),
                    shard_size,
                    allow_symlinks: self.allow_symlinks,
                    ignore_paths: self.ignore_paths.clone(),
                },
            },
        }
    }
}

impl Statement {
    fn wire_annotations(&self) -> Option<WireAnnotations> {
        if self.manifest.is_none() && self.binding.is_none() {
            return None;
        }
        let b = self.binding.as_ref();
        Some(WireAnnotations {
            oci_manifest: self.manifest,
            repository: b.map(|b| b.repository.clone()),
            tag: b.and_then(|b| b.tag.clone()),
            version: b.map(|b| b.version.to_string()),
            signed_at: b.map(|b| b.signed_at.to_string()),
        })
    }
}

/// The binding of the subject's annotations: none, or repository, version and signing
/// time together (tag optional), the numbers as canonical decimals.
fn binding_from_wire(a: &WireAnnotations) -> Result<Option<Binding>, StatementError> {
    let bad = |what: &str| StatementError::BadBinding(what.to_owned());
    match (&a.repository, &a.version, &a.signed_at) {
        (None, None, None) if a.tag.is_none() => Ok(None),
        (Some(repository), Some(version), Some(signed_at)) => Ok(Some(Binding {
            repository: repository.clone(),
            tag: a.tag.clone(),
            version: parse_decimal(version).ok_or_else(|| bad("version"))?,
            signed_at: parse_decimal(signed_at).ok_or_else(|| bad("signed-at"))?,
        })),
        _ => Err(bad(
            "repository, version and signed-at must be present together",
        )),
    }
}

fn json_err(e: serde_json::Error) -> StatementError {
    StatementError::Json(e.to_string())
}

fn files_to_resources(files: &[FileEntry]) -> Result<Vec<Resource>, StatementError> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        check_path(&f.path)?;
        out.push(Resource {
            name: f.path.clone(),
            digest: f.digest,
        });
    }
    Ok(out)
}

fn shards_to_resources(
    shard_size: u64,
    files: &[ShardedFile],
) -> Result<Vec<Resource>, StatementError> {
    if shard_size == 0 {
        return Err(StatementError::BadSerialization(
            "shard_size must be > 0".into(),
        ));
    }
    let mut out = Vec::new();
    for f in files {
        check_path(&f.path)?;
        let ranges: Vec<_> = shard_ranges(f.size, shard_size).collect();
        if ranges.len() != f.shard_digests.len() {
            return Err(StatementError::BadShards(f.path.clone()));
        }
        for ((start, end), digest) in ranges.into_iter().zip(&f.shard_digests) {
            out.push(Resource {
                name: format!("{}:{start}:{end}", f.path),
                digest: *digest,
            });
        }
    }
    Ok(out)
}

/// OMS path canonicalization (spec section 6.1.2): relative, `/`-separated, no empty,
/// `.` or `..` components, no trailing `/`, no NUL or backslash.
fn check_path(path: &str) -> Result<(), StatementError> {
    let bad = path.is_empty()
        || path.len() > MAX_NAME_BYTES
        || path.contains(['\0', '\\'])
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        Err(StatementError::BadResourceName(path.to_owned()))
    } else {
        Ok(())
    }
}

/// Splits `path:start:end` at the last two colons (paths may contain colons).
fn split_shard_name(name: &str) -> Option<(&str, u64, u64)> {
    let (rest, end) = name.rsplit_once(':')?;
    let (path, start) = rest.rsplit_once(':')?;
    Some((path, parse_decimal(start)?, parse_decimal(end)?))
}

fn parse_decimal(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

fn check_shard_tiling(resources: &[Resource], shard_size: u64) -> Result<(), StatementError> {
    let mut per_file: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for r in resources {
        let (path, start, end) = split_shard_name(&r.name)
            .ok_or_else(|| StatementError::BadResourceName(r.name.clone()))?;
        check_path(path)?;
        per_file.entry(path).or_default().push((start, end));
    }
    for (path, mut ranges) in per_file {
        ranges.sort_unstable();
        let last = ranges.len() - 1;
        for (i, &(start, end)) in ranges.iter().enumerate() {
            let len = end.saturating_sub(start);
            let ok = start == i as u64 * shard_size
                && len > 0
                && (len == shard_size || (i == last && len < shard_size));
            if !ok {
                return Err(StatementError::BadShards(path.to_owned()));
            }
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct WireHead {
    #[serde(rename = "_type")]
    type_: String,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[allow(dead_code)]
    subject: IgnoredAny,
    #[allow(dead_code)]
    predicate: IgnoredAny,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireStatement {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<WireSubject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    predicate: WirePredicate,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSubject {
    name: String,
    digest: WireDigestSet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<WireAnnotations>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireDigestSet {
    sha256: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireAnnotations {
    #[serde(
        rename = "dev.pqreg.oci-manifest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    oci_manifest: Option<Digest>,
    #[serde(
        rename = "dev.pqreg.repository",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    repository: Option<String>,
    #[serde(
        rename = "dev.pqreg.tag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    tag: Option<String>,
    #[serde(
        rename = "dev.pqreg.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    version: Option<String>,
    #[serde(
        rename = "dev.pqreg.signed-at",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    signed_at: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePredicate {
    resources: Vec<WireResource>,
    serialization: WireSerialization,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireResource {
    name: String,
    algorithm: String,
    digest: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSerialization {
    method: String,
    hash_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard_size: Option<u64>,
    allow_symlinks: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ignore_paths: Option<Vec<String>>,
}
