//! [`KeyValue`] over `wasi:keyvalue`, in the version chosen at build time.

use crate::store::{Durability, KeyValue, StoreError};

use super::bindings::{atomics, store};

pub struct WasiStore {
    bucket: store::Bucket,
    #[cfg(feature = "wasmtime-serve")]
    durability: std::cell::OnceCell<Durability>,
}

#[cfg(feature = "wasmtime-serve")]
/// Where [`KeyValue::durability`] writes its probes, one key per probe so
/// that two health checks at once do not read each other's.
const DURABILITY_PROBE: &str = "store:durability-probe:";

impl WasiStore {
    /// Opens store `"default"` (Spin's and calplanebot's host's name), falling
    /// back to `""` (the only name `wasmtime serve` accepts).
    pub fn open() -> Result<Self, StoreError> {
        let bucket = store::open("default")
            .or_else(|_| store::open(""))
            .map_err(convert)?;
        Ok(WasiStore {
            bucket,
            #[cfg(feature = "wasmtime-serve")]
            durability: std::cell::OnceCell::new(),
        })
    }
}

fn convert(err: store::Error) -> StoreError {
    match err {
        store::Error::NoSuchStore => StoreError::NoSuchStore,
        store::Error::AccessDenied => StoreError::AccessDenied,
        store::Error::Other(message) => StoreError::Other(message),
    }
}

impl KeyValue for WasiStore {
    fn list_keys(&self) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            #[cfg(not(feature = "wasmtime-serve"))]
            let page = self.bucket.list_keys(cursor.as_deref());
            #[cfg(feature = "wasmtime-serve")]
            let page = self.bucket.list_keys(cursor);
            let page = page.map_err(convert)?;
            let done = page.keys.is_empty();
            keys.extend(page.keys);
            match page.cursor {
                Some(next) if !done => cursor = Some(next),
                _ => break,
            }
        }
        // A Redis listing (SCAN) may name a key twice.
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(convert)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket.set(key, value).map_err(convert)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket.delete(key).map_err(convert)
    }

    #[cfg(not(feature = "wasmtime-serve"))]
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(convert)?;
        if cas.current().map_err(convert)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(err)) => Err(convert(err)),
        }
    }

    /// `@0.2.0-draft` has no compare-and-swap: this is get-then-set, atomic
    /// only where the host serialises requests (`wasmtime serve` keeps the
    /// store per request anyway, so nothing is shared there).
    #[cfg(feature = "wasmtime-serve")]
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        if self.get(key)?.as_deref() != expected {
            return Ok(false);
        }
        self.set(key, new).map(|()| true)
    }

    /// The hosts of the default build (calplanebot's, Spin) keep what is
    /// written and swap atomically: nothing to ask.
    #[cfg(not(feature = "wasmtime-serve"))]
    fn durability(&self) -> Result<Durability, StoreError> {
        Ok(Durability {
            persists: true,
            atomic_compare_and_swap: true,
        })
    }

    /// `wasmtime serve` forgets at every `open`, wasmCloud's provider does
    /// not: a probe written, the store opened again, read back; asked once
    /// per request.
    #[cfg(feature = "wasmtime-serve")]
    fn durability(&self) -> Result<Durability, StoreError> {
        if let Some(known) = self.durability.get() {
            return Ok(*known);
        }
        let key = format!("{DURABILITY_PROBE}{}", uuid::Uuid::new_v4());
        self.set(&key, b"1")?;
        let persists = WasiStore::open()?.get(&key)?.is_some();
        self.delete(&key)?;
        let durability = Durability {
            persists,
            atomic_compare_and_swap: false,
        };
        Ok(*self.durability.get_or_init(|| durability))
    }

    #[cfg(not(feature = "wasmtime-serve"))]
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(convert)
    }

    /// `@0.2.0-draft` counts in `u64`: counters there cannot go down.
    #[cfg(feature = "wasmtime-serve")]
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let delta = u64::try_from(delta)
            .map_err(|_| StoreError::Other("this keyvalue version cannot decrement".into()))?;
        let value = atomics::increment(&self.bucket, key, delta).map_err(convert)?;
        i64::try_from(value).map_err(|_| StoreError::Other("counter overflow".into()))
    }
}
