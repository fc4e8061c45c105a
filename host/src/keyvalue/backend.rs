//! What a key-value backend must provide: the embedded store for one
//! process, Redis for replicas.

use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("storage failure: {0}")]
    Storage(String),
    /// The store cannot be reached now (Redis down, a timeout); the same
    /// call may succeed later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
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

/// One page of a key listing. Pages are never empty unless they are the
/// last; the cursor is the backend's own and means nothing elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<String>,
    pub cursor: Option<String>,
}

pub type BackendFuture<T> = Pin<Box<dyn Future<Output = Result<T, BackendError>> + Send>>;

/// Keys in one backend are shared by every instance and every replica using
/// it. Every method is durable when its future resolves and atomic with
/// respect to concurrent callers, in this process or another.
pub trait Backend: Send + Sync + 'static {
    fn get(&self, key: String) -> BackendFuture<Option<Vec<u8>>>;
    fn set(&self, key: String, value: Vec<u8>) -> BackendFuture<()>;
    fn delete(&self, key: String) -> BackendFuture<()>;
    /// The page of keys after `cursor` (the start when `None`). A listing
    /// may return a key twice (Redis `SCAN`), never miss one that existed
    /// throughout.
    fn list_keys(&self, cursor: Option<String>) -> BackendFuture<KeyPage>;
    /// Adds `delta` to the decimal counter at `key` (absent = 0).
    fn increment(&self, key: String, delta: i64) -> BackendFuture<i64>;
    /// Sets `key` to `new` only if its value is still `expected`.
    fn compare_and_swap(
        &self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> BackendFuture<Swap>;
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
