//! Webhook changes that could not be applied (CalDAV or Plane unreachable),
//! kept in the store until the next sync drains them: oldest first, one
//! entry per item (a newer change of the same item replaces the older, as
//! each carries the item's whole current state).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{KeyValue, StoreError};

const INDEX: &str = "queue:index";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedChange {
    pub item_id: String,
    pub project_id: Option<String>,
    /// `created|updated|deleted|archived`.
    pub action: String,
    pub data: Value,
    pub received_at: DateTime<Utc>,
}

fn entry_key(item_id: &str) -> String {
    format!("queue:item:{item_id}")
}

fn read_index(store: &dyn KeyValue) -> Result<(Option<Vec<u8>>, Vec<String>), StoreError> {
    let bytes = store.get(INDEX)?;
    let ids = bytes
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    Ok((bytes, ids))
}

/// Changes the index with compare-and-swap, so parallel instances never
/// lose each other's entries.
fn update_index(
    store: &dyn KeyValue,
    change: impl Fn(&mut Vec<String>),
) -> Result<usize, StoreError> {
    for _ in 0..64 {
        let (bytes, mut ids) = read_index(store)?;
        change(&mut ids);
        let next = serde_json::to_vec(&ids).map_err(|e| StoreError::Other(e.to_string()))?;
        if store.compare_and_swap(INDEX, bytes.as_deref(), &next)? {
            return Ok(ids.len());
        }
    }
    Err(StoreError::Other("the queue index kept changing".into()))
}

/// Queues a change (replacing an older one of the same item); returns the
/// queue's length. The entry is written before the index, so an entry in
/// the index always exists.
pub fn push(store: &dyn KeyValue, change: &QueuedChange) -> Result<usize, StoreError> {
    let bytes = serde_json::to_vec(change).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(&entry_key(&change.item_id), &bytes)?;
    update_index(store, |ids| {
        if !ids.contains(&change.item_id) {
            ids.push(change.item_id.clone());
        }
    })
}

pub fn len(store: &dyn KeyValue) -> Result<usize, StoreError> {
    Ok(read_index(store)?.1.len())
}

/// The queued changes, oldest first.
pub fn pending(store: &dyn KeyValue) -> Result<Vec<QueuedChange>, StoreError> {
    let (_, ids) = read_index(store)?;
    let mut changes = Vec::new();
    for id in ids {
        if let Some(change) = store
            .get(&entry_key(&id))?
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            changes.push(change);
        }
    }
    Ok(changes)
}

/// Removes `change` once applied — unless a newer change of the same item
/// arrived meanwhile, which then stays queued.
pub fn done(store: &dyn KeyValue, change: &QueuedChange) -> Result<(), StoreError> {
    let key = entry_key(&change.item_id);
    let current: Option<QueuedChange> = store
        .get(&key)?
        .and_then(|b| serde_json::from_slice(&b).ok());
    if current.as_ref().is_some_and(|c| c != change) {
        return Ok(());
    }
    update_index(store, |ids| ids.retain(|id| id != &change.item_id))?;
    store.delete(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use serde_json::json;

    fn change(id: &str, action: &str) -> QueuedChange {
        QueuedChange {
            item_id: id.into(),
            project_id: Some("p".into()),
            action: action.into(),
            data: json!({"id": id}),
            received_at: crate::time::now(),
        }
    }

    #[test]
    fn oldest_first_and_coalesced_per_item() {
        let store = MemoryStore::default();
        assert_eq!(push(&store, &change("a", "created")).unwrap(), 1);
        assert_eq!(push(&store, &change("b", "created")).unwrap(), 2);
        assert_eq!(push(&store, &change("a", "updated")).unwrap(), 2);
        let pending = pending(&store).unwrap();
        assert_eq!(
            pending
                .iter()
                .map(|c| (c.item_id.as_str(), c.action.as_str()))
                .collect::<Vec<_>>(),
            [("a", "updated"), ("b", "created")]
        );
        done(&store, &pending[0]).unwrap();
        assert_eq!(len(&store).unwrap(), 1);
    }

    #[test]
    fn a_newer_change_survives_the_older_ones_completion() {
        let store = MemoryStore::default();
        let old = change("a", "created");
        push(&store, &old).unwrap();
        push(&store, &change("a", "deleted")).unwrap();
        done(&store, &old).unwrap();
        assert_eq!(pending(&store).unwrap()[0].action, "deleted");
    }
}
