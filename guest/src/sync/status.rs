//! What the service remembers about syncs, for `/webhooks/status` and
//! `/api/v1/health`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::metrics;
use crate::store::{KeyValue, StoreError};

const LAST_SYNC: &str = "sync:last";
const PROJECTS_SYNCED: &str = "sync:projects_synced";
const CALDAV_HEALTH: &str = "health:caldav";
const PLANE_HEALTH: &str = "health:plane";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Partial,
    Failed,
}

/// The API reference's `last_sync` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastSync {
    pub sync_id: String,
    #[serde(with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
    pub duration_seconds: f64,
    pub status: Outcome,
    pub events_processed: u64,
    pub errors: Vec<String>,
    /// The guest's linear memory at the end of the sync: its peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
}

pub(super) mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::rfc3339(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Whether a server answered at the last contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    Healthy,
    Unhealthy,
}

impl Reachability {
    fn as_bytes(self) -> &'static [u8] {
        match self {
            Reachability::Healthy => b"healthy",
            Reachability::Unhealthy => b"unhealthy",
        }
    }
}

pub fn last_sync(store: &dyn KeyValue) -> Result<Option<LastSync>, StoreError> {
    Ok(store
        .get(LAST_SYNC)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// `running` while a sync holds the lease, `error` when the last one
/// failed, else `idle`.
pub fn state(
    store: &dyn KeyValue,
    last: Option<&LastSync>,
    now: DateTime<Utc>,
) -> Result<&'static str, StoreError> {
    Ok(match (last, super::lease::active(store, now)?.is_some()) {
        (_, true) => "running",
        (Some(last), false) if last.status == Outcome::Failed => "error",
        _ => "idle",
    })
}

pub fn projects_synced(store: &dyn KeyValue) -> Result<u64, StoreError> {
    Ok(store
        .get(PROJECTS_SYNCED)?
        .and_then(|b| String::from_utf8(b).ok()?.parse().ok())
        .unwrap_or(0))
}

/// `healthy`, `unhealthy`, or `unknown` before any contact.
pub fn reachability(store: &dyn KeyValue, caldav: bool) -> Result<String, StoreError> {
    let key = if caldav { CALDAV_HEALTH } else { PLANE_HEALTH };
    Ok(store
        .get(key)?
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| "unknown".into()))
}

pub fn record_contact(
    store: &dyn KeyValue,
    caldav: bool,
    reachability: Reachability,
) -> Result<(), StoreError> {
    let key = if caldav { CALDAV_HEALTH } else { PLANE_HEALTH };
    store.set(key, reachability.as_bytes())
}

/// Records a finished sync and adds its counts (created, updated, deleted,
/// unchanged) to the lifetime metrics.
pub fn record(
    store: &dyn KeyValue,
    sync: &LastSync,
    counts: [u64; 4],
    projects: u64,
) -> Result<(), StoreError> {
    store.set(PROJECTS_SYNCED, projects.to_string().as_bytes())?;
    let bytes = serde_json::to_vec(sync).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(LAST_SYNC, &bytes)?;
    // The report and the lease matter more than the counters: a counter
    // that cannot be written is not a reason to keep the lease.
    let counted = metrics::EVENT_CHANGES
        .into_iter()
        .zip(counts)
        .try_for_each(|(change, count)| metrics::count_events(store, change, count))
        .and_then(|()| metrics::count_sync(store, sync.status, sync.duration_seconds));
    if let Err(err) = counted {
        crate::log!("WARN", "Sync metrics not counted: {err}");
    }
    Ok(())
}

/// Adds one write made outside a full sync (a webhook) to the metrics.
pub fn count(store: &dyn KeyValue, applied: super::Applied) -> Result<(), StoreError> {
    let change = match applied {
        super::Applied::Created => "created",
        super::Applied::Updated => "updated",
        super::Applied::Deleted => "deleted",
        super::Applied::Unchanged => "unchanged",
        super::Applied::Superseded => return Ok(()),
    };
    metrics::count_events(store, change, 1)
}
