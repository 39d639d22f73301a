//! The search index (spec/transparency-log.md §8.3) and the leaf-hash lookup (§8.1).
//!
//! Each entry adds one row `(term hash, leaf index)` to the `search` table per term:
//! `manifest <digest>`, `repository <name>`, `tag <tag>` (if any), `signer <key ID>` (if a
//! signature) and `leaf <32-byte leaf hash>`. The term hash is the first 8 bytes of the
//! term's SHA-256, big-endian: rows stay 16 bytes whatever the names. Two terms may share
//! a hash, so every candidate is checked against the entry itself before it is returned.
//! The rows are written in the sequencer's transaction, so the index always covers exactly
//! the published tree.

use pqreg_spec::Digest;
use pqreg_spec::keys::KeyId;
use pqreg_spec::logentry::{EntryKind, LogEntry};
use pqreg_spec::merkle::api::{SearchHit, SearchResponse};
use pqreg_spec::merkle::{self, Hash};

use super::store::EntryReader;
use super::{Log, LogError, SEARCH, TILES};

/// Largest page of results.
pub const MAX_LIMIT: usize = 1000;
/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Most index rows one request examines; past it the answer carries `next` to resume.
const SCAN_BUDGET: usize = 100_000;

fn term(parts: &[&[u8]]) -> u64 {
    let mut h = pqreg_spec::digest::Hasher::new();
    for p in parts {
        h.update(p);
    }
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_bytes()[..8]);
    u64::from_be_bytes(b)
}

fn manifest_term(d: &Digest) -> u64 {
    term(&[b"manifest ", d.to_string().as_bytes()])
}
fn signer_term(k: &KeyId) -> u64 {
    term(&[b"signer ", k.to_string().as_bytes()])
}
fn repository_term(r: &str) -> u64 {
    term(&[b"repository ", r.as_bytes()])
}
fn tag_term(t: &str) -> u64 {
    term(&[b"tag ", t.as_bytes()])
}
fn leaf_term(h: &Hash) -> u64 {
    term(&[b"leaf ", h])
}

/// The index terms of an entry whose leaf hash is `leaf`.
pub(super) fn entry_terms(e: &LogEntry, leaf: &Hash) -> Vec<u64> {
    let mut t = vec![
        manifest_term(&e.manifest),
        repository_term(&e.repository),
        leaf_term(leaf),
    ];
    if let Some(tag) = &e.tag {
        t.push(tag_term(tag));
    }
    if let EntryKind::Signature { signer, .. } = &e.kind {
        t.push(signer_term(signer));
    }
    t
}

/// What a search asks for: entries matching every given field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `manifest=`.
    pub manifest: Option<Digest>,
    /// `signer=`.
    pub signer: Option<KeyId>,
    /// `repository=`.
    pub repository: Option<String>,
    /// `tag=`.
    pub tag: Option<String>,
}

impl Filter {
    /// Whether no field is given.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The terms, the most selective first (it drives the scan).
    fn terms(&self) -> Vec<u64> {
        let mut t = Vec::new();
        t.extend(self.manifest.as_ref().map(manifest_term));
        t.extend(self.signer.as_ref().map(signer_term));
        t.extend(self.tag.as_deref().map(tag_term));
        t.extend(self.repository.as_deref().map(repository_term));
        t
    }

    /// Whether `e` matches (the index may have over-approximated).
    pub fn matches(&self, e: &LogEntry) -> bool {
        let signer = match &e.kind {
            EntryKind::Signature { signer, .. } => Some(signer),
            EntryKind::Tag => None,
        };
        self.manifest.as_ref().is_none_or(|m| *m == e.manifest)
            && self.signer.as_ref().is_none_or(|s| Some(s) == signer)
            && self.repository.as_deref().is_none_or(|r| r == e.repository)
            && self
                .tag
                .as_deref()
                .is_none_or(|t| Some(t) == e.tag.as_deref())
    }
}

impl Log {
    /// Searches the entries below the newest checkpoint's size: those after `after`
    /// (exclusive) matching every field of `filter`, at most `limit` (1..=[`MAX_LIMIT`]).
    pub fn search(
        &self,
        filter: &Filter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<SearchResponse, LogError> {
        let size = self.head().size;
        let terms = filter.terms();
        let mut out = SearchResponse {
            size,
            entries: Vec::new(),
            next: None,
        };
        let Some((&driver, others)) = terms.split_first() else {
            return Ok(out);
        };
        let start = after.map_or(0, |a| a.saturating_add(1));
        if start >= size {
            return Ok(out);
        }
        let rtx = self.db.begin_read()?;
        let index = rtx.open_table(SEARCH)?;
        let tiles = rtx.open_table(TILES)?;
        let mut bundles = EntryReader::new(&tiles, size);
        let mut scanned = 0usize;
        for row in index.range((driver, start)..=(driver, size - 1))? {
            let (k, _) = row?;
            let (_, i) = k.value();
            scanned += 1;
            if scanned > SCAN_BUDGET {
                out.next = Some(i - 1);
                break;
            }
            let mut all = true;
            for t in others {
                if index.get((*t, i))?.is_none() {
                    all = false;
                    break;
                }
            }
            if !all {
                continue;
            }
            let Some(bytes) = bundles.entry(i)? else {
                continue;
            };
            let Ok(e) = LogEntry::parse(&bytes) else {
                continue;
            };
            if !filter.matches(&e) {
                continue;
            }
            if out.entries.len() == limit {
                out.next = out.entries.last().map(|h| h.index);
                break;
            }
            out.entries.push(SearchHit {
                index: i,
                entry: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(out)
    }

    /// The index of the first entry below `size` whose leaf hash is `leaf`.
    pub fn index_of_leaf(&self, leaf: &Hash, size: u64) -> Result<Option<u64>, LogError> {
        if size == 0 {
            return Ok(None);
        }
        let t = leaf_term(leaf);
        let rtx = self.db.begin_read()?;
        let index = rtx.open_table(SEARCH)?;
        let tiles = rtx.open_table(TILES)?;
        let mut bundles = EntryReader::new(&tiles, size);
        for row in index.range((t, 0)..=(t, size - 1))? {
            let (k, _) = row?;
            let (_, i) = k.value();
            if bundles
                .entry(i)?
                .is_some_and(|b| merkle::leaf_hash(&b) == *leaf)
            {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Whether the log holds a signature entry for `repository`, `manifest` and
    /// `statement` (the classical-bundle rule of spec/signing.md §5).
    pub fn has_signature(
        &self,
        repository: &str,
        manifest: &Digest,
        statement: &Digest,
    ) -> Result<bool, LogError> {
        let filter = Filter {
            manifest: Some(*manifest),
            repository: Some(repository.to_owned()),
            ..Filter::default()
        };
        let mut after = None;
        loop {
            let page = self.search(&filter, after, MAX_LIMIT)?;
            for h in &page.entries {
                if let Ok(e) = LogEntry::parse(h.entry.as_bytes())
                    && matches!(&e.kind, EntryKind::Signature { statement: s, .. } if s == statement)
                {
                    return Ok(true);
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(false),
            }
        }
    }
}
