//! What the service knows of each project's items between syncs, so that a
//! sync reads from Plane only what changed (Community Edition has no
//! "updated since" filter): the ids the listing held, the newest
//! `updated_at` applied (the watermark an incremental read stops at), when
//! the project was last listed in full, and a fingerprint of how its items
//! are rendered (a renamed project, another mapping or `PLANE_WEB_URL`
//! changes every event without changing any item).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{KeyValue, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemIndex {
    /// Every item the project's listing held (dated or not).
    pub ids: HashSet<String>,
    /// The newest `updated_at` among them.
    pub watermark: Option<DateTime<Utc>>,
    /// When the project was last listed in full.
    pub listed_in_full: Option<DateTime<Utc>>,
    /// [`super::project::fingerprint`] of the rendering at that time.
    pub fingerprint: String,
    /// Events in the project's calendar after the last sync, for the
    /// status page.
    #[serde(default)]
    pub events: Option<u64>,
}

fn key(project_id: &str) -> String {
    format!("items-index:{project_id}")
}

pub fn load(store: &dyn KeyValue, project_id: &str) -> Option<ItemIndex> {
    store
        .get(&key(project_id))
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

pub fn save(store: &dyn KeyValue, project_id: &str, index: &ItemIndex) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(index).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(&key(project_id), &bytes)
}
