//! Webhook changes that could not be applied (a server unreachable or too
//! slow), kept in the store until the next sync drains them: oldest first,
//! at most one entry per item, the newest (each carries the item's whole
//! state, so an older one has nothing to add).
//!
//! The index (`queue:index`) lists one slot per item naming the entry that
//! holds its change; it only changes by compare-and-swap. An entry is
//! written under a fresh key before the index points at it, and deleted
//! only by whoever unhooked it from the index, so parallel pushes and a
//! drain never lose a newer change nor leave a slot without its entry. A
//! crash between the two writes can leave an unreferenced entry behind;
//! it is never read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ical::is_older;
use crate::store::{KeyValue, StoreError};
use crate::webhook::Change;

const INDEX: &str = "queue:index";
const MAX_SWAPS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedChange {
    pub item_id: String,
    pub project_id: Option<String>,
    /// `created|updated|deleted|archived`.
    pub action: String,
    pub data: Value,
    pub received_at: DateTime<Utc>,
    /// The item's `updated_at` in `data`, when it has one.
    #[serde(default)]
    pub version: Option<DateTime<Utc>>,
}

/// A change read from the queue, with the entry it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub change: QueuedChange,
    entry: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Slot {
    item_id: String,
    /// The entry's key suffix; empty for an entry queued before slots
    /// existed (kept under `queue:item:{item_id}`).
    entry: String,
    version: Option<DateTime<Utc>>,
    /// A deletion is final in Plane: no other change of the item replaces
    /// it, whatever its version (deletions carry none).
    #[serde(default)]
    deleted: bool,
}

/// The index as written now, or as written before slots existed.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredIndex {
    Slots(Vec<Slot>),
    Ids(Vec<String>),
}

fn entry_key(slot: &Slot) -> String {
    if slot.entry.is_empty() {
        format!("queue:item:{}", slot.item_id)
    } else {
        format!("queue:entry:{}", slot.entry)
    }
}

fn read_index(store: &dyn KeyValue) -> Result<(Option<Vec<u8>>, Vec<Slot>), StoreError> {
    let bytes = store.get(INDEX)?;
    let slots = match bytes.as_deref().map(serde_json::from_slice::<StoredIndex>) {
        Some(Ok(StoredIndex::Slots(slots))) => slots,
        Some(Ok(StoredIndex::Ids(ids))) => ids
            .into_iter()
            .map(|item_id| Slot {
                item_id,
                entry: String::new(),
                version: None,
                deleted: false,
            })
            .collect(),
        Some(Err(_)) | None => Vec::new(),
    };
    Ok((bytes, slots))
}

/// Changes the index by compare-and-swap; `change` returns what it
/// decided, and is run again on a fresh read when another instance wrote
/// in between.
fn update_index<T>(
    store: &dyn KeyValue,
    mut change: impl FnMut(&mut Vec<Slot>) -> T,
) -> Result<(T, usize), StoreError> {
    for _ in 0..MAX_SWAPS {
        let (bytes, mut slots) = read_index(store)?;
        let before = slots.clone();
        let decided = change(&mut slots);
        if slots == before {
            return Ok((decided, slots.len()));
        }
        let next = serde_json::to_vec(&slots).map_err(|e| StoreError::Other(e.to_string()))?;
        if store.compare_and_swap(INDEX, bytes.as_deref(), &next)? {
            return Ok((decided, slots.len()));
        }
    }
    Err(StoreError::Other("the queue index kept changing".into()))
}

/// Queues a change, replacing the item's queued change unless that one is
/// of a newer version or a deletion; returns the queue's length.
pub fn push(store: &dyn KeyValue, change: &QueuedChange) -> Result<usize, StoreError> {
    let mine = Slot {
        item_id: change.item_id.clone(),
        entry: uuid::Uuid::new_v4().simple().to_string(),
        version: change.version,
        deleted: change.action == Change::Deleted.as_str(),
    };
    let bytes = serde_json::to_vec(change).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(&entry_key(&mine), &bytes)?;
    let (outcome, length) = update_index(store, |slots| {
        match slots.iter_mut().find(|s| s.item_id == mine.item_id) {
            Some(slot) if is_older(mine.version, slot.version) || slot.deleted && !mine.deleted => {
                Err(())
            }
            // The item keeps its place in line: its first change is older.
            Some(slot) => Ok(Some(std::mem::replace(slot, mine.clone()))),
            None => {
                slots.push(mine.clone());
                Ok(None)
            }
        }
    })?;
    match outcome {
        // A newer change of the item is queued: this one is not needed.
        Err(()) => store.delete(&entry_key(&mine))?,
        Ok(Some(replaced)) => store.delete(&entry_key(&replaced))?,
        Ok(None) => {}
    }
    Ok(length)
}

pub fn len(store: &dyn KeyValue) -> Result<usize, StoreError> {
    Ok(read_index(store)?.1.len())
}

/// The queued changes, oldest first.
pub fn pending(store: &dyn KeyValue) -> Result<Vec<Queued>, StoreError> {
    let (_, slots) = read_index(store)?;
    let mut changes = Vec::new();
    for slot in slots {
        let change = store
            .get(&entry_key(&slot))?
            .and_then(|b| serde_json::from_slice::<QueuedChange>(&b).ok());
        match change {
            Some(change) => changes.push(Queued {
                change,
                entry: slot.entry,
            }),
            // Unreadable: unhook it, or the queue never empties.
            None => unhook(store, &slot.item_id, &slot.entry)?,
        }
    }
    Ok(changes)
}

/// Removes a change once applied, unless a newer change of the same item
/// replaced it meanwhile, which then stays queued.
pub fn done(store: &dyn KeyValue, queued: &Queued) -> Result<(), StoreError> {
    unhook(store, &queued.change.item_id, &queued.entry)
}

fn unhook(store: &dyn KeyValue, item_id: &str, entry: &str) -> Result<(), StoreError> {
    let (removed, _) = update_index(store, |slots| {
        let before = slots.len();
        slots.retain(|s| !(s.item_id == item_id && s.entry == entry));
        slots.len() != before
    })?;
    if removed {
        store.delete(&entry_key(&Slot {
            item_id: item_id.to_string(),
            entry: entry.to_string(),
            version: None,
            deleted: false,
        }))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use serde_json::json;

    fn change(id: &str, action: &str, version: &str) -> QueuedChange {
        QueuedChange {
            item_id: id.into(),
            project_id: Some("p".into()),
            action: action.into(),
            data: json!({"id": id}),
            received_at: crate::time::now(),
            version: crate::ical::parse_version(version),
        }
    }

    fn actions(store: &MemoryStore) -> Vec<(String, String)> {
        pending(store)
            .unwrap()
            .into_iter()
            .map(|q| (q.change.item_id, q.change.action))
            .collect()
    }

    #[test]
    fn oldest_first_and_one_entry_per_item_the_newest() {
        let store = MemoryStore::default();
        assert_eq!(
            push(&store, &change("a", "created", "2026-01-01T00:00:01Z")).unwrap(),
            1
        );
        assert_eq!(
            push(&store, &change("b", "created", "2026-01-01T00:00:01Z")).unwrap(),
            2
        );
        assert_eq!(
            push(&store, &change("a", "updated", "2026-01-01T00:00:03Z")).unwrap(),
            2
        );
        // A retried, older delivery does not replace the newer change.
        assert_eq!(
            push(&store, &change("a", "deleted", "2026-01-01T00:00:02Z")).unwrap(),
            2
        );
        assert_eq!(
            actions(&store),
            [
                ("a".into(), "updated".into()),
                ("b".into(), "created".into())
            ]
        );
        // A deletion (it has no version) is final: a late update of the
        // item does not replace it.
        push(&store, &change("b", "deleted", "")).unwrap();
        push(&store, &change("b", "updated", "2026-01-01T00:00:09Z")).unwrap();
        assert_eq!(actions(&store)[1], ("b".into(), "deleted".into()));
        let first = pending(&store).unwrap().remove(0);
        done(&store, &first).unwrap();
        assert_eq!(len(&store).unwrap(), 1);
        // Replaced, refused and completed entries leave nothing behind.
        let entries = store
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("queue:entry:"))
            .count();
        assert_eq!(entries, 1);
    }

    #[test]
    fn a_newer_change_survives_the_older_ones_completion() {
        let store = MemoryStore::default();
        push(&store, &change("a", "created", "2026-01-01T00:00:01Z")).unwrap();
        let old = pending(&store).unwrap().remove(0);
        push(&store, &change("a", "deleted", "")).unwrap();
        done(&store, &old).unwrap();
        assert_eq!(actions(&store), [("a".into(), "deleted".into())]);
        let new = pending(&store).unwrap().remove(0);
        done(&store, &new).unwrap();
        assert_eq!(len(&store).unwrap(), 0);
    }

    #[test]
    fn a_queue_written_before_slots_is_still_drained() {
        let store = MemoryStore::default();
        let legacy = change("a", "updated", "");
        store
            .set("queue:item:a", &serde_json::to_vec(&legacy).unwrap())
            .unwrap();
        store.set(INDEX, br#"["a", "gone"]"#).unwrap();
        let queued = pending(&store).unwrap();
        assert_eq!(queued.len(), 1, "the entry that is gone is unhooked");
        assert_eq!(len(&store).unwrap(), 1);
        done(&store, &queued[0]).unwrap();
        assert_eq!(len(&store).unwrap(), 0);
        assert_eq!(store.get("queue:item:a").unwrap(), None);
    }
}
