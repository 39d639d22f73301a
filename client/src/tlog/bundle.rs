//! The log in push and pull: [`Submitter`] submits the signed statement and turns the
//! answer into the bundle's `tlogEntries[0]` (spec/signing.md §4.1,
//! spec/transparency-log.md §8.5);
//! [`BundleLog`] is step 6 of spec/signing.md §7 for a pulled bundle.

use std::path::PathBuf;

use pqreg_spec::bundle::{InclusionProof, PQREG_ENTRY_KIND, PQREG_ENTRY_VERSION, TlogEntry};
use pqreg_spec::checkpoint::Checkpoint;
use pqreg_spec::checkpoint::proof::ProofFile;
use pqreg_spec::logentry::{EntryKind, LogEntry, NameKey};
use pqreg_spec::merkle::{leaf_hash, verify_inclusion};
use pqreg_spec::note::Note;
use pqreg_spec::policy::{Policy, PolicyLog};
use pqreg_spec::{Digest, keys::KeyId};

use super::http::b64;
use super::{Log, LogClient, LogError, SubmitRequest, TreeHead, log_id};
use crate::Error;
use crate::auth::Credential;
use crate::pack::{LogHook, LogRequest};
use crate::unpack::{LogContext, LogVerifier};

/// The repository part of `host[:port]/path` (log entries name repositories without the
/// registry host).
pub fn repository_path(name: &str) -> &str {
    name.split_once('/').map_or(name, |(_, p)| p)
}

/// The origin line of a checkpoint note, parsed but not verified.
fn origin_of(note: &[u8]) -> Result<Checkpoint, LogError> {
    let err = |source| LogError::Checkpoint {
        origin: "(unknown)".into(),
        cause: source,
    };
    let n = Note::parse(note).map_err(err)?;
    Checkpoint::parse_body(n.text()).map_err(err)
}

/// The name key and log origin with which a keyed entry's ids are recomputed
/// (spec/transparency-log.md §3.2).
type Names<'k> = Option<(&'k NameKey, &'k str)>;

/// Checks the fields of a signature entry against what was signed: a keyed entry's
/// repository id against the id of `repository` under `names` (no key: refused).
fn check_fields(
    entry: &LogEntry,
    repository: &str,
    names: Names<'_>,
    manifest: &Digest,
    statement: &Digest,
    key_id: &KeyId,
) -> Result<(), LogError> {
    let mismatch = |what: &str, got: &dyn std::fmt::Display, want: &dyn std::fmt::Display| {
        Err(LogError::EntryMismatch(format!(
            "{what} is {got}, expected {want}"
        )))
    };
    let EntryKind::Signature {
        statement: s,
        signer,
    } = &entry.kind
    else {
        return Err(LogError::EntryMismatch(
            "kind is tag, expected signature".into(),
        ));
    };
    let (key, origin) = match names {
        Some((k, o)) => (Some(k), o),
        None => (None, ""),
    };
    if entry.is_keyed() && key.is_none() {
        return Err(LogError::EntryMismatch(format!(
            "the entry names its repository by a keyed id, and the registry gave no name key \
             for {repository}"
        )));
    }
    let names_it = entry
        .names_repository(repository, key, origin)
        .map_err(|e| LogError::EntryMismatch(e.to_string()))?;
    if !names_it {
        return mismatch("repository", &entry.repository, &repository);
    }
    if entry.manifest != *manifest {
        return mismatch("manifest", &entry.manifest, manifest);
    }
    if s != statement {
        return mismatch("statement", s, statement);
    }
    if signer != key_id {
        return mismatch("signer", signer, key_id);
    }
    Ok(())
}

fn parse_entry(e: &TlogEntry) -> Result<LogEntry, LogError> {
    LogEntry::parse(&e.canonicalized_body).map_err(|source| LogError::Entry {
        index: e.log_index,
        cause: source,
    })
}

/// The bundle entry's body parsed and matched against the signature (`ctx`), and its
/// time against `integratedTime`.
fn check_entry(
    e: &TlogEntry,
    ctx: &LogContext<'_>,
    names: Names<'_>,
) -> Result<LogEntry, LogError> {
    let entry = parse_entry(e)?;
    check_fields(
        &entry,
        repository_path(ctx.repository),
        names,
        &ctx.manifest_digest,
        &ctx.statement_digest,
        &ctx.key_id,
    )?;
    if entry.time != e.integrated_time {
        return Err(LogError::EntryMismatch(format!(
            "integratedTime {} differs from the entry's time {}",
            e.integrated_time, entry.time
        )));
    }
    Ok(entry)
}

/// The policy's log for the origin of `checkpoint` (unverified here), after checking the
/// bundle entry's `logId` names that origin.
fn configured_log<'p>(
    policy: &'p Policy,
    e: &TlogEntry,
    checkpoint: &[u8],
) -> Result<&'p PolicyLog, LogError> {
    let cp = origin_of(checkpoint)?;
    if e.log_id[..] != log_id(&cp.origin) {
        return Err(LogError::EntryMismatch(
            "logId is not the SHA-256 of the checkpoint's origin".into(),
        ));
    }
    policy
        .log(&cp.origin)
        .ok_or(LogError::Unconfigured(cp.origin))
}

/// The entry names a repository path; the registry is the log's (spec/signing.md §7.5):
/// another registry's log does not vouch for this one's repositories.
fn check_vouches(plog: &PolicyLog, registry: &str) -> Result<(), LogError> {
    if plog.vouches_for(registry) {
        return Ok(());
    }
    Err(LogError::EntryMismatch(format!(
        "the entry is in the log {:?}, which the trust policy lets vouch for {:?}, not for {:?}",
        plog.verifier.origin, plog.registries, registry
    )))
}

/// Step 6 of pull/verify: a bundle's log entry checked against the signature, its
/// inclusion proof against its checkpoint, the checkpoint against the policy's log keys,
/// and consistency with the stored checkpoint (§9).
pub struct BundleLog<'a> {
    /// The trust policy (its `[[logs]]`).
    pub policy: &'a Policy,
    /// The registry pulled from (`host[:port]`): its `/log` unless the policy names a URL.
    pub registry: String,
    /// Credentials for the registry.
    pub credential: Option<Credential>,
    /// `$XDG_STATE_HOME/pqreg`.
    pub state: PathBuf,
}

impl BundleLog<'_> {
    /// The checks, with the log's own error.
    pub fn check(&self, e: &TlogEntry, ctx: &LogContext<'_>) -> Result<TreeHead, LogError> {
        let body = &e.canonicalized_body;
        let p = &e.inclusion_proof;
        // A keyed entry (spec/transparency-log.md §3.2) is matched with the repository's
        // name key, fetched from the registry with the puller's credentials, and the
        // origin of the entry's checkpoint (verified below).
        let key = if parse_entry(e)?.is_keyed() {
            LogClient::for_registry(&self.registry, self.credential.clone())?
                .name_key(repository_path(ctx.repository))?
        } else {
            None
        };
        let origin = origin_of(p.checkpoint.as_bytes())?.origin;
        check_entry(e, ctx, key.as_ref().map(|k| (k, origin.as_str())))?;
        let plog = configured_log(self.policy, e, p.checkpoint.as_bytes())?;
        check_vouches(plog, &self.registry)?;
        let head = TreeHead {
            size: p.tree_size,
            root: p.root_hash,
        };
        verify_inclusion(
            &leaf_hash(body),
            p.log_index,
            p.tree_size,
            &p.hashes,
            &p.root_hash,
        )
        .map_err(|source| LogError::Inclusion(Box::new((p.log_index, head, source))))?;
        let client = match &plog.url {
            Some(u) => LogClient::new(u, None)?,
            None => LogClient::for_registry(&self.registry, self.credential.clone())?,
        };
        let log = Log::new(&client, &plog.verifier, &self.state);
        // With witnesses, the bundle's checkpoint (older than any cosignature) carries the
        // log's signatures only and is tied to the newest, witnessed checkpoint.
        let c = if log.needs_witnesses() {
            log.open_unwitnessed(p.checkpoint.as_bytes())?
        } else {
            log.open(p.checkpoint.as_bytes())?
        };
        if TreeHead::of(&c) != head {
            return Err(LogError::EntryMismatch(format!(
                "the inclusion proof is for tree head {head}, its checkpoint is {}",
                TreeHead::of(&c)
            )));
        }
        if log.needs_witnesses() {
            log.update_witnessed(&c)?;
        } else {
            log.update(&c)?;
        }
        Ok(head)
    }
}

impl LogVerifier for BundleLog<'_> {
    fn verify(&self, entry: &TlogEntry, ctx: &LogContext<'_>) -> Result<bool, Error> {
        match self.check(entry, ctx) {
            Ok(_) => Ok(true),
            // A log the policy does not know, for a repository it does not require the
            // log for: not checked (reported as such).
            Err(LogError::Unconfigured(_)) if !self.policy.log_required(ctx.repository) => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Push's log hook: submits the ML-DSA bundle's envelope and key, checks the answer
/// (entry fields, leaf hash, inclusion proof against the checkpoint's root; the
/// checkpoint's signatures too when the policy configures the log) and returns the
/// bundle's `tlogEntries`.
pub struct Submitter<'a> {
    /// The registry's log.
    pub client: &'a LogClient,
    /// Repository without host.
    pub repository: String,
    /// Tag pushed.
    pub tag: Option<String>,
    /// The signer's SPKI DER.
    pub public_key: Vec<u8>,
    /// A trust policy: when its `[[logs]]` configures the log, the answer's checkpoint
    /// is verified with the log's keys and checked against the stored one (§9).
    pub policy: Option<&'a Policy>,
    /// `$XDG_STATE_HOME/pqreg`.
    pub state: PathBuf,
}

impl Submitter<'_> {
    /// Submits and checks; the bundle's log entry.
    pub fn submit(&self, req: &LogRequest<'_>) -> Result<TlogEntry, LogError> {
        let bundle: serde_json::Value =
            serde_json::from_slice(&req.bundle.to_json()).map_err(|e| LogError::BadResponse {
                url: self.client.base().to_owned(),
                message: e.to_string(),
            })?;
        let resp = self.client.submit(&SubmitRequest {
            repository: self.repository.clone(),
            tag: self.tag.clone(),
            manifest: req.manifest_digest.to_string(),
            dsse_envelope: bundle["dsseEnvelope"].clone(),
            public_key: b64(&self.public_key),
        })?;
        let body = resp.entry.into_bytes();
        let entry = LogEntry::parse(&body).map_err(|source| LogError::Entry {
            index: resp.index,
            cause: source,
        })?;
        let origin = origin_of(resp.checkpoint.as_bytes())?.origin;
        let key = if entry.is_keyed() {
            self.client.name_key(&self.repository)?
        } else {
            None
        };
        check_fields(
            &entry,
            &self.repository,
            key.as_ref().map(|k| (k, origin.as_str())),
            &req.manifest_digest,
            &req.statement_digest,
            &req.key_id,
        )?;
        let leaf = leaf_hash(&body);
        if leaf != resp.leaf_hash.0 {
            return Err(LogError::EntryMismatch(
                "the log's leaf_hash is not the hash of its entry".into(),
            ));
        }
        let cp = origin_of(resp.checkpoint.as_bytes())?;
        let head = TreeHead {
            size: cp.size,
            root: cp.root,
        };
        if cp.size != resp.size {
            return Err(LogError::EntryMismatch(format!(
                "proof for size {}, checkpoint of size {}",
                resp.size, cp.size
            )));
        }
        let proof: Vec<_> = resp.proof.iter().map(|h| h.0).collect();
        verify_inclusion(&leaf, resp.index, cp.size, &proof, &cp.root)
            .map_err(|source| LogError::Inclusion(Box::new((resp.index, head, source))))?;
        if let Some(plog) = self.policy.and_then(|p| p.log(&cp.origin)) {
            let log = Log::new(self.client, &plog.verifier, &self.state);
            // A fresh checkpoint has no witness cosignatures yet: with a quorum configured
            // only the log's signatures are checked here (pull ties the entry to a
            // witnessed checkpoint).
            if log.needs_witnesses() {
                log.open_unwitnessed(resp.checkpoint.as_bytes())?;
            } else {
                let c = log.open(resp.checkpoint.as_bytes())?;
                log.update(&c)?;
            }
        }
        Ok(TlogEntry {
            log_index: resp.index,
            log_id: log_id(&cp.origin).to_vec(),
            kind: PQREG_ENTRY_KIND.to_owned(),
            version: PQREG_ENTRY_VERSION.to_owned(),
            integrated_time: entry.time,
            inclusion_promise: None,
            inclusion_proof: InclusionProof {
                log_index: resp.index,
                root_hash: cp.root,
                tree_size: cp.size,
                hashes: proof,
                checkpoint: resp.checkpoint,
            },
            canonicalized_body: body,
        })
    }
}

impl LogHook for Submitter<'_> {
    fn log_entries(&mut self, req: &LogRequest<'_>) -> Result<Vec<TlogEntry>, Error> {
        Ok(vec![self.submit(req).map_err(Error::from)?])
    }
}

/// Step 6 without network (`pqreg verify --offline`): the bundle's entry checked against
/// the signature and against an offline proof file (spec/transparency-log.md §11), whose
/// checkpoint is verified with the policy's log keys and compared with the stored one
/// when the sizes are equal.
pub struct ProofLog<'a> {
    /// The trust policy (its `[[logs]]`).
    pub policy: &'a Policy,
    /// The proof file.
    pub proof: ProofFile,
    /// `$XDG_STATE_HOME/pqreg`.
    pub state: PathBuf,
    /// The registry (`host[:port]`) of the reference verified: the log must vouch for it
    /// (spec/signing.md §7.5).
    pub registry: String,
}

impl ProofLog<'_> {
    /// The checks; the verified head, and whether consistency with the stored checkpoint
    /// was established (`false`: sizes differ, left to the next online check).
    pub fn check(&self, e: &TlogEntry, ctx: &LogContext<'_>) -> Result<(TreeHead, bool), LogError> {
        let body = &e.canonicalized_body;
        // Offline there is no registry to hand out a name key: a keyed entry
        // (spec/transparency-log.md §3.2, §11) is refused here; verify it online.
        if parse_entry(e)?.is_keyed() {
            return Err(LogError::EntryMismatch(
                "the log entry names its repository by a keyed id, which only the registry's \
                 name key can check: verify online, without --offline"
                    .into(),
            ));
        }
        check_entry(e, ctx, None)?;
        if self.proof.extra.as_deref() != Some(&body[..]) || self.proof.index != e.log_index {
            return Err(LogError::EntryMismatch(
                "the proof file is for another entry than the bundle's".into(),
            ));
        }
        let plog = configured_log(self.policy, e, &self.proof.checkpoint)?;
        check_vouches(plog, &self.registry)?;
        let log = Log::offline(&plog.verifier, &self.state);
        let c = log.open(&self.proof.checkpoint)?;
        let head = TreeHead::of(&c);
        verify_inclusion(
            &leaf_hash(body),
            self.proof.index,
            head.size,
            &self.proof.proof,
            &head.root,
        )
        .map_err(|source| LogError::Inclusion(Box::new((self.proof.index, head, source))))?;
        let consistent = log.update_offline(&c)?;
        Ok((head, consistent))
    }
}

impl LogVerifier for ProofLog<'_> {
    fn verify(&self, entry: &TlogEntry, ctx: &LogContext<'_>) -> Result<bool, Error> {
        self.check(entry, ctx).map(|_| true).map_err(Error::from)
    }
}
