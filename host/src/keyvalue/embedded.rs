//! The embedded backend: one `redb` file. redb commits are durable
//! (fsync before `commit` returns) and a crash mid-transaction leaves the
//! last committed state; write transactions are serialised, which makes
//! increment and compare-and-swap atomic across instances.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::backend::{Backend, BackendError, BackendFuture, KeyPage, Swap, parse_counter};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// Largest page of keys a listing returns.
const LIST_PAGE: usize = 1000;

/// The backend: redb calls block on disk, so they run on tokio's blocking
/// pool.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Redb>,
}

struct Redb {
    db: Database,
    /// Most bytes of keys and values the store may hold.
    max_bytes: u64,
    /// Bytes of keys and values held now. Changed only inside write
    /// transactions, which redb serialises, so checks against it are exact.
    used: AtomicU64,
}

fn storage(err: impl std::fmt::Display) -> BackendError {
    BackendError::Storage(err.to_string())
}

impl EmbeddedStore {
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self, BackendError> {
        Ok(EmbeddedStore {
            db: Arc::new(Redb::open(path, max_bytes)?),
        })
    }

    fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Redb) -> Result<R, BackendError> + Send + 'static,
    ) -> BackendFuture<R> {
        let db = self.db.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&db))
                .await
                .map_err(|err| BackendError::Storage(err.to_string()))?
        })
    }
}

impl Backend for EmbeddedStore {
    fn get(&self, key: String) -> BackendFuture<Option<Vec<u8>>> {
        self.blocking(move |db| db.get(&key))
    }

    fn set(&self, key: String, value: Vec<u8>) -> BackendFuture<()> {
        self.blocking(move |db| db.set(&key, &value))
    }

    fn delete(&self, key: String) -> BackendFuture<()> {
        self.blocking(move |db| db.delete(&key))
    }

    fn list_keys(&self, cursor: Option<String>) -> BackendFuture<KeyPage> {
        self.blocking(move |db| {
            let keys = db.keys_after(cursor.as_deref(), LIST_PAGE)?;
            let cursor = (keys.len() == LIST_PAGE)
                .then(|| keys.last().cloned())
                .flatten();
            Ok(KeyPage { keys, cursor })
        })
    }

    fn increment(&self, key: String, delta: i64) -> BackendFuture<i64> {
        self.blocking(move |db| db.increment(&key, delta))
    }

    fn compare_and_swap(
        &self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> BackendFuture<Swap> {
        self.blocking(move |db| db.compare_and_swap(&key, expected.as_deref(), &new))
    }
}

impl Redb {
    fn open(path: &Path, max_bytes: u64) -> Result<Self, BackendError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        let db = Database::create(path).map_err(storage)?;
        // Create the table up front so readers never see it missing.
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(TABLE).map_err(storage)?;
        txn.commit().map_err(storage)?;
        let used = {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(TABLE).map_err(storage)?;
            let mut used = 0u64;
            for entry in table.iter().map_err(storage)? {
                let (key, value) = entry.map_err(storage)?;
                used += (key.value().len() + value.value().len()) as u64;
            }
            used
        };
        Ok(Redb {
            db,
            max_bytes,
            used: AtomicU64::new(used),
        })
    }

    /// Bytes of keys and values held.
    #[cfg(test)]
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Inserts within a write transaction, keeping the store under its
    /// size limit. A write that shrinks or keeps the size always passes, so
    /// a full store can still be cleaned up.
    fn put(
        &self,
        table: &mut redb::Table<&str, &[u8]>,
        key: &str,
        value: &[u8],
    ) -> Result<(), BackendError> {
        let old = table
            .get(key)
            .map_err(storage)?
            .map(|v| key.len() + v.value().len())
            .unwrap_or(0) as u64;
        let new = (key.len() + value.len()) as u64;
        let used = self.used.load(Ordering::Relaxed);
        let after = used - old.min(used) + new;
        if new > old && after > self.max_bytes {
            return Err(BackendError::Full {
                limit: self.max_bytes,
            });
        }
        table.insert(key, value).map_err(storage)?;
        self.used.store(after, Ordering::Relaxed);
        Ok(())
    }

    fn remove(&self, table: &mut redb::Table<&str, &[u8]>, key: &str) -> Result<(), BackendError> {
        if let Some(old) = table.remove(key).map_err(storage)? {
            let freed = (key.len() + old.value().len()) as u64;
            let used = self.used.load(Ordering::Relaxed);
            self.used
                .store(used.saturating_sub(freed), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Runs `f` on the table inside one write transaction and commits.
    fn write<R>(
        &self,
        f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<R, BackendError>,
    ) -> Result<R, BackendError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let used_before = self.used.load(Ordering::Relaxed);
        let result = {
            let mut table = txn.open_table(TABLE).map_err(storage)?;
            f(&mut table)
        };
        let committed = result.and_then(|result| {
            txn.commit().map_err(storage)?;
            Ok(result)
        });
        if committed.is_err() {
            self.used.store(used_before, Ordering::Relaxed);
        }
        committed
    }
}

impl Redb {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(TABLE).map_err(storage)?;
        Ok(table.get(key).map_err(storage)?.map(|v| v.value().to_vec()))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.write(|table| self.put(table, key, value))
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.write(|table| self.remove(table, key))
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
                self.put(table, key, next.to_string().as_bytes())?;
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
            self.put(table, key, new)?;
            Ok(Swap::Done)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> (Redb, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("cpb-kv-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("store.redb");
        (Redb::open(&path, u64::MAX).unwrap(), dir)
    }

    #[test]
    fn values_survive_reopening() {
        let (store, dir) = temp_store("reopen");
        store.set("a", b"1").unwrap();
        store.increment("n", 5).unwrap();
        drop(store);
        let store = Redb::open(&dir.join("store.redb"), u64::MAX).unwrap();
        assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.increment("n", 0).unwrap(), 5);
        store.delete("a").unwrap();
        assert_eq!(store.get("a").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_store_stays_under_its_size_limit_and_a_full_store_can_be_cleaned() {
        let dir = std::env::temp_dir().join(format!("cpb-kv-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("store.redb");
        let store = Redb::open(&path, 100).unwrap();
        store.set("a", &[0; 60]).unwrap();
        assert!(matches!(
            store.set("b", &[0; 60]),
            Err(BackendError::Full { limit: 100 })
        ));
        assert_eq!(store.get("b").unwrap(), None);
        // Rewriting a value no larger, deleting, and then writing again pass.
        store.set("a", &[1; 50]).unwrap();
        store.delete("a").unwrap();
        assert_eq!(store.used_bytes(), 0);
        store.set("b", &[0; 60]).unwrap();
        drop(store);
        let store = Redb::open(&path, 100).unwrap();
        assert_eq!(store.used_bytes(), 61, "counted again on opening");
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
