//! The search index (spec/transparency-log.md §8.3) and the leaf-hash lookup (§8.1).
//!
//! Each entry adds one row `(term hash, leaf index)` to the `search` table per term:
//! `manifest <digest>`, `repository <name>` or `repository-id <hex>`, `tag <tag>` or
//! `tag-id <hex>` (if any), `signer <key ID>` (if a signature) and `leaf <32-byte leaf
//! hash>`. A keyed entry (spec/transparency-log.md §3.2) is found by its repository's name
//! only through a [`Filter`] that carries the ids, which the handler computes for a caller
//! who may pull the repository. The term hash is the first 8 bytes of the
//! term's SHA-256, big-endian: rows stay 16 bytes whatever the names. Two terms may share
//! a hash, so every candidate is checked against the entry itself before it is returned.
//! The rows of the published tree are in the `search` table or, written behind by the
//! sequencer, in its in-memory pending set: a lookup reads both, so the index always
//! covers exactly the published tree.

use pqreg_spec::Digest;
use pqreg_spec::keys::KeyId;
use pqreg_spec::logentry::{EntryKind, EntryName, LogEntry, NameId};
use pqreg_spec::merkle::api::{SearchHit, SearchResponse};
use pqreg_spec::merkle::{self, Hash};
use std::collections::BTreeSet;

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
fn repository_id_term(id: &NameId) -> u64 {
    term(&[b"repository-id ", &id.0])
}
fn tag_id_term(id: &NameId) -> u64 {
    term(&[b"tag-id ", &id.0])
}
fn name_term(n: &EntryName, clear: fn(&str) -> u64, keyed: fn(&NameId) -> u64) -> u64 {
    match n {
        EntryName::Clear(s) => clear(s),
        EntryName::Id(id) => keyed(id),
    }
}
fn leaf_term(h: &Hash) -> u64 {
    term(&[b"leaf ", h])
}

/// The index terms of an entry whose leaf hash is `leaf`.
pub(super) fn entry_terms(e: &LogEntry, leaf: &Hash) -> Vec<u64> {
    let mut t = vec![
        manifest_term(&e.manifest),
        name_term(&e.repository, repository_term, repository_id_term),
        leaf_term(leaf),
    ];
    if let Some(tag) = &e.tag {
        t.push(name_term(tag, tag_term, tag_id_term));
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
    /// The keyed ids of `repository` and `tag` (spec/transparency-log.md §3.2), given
    /// only for a caller who may pull the repository: keyed entries match through them.
    pub ids: Option<(NameId, Option<NameId>)>,
}

impl Filter {
    /// Whether no field is given.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The conditions, each a set of alternative terms (a name or its keyed id), the
    /// most selective first (it drives the scan).
    fn terms(&self) -> Vec<Vec<u64>> {
        let mut t = Vec::new();
        t.extend(self.manifest.as_ref().map(|m| vec![manifest_term(m)]));
        t.extend(self.signer.as_ref().map(|k| vec![signer_term(k)]));
        if let Some(tag) = &self.tag {
            let mut alt = vec![tag_term(tag)];
            alt.extend(self.ids.and_then(|(_, t)| t).as_ref().map(tag_id_term));
            t.push(alt);
        }
        if let Some(r) = &self.repository {
            let mut alt = vec![repository_term(r)];
            alt.extend(self.ids.as_ref().map(|(id, _)| repository_id_term(id)));
            t.push(alt);
        }
        t
    }

    /// Whether `e` matches (the index may have over-approximated).
    pub fn matches(&self, e: &LogEntry) -> bool {
        let signer = match &e.kind {
            EntryKind::Signature { signer, .. } => Some(signer),
            _ => None,
        };
        let (rid, tid) = match self.ids {
            Some((r, t)) => (Some(r), t),
            None => (None, None),
        };
        let names = |n: &EntryName, want: &str, id: Option<NameId>| match n {
            EntryName::Clear(c) => c == want,
            EntryName::Id(got) => id == Some(*got),
        };
        self.manifest.as_ref().is_none_or(|m| *m == e.manifest)
            && self.signer.as_ref().is_none_or(|s| Some(s) == signer)
            && self
                .repository
                .as_deref()
                .is_none_or(|r| names(&e.repository, r, rid))
            && self
                .tag
                .as_deref()
                .is_none_or(|t| e.tag.as_ref().is_some_and(|n| names(n, t, tid)))
    }
}

/// One term's rows in index order: the `search` table's and the pending ones, merged (a
/// row in both, between a flush's commit and the set's clearing, counts once).
struct Rows<'t> {
    table: redb::Range<'t, (u64, u64), ()>,
    from_table: Option<u64>,
    held: std::iter::Peekable<std::vec::IntoIter<u64>>,
}

impl Rows<'_> {
    fn next(&mut self) -> Result<Option<u64>, LogError> {
        Ok(match (self.from_table, self.held.peek().copied()) {
            (None, None) => None,
            (Some(a), Some(b)) if b < a => {
                self.held.next();
                Some(b)
            }
            (Some(a), Some(b)) => {
                if a == b {
                    self.held.next();
                }
                self.from_table = next_index(&mut self.table)?;
                Some(a)
            }
            (Some(a), None) => {
                self.from_table = next_index(&mut self.table)?;
                Some(a)
            }
            (None, Some(b)) => {
                self.held.next();
                Some(b)
            }
        })
    }
}

/// The next index in a `search` table range, or `None` at its end.
fn next_index(range: &mut redb::Range<'_, (u64, u64), ()>) -> Result<Option<u64>, LogError> {
    match range.next() {
        Some(row) => Ok(Some(row?.0.value().1)),
        None => Ok(None),
    }
}

impl Log {
    /// The pending rows (not yet in the `search` table) of `terms` for indices in
    /// `[start, end)`. Called before the read transaction is opened (see
    /// `sequencer::Pending`).
    fn pending_rows(&self, terms: &[u64], start: u64, end: u64) -> BTreeSet<(u64, u64)> {
        if start >= end {
            return BTreeSet::new();
        }
        let p = self.pending.read().unwrap_or_else(|p| p.into_inner());
        terms
            .iter()
            .flat_map(|t| p.range((*t, start)..=(*t, end - 1)).copied())
            .collect()
    }

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
        let Some((driver, others)) = terms.split_first() else {
            return Ok(out);
        };
        let start = after.map_or(0, |a| a.saturating_add(1));
        if start >= size {
            return Ok(out);
        }
        let all_terms: Vec<u64> = terms.iter().flatten().copied().collect();
        let pending = self.pending_rows(&all_terms, start, size);
        let rtx = self.db.begin_read()?;
        let index = rtx.open_table(SEARCH)?;
        let tiles = rtx.open_table(TILES)?;
        let mut bundles = EntryReader::new(&tiles, size);
        let mut scanned = 0usize;
        // The driver's rows in index order: for each of its alternative terms, the
        // table's and the pending ones merged; then the alternatives merged.
        let mut heads = Vec::with_capacity(driver.len());
        for &t in driver {
            let mut rows = Rows {
                table: index.range((t, start)..=(t, size - 1))?,
                from_table: None,
                held: pending
                    .range((t, start)..=(t, size - 1))
                    .map(|(_, i)| *i)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .peekable(),
            };
            rows.from_table = next_index(&mut rows.table)?;
            let first = rows.next()?;
            heads.push((first, rows));
        }
        while let Some(i) = heads.iter().filter_map(|(h, _)| *h).min() {
            for (h, rows) in heads.iter_mut() {
                if *h == Some(i) {
                    *h = rows.next()?;
                }
            }
            scanned += 1;
            if scanned > SCAN_BUDGET {
                out.next = Some(i - 1);
                break;
            }
            let mut all = true;
            for alts in others {
                let mut any = false;
                for t in alts {
                    if pending.contains(&(*t, i)) || index.get((*t, i))?.is_some() {
                        any = true;
                        break;
                    }
                }
                if !any {
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
        let pending = self.pending_rows(&[t], 0, size);
        let rtx = self.db.begin_read()?;
        let index = rtx.open_table(SEARCH)?;
        let tiles = rtx.open_table(TILES)?;
        let mut bundles = EntryReader::new(&tiles, size);
        let mut candidates = BTreeSet::new();
        for row in index.range((t, 0)..=(t, size - 1))? {
            candidates.insert(row?.0.value().1);
        }
        candidates.extend(pending.iter().map(|(_, i)| *i));
        for i in candidates {
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
            ids: self.name_ids(repository, None)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use pqreg_spec::Digest;

    fn entries(from: u64, n: u64) -> Vec<LogEntry> {
        (from..from + n)
            .map(|i| {
                LogEntry::signature(
                    &format!("acme/m{}", i % 3),
                    (i % 2 == 0).then_some("v1"),
                    Digest::sha256(&i.to_be_bytes()),
                    Digest::sha256(&i.to_le_bytes()),
                    KeyId(Digest::sha256(&(i % 5).to_be_bytes())),
                    1_700_000_000 + i,
                )
                .unwrap()
            })
            .collect()
    }

    fn pending(log: &Log) -> usize {
        log.pending.read().unwrap().len()
    }

    /// Every search and leaf lookup sees exactly the published entries whether their rows
    /// are pending, flushed to the table, or rebuilt from the entries after the log was
    /// closed without flushing (as after a crash).
    #[test]
    fn rows_written_behind_are_found_pending_flushed_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let check = |log: &Log, n: u64| {
            let all = entries(0, n);
            let want: Vec<u64> = (0..n).filter(|i| i % 3 == 1 && i % 5 == 2).collect();
            let filter = Filter {
                repository: Some("acme/m1".into()),
                signer: Some(KeyId(Digest::sha256(&2u64.to_be_bytes()))),
                ..Filter::default()
            };
            let mut got = Vec::new();
            let mut after = None;
            loop {
                let page = log.search(&filter, after, MAX_LIMIT).unwrap();
                got.extend(page.entries.iter().map(|h| h.index));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert_eq!(got, want);
            for i in [0, n / 2, n - 1] {
                let leaf = merkle::leaf_hash(&all[i as usize].encode().unwrap());
                assert_eq!(log.index_of_leaf(&leaf, n).unwrap(), Some(i));
            }
        };
        let log = Log::open(dir.path(), "example.org/log", vec![]).unwrap();
        log.append_bulk(&entries(0, 100)).unwrap();
        assert_eq!(pending(&log), 100 * 5 - 50);
        check(&log, 100);
        drop(log);

        // Reopened without a flush: the pending rows come back from the entries.
        let log = Log::open(dir.path(), "example.org/log", vec![]).unwrap();
        assert_eq!(pending(&log), 450);
        check(&log, 100);
        // Enough rows to flush: all of them go to the table in that batch's transaction.
        log.append_bulk(&entries(100, 4000)).unwrap();
        assert_eq!(pending(&log), 0);
        log.append_bulk(&entries(4100, 10)).unwrap();
        assert_eq!(pending(&log), 45);
        check(&log, 4110);
        drop(log);

        let log = Log::open(dir.path(), "example.org/log", vec![]).unwrap();
        assert_eq!(pending(&log), 45);
        check(&log, 4110);
    }
}
