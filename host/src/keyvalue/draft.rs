//! `wasi:keyvalue@0.2.0-draft` (what `wasmtime serve` and wasmCloud offer), so
//! the guest built for them runs here too, on the same backend. It differs
//! from draft2 in three ways: counters are `u64`, listing cursors are `u64`,
//! and there is no compare-and-swap.

use wasmtime::component::Resource;

use super::{KeyPage, KeyValue, StoreError};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "calplanebot:service/keyvalue-draft",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store@0.2.0-draft.bucket": crate::keyvalue::draft::DraftBucket,
        },
        trappable_error_type: {
            "wasi:keyvalue/store@0.2.0-draft.error" => crate::keyvalue::StoreError,
        },
    });
}

use bindings::wasi::keyvalue0_2_0_draft::{atomics, store};

/// A bucket, and the backend cursors it has handed out: this version's
/// cursors are numbers, the backends' are text, so a cursor here is the
/// index of one handed out before by the same bucket.
#[derive(Default)]
pub struct DraftBucket {
    cursors: Vec<String>,
}

/// Most cursors one bucket hands out: a listing longer than this many pages
/// is refused rather than growing without bound.
const MAX_CURSORS: usize = 100_000;

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> KeyValue<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<_, super::HasKeyValue>(linker, view)?;
    atomics::add_to_linker::<_, super::HasKeyValue>(linker, view)?;
    Ok(())
}

impl store::Host for KeyValue<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<DraftBucket>, StoreError> {
        Self::check_store_name(&identifier)?;
        Ok(self.table.push(DraftBucket::default())?)
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
        _: Resource<DraftBucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(|b| b.get(key)).await
    }

    async fn set(
        &mut self,
        _: Resource<DraftBucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.checked_set(key, value)?.await
    }

    async fn delete(&mut self, _: Resource<DraftBucket>, key: String) -> Result<(), StoreError> {
        self.run(|b| b.delete(key)).await
    }

    async fn exists(&mut self, _: Resource<DraftBucket>, key: String) -> Result<bool, StoreError> {
        Ok(self.run(|b| b.get(key)).await?.is_some())
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<DraftBucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, StoreError> {
        let after = match cursor {
            None => None,
            Some(index) => Some(
                self.table
                    .get(&bucket)?
                    .cursors
                    .get(index as usize)
                    .cloned()
                    .ok_or_else(|| StoreError::Other(format!("unknown listing cursor {index}")))?,
            ),
        };
        let KeyPage { keys, cursor } = self.run(|b| b.list_keys(after)).await?;
        let cursor = match cursor {
            None => None,
            Some(next) => {
                let cursors = &mut self.table.get_mut(&bucket)?.cursors;
                if cursors.len() >= MAX_CURSORS {
                    return Err(StoreError::Other("listing too long for one bucket".into()));
                }
                cursors.push(next);
                Some((cursors.len() - 1) as u64)
            }
        };
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn drop(&mut self, bucket: Resource<DraftBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValue<'_> {
    async fn increment(
        &mut self,
        _: Resource<DraftBucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, StoreError> {
        let delta = i64::try_from(delta)
            .map_err(|_| StoreError::Other(format!("increment of {delta} is too large")))?;
        let value = self.checked_increment(key, delta)?.await?;
        u64::try_from(value)
            .map_err(|_| StoreError::Other(format!("counter is negative ({value})")))
    }
}
