//! An in-process store, for native tests.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use super::{Durability, KeyValue, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    data: RefCell<BTreeMap<String, Vec<u8>>>,
    counters: RefCell<BTreeMap<String, i64>>,
    /// While set, every call fails as a store that cannot be reached does.
    unavailable: Cell<bool>,
    /// While set, the store answers [`KeyValue::durability`] as a store
    /// that forgets everything at every open does (`wasmtime serve`).
    forgets: Cell<bool>,
}

impl MemoryStore {
    /// Every key set, in order (for tests that check what is left behind).
    pub fn keys(&self) -> Vec<String> {
        self.data.borrow().keys().cloned().collect()
    }

    /// Makes every later call fail (`true`) or succeed again (`false`).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.set(unavailable);
    }

    /// Makes the store report that nothing persists (`true`).
    pub fn set_forgetful(&self, forgets: bool) {
        self.forgets.set(forgets);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.get() {
            return Err(StoreError::Other("the store is unavailable: test".into()));
        }
        Ok(())
    }
}

impl KeyValue for MemoryStore {
    fn list_keys(&self) -> Result<Vec<String>, StoreError> {
        self.check()?;
        let mut keys = self.keys();
        keys.extend(self.counters.borrow().keys().cloned());
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        Ok(self.data.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.check()?;
        self.data
            .borrow_mut()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.data.borrow_mut().remove(key);
        self.counters.borrow_mut().remove(key);
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut data = self.data.borrow_mut();
        if data.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        data.insert(key.to_string(), new.to_vec());
        Ok(true)
    }

    fn durability(&self) -> Result<Durability, StoreError> {
        self.check()?;
        Ok(Durability {
            persists: !self.forgets.get(),
            atomic_compare_and_swap: true,
        })
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.check()?;
        let mut counters = self.counters.borrow_mut();
        let value = counters.entry(key.to_string()).or_insert(0);
        *value = value
            .checked_add(delta)
            .ok_or_else(|| StoreError::Other("counter overflow".into()))?;
        Ok(*value)
    }
}
