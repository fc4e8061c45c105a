//! The embedded backend: one `redb` file. redb commits are durable
//! (fsync before `commit` returns) and a crash mid-transaction leaves the
//! last committed state; write transactions are serialised, which makes
//! increment and compare-and-swap atomic across instances.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::backend::{Backend, BackendError, Swap, parse_counter};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");

pub struct EmbeddedStore {
    db: Database,
}

fn storage(err: impl std::fmt::Display) -> BackendError {
    BackendError::Storage(err.to_string())
}

impl EmbeddedStore {
    pub fn open(path: &Path) -> Result<Self, BackendError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        let db = Database::create(path).map_err(storage)?;
        // Create the table up front so readers never see it missing.
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(TABLE).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(EmbeddedStore { db })
    }

    /// Runs `f` on the table inside one write transaction and commits.
    fn write<R>(
        &self,
        f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<R, BackendError>,
    ) -> Result<R, BackendError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let result = {
            let mut table = txn.open_table(TABLE).map_err(storage)?;
            f(&mut table)?
        };
        txn.commit().map_err(storage)?;
        Ok(result)
    }
}

impl Backend for EmbeddedStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(TABLE).map_err(storage)?;
        Ok(table.get(key).map_err(storage)?.map(|v| v.value().to_vec()))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.write(|table| {
            table.insert(key, value).map_err(storage)?;
            Ok(())
        })
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.write(|table| {
            table.remove(key).map_err(storage)?;
            Ok(())
        })
    }

    fn keys_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, BackendError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(TABLE).map_err(storage)?;
        let range = match after {
            Some(after) => {
                table.range::<&str>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            }
            None => table.range::<&str>(..),
        }
        .map_err(storage)?;
        range
            .take(limit)
            .map(|entry| entry.map(|(k, _)| k.value().to_string()).map_err(storage))
            .collect()
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, BackendError> {
        self.write(|table| {
            let current = {
                let stored = table.get(key).map_err(storage)?;
                parse_counter(key, stored.as_ref().map(|v| v.value()))?
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| BackendError::Overflow { key: key.into() })?;
            if delta != 0 {
                table
                    .insert(key, next.to_string().as_bytes())
                    .map_err(storage)?;
            }
            Ok(next)
        })
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<Swap, BackendError> {
        self.write(|table| {
            let current = table.get(key).map_err(storage)?.map(|v| v.value().to_vec());
            if current.as_deref() != expected {
                return Ok(Swap::Conflict(current));
            }
            table.insert(key, new).map_err(storage)?;
            Ok(Swap::Done)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn temp_store(name: &str) -> (EmbeddedStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("cpb-kv-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("store.redb");
        (EmbeddedStore::open(&path).unwrap(), dir)
    }

    #[test]
    fn values_survive_reopening() {
        let (store, dir) = temp_store("reopen");
        store.set("a", b"1").unwrap();
        store.increment("n", 5).unwrap();
        drop(store);
        let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
        assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.increment("n", 0).unwrap(), 5);
        store.delete("a").unwrap();
        assert_eq!(store.get("a").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn parallel_increments_are_exact() {
        let (store, dir) = temp_store("incr");
        let store = Arc::new(store);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        store.increment("c", 1).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(store.increment("c", 0).unwrap(), 200);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn compare_and_swap_detects_a_change() {
        let (store, dir) = temp_store("cas");
        assert_eq!(store.compare_and_swap("k", None, b"1").unwrap(), Swap::Done);
        assert_eq!(
            store.compare_and_swap("k", None, b"2").unwrap(),
            Swap::Conflict(Some(b"1".to_vec()))
        );
        assert_eq!(
            store.compare_and_swap("k", Some(b"1"), b"2").unwrap(),
            Swap::Done
        );
        assert_eq!(store.get("k").unwrap(), Some(b"2".to_vec()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keys_are_listed_in_pages() {
        let (store, dir) = temp_store("keys");
        for k in ["a", "b", "c"] {
            store.set(k, b"").unwrap();
        }
        assert_eq!(store.keys_after(None, 2).unwrap(), ["a", "b"]);
        assert_eq!(store.keys_after(Some("b"), 2).unwrap(), ["c"]);
        assert!(store.increment("a", 1).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
