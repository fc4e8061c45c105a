//! What the service remembers between syncs besides the calendars
//! themselves: per event, the last write or removal and the newest Plane
//! version of the item applied (so a burst of deliveries with the same
//! content costs one write, and no older version replaces a newer one); and
//! the projects seen by the last full sync (for webhooks that carry only ids).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ical::is_older;
use crate::plane::Project;
use crate::store::{KeyValue, StoreError};

const PROJECTS: &str = "projects:index";
/// Compare-and-swap attempts before a record update gives up.
const MAX_SWAPS: usize = 64;

/// What the service last did to one item's event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Where the event is; `None` once it was removed (a tombstone).
    #[serde(default)]
    pub url: Option<String>,
    /// The ETag the server gave the service's last write.
    #[serde(default)]
    pub etag: Option<String>,
    /// The content hash of what the service wrote there.
    #[serde(default)]
    pub hash: Option<String>,
    /// The newest Plane version of the item applied: written, removed, or
    /// found already on the calendar.
    #[serde(default)]
    pub version: Option<DateTime<Utc>>,
}

impl EventRecord {
    pub fn written(
        url: &str,
        etag: Option<String>,
        hash: String,
        version: Option<DateTime<Utc>>,
    ) -> Self {
        EventRecord {
            url: Some(url.to_string()),
            etag,
            hash: Some(hash),
            version,
        }
    }

    pub fn removed(version: Option<DateTime<Utc>>) -> Self {
        EventRecord {
            version,
            ..EventRecord::default()
        }
    }

    pub fn is_removed(&self) -> bool {
        self.url.is_none()
    }

    /// Whether the event found at `url` with `etag` is still the service's
    /// own write of content `hash`, whatever the server did to it since (a
    /// dropped optional property, say): the ETag recorded for that write.
    pub fn is_write_of(&self, url: &str, etag: Option<&str>, hash: &str) -> bool {
        etag.is_some()
            && self.url.as_deref() == Some(url)
            && self.etag.as_deref() == etag
            && self.hash.as_deref() == Some(hash)
    }

    /// Removed because Plane no longer had the item (deleted, or hidden
    /// when asked): no version can be older or newer than that, so only
    /// Plane, asked again, can give the item an event again.
    pub fn is_deletion(&self) -> bool {
        self.is_removed() && self.version.is_none()
    }
}

fn event_key(uid: &str) -> String {
    format!("event:{uid}")
}

pub fn event(store: &dyn KeyValue, uid: &str) -> Result<Option<EventRecord>, StoreError> {
    Ok(store
        .get(&event_key(uid))?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Records what was just done to an event, unless a record of a newer
/// version is already there (another writer finished first): records only
/// move forward. Compare-and-swap, so parallel writers never lose this.
pub fn remember_event(
    store: &dyn KeyValue,
    uid: &str,
    record: &EventRecord,
) -> Result<(), StoreError> {
    let key = event_key(uid);
    let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Other(e.to_string()))?;
    for _ in 0..MAX_SWAPS {
        let seen = store.get(&key)?;
        let current: Option<EventRecord> =
            seen.as_deref().and_then(|b| serde_json::from_slice(b).ok());
        if current.as_ref().is_some_and(|c| {
            c == record
                || is_older(record.version, c.version)
                || c.is_deletion() && !record.is_deletion()
        }) {
            return Ok(());
        }
        if store.compare_and_swap(&key, seen.as_deref(), &bytes)? {
            return Ok(());
        }
    }
    Err(StoreError::Other(format!(
        "the record of {uid} kept changing"
    )))
}

/// A record as read, to be replaced only if nobody changed it since.
pub struct Seen {
    bytes: Option<Vec<u8>>,
    pub record: Option<EventRecord>,
}

pub fn read_event(store: &dyn KeyValue, uid: &str) -> Result<Seen, StoreError> {
    let bytes = store.get(&event_key(uid))?;
    let record = bytes
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok());
    Ok(Seen { bytes, record })
}

/// Replaces `seen` with `record`; `false` if another writer changed the
/// record since it was read (compare-and-swap).
pub fn replace_event(
    store: &dyn KeyValue,
    uid: &str,
    seen: &Seen,
    record: &EventRecord,
) -> Result<bool, StoreError> {
    let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Other(e.to_string()))?;
    store.compare_and_swap(&event_key(uid), seen.bytes.as_deref(), &bytes)
}

#[derive(Serialize, Deserialize)]
struct ProjectEntry {
    id: String,
    name: String,
    identifier: String,
}

pub fn remember_projects(store: &dyn KeyValue, projects: &[Project]) -> Result<(), StoreError> {
    let entries: Vec<ProjectEntry> = projects
        .iter()
        .map(|p| ProjectEntry {
            id: p.id.clone(),
            name: p.name.clone(),
            identifier: p.identifier.clone(),
        })
        .collect();
    let bytes = serde_json::to_vec(&entries).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(PROJECTS, &bytes)
}

pub fn projects(store: &dyn KeyValue) -> Result<Vec<Project>, StoreError> {
    let entries: Vec<ProjectEntry> = store
        .get(PROJECTS)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    Ok(entries
        .into_iter()
        .map(|e| Project {
            id: e.id,
            name: e.name,
            identifier: e.identifier,
        })
        .collect())
}

/// Adds or replaces one project in the index (a project webhook, or a
/// project fetched for a work item webhook).
pub fn remember_project(store: &dyn KeyValue, project: &Project) -> Result<(), StoreError> {
    let mut all = projects(store)?;
    all.retain(|p| p.id != project.id);
    all.push(project.clone());
    remember_projects(store, &all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn records_only_move_forward() {
        let store = MemoryStore::default();
        let v = |s: &str| crate::ical::parse_version(s);
        let newer = EventRecord::written("u", None, "h2".into(), v("2026-01-02T00:00:00Z"));
        remember_event(&store, "a", &newer).unwrap();
        let older = EventRecord::written("u", None, "h1".into(), v("2026-01-01T00:00:00Z"));
        remember_event(&store, "a", &older).unwrap();
        assert_eq!(event(&store, "a").unwrap(), Some(newer.clone()));
        let removed = EventRecord::removed(v("2026-01-03T00:00:00Z"));
        remember_event(&store, "a", &removed).unwrap();
        assert!(event(&store, "a").unwrap().unwrap().is_removed());
        // Gone from Plane: no later record of a known version replaces it.
        remember_event(&store, "a", &EventRecord::removed(None)).unwrap();
        let later = EventRecord::written("u", None, "h3".into(), v("2026-01-04T00:00:00Z"));
        remember_event(&store, "a", &later).unwrap();
        assert!(event(&store, "a").unwrap().unwrap().is_deletion());
        // A record written before versions were kept still reads.
        store
            .set(&event_key("b"), br#"{"url":"u","etag":"\"e\"","hash":"h"}"#)
            .unwrap();
        assert_eq!(event(&store, "b").unwrap().unwrap().version, None);
    }
}
