//! `wasi:keyvalue@0.2.0-draft2` (store and atomics) for the guest, over a
//! [`Backend`]: the embedded store or Redis, chosen by [`StoreLocation`].

mod backend;
mod draft;
mod embedded;
mod location;
mod metered;
mod redis;

pub use backend::{Backend, BackendError, KeyPage, Swap};
pub use embedded::EmbeddedStore;
pub use location::StoreLocation;
pub use metered::Metered;
pub use redis::{RedisStore, RedisTimeouts};

use std::sync::Arc;

use wasmtime::component::{HasData, Resource, ResourceTable};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "calplanebot:service/keyvalue-draft2",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store@0.2.0-draft2.bucket": crate::keyvalue::Bucket,
            "wasi:keyvalue/atomics@0.2.0-draft2.cas": crate::keyvalue::Cas,
        },
        trappable_error_type: {
            "wasi:keyvalue/store@0.2.0-draft2.error" => crate::keyvalue::StoreError,
        },
    });
}

use bindings::wasi::keyvalue0_2_0_draft2::{atomics, store};

/// The one store name this host serves (Spin's default).
pub const STORE_NAME: &str = "default";

pub enum StoreError {
    NoSuchStore,
    Other(String),
}

/// What the guest is told: the guest may repeat it to any caller, so where
/// the backend's detail names the store's address it stays in the host's
/// log.
impl From<BackendError> for StoreError {
    fn from(err: BackendError) -> Self {
        match &err {
            BackendError::Unavailable(detail) => {
                tracing::warn!(%detail, "the key-value store is unavailable");
                StoreError::Other("the store is unavailable".into())
            }
            BackendError::Storage(detail) => {
                tracing::error!(%detail, "the key-value store failed");
                StoreError::Other("storage failure".into())
            }
            BackendError::NotACounter { .. }
            | BackendError::Overflow { .. }
            | BackendError::Full { .. } => StoreError::Other(err.to_string()),
        }
    }
}

impl From<wasmtime::component::ResourceTableError> for StoreError {
    fn from(err: wasmtime::component::ResourceTableError) -> Self {
        StoreError::Other(err.to_string())
    }
}

pub struct Bucket;

/// A compare-and-swap handle: the key and the value seen when it was made.
pub struct Cas {
    key: String,
    seen: Option<Vec<u8>>,
}

/// Sizes a guest's keys and values may have. The store's total size is
/// the backend's to enforce ([`EmbeddedStore::open`]).
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
}

impl StoreLimits {
    /// The error the guest sees for a key or value over its limit:
    /// `error::other` naming the flag that raises it.
    fn check(&self, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        if key.len() > self.max_key_bytes {
            return Err(StoreError::Other(format!(
                "key of {} bytes is over the host's limit of {} bytes (--max-key-bytes)",
                key.len(),
                self.max_key_bytes
            )));
        }
        match value {
            Some(value) if value.len() > self.max_value_bytes => Err(StoreError::Other(format!(
                "value of {} bytes is over the host's limit of {} bytes (--max-value-mib)",
                value.len(),
                self.max_value_bytes
            ))),
            _ => Ok(()),
        }
    }
}

/// The per-store view handed to the generated bindings.
pub struct KeyValue<'a> {
    pub backend: &'a Arc<dyn Backend>,
    pub limits: StoreLimits,
    pub table: &'a mut ResourceTable,
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValue<'a>;
}

/// Links both versions a guest may import: draft2 (Spin's) and draft
/// (`wasmtime serve`'s).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> KeyValue<'_>,
) -> wasmtime::Result<()> {
    add_draft2_to_linker(linker, view)?;
    add_draft_to_linker(linker, view)
}

/// `wasi:keyvalue@0.2.0-draft2` alone.
pub fn add_draft2_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> KeyValue<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<_, HasKeyValue>(linker, view)?;
    atomics::add_to_linker::<_, HasKeyValue>(linker, view)?;
    Ok(())
}

/// `wasi:keyvalue@0.2.0-draft` alone.
pub use draft::add_to_linker as add_draft_to_linker;

/// What both WIT versions do alike; their bindings only adapt the types.
impl KeyValue<'_> {
    /// Starts a backend call. The future does not borrow `self`, so the
    /// table stays usable while it runs.
    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Backend) -> backend::BackendFuture<R>,
    ) -> impl Future<Output = Result<R, StoreError>> + Send + 'static {
        let call = f(self.backend.as_ref());
        async move { call.await.map_err(StoreError::from) }
    }

    /// The store names a guest may open: `default` (Spin's and this host's),
    /// or `""`, the only one `wasmtime serve` and wasmCloud accept.
    fn check_store_name(identifier: &str) -> Result<(), StoreError> {
        if identifier != STORE_NAME && !identifier.is_empty() {
            return Err(StoreError::NoSuchStore);
        }
        Ok(())
    }

    /// A write, refused before it starts when it breaks the limits.
    fn checked_set(
        &self,
        key: String,
        value: Vec<u8>,
    ) -> Result<impl Future<Output = Result<(), StoreError>> + Send + 'static, StoreError> {
        self.limits.check(&key, Some(&value))?;
        Ok(self.run(move |b| b.set(key, value)))
    }

    /// An increment, refused before it starts when the key breaks the limits.
    fn checked_increment(
        &self,
        key: String,
        delta: i64,
    ) -> Result<impl Future<Output = Result<i64, StoreError>> + Send + 'static, StoreError> {
        self.limits.check(&key, None)?;
        Ok(self.run(move |b| b.increment(key, delta)))
    }
}

impl store::Host for KeyValue<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, StoreError> {
        Self::check_store_name(&identifier)?;
        Ok(self.table.push(Bucket)?)
    }

    fn convert_error(&mut self, err: StoreError) -> wasmtime::Result<store::Error> {
        Ok(match err {
            StoreError::NoSuchStore => store::Error::NoSuchStore,
            StoreError::Other(message) => store::Error::Other(message),
        })
    }
}

impl store::HostBucket for KeyValue<'_> {
    async fn get(
        &mut self,
        _: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(move |b| b.get(key)).await
    }

    async fn set(
        &mut self,
        _: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.checked_set(key, value)?.await
    }

    async fn delete(&mut self, _: Resource<Bucket>, key: String) -> Result<(), StoreError> {
        self.run(move |b| b.delete(key)).await
    }

    async fn exists(&mut self, _: Resource<Bucket>, key: String) -> Result<bool, StoreError> {
        Ok(self.run(move |b| b.get(key)).await?.is_some())
    }

    async fn list_keys(
        &mut self,
        _: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, StoreError> {
        let KeyPage { keys, cursor } = self.run(move |b| b.list_keys(cursor)).await?;
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValue<'_> {
    async fn increment(
        &mut self,
        _: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64, StoreError> {
        self.checked_increment(key, delta)?.await
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Cas { key, seen } = self.table.delete(cas)?;
        if let Err(StoreError::Other(message)) = self.limits.check(&key, Some(&value)) {
            return Ok(Err(atomics::CasError::StoreError(store::Error::Other(
                message,
            ))));
        }
        let attempt = {
            let key = key.clone();
            self.run(move |b| b.compare_and_swap(key, seen, value))
                .await
        };
        Ok(match attempt {
            Ok(Swap::Done) => Ok(()),
            Ok(Swap::Conflict(now)) => {
                let fresh = self.table.push(Cas { key, seen: now })?;
                Err(atomics::CasError::CasFailed(fresh))
            }
            Err(StoreError::NoSuchStore) => {
                Err(atomics::CasError::StoreError(store::Error::NoSuchStore))
            }
            Err(StoreError::Other(message)) => {
                Err(atomics::CasError::StoreError(store::Error::Other(message)))
            }
        })
    }
}

impl atomics::HostCas for KeyValue<'_> {
    async fn new(&mut self, _: Resource<Bucket>, key: String) -> Result<Resource<Cas>, StoreError> {
        let seen = {
            let key = key.clone();
            self.run(move |b| b.get(key)).await?
        };
        Ok(self.table.push(Cas { key, seen })?)
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.table.get(&cas)?.seen.clone())
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
