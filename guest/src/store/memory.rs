//! An in-process store, for native tests.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::{KeyValue, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    data: RefCell<BTreeMap<String, Vec<u8>>>,
    counters: RefCell<BTreeMap<String, i64>>,
}

impl KeyValue for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.data.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.data
            .borrow_mut()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.data.borrow_mut().remove(key);
        self.counters.borrow_mut().remove(key);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut counters = self.counters.borrow_mut();
        let value = counters.entry(key.to_string()).or_insert(0);
        *value = value
            .checked_add(delta)
            .ok_or_else(|| StoreError::Other("counter overflow".into()))?;
        Ok(*value)
    }
}
