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

/// What a store keeps, as found by asking it ([`KeyValue::durability`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    /// A value written is still there when the store is opened again. Not
    /// so under `wasmtime serve`, whose in-memory store starts again from
    /// its preset data at every `open` (wasmtime issue 11187).
    pub persists: bool,
    /// Compare-and-swap is one atomic step in the store, so instances that
    /// share it can hold a lease. `wasi:keyvalue@0.2.0-draft` has none.
    pub atomic_compare_and_swap: bool,
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

    /// What this store keeps: a fresh value written, the store opened
    /// again, the value read back. Costs a write and a read.
    fn durability(&self) -> Result<Durability, StoreError>;

    /// Reads a counter. Counters are read through `increment(key, 0)` because
    /// hosts differ in how they encode them (decimal text, little-endian…).
    fn counter(&self, key: &str) -> Result<i64, StoreError> {
        self.increment(key, 0)
    }
}
