//! The redb implementation of the metadata tables (see the module doc of `meta`).

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{ManifestRecord, MetaError, UploadRecord, now};
use crate::digest::BlobDigest;

const REPOS: TableDefinition<&str, u64> = TableDefinition::new("repos");
const TAGS: TableDefinition<(&str, &str), &str> = TableDefinition::new("tags");
const MANIFESTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("manifests");
const MANIFEST_BYTES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("manifest_bytes");
const LINKS: TableDefinition<(&str, &str), u64> = TableDefinition::new("links");
const REFERRERS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("referrers");
const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");

type R<T> = Result<T, MetaError>;

/// The metadata store. Cheap to clone; all methods block (call them off the async threads).
#[derive(Clone)]
pub struct Meta {
    db: Arc<Database>,
    /// Held by every change to tags and manifests from before its write transaction until
    /// its `on_commit` callback has returned, so that what the callbacks do (queue log
    /// entries) happens in commit order (spec/transparency-log.md §3.1).
    changes: Arc<Mutex<()>>,
}

/// What a committed manifest push did to its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagChange {
    /// The tag.
    pub tag: String,
    /// The manifest it named before the push committed, if any.
    pub previous: Option<String>,
}

impl TagChange {
    /// Whether the tag now names another manifest than before (or did not exist).
    pub fn moved(&self, digest: &str) -> bool {
        self.previous.as_deref() != Some(digest)
    }
}

/// Why a manifest push was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutRefused {
    /// It names a blob or child manifest the repository lacks.
    Missing(String),
    /// Its tag is frozen (immutable) and names another manifest.
    TagFrozen(String),
}

/// What garbage collection's link sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcLinks {
    /// Links removed (unreferenced and older than the grace period).
    pub removed: u64,
    /// Links kept.
    pub kept: u64,
}

/// One repository's use of a blob (see [`Meta::blob_users`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlobUse {
    /// The repository.
    pub repository: String,
    /// Whether the blob is linked there (pullable by digest).
    pub linked: bool,
    /// Manifests there that reference it, directly or through an index.
    pub manifests: Vec<ManifestUse>,
}

impl BlobUse {
    fn new(repo: &str) -> Self {
        BlobUse {
            repository: repo.to_owned(),
            linked: false,
            manifests: Vec::new(),
        }
    }
}

/// A manifest that references a blob, and its tags.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestUse {
    /// The manifest's digest.
    pub digest: String,
    /// Tags pointing at it.
    pub tags: Vec<String>,
}

impl Meta {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> R<Self> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(REPOS)?;
        tx.open_table(TAGS)?;
        tx.open_table(MANIFESTS)?;
        tx.open_table(MANIFEST_BYTES)?;
        tx.open_table(LINKS)?;
        tx.open_table(REFERRERS)?;
        tx.open_table(UPLOADS)?;
        tx.commit()?;
        Ok(Meta {
            db: Arc::new(db),
            changes: Arc::new(Mutex::new(())),
        })
    }

    /// Takes the change lock (a poisoned lock is still a lock: it guards no data).
    fn change_lock(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the repository exists (anything was ever pushed or mounted into it).
    pub fn repo_exists(&self, repo: &str) -> R<bool> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(REPOS)?.get(repo)?.is_some())
    }

    /// Repository names after `last`, at most `n`, in order.
    pub fn list_repos(&self, last: Option<&str>, n: usize) -> R<Vec<String>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(REPOS)?;
        let mut out = Vec::new();
        let iter = match last {
            Some(l) => {
                t.range::<&str>((std::ops::Bound::Excluded(l), std::ops::Bound::Unbounded))?
            }
            None => t.range::<&str>(..)?,
        };
        for row in iter {
            if out.len() >= n {
                break;
            }
            out.push(row?.0.value().to_owned());
        }
        Ok(out)
    }

    /// Tags of `repo` after `last`, at most `n`, in order.
    pub fn list_tags(&self, repo: &str, last: Option<&str>, n: usize) -> R<Vec<String>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TAGS)?;
        let mut out = Vec::new();
        let start = last.unwrap_or("");
        for row in t.range((repo, start)..)? {
            let (k, _) = row?;
            let (r, tag) = k.value();
            if r != repo || out.len() >= n {
                break;
            }
            if last.is_some_and(|l| tag == l) {
                continue;
            }
            out.push(tag.to_owned());
        }
        Ok(out)
    }

    /// The digest a tag points at.
    pub fn resolve_tag(&self, repo: &str, tag: &str) -> R<Option<String>> {
        let tx = self.db.begin_read()?;
        Ok(tx
            .open_table(TAGS)?
            .get((repo, tag))?
            .map(|v| v.value().to_owned()))
    }

    /// A manifest's record and bytes.
    pub fn get_manifest(&self, repo: &str, digest: &str) -> R<Option<(ManifestRecord, Vec<u8>)>> {
        let tx = self.db.begin_read()?;
        let manifests = tx.open_table(MANIFESTS)?;
        let Some(rec) = manifests.get((repo, digest))? else {
            return Ok(None);
        };
        let rec: ManifestRecord = serde_json::from_slice(rec.value())?;
        let bytes = tx
            .open_table(MANIFEST_BYTES)?
            .get((repo, digest))?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        Ok(Some((rec, bytes)))
    }

    /// Stores a manifest (and its tag, and its referrer row if it has a subject) in one
    /// transaction, after checking that every blob it references is linked in `repo` and
    /// every child manifest is in `repo`. Returns the first missing reference instead.
    ///
    /// The tag's previous target is read in the same transaction; `on_commit` gets it
    /// once the transaction has committed, before any other change to tags or manifests
    /// can commit, and its result is returned. A `frozen` tag that names another manifest
    /// is not moved (nothing is stored).
    #[allow(clippy::too_many_arguments)]
    pub fn put_manifest<T>(
        &self,
        repo: &str,
        digest: &str,
        bytes: &[u8],
        rec: &ManifestRecord,
        tag: Option<&str>,
        frozen: bool,
        referrer_descriptor: Option<&serde_json::Value>,
        on_commit: impl FnOnce(Option<&TagChange>) -> T,
    ) -> R<Result<T, PutRefused>> {
        let _order = self.change_lock();
        let tx = self.db.begin_write()?;
        let mut change = None;
        {
            let links = tx.open_table(LINKS)?;
            for b in &rec.blobs {
                if links.get((b.as_str(), repo))?.is_none() {
                    return Ok(Err(PutRefused::Missing(b.clone())));
                }
            }
            let mut manifests = tx.open_table(MANIFESTS)?;
            for c in &rec.children {
                if manifests.get((repo, c.as_str()))?.is_none() {
                    return Ok(Err(PutRefused::Missing(c.clone())));
                }
            }
            manifests.insert((repo, digest), serde_json::to_vec(rec)?.as_slice())?;
            tx.open_table(MANIFEST_BYTES)?
                .insert((repo, digest), bytes)?;
            tx.open_table(REPOS)?.insert(repo, now())?;
            if let Some(tag) = tag {
                let mut tags = tx.open_table(TAGS)?;
                if frozen
                    && let Some(now) = tags.get((repo, tag))?
                    && now.value() != digest
                {
                    return Ok(Err(PutRefused::TagFrozen(tag.to_owned())));
                }
                let previous = tags
                    .insert((repo, tag), digest)?
                    .map(|v| v.value().to_owned());
                change = Some(TagChange {
                    tag: tag.to_owned(),
                    previous,
                });
            }
            if let (Some(subject), Some(desc)) = (&rec.subject, referrer_descriptor) {
                tx.open_table(REFERRERS)?.insert(
                    (repo, subject.as_str(), digest),
                    serde_json::to_vec(desc)?.as_slice(),
                )?;
            }
        }
        tx.commit()?;
        Ok(Ok(on_commit(change.as_ref())))
    }

    /// Removes a tag; `None` if it did not exist, else `on_commit` (called as for
    /// [`Meta::put_manifest`]) gets the digest it named and its result is returned.
    pub fn delete_tag<T>(
        &self,
        repo: &str,
        tag: &str,
        on_commit: impl FnOnce(&str) -> T,
    ) -> R<Option<T>> {
        let _order = self.change_lock();
        let tx = self.db.begin_write()?;
        let removed = tx
            .open_table(TAGS)?
            .remove((repo, tag))?
            .map(|v| v.value().to_owned());
        let Some(digest) = removed else {
            return Ok(None);
        };
        tx.commit()?;
        Ok(Some(on_commit(&digest)))
    }

    /// Removes a manifest: its record under `digest` and, if `repo` also stores the same
    /// bytes under the other algorithm, that record too (spec/api.md, Manifests: the two
    /// are one manifest), with every tag pointing at either and their referrer rows, in
    /// one transaction. `None` if nothing is stored under `digest`; else `on_commit`
    /// (called as for [`Meta::put_manifest`]) gets the removed tags in byte order and the
    /// manifest's bytes, and its result is returned. If `protected` says yes of one of
    /// those tags, nothing is removed and that tag is returned as the error.
    pub fn delete_manifest<T>(
        &self,
        repo: &str,
        digest: &str,
        protected: impl Fn(&str) -> bool,
        on_commit: impl FnOnce(&[String], &[u8]) -> T,
    ) -> R<Result<Option<T>, String>> {
        let _order = self.change_lock();
        let tx = self.db.begin_write()?;
        let mut doomed = Vec::new();
        let bytes;
        {
            let mut manifests = tx.open_table(MANIFESTS)?;
            let mut stored = tx.open_table(MANIFEST_BYTES)?;
            if manifests.get((repo, digest))?.is_none() {
                return Ok(Ok(None));
            }
            // Without its bytes neither its twin nor the digest to log is known: refuse.
            bytes = match stored.get((repo, digest))? {
                Some(v) => v.value().to_vec(),
                None => return Err(MetaError::NoBytes(format!("{repo}@{digest}"))),
            };
            // This record, then its twin under the other algorithm, if there is one.
            let mut names = vec![digest.to_owned()];
            names.extend(
                BlobDigest::names_of(&bytes)
                    .iter()
                    .map(BlobDigest::to_string)
                    .filter(|n| n != digest),
            );
            let mut referrer_rows = Vec::new();
            let mut removed = Vec::new();
            for name in names {
                let Some(rec) = manifests.remove((repo, name.as_str()))? else {
                    continue;
                };
                let rec: ManifestRecord = serde_json::from_slice(rec.value())?;
                stored.remove((repo, name.as_str()))?;
                if let Some(s) = rec.subject {
                    referrer_rows.push((s, name.clone()));
                }
                removed.push(name);
            }
            let mut tags = tx.open_table(TAGS)?;
            for row in tags.range((repo, "")..)? {
                let (k, v) = row?;
                let (r, t) = k.value();
                if r != repo {
                    break;
                }
                if removed.iter().any(|n| n == v.value()) {
                    doomed.push(t.to_owned());
                }
            }
            if let Some(t) = doomed.iter().find(|t| protected(t)) {
                return Ok(Err(t.clone()));
            }
            for t in &doomed {
                tags.remove((repo, t.as_str()))?;
            }
            let mut referrers = tx.open_table(REFERRERS)?;
            for (s, name) in &referrer_rows {
                referrers.remove((repo, s.as_str(), name.as_str()))?;
            }
        }
        tx.commit()?;
        Ok(Ok(Some(on_commit(&doomed, &bytes))))
    }

    /// Links a blob into a repository (creating the repository).
    pub fn link(&self, repo: &str, digest: &str) -> R<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(LINKS)?.insert((digest, repo), now())?;
        let mut repos = tx.open_table(REPOS)?;
        if repos.get(repo)?.is_none() {
            repos.insert(repo, now())?;
        }
        drop(repos);
        tx.commit()?;
        Ok(())
    }

    /// Whether a blob is linked in a repository.
    pub fn has_link(&self, repo: &str, digest: &str) -> R<bool> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(LINKS)?.get((digest, repo))?.is_some())
    }

    /// Unlinks a blob from a repository; `false` if it was not linked.
    pub fn unlink(&self, repo: &str, digest: &str) -> R<bool> {
        let tx = self.db.begin_write()?;
        let removed = tx.open_table(LINKS)?.remove((digest, repo))?.is_some();
        tx.commit()?;
        Ok(removed)
    }

    /// Whether any repository links the blob.
    pub fn blob_linked_anywhere(&self, digest: &str) -> R<bool> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(LINKS)?;
        let mut it = t.range((digest, "")..)?;
        Ok(match it.next() {
            Some(row) => row?.0.value().0 == digest,
            None => false,
        })
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`.
    pub fn referrers(&self, repo: &str, subject: &str) -> R<Vec<serde_json::Value>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(REFERRERS)?;
        let mut out = Vec::new();
        for row in t.range((repo, subject, "")..)? {
            let (k, v) = row?;
            let (r, s, _) = k.value();
            if r != repo || s != subject {
                break;
            }
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    /// Creates or updates an upload session.
    pub fn put_upload(&self, id: &str, rec: &UploadRecord) -> R<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(UPLOADS)?
            .insert(id, serde_json::to_vec(rec)?.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// An upload session.
    pub fn get_upload(&self, id: &str) -> R<Option<UploadRecord>> {
        let tx = self.db.begin_read()?;
        match tx.open_table(UPLOADS)?.get(id)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    /// Deletes an upload session; `false` if absent.
    pub fn delete_upload(&self, id: &str) -> R<bool> {
        let tx = self.db.begin_write()?;
        let removed = tx.open_table(UPLOADS)?.remove(id)?.is_some();
        tx.commit()?;
        Ok(removed)
    }

    /// Every upload session.
    pub fn list_uploads(&self) -> R<Vec<(String, UploadRecord)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(UPLOADS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_owned(), serde_json::from_slice(v.value())?));
        }
        Ok(out)
    }

    /// Counts for `/metrics`: repositories, tags, manifests, links.
    pub fn counts(&self) -> R<[u64; 4]> {
        let tx = self.db.begin_read()?;
        Ok([
            tx.open_table(REPOS)?.len()?,
            tx.open_table(TAGS)?.len()?,
            tx.open_table(MANIFESTS)?.len()?,
            tx.open_table(LINKS)?.len()?,
        ])
    }

    /// Who uses each of `digests` (for `pqreg-registry scrub`'s report), in one read
    /// transaction: per blob, every repository that links it, the manifests there that
    /// reference it (and the indexes that contain those manifests), and the tags pointing
    /// at any of them.
    pub fn blob_users(
        &self,
        digests: &HashSet<String>,
    ) -> R<std::collections::BTreeMap<String, Vec<BlobUse>>> {
        use std::collections::BTreeMap;
        let tx = self.db.begin_read()?;
        let mut out: BTreeMap<String, BTreeMap<String, BlobUse>> = BTreeMap::new();
        let links = tx.open_table(LINKS)?;
        for d in digests {
            for row in links.range((d.as_str(), "")..)? {
                let (k, _) = row?;
                let (ld, repo) = k.value();
                if ld != d {
                    break;
                }
                let u = out.entry(d.clone()).or_default();
                u.entry(repo.to_owned())
                    .or_insert_with(|| BlobUse::new(repo))
                    .linked = true;
            }
        }
        // (repo, manifest) -> the bad blobs it uses directly; then indexes over those.
        let mut users: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let mut indexes: Vec<((String, String), Vec<String>)> = Vec::new();
        for row in tx.open_table(MANIFESTS)?.iter()? {
            let (k, v) = row?;
            let (repo, md) = k.value();
            let rec: ManifestRecord = serde_json::from_slice(v.value())?;
            let bad: Vec<String> = rec
                .blobs
                .into_iter()
                .filter(|b| digests.contains(b))
                .collect();
            if !bad.is_empty() {
                users.insert((repo.to_owned(), md.to_owned()), bad);
            }
            if !rec.children.is_empty() {
                indexes.push(((repo.to_owned(), md.to_owned()), rec.children));
            }
        }
        for ((repo, md), children) in indexes {
            let mut bad: Vec<String> = children
                .iter()
                .filter_map(|c| users.get(&(repo.clone(), c.clone())))
                .flatten()
                .cloned()
                .collect();
            bad.sort();
            bad.dedup();
            if !bad.is_empty() {
                users.entry((repo, md)).or_default().extend(bad);
            }
        }
        let mut tags_of: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for row in tx.open_table(TAGS)?.iter()? {
            let (k, v) = row?;
            let (repo, tag) = k.value();
            let key = (repo.to_owned(), v.value().to_owned());
            if users.contains_key(&key) {
                tags_of.entry(key).or_default().push(tag.to_owned());
            }
        }
        for ((repo, md), bad) in &users {
            let tags = tags_of
                .get(&(repo.clone(), md.clone()))
                .cloned()
                .unwrap_or_default();
            for d in bad {
                let u = out
                    .entry(d.clone())
                    .or_default()
                    .entry(repo.clone())
                    .or_insert_with(|| BlobUse::new(repo));
                if !u.manifests.iter().any(|m| m.digest == *md) {
                    u.manifests.push(ManifestUse {
                        digest: md.clone(),
                        tags: tags.clone(),
                    });
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|(d, m)| (d, m.into_values().collect()))
            .collect())
    }

    /// Garbage collection, phase 1, in one write transaction (so no manifest push can slip
    /// between the mark and the sweep): marks every blob referenced by a manifest of the
    /// same repository, and removes links that are unmarked and older than `cutoff`
    /// (unix seconds). Manifests are roots: they go only by an explicit DELETE.
    pub fn gc_links(&self, cutoff: u64) -> R<GcLinks> {
        let tx = self.db.begin_write()?;
        let mut stats = GcLinks::default();
        {
            let mut marked: HashSet<(String, String)> = HashSet::new();
            let manifests = tx.open_table(MANIFESTS)?;
            for row in manifests.iter()? {
                let (k, v) = row?;
                let (repo, _) = k.value();
                let rec: ManifestRecord = serde_json::from_slice(v.value())?;
                for b in rec.blobs {
                    marked.insert((b, repo.to_owned()));
                }
            }
            let mut links = tx.open_table(LINKS)?;
            let mut doomed = Vec::new();
            for row in links.iter()? {
                let (k, v) = row?;
                let (d, r) = k.value();
                if v.value() < cutoff && !marked.contains(&(d.to_owned(), r.to_owned())) {
                    doomed.push((d.to_owned(), r.to_owned()));
                } else {
                    stats.kept += 1;
                }
            }
            for (d, r) in &doomed {
                links.remove((d.as_str(), r.as_str()))?;
            }
            stats.removed = doomed.len() as u64;
        }
        tx.commit()?;
        Ok(stats)
    }
}
