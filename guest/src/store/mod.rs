//! The key-value store the guest keeps its state in.
//!
//! In a component this is `wasi:keyvalue` (see `crate::wasi::keyvalue`); native
//! tests use [`memory::MemoryStore`].

pub mod memory;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("no such store")]
    NoSuchStore,
    #[error("access to the store denied")]
    AccessDenied,
    #[error("store error: {0}")]
    Other(String),
}

/// The operations the guest needs. Counters are changed only through
/// [`KeyValue::increment`], which is atomic across instances; a get-then-set
/// from parallel instances would lose updates.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Adds `delta` to the counter at `key` (absent = 0) and returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;

    /// Sets `key` to `new` only if its value is still `expected` (`None`:
    /// absent); `Ok(false)` when it changed.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;

    /// Every key in the store, in no particular order.
    fn list_keys(&self) -> Result<Vec<String>, StoreError>;

    /// Reads a counter. Counters are read through `increment(key, 0)` because
    /// hosts differ in how they encode them (decimal text, little-endian…).
    fn counter(&self, key: &str) -> Result<i64, StoreError> {
        self.increment(key, 0)
    }
}
