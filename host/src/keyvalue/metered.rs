//! Counts every store operation and failure for `/metrics`, whatever the
//! backend.

use std::future::Future;
use std::sync::Arc;

use super::backend::{Backend, BackendError, BackendFuture, KeyPage, Swap};

pub struct Metered(pub Arc<dyn Backend>);

fn counted<T: Send + 'static>(
    operation: &'static str,
    call: impl Future<Output = Result<T, BackendError>> + Send + 'static,
) -> BackendFuture<T> {
    Box::pin(async move {
        let outcome = call.await;
        crate::metrics::get().store_operation(operation, outcome.is_err());
        outcome
    })
}

impl Backend for Metered {
    fn get(&self, key: String) -> BackendFuture<Option<Vec<u8>>> {
        counted("get", self.0.get(key))
    }

    fn set(&self, key: String, value: Vec<u8>) -> BackendFuture<()> {
        counted("set", self.0.set(key, value))
    }

    fn delete(&self, key: String) -> BackendFuture<()> {
        counted("delete", self.0.delete(key))
    }

    fn list_keys(&self, cursor: Option<String>) -> BackendFuture<KeyPage> {
        counted("list_keys", self.0.list_keys(cursor))
    }

    fn increment(&self, key: String, delta: i64) -> BackendFuture<i64> {
        counted("increment", self.0.increment(key, delta))
    }

    fn compare_and_swap(
        &self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> BackendFuture<Swap> {
        counted(
            "compare_and_swap",
            self.0.compare_and_swap(key, expected, new),
        )
    }
}
