//! Unpacking: verify a model from a [`BlobSource`] and write it to a directory that
//! appears only when everything verified (spec/signing.md section 7; DESIGN.md "Verify
//! before load").
//!
//! ```text
//!   1  manifest bytes hash to the digest asked for                          exit 10
//!   2  manifest is a pqreg model manifest                                   exit 1
//!   3  an ML-DSA bundle among the referrers; referrer and bundle digests    11 / 10
//!   4-5 DSSE signature with the policy's (and keyring's) keys; the policy
//!      authorizes the signer for the repository                            11 / 12
//!   6  log entry, through the LogVerifier (when the policy requires it)   13
//!   7  statement's manifest annotation = this manifest                      10 / 11
//!   -  config and index blobs against their descriptors                     10
//!   8  key envelope opened with the identity, secret checked against its
//!      commitment; index decrypted under the index key                     14
//!   -  index files = statement resources                                    10
//!   8  every chunk layer streamed under its index key: layer digest, segment
//!      tags, length, and the plaintext's SHA-256 = the index's chunk digest 10 / 14
//!   9  index files = statement resources (above); with `verify_plaintext`,
//!      every staged file hashed (in order, as its chunks land) against the
//!      index                                                               10
//!   -  fsync files and directories; rename the staging dir to out_dir
//! ```
//!
//! Every chunk's plaintext is hashed against its index digest (on the worker that decrypts
//! it): a chunk key is in the hands of every recipient, so the segment tags alone do not
//! pin a chunk's plaintext against a recipient turned attacker (spec/encryption.md §9).
//! With `verify_plaintext` the written files are also hashed whole against the index;
//! [`UnpackReport::plaintext_hashed`] says whether that was done.
//!
//! Files are staged in `out_dir.parent()/.<name>.pqreg-partial-<random>/tree/` (or
//! `out_dir/.pqreg-partial-<random>/tree/` when `out_dir` is an existing empty directory;
//! the staging directory is 0700 and locked while the pull runs) and removed on any failure (a
//! guard deletes them when the function returns early or panics), on SIGINT, SIGTERM and
//! SIGHUP ([`remove_staging_dirs`], called by the `pqreg` binary), and, after a SIGKILL, by
//! the next pull of the same output (stage.rs).

mod audit;
mod fetch;
mod follow;
mod select;
mod source;
mod stage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use pqreg_spec::Digest;
use pqreg_spec::artifact::{Config, Index, MAX_CONFIG_LEN, MAX_INDEX_LEN, ModelManifest};
use pqreg_spec::bundle::referrer::{ReferrerManifest, bundle_algorithm};
use pqreg_spec::bundle::verify::verify_signature;
use pqreg_spec::bundle::{MAX_BUNDLE_BYTES, TlogEntry};
use pqreg_spec::dsse::Verifier;
use pqreg_spec::envelope::ContentSecret;
use pqreg_spec::keys::{KeyId, RecipientPrivateKey, SignatureAlgorithm, VerifyingKey};
use pqreg_spec::oci::{Descriptor, media_types};
use pqreg_spec::policy::Policy;
use pqreg_spec::segment::{ChunkKey, SegmentError};
use pqreg_spec::statement::{Binding, Expected, FileEntry, Method};

use crate::Error;

pub use audit::{AuditReport, audit_model};
pub(crate) use fetch::read_small;
pub use select::FileSelection;
pub use source::read_regular;
pub use source::{BlobSource, DirSource, MAX_LAYOUT_FILE};
pub use stage::remove_staging_dirs;

/// Why unpacking failed; [`UnpackError::exit_code`] names the failed check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// Local I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The path (or blob digest).
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The output path exists and is not a directory (or is a symlink).
    #[error("{0} already exists; pull into a new or an empty directory")]
    OutputExists(PathBuf),
    /// The output directory exists and is not empty.
    #[error("{dir} is not empty (it holds {entry}); pull into a new or an empty directory")]
    OutputNotEmpty {
        /// The output directory.
        dir: PathBuf,
        /// One of its entries.
        entry: String,
    },
    /// The output directory's parent does not exist.
    #[error(
        "cannot pull into {out}: its parent directory {parent} does not exist; create it first"
    )]
    NoParent {
        /// The output path as given.
        out: PathBuf,
        /// Its parent.
        parent: PathBuf,
    },
    /// The output directory exists and belongs to another user than the one pulling (and
    /// not to root): its owner could replace the verified files once they are in it.
    #[error(
        "{dir} belongs to uid {owner}, not to you (uid {me}) or root; its owner could replace the model after it is verified: pull into a directory you own"
    )]
    OutputNotOwned {
        /// The output directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of the pull.
        me: u32,
    },
    /// The output path has no parent directory or no name.
    #[error("{0} cannot be an output directory")]
    BadOutput(PathBuf),
    /// A blob or manifest is larger than pqreg accepts for its kind.
    #[error("{what} of {size} bytes exceeds the limit")]
    TooLarge {
        /// What it is.
        what: &'static str,
        /// Its size.
        size: u64,
    },
    /// The manifest's bytes do not hash to the digest requested.
    #[error("manifest digest mismatch: expected {expected}, got {actual}")]
    ManifestDigest {
        /// Requested.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// A blob does not hash to its descriptor's digest.
    #[error("{what} blob digest mismatch: expected {expected}, got {actual}")]
    BlobDigest {
        /// What it is (config, index, chunk, bundle).
        what: &'static str,
        /// The descriptor's digest.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// A blob's length differs from its descriptor's size.
    #[error("{what} blob {digest} is {actual} bytes, the manifest says {expected}")]
    BlobSize {
        /// What it is.
        what: &'static str,
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// Bytes read (at most one more than expected).
        actual: u64,
    },
    /// No ML-DSA signature bundle refers to the manifest.
    #[error("no ML-DSA signature bundle refers to {0}")]
    NoSignature(Digest),
    /// The signature needs a log check and no log verifier is configured.
    #[error(
        "the trust policy requires a transparency-log proof and this client cannot verify one yet"
    )]
    LogUnverified,
    /// The model is encrypted and no identity was given.
    #[error("the model is encrypted to {}; pass an identity (recipient private key)", key_list(.0))]
    NoIdentity(Vec<KeyId>),
    /// A segment of a blob failed to open (tag, truncation, framing, decoding).
    #[error("{what} {digest}: {source}")]
    Decrypt {
        /// What it is (index, chunk).
        what: &'static str,
        /// The blob.
        digest: Digest,
        /// The segment error.
        source: SegmentError,
    },
    /// A decrypted chunk has another length than the index says.
    #[error("chunk {chunk} decrypted to {actual} bytes, the index says {expected}")]
    ChunkLength {
        /// The chunk.
        chunk: Digest,
        /// Index length.
        expected: u64,
        /// Decrypted bytes (so far).
        actual: u64,
    },
    /// A decrypted chunk does not hash to its index digest: bytes sealed under the
    /// chunk's key by someone else than the signer (every recipient holds the key).
    #[error("chunk {expected} decrypted to content with digest {actual}")]
    ChunkDigest {
        /// From the index.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// A byte of a chunk's size padding is not zero (spec/encryption.md §6.5).
    #[error(
        "chunk {chunk}: padding byte at {offset} is not zero: do not use the model, and report it to the publisher"
    )]
    ChunkPadding {
        /// The chunk.
        chunk: Digest,
        /// Offset of the byte in the sealed plaintext.
        offset: u64,
    },
    /// A written file does not hash to its index digest.
    #[error("{path}: content digest {actual}, index says {expected}")]
    FileDigest {
        /// The file.
        path: String,
        /// From the index.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// `--oms-signature`: no ECDSA P-256 (classical OMS) bundle refers to the manifest.
    #[error(
        "no classical (ECDSA P-256) OMS bundle refers to {0}; the publisher pushed without --classic-sign-key"
    )]
    NoClassicSignature(Digest),
    /// The classical bundle signs another statement than the ML-DSA bundle that verified.
    #[error(
        "the classical OMS bundle of {0} signs a different statement than the verified ML-DSA bundle"
    )]
    ClassicStatementMismatch(Digest),
    /// The statement is signed per shard; this client checks `files` statements only.
    #[error("the statement uses serialization method shards, which pull does not check yet")]
    UnsupportedMethod,
    /// An `--include`/`--exclude` glob does not parse.
    #[error("{glob:?} is not a valid glob: {reason}")]
    BadGlob {
        /// The glob.
        glob: String,
        /// Why.
        reason: String,
    },
    /// `--include`/`--exclude` left no file of the model.
    #[error("{0} selects none of the model's files")]
    NothingSelected(String),
    /// The output's file system has less free space than the files to write.
    #[error(
        "the model needs {needed} bytes and the file system of {dir} has {available} free; nothing was written"
    )]
    NoSpace {
        /// Where the files would have been written.
        dir: PathBuf,
        /// Bytes the selected files take.
        needed: u64,
        /// Free bytes for this user.
        available: u64,
    },
}

impl UnpackError {
    /// The exit code of this failure (spec/signing.md section 8).
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        use crate::exit;
        match self {
            UnpackError::OutputExists(_) | UnpackError::OutputNotEmpty { .. } => {
                exit::ALREADY_EXISTS
            }
            UnpackError::Io { .. }
            | UnpackError::NoParent { .. }
            | UnpackError::OutputNotOwned { .. }
            | UnpackError::BadOutput(_)
            | UnpackError::TooLarge { .. }
            | UnpackError::UnsupportedMethod => exit::ERROR,
            UnpackError::BadGlob { .. } | UnpackError::NothingSelected(_) => exit::USAGE,
            UnpackError::NoSpace { .. } => exit::NO_SPACE,
            UnpackError::ManifestDigest { .. }
            | UnpackError::BlobDigest { .. }
            | UnpackError::BlobSize { .. }
            | UnpackError::ChunkLength { .. }
            | UnpackError::ChunkDigest { .. }
            | UnpackError::ChunkPadding { .. }
            | UnpackError::FileDigest { .. } => exit::DIGEST_MISMATCH,
            UnpackError::NoSignature(_)
            | UnpackError::NoClassicSignature(_)
            | UnpackError::ClassicStatementMismatch(_) => exit::BAD_SIGNATURE,
            UnpackError::LogUnverified => exit::LOG_PROOF,
            UnpackError::NoIdentity(_) | UnpackError::Decrypt { .. } => exit::DECRYPTION,
        }
    }
}

/// What a log verifier checks (spec/signing.md step 6).
#[derive(Debug)]
pub struct LogContext<'r> {
    /// The repository pulled from.
    pub repository: &'r str,
    /// The manifest digest.
    pub manifest_digest: Digest,
    /// SHA-256 of the statement (DSSE payload).
    pub statement_digest: Digest,
    /// The key that verified the signature.
    pub key_id: KeyId,
}

/// Verifies a bundle's log entry: the log client implements it.
pub trait LogVerifier: Sync {
    /// Checks `entry` (body, inclusion proof, checkpoint, consistency) for `ctx`;
    /// `Ok(false)`: not checked, which the verifier may answer only when the policy does
    /// not require the log for the repository (e.g. the log is not configured).
    fn verify(&self, entry: &TlogEntry, ctx: &LogContext<'_>) -> Result<bool, Error>;
}

/// How to verify and where keys come from.
pub struct UnpackOptions<'a> {
    /// The repository, `host[:port]/path`, as the trust policy matches it.
    pub repository: String,
    /// The trust policy.
    pub policy: &'a Policy,
    /// Public keys the policy names by ID only (the client's keyring).
    pub keyring: &'a [VerifyingKey],
    /// The recipient private key, for encrypted models.
    pub identity: Option<&'a RecipientPrivateKey>,
    /// Verifies log entries; `None`: a policy that requires the log fails (exit 13).
    pub log_verifier: Option<&'a dyn LogVerifier>,
    /// Worker threads for chunk layers.
    pub threads: usize,
    /// Also hash every written file against its index digest (spec/signing.md §7 step
    /// 9, `--verify-plaintext`).
    pub verify_plaintext: bool,
    /// What the statement's binding must say (spec/signing.md §3.1, §7 step 7): by
    /// default the repository pulled from (or a policy mirror's), any tag, no rollback
    /// or age check. A bundle whose binding does not match is passed over for the next.
    pub expected: Expected<'a>,
    /// `pull --oms-signature`: the statement digest of the classical bundle
    /// ([`crate::oms::ClassicBundle::statement_digest`]), which must equal the verified
    /// ML-DSA statement's; checked before any chunk is fetched, so a mismatch writes
    /// nothing.
    pub classic_statement: Option<Digest>,
    /// Receives the bytes fetched and verified, per phase (`None`: nothing reported).
    pub progress: Option<&'a dyn crate::progress::Progress>,
    /// `pull --include/--exclude`: the files to write (default all). Applied after the
    /// whole index is verified against the statement; only the selected files' chunks
    /// are fetched.
    pub select: FileSelection,
}

impl<'a> UnpackOptions<'a> {
    /// Options with no keyring, identity or log verifier, and 2 threads.
    pub fn new(repository: impl Into<String>, policy: &'a Policy) -> Self {
        let repository = repository.into();
        UnpackOptions {
            expected: Expected {
                repositories: policy.signed_repositories(&repository),
                ..Expected::default()
            },
            repository,
            policy,
            keyring: &[],
            identity: None,
            log_verifier: None,
            threads: 2,
            verify_plaintext: false,
            classic_statement: None,
            progress: None,
            select: FileSelection::default(),
        }
    }
}

/// What was verified and written.
#[derive(Debug, Clone)]
pub struct UnpackReport {
    /// The manifest digest.
    pub manifest_digest: Digest,
    /// The signer's key ID.
    pub signer: KeyId,
    /// Its algorithm.
    pub algorithm: SignatureAlgorithm,
    /// Whether a log entry was verified.
    pub log_verified: bool,
    /// Whether the model was encrypted.
    pub encrypted: bool,
    /// Whether every written file was hashed against its index digest
    /// ([`UnpackOptions::verify_plaintext`]).
    pub plaintext_hashed: bool,
    /// Files written.
    pub files: usize,
    /// Plaintext bytes written.
    pub bytes: u64,
    /// Blob bytes read (manifest, config, index, chunk layers, bundle).
    pub blob_bytes: u64,
    /// The statement's subject name.
    pub model_name: String,
    /// SHA-256 of the verified statement (the ML-DSA bundle's DSSE payload).
    pub statement_digest: Digest,
    /// The statement's repository, tag, version and signing time (checked against
    /// [`UnpackOptions::expected`]).
    pub binding: Binding,
}

/// Key IDs as a reader wants them: `sha256:…, sha256:…` (not `[KeyId(sha256:…)]`).
fn key_list(ids: &[KeyId]) -> String {
    if ids.is_empty() {
        return "no recipient".to_owned();
    }
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The model's config, decrypted index and content secret, checked against the manifest
/// but NOT against a signature: what a publisher reads from its own previous version to
/// reuse its chunks ([`crate::pack::PackOptions::previous`]).
pub fn read_index<S: BlobSource>(
    source: &S,
    manifest_digest: &Digest,
    identity: Option<&RecipientPrivateKey>,
) -> Result<(Config, Index, Option<ContentSecret>), Error> {
    let (model, _) = fetch_manifest(source, manifest_digest)?;
    let (config, index, secret, _) = open_index(source, &model, identity)?;
    Ok((config, index, secret))
}

fn fetch_manifest<S: BlobSource>(
    source: &S,
    digest: &Digest,
) -> Result<(ModelManifest, u64), Error> {
    let bytes = source.get_manifest(digest)?;
    let actual = Digest::sha256(&bytes);
    if actual != *digest {
        return Err(UnpackError::ManifestDigest {
            expected: *digest,
            actual,
        }
        .into());
    }
    let model = ModelManifest::from_json(&bytes).map_err(|e| Error::Spec(e.into()))?;
    Ok((model, bytes.len() as u64))
}

fn open_index<S: BlobSource>(
    source: &S,
    model: &ModelManifest,
    identity: Option<&RecipientPrivateKey>,
) -> Result<(Config, Index, Option<ContentSecret>, u64), Error> {
    let config_bytes = fetch::read_small(source, "config", model.config(), MAX_CONFIG_LEN as u64)?;
    let config = Config::from_json(&config_bytes).map_err(|e| Error::Spec(e.into()))?;
    model
        .check_config(&config)
        .map_err(|e| Error::Spec(e.into()))?;
    let layer = model.index_layer();
    // Sealed records add at most 22 bytes per MiB.
    let max = MAX_INDEX_LEN as u64 + 22 * (MAX_INDEX_LEN as u64 >> 20) + 22;
    let blob = fetch::read_small(source, "index", layer, max)?;
    let secret = match &config.key_envelope {
        None => None,
        Some(env) => {
            let Some(id) = identity else {
                return Err(UnpackError::NoIdentity(env.key_ids().copied().collect()).into());
            };
            Some(env.open(id).map_err(|e| Error::Spec(e.into()))?)
        }
    };
    // The index holds every chunk key: its plaintext is zeroized once parsed. Its AEAD
    // under the committed secret's index key is what binds it to the signed manifest.
    let index_json = match &secret {
        Some(s) => fetch::open_small("index", layer, &blob, Some(ChunkKey::index_key(s)))?,
        None => zeroize::Zeroizing::new(blob),
    };
    let index = Index::from_json(&index_json).map_err(|e| Error::Spec(e.into()))?;
    model
        .check_index(&index)
        .map_err(|e| Error::Spec(e.into()))?;
    let read = config_bytes.len() as u64 + layer.size;
    Ok((config, index, secret, read))
}

/// Most referrers a model's list may have (a longer list is refused, not walked).
pub const MAX_REFERRERS: usize = 1024;
/// Most ML-DSA bundles fetched and tried for one manifest: each may be up to
/// [`MAX_BUNDLE_BYTES`], so a registry listing many cannot make a pull read without end.
pub const MAX_BUNDLES_TRIED: usize = 8;

/// The bundle of the first ML-DSA referrer that verifies, with what it established.
fn find_signature<S: BlobSource>(
    source: &S,
    manifest_digest: &Digest,
    opts: &UnpackOptions<'_>,
) -> Result<(pqreg_spec::bundle::verify::VerifiedSignature, u64), Error> {
    let referrers = source.referrers(manifest_digest)?;
    if referrers.len() > MAX_REFERRERS {
        return Err(UnpackError::TooLarge {
            what: "referrers list (entries)",
            size: referrers.len() as u64,
        }
        .into());
    }
    // ML-DSA bundles first, then classical ones: whether a classical key may sign is the
    // policy's decision (`min_algorithm`, step 5), not the unauthenticated annotation's.
    let bundles = referrers
        .iter()
        .filter_map(|r| bundle_algorithm(r).map(|a| (r, a)));
    // Pulled by tag, those announcing that tag first (spec/signing.md §5): a version
    // re-signed for many tags has more bundles than are tried, and the order of the
    // referrers list is the registry's. The announcement only orders; it is not checked.
    let hinted = |r: &&Descriptor| {
        opts.expected.tag.is_some()
            && pqreg_spec::bundle::referrer::bundle_tag(r) == opts.expected.tag
    };
    let ml_dsa = bundles
        .clone()
        .filter(|(_, a)| a.is_ml_dsa())
        .map(|(r, _)| r);
    let (ml_dsa_hinted, ml_dsa_rest): (Vec<_>, Vec<_>) = ml_dsa.partition(hinted);
    let classical = bundles.filter(|(_, a)| !a.is_ml_dsa()).map(|(r, _)| r);
    let (classical_hinted, classical_rest): (Vec<_>, Vec<_>) = classical.partition(hinted);
    let mut first_err: Option<Error> = None;
    let order = ml_dsa_hinted
        .into_iter()
        .chain(ml_dsa_rest)
        .chain(classical_hinted)
        .chain(classical_rest);
    for r in order.take(MAX_BUNDLES_TRIED) {
        match verify_one(source, manifest_digest, r, opts) {
            Ok(v) => return Ok(v),
            Err(e) => {
                // The first failure is reported, unless a later one says more (see
                // `telling`): the order is the registry's, so it must not decide what
                // the user is told.
                if first_err.as_ref().is_none_or(|f| telling(&e) > telling(f)) {
                    first_err = Some(e);
                }
            }
        }
    }
    Err(first_err.unwrap_or_else(|| UnpackError::NoSignature(*manifest_digest).into()))
}

/// How much a bundle's failure tells about the pull (spec/signing.md §7, after the
/// table): a trusted signature for exactly this repository and tag that is older than
/// what was seen or than `max_age` (16, 17) most; then a key the policy lists but does not
/// allow (`WeakAlgorithm`); then anything else; a key the policy does not list at all
/// least (anyone can add such a bundle).
fn telling(e: &Error) -> u8 {
    use pqreg_spec::dsse::SigningError;
    use pqreg_spec::statement::StatementError;
    if matches!(
        e,
        Error::Spec(pqreg_spec::Error::Signing(SigningError::Statement(
            StatementError::Rollback { .. } | StatementError::Stale { .. }
        )))
    ) {
        3
    } else if weak_algorithm(e) {
        2
    } else if unknown_signer(e) {
        0
    } else {
        1
    }
}

/// The signature verified under no key the policy (or keyring) lists.
fn unknown_signer(e: &Error) -> bool {
    use pqreg_spec::dsse::{DsseError, SigningError};
    matches!(
        e,
        Error::Spec(pqreg_spec::Error::Signing(SigningError::Dsse(
            DsseError::UnknownSigner(_) | DsseError::NoAcceptedKeys
        )))
    )
}

/// The key is listed, but below the policy's `min_algorithm`.
fn weak_algorithm(e: &Error) -> bool {
    use pqreg_spec::dsse::SigningError;
    use pqreg_spec::policy::PolicyError;
    matches!(
        e,
        Error::Spec(pqreg_spec::Error::Signing(SigningError::Policy(
            PolicyError::WeakAlgorithm { .. }
        )))
    )
}

fn verify_one<S: BlobSource>(
    source: &S,
    manifest_digest: &Digest,
    r: &Descriptor,
    opts: &UnpackOptions<'_>,
) -> Result<(pqreg_spec::bundle::verify::VerifiedSignature, u64), Error> {
    let bytes = source.get_manifest(&r.digest)?;
    let actual = Digest::sha256(&bytes);
    if actual != r.digest {
        return Err(UnpackError::BlobDigest {
            what: "referrer manifest",
            expected: r.digest,
            actual,
        }
        .into());
    }
    let referrer = ReferrerManifest::from_json(&bytes).map_err(|e| Error::Spec(e.into()))?;
    if referrer.subject.digest != *manifest_digest {
        return Err(UnpackError::NoSignature(*manifest_digest).into());
    }
    let desc = Descriptor::new(
        referrer.bundle.media_type.clone(),
        referrer.bundle.digest,
        referrer.bundle.size,
    );
    let bundle = fetch::read_small(source, "bundle", &desc, MAX_BUNDLE_BYTES as u64)?;
    let mut accepted: Vec<&dyn Verifier> = opts
        .policy
        .verifying_keys_for(&opts.repository)
        .into_iter()
        .map(|k| k as &dyn Verifier)
        .collect();
    accepted.extend(opts.keyring.iter().map(|k| k as &dyn Verifier));
    let v = verify_signature(&bundle, &opts.repository, opts.policy, &accepted)
        .map_err(|e| Error::Spec(e.into()))?;
    // Step 7, the location: a statement signed for another repository or tag, an older
    // version of the tag, or a stale one, is passed over (another bundle may match).
    v.statement
        .check_binding(&opts.expected, manifest_digest)
        .map_err(|e| Error::Spec(e.into()))?;
    Ok((v, (bytes.len() + bundle.len()) as u64))
}

/// A model whose signature, log entry and manifest binding verified (spec/signing.md
/// steps 1-7) and whose index, opened with the identity, lists exactly the signed files.
/// No chunk has been fetched.
#[derive(Debug)]
pub struct VerifiedIndex {
    /// The manifest.
    pub model: ModelManifest,
    /// The config.
    pub config: Config,
    /// The decrypted index.
    pub index: Index,
    /// The content secret (`None` when unencrypted).
    pub secret: Option<ContentSecret>,
    /// The signature that verified.
    pub signature: pqreg_spec::bundle::verify::VerifiedSignature,
    /// Whether its log entry was verified.
    pub log_verified: bool,
    /// Blob bytes read (manifest, referrer, bundle, config, index).
    pub blob_bytes: u64,
}

/// Steps 1-7 of spec/signing.md and the index check of [`unpack_model`], without
/// fetching chunks: what `pqreg recipients` checks before it re-signs a model.
pub fn verify_index<S: BlobSource>(
    source: &S,
    manifest_digest: &Digest,
    opts: &UnpackOptions<'_>,
) -> Result<VerifiedIndex, Error> {
    let VerifiedStatement {
        model,
        signature: verified,
        log_verified,
        blob_bytes,
    } = verify_statement(source, manifest_digest, opts)?;
    let (config, index, secret, index_bytes) = open_index(source, &model, opts.identity)?;
    // The index's files are what was signed, before a chunk is fetched.
    verified
        .statement
        .check_files(&file_entries(&index))
        .map_err(|e| Error::Spec(e.into()))?;
    Ok(VerifiedIndex {
        model,
        config,
        index,
        secret,
        signature: verified,
        log_verified,
        blob_bytes: blob_bytes + index_bytes,
    })
}

/// A model whose signature, log entry and manifest binding verified (spec/signing.md
/// steps 1-7); its config and index are not read.
#[derive(Debug)]
pub struct VerifiedStatement {
    /// The manifest.
    pub model: ModelManifest,
    /// The signature that verified (a `files` statement).
    pub signature: pqreg_spec::bundle::verify::VerifiedSignature,
    /// Whether its log entry was verified.
    pub log_verified: bool,
    /// Blob bytes read (manifest, referrer, bundle).
    pub blob_bytes: u64,
}

/// Steps 1-7 of spec/signing.md without the key: what `pqreg tag` checks before it signs
/// the same statement for another tag, and the first half of [`verify_index`].
pub fn verify_statement<S: BlobSource>(
    source: &S,
    manifest_digest: &Digest,
    opts: &UnpackOptions<'_>,
) -> Result<VerifiedStatement, Error> {
    let (model, manifest_len) = fetch_manifest(source, manifest_digest)?;
    let (verified, sig_bytes) = find_signature(source, manifest_digest, opts)?;
    let mut log_verified = false;
    let required = opts.policy.log_required(&opts.repository);
    match (&verified.log_entry, opts.log_verifier) {
        (Some(entry), Some(lv)) => {
            log_verified = lv.verify(
                entry,
                &LogContext {
                    repository: &opts.repository,
                    manifest_digest: *manifest_digest,
                    statement_digest: verified.bundle.statement_digest(),
                    key_id: verified.key_id,
                },
            )?;
            if !log_verified && required {
                return Err(UnpackError::LogUnverified.into());
            }
        }
        // A policy that does not require the log, and no verifier: the entry is not
        // checked (`pqreg recipients` re-signing its own signature).
        (Some(_), None) if !required => {}
        (Some(_), None) => return Err(UnpackError::LogUnverified.into()),
        (None, _) if required => return Err(UnpackError::LogUnverified.into()),
        (None, _) => {}
    }
    let statement = &verified.statement;
    statement
        .check_manifest(manifest_digest)
        .map_err(|e| Error::Spec(e.into()))?;
    if statement.method != Method::Files {
        return Err(UnpackError::UnsupportedMethod.into());
    }
    Ok(VerifiedStatement {
        model,
        signature: verified,
        log_verified,
        blob_bytes: manifest_len + sig_bytes,
    })
}

/// Verifies the model `manifest_digest` from `source` and writes it to `out_dir`, which
/// must not exist or be an empty directory (a Kubernetes emptyDir); see the module docs
/// for the order of checks.
pub fn unpack_model<S: BlobSource + Sync>(
    source: &S,
    manifest_digest: &Digest,
    opts: &UnpackOptions<'_>,
    out_dir: &Path,
) -> Result<UnpackReport, Error> {
    let staging = stage::Staging::new(out_dir)?;
    let VerifiedIndex {
        model,
        config,
        index,
        signature: verified,
        log_verified,
        blob_bytes,
        ..
    } = verify_index(source, manifest_digest, opts)?;
    let statement = &verified.statement;
    if opts
        .classic_statement
        .is_some_and(|c| c != verified.bundle.statement_digest())
    {
        return Err(UnpackError::ClassicStatementMismatch(*manifest_digest).into());
    }
    let index = opts.select.apply(&index)?;
    // Before the first file is created: the output's file system must hold them all.
    select::check_space(staging.dir(), index.files.iter().map(|f| f.size).sum())?;

    let staged = staging.create_files(&index)?;
    let jobs = layer_jobs(&model, &index, &staged);
    // With `verify_plaintext`, files are hashed as the chunks land: each in order, by the
    // worker that completes a prefix of it (follow.rs). Either way, what is written goes
    // to disk while the rest lands.
    let sizes: Vec<u64> = index.files.iter().map(|f| f.size).collect();
    let hash = opts.verify_plaintext;
    let follower = hash.then(|| follow::Follower::new(&staged, &sizes));
    // Only now, with the signature and the index verified, are the chunks fetched.
    source.prefetch(&jobs.iter().map(|j| j.layer.clone()).collect::<Vec<_>>());
    let read = AtomicU64::new(0);
    let file_locks: Vec<std::sync::Mutex<()>> = index
        .files
        .iter()
        .map(|_| std::sync::Mutex::new(()))
        .collect();
    let progress = opts.progress;
    let layer_total = jobs.iter().map(|j| j.layer.size).sum();
    crate::progress::in_phase(progress, "downloading", layer_total, || {
        follow::flushing(&staged, |flush| {
            run_parallel(jobs.len(), opts.threads, |i| {
                let job = &jobs[i];
                let n = fetch::fetch_layer(source, job, &file_locks)?;
                read.fetch_add(n, Ordering::Relaxed);
                crate::progress::advance(progress, job.layer.size);
                for t in &job.targets {
                    flush.written(t.file, job.length);
                    if let Some(f) = &follower {
                        f.written(t.file, t.offset, job.length)?;
                    }
                }
                Ok(())
            })
        })
    })?;
    // Every file: its digest against the index (when hashed), fsync.
    let file_total = index.files.iter().map(|f| f.size).sum();
    crate::progress::in_phase(progress, "writing", file_total, || {
        run_parallel(index.files.len(), opts.threads, |i| {
            let f = &index.files[i];
            let r = finish_file(f, i, &staged, follower.as_ref());
            crate::progress::advance(progress, f.size);
            r
        })
    })?;
    // The index's files were checked against the statement before any chunk was fetched
    // (verify_index), and, when hashed, every written file against the index just above.
    staging.commit()?;
    Ok(UnpackReport {
        manifest_digest: *manifest_digest,
        signer: verified.key_id,
        algorithm: verified.algorithm,
        log_verified,
        encrypted: config.is_encrypted(),
        plaintext_hashed: hash,
        files: index.files.len(),
        bytes: index.files.iter().map(|f| f.size).sum(),
        blob_bytes: blob_bytes + read.into_inner(),
        model_name: statement.model_name.clone(),
        statement_digest: verified.bundle.statement_digest(),
        // check_binding (verify_one) refused a statement without one.
        binding: statement.binding.clone().ok_or_else(|| {
            let e = pqreg_spec::dsse::SigningError::from(
                pqreg_spec::statement::StatementError::BindingMissing,
            );
            Error::Spec(e.into())
        })?,
    })
}

/// A staged file once every chunk landed: its digest against the index (when hashed
/// while written), then fsync.
fn finish_file(
    f: &pqreg_spec::artifact::File,
    i: usize,
    staged: &[PathBuf],
    follower: Option<&follow::Follower>,
) -> Result<(), Error> {
    let Some(follower) = follower else {
        return stage::sync_file(&staged[i]);
    };
    let Some(d) = follower.digest(i) else {
        return Err(UnpackError::Io {
            path: PathBuf::from(&f.path),
            source: std::io::Error::other("file was not completely written"),
        }
        .into());
    };
    if d != f.digest {
        return Err(UnpackError::FileDigest {
            path: f.path.clone(),
            expected: f.digest,
            actual: d,
        }
        .into());
    }
    stage::sync_file(&staged[i])
}

/// The index's files as the statement lists them (path, plaintext digest, size).
fn file_entries(index: &Index) -> Vec<FileEntry> {
    index
        .files
        .iter()
        .map(|f| FileEntry {
            path: f.path.clone(),
            digest: f.digest,
            size: f.size,
        })
        .collect()
}

/// One job per distinct chunk layer, in manifest order, with every place its plaintext
/// goes.
fn layer_jobs(model: &ModelManifest, index: &Index, staged: &[PathBuf]) -> Vec<fetch::LayerJob> {
    let mut by_layer: HashMap<Digest, fetch::LayerJob> = HashMap::new();
    for (file, (f, path)) in index.files.iter().zip(staged).enumerate() {
        for c in &f.chunks {
            by_layer
                .entry(c.layer)
                .or_insert_with(|| fetch::LayerJob {
                    layer: Descriptor::new(
                        if model.encrypted {
                            pqreg_spec::artifact::media_types::CHUNK_ENCRYPTED
                        } else {
                            pqreg_spec::artifact::media_types::CHUNK
                        },
                        c.layer,
                        c.layer_size,
                    ),
                    chunk: c.digest,
                    key: c.key.clone(),
                    length: c.length,
                    padding: c.padding.unwrap_or(0),
                    targets: Vec::new(),
                })
                .targets
                .push(fetch::Target {
                    file,
                    path: path.clone(),
                    offset: c.offset,
                });
        }
    }
    model
        .chunk_layers()
        .iter()
        .filter_map(|l| by_layer.remove(&l.digest))
        .collect()
}

/// Runs `f(0..n)` on `threads` workers; stops at and returns the first error.
fn run_parallel<F>(n: usize, threads: usize, f: F) -> Result<(), Error>
where
    F: Fn(usize) -> Result<(), Error> + Sync,
{
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let err = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    if let Err(e) = f(i) {
                        stop.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = err.lock() {
                            slot.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
    });
    match err.into_inner() {
        Ok(Some(e)) => Err(e),
        _ => Ok(()),
    }
}

/// The media type of a model manifest, for sources that need it.
pub const MANIFEST_MEDIA_TYPE: &str = media_types::OCI_MANIFEST;
