//! Keyed names (spec/transparency-log.md §3.2): which repositories the log names by keyed
//! ids, and their name keys.
//!
//! A repository's name key is 32 random bytes in the `name_keys` table of the log
//! database (repository name -> key), created with the repository's first keyed entry and
//! never changed: every keyed entry of the repository, and every client that verifies
//! one, uses it. Keys are cached in memory once read.

use std::collections::HashMap;
use std::sync::Mutex;

use pqreg_spec::logentry::{EntryName, LogEntry, NameId, NameKey};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{Log, LogError};
use crate::auth::{Action, Auth, Principal};

/// The name-key table.
pub(super) const NAME_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("name_keys");

/// `log.entry_names`: how entries name repositories and tags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryNames {
    /// Keyed ids for every repository anonymous callers may not pull.
    #[default]
    Auto,
    /// Names, always.
    Clear,
    /// Keyed ids, always.
    Hashed,
}

impl EntryNames {
    /// Whether entries of `repository` carry keyed ids under this setting and `auth`'s
    /// rules as they are now.
    pub fn keyed(self, auth: &Auth, repository: &str) -> bool {
        match self {
            EntryNames::Clear => false,
            EntryNames::Hashed => true,
            EntryNames::Auto => !auth
                .actions(&Principal::Anonymous, repository)
                .has(Action::Pull),
        }
    }
}

/// The keys read so far.
#[derive(Debug, Default)]
pub(super) struct KeyCache(Mutex<HashMap<String, NameKey>>);

impl KeyCache {
    fn get(&self, repository: &str) -> Option<NameKey> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(repository)
            .cloned()
    }

    fn put(&self, repository: &str, key: &NameKey) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repository.to_owned(), key.clone());
    }
}

fn decode(bytes: &[u8]) -> Result<NameKey, LogError> {
    let k: [u8; 32] = bytes
        .try_into()
        .map_err(|_| LogError::Batch("a stored name key is not 32 bytes".into()))?;
    Ok(NameKey(k))
}

impl Log {
    /// The name key of `repository`, if it has one (blocking: a database read).
    pub fn name_key(&self, repository: &str) -> Result<Option<NameKey>, LogError> {
        if let Some(k) = self.names.get(repository) {
            return Ok(Some(k));
        }
        let rtx = self.db.begin_read()?;
        let t = match rtx.open_table(NAME_KEYS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(v) = t.get(repository)? else {
            return Ok(None);
        };
        let key = decode(v.value())?;
        self.names.put(repository, &key);
        Ok(Some(key))
    }

    /// The name key of `repository`, created now if it has none (blocking: a database
    /// write the first time).
    pub fn name_key_or_create(&self, repository: &str) -> Result<NameKey, LogError> {
        if let Some(k) = self.name_key(repository)? {
            return Ok(k);
        }
        let wtx = self.db.begin_write()?;
        let key = {
            let mut t = wtx.open_table(NAME_KEYS)?;
            // Another request may have created it since the read above.
            let existing = t.get(repository)?.map(|v| decode(v.value()));
            match existing {
                Some(k) => k?,
                None => {
                    let k = NameKey::generate()?;
                    t.insert(repository, &k.0[..])?;
                    k
                }
            }
        };
        wtx.commit()?;
        self.names.put(repository, &key);
        Ok(key)
    }

    /// The keyed ids of `repository` (and `tag`) if the repository has a name key.
    pub fn name_ids(
        &self,
        repository: &str,
        tag: Option<&str>,
    ) -> Result<Option<(NameId, Option<NameId>)>, LogError> {
        let Some(key) = self.name_key(repository)? else {
            return Ok(None);
        };
        let rid = key.repository_id(self.origin(), repository)?;
        let tid = tag.map(|t| key.tag_id(repository, t)).transpose()?;
        Ok(Some((rid, tid)))
    }

    /// `entry` (built with clear names) as the log records it: with keyed ids when
    /// `keyed` (creating the repository's name key if needed), else unchanged.
    pub fn for_the_log(&self, entry: LogEntry, keyed: bool) -> Result<LogEntry, LogError> {
        let EntryName::Clear(repository) = &entry.repository else {
            return Ok(entry);
        };
        if !keyed {
            return Ok(entry);
        }
        let key = self.name_key_or_create(repository)?;
        Ok(entry.conceal(&key, self.origin())?)
    }

    /// Whether the logged `entry` names `repository`, in clear or by its keyed id.
    pub fn entry_names(&self, entry: &LogEntry, repository: &str) -> Result<bool, LogError> {
        let key = match entry.repository {
            EntryName::Clear(_) => None,
            EntryName::Id(_) => self.name_key(repository)?,
        };
        Ok(entry.names_repository(repository, key.as_ref(), self.origin())?)
    }
}

/// `entry` (built with clear names) as the registry logs it, by `log.entry_names` and the
/// access rules in force (blocking: may create the repository's name key).
pub fn prepare(st: &crate::state::AppState, entry: LogEntry) -> Result<LogEntry, LogError> {
    let keyed = match &entry.repository {
        EntryName::Clear(r) => st.cfg.log.entry_names.keyed(&st.auth, r),
        EntryName::Id(_) => false,
    };
    st.log.for_the_log(entry, keyed)
}
