//! The store shared by every actor: each operation is atomic on its own,
//! and a yield point before it, so operations of different actors
//! interleave as they can between instances of a real host.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use calplanebot_guest::store::{Durability, KeyValue, StoreError};

use super::scheduler::Scheduler;

pub struct ModelStore {
    data: Mutex<BTreeMap<String, Vec<u8>>>,
    counters: Mutex<BTreeMap<String, i64>>,
    scheduler: Arc<Scheduler>,
    /// Reports that nothing persists (a store opened afresh per request).
    forgets: bool,
}

impl ModelStore {
    pub fn new(scheduler: Arc<Scheduler>) -> Self {
        ModelStore {
            data: Mutex::default(),
            counters: Mutex::default(),
            scheduler,
            forgets: false,
        }
    }

    /// A store for one request on a host that keeps nothing between
    /// requests (`wasmtime serve`): empty, and saying so.
    pub fn forgetful(scheduler: Arc<Scheduler>) -> Self {
        ModelStore {
            forgets: true,
            ..ModelStore::new(scheduler)
        }
    }
}

impl ModelStore {
    /// Reads without a yield point: for the model's own checks.
    pub fn peek(&self, key: &str) -> Option<Vec<u8>> {
        self.data.lock().unwrap().get(key).cloned()
    }
}

impl KeyValue for ModelStore {
    fn list_keys(&self) -> Result<Vec<String>, StoreError> {
        self.scheduler.yield_point();
        Ok(self.data.lock().unwrap().keys().cloned().collect())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.scheduler.yield_point();
        Ok(self.data.lock().unwrap().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.scheduler.yield_point();
        self.data
            .lock()
            .unwrap()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.scheduler.yield_point();
        self.data.lock().unwrap().remove(key);
        self.counters.lock().unwrap().remove(key);
        Ok(())
    }

    fn durability(&self) -> Result<Durability, StoreError> {
        Ok(Durability {
            persists: !self.forgets,
            atomic_compare_and_swap: true,
        })
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.scheduler.yield_point();
        let mut counters = self.counters.lock().unwrap();
        let value = counters.entry(key.to_string()).or_insert(0);
        *value += delta;
        Ok(*value)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        self.scheduler.yield_point();
        let mut data = self.data.lock().unwrap();
        if data.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        data.insert(key.to_string(), new.to_vec());
        Ok(true)
    }
}
