//! What a key-value backend must provide. The embedded store implements it
//! today; a Redis backend for replicas implements the same trait.

#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("value at {key:?} is not a counter")]
    NotACounter { key: String },
    #[error("counter overflow at {key:?}")]
    Overflow { key: String },
    #[error(
        "the store is full: it holds at most {limit} bytes of keys and values (--max-store-mib)"
    )]
    Full { limit: u64 },
}

/// Outcome of a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    Done,
    /// The value changed since it was read; this is the value now.
    Conflict(Option<Vec<u8>>),
}

/// Keys in one backend are shared by every instance and every replica using
/// it. Every method is durable when it returns and atomic with respect to
/// concurrent callers.
pub trait Backend: Send + Sync + 'static {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), BackendError>;
    fn delete(&self, key: &str) -> Result<(), BackendError>;
    /// Up to `limit` keys after `after`, in order.
    fn keys_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, BackendError>;
    /// Adds `delta` to the decimal counter at `key` (absent = 0).
    fn increment(&self, key: &str, delta: i64) -> Result<i64, BackendError>;
    /// Sets `key` to `new` only if its value is still `expected`.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<Swap, BackendError>;
}

/// Counters are stored as decimal text, as `wasmtime-wasi-keyvalue` does.
pub fn parse_counter(key: &str, bytes: Option<&[u8]>) -> Result<i64, BackendError> {
    match bytes {
        None => Ok(0),
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .ok_or_else(|| BackendError::NotACounter { key: key.into() }),
    }
}
