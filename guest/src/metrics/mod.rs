//! The service's counters that must add up across instances and replicas
//! (syncs, events, webhooks, errors, Plane waits), kept in the store, and
//! their Prometheus exposition (`GET /metrics`). Every label takes values
//! from a fixed set, so a scrape reads a known list of keys and nothing a
//! client sends can add a series.

mod exposition;

pub use exposition::{Gauges, render};

use crate::store::{KeyValue, StoreError};
use crate::sync::status::Outcome;

/// Upper bounds of the sync duration histogram, in seconds. The last is
/// `+Inf`: prometheus-client writes `f64::MAX` so (and `INFINITY` as `inf`,
/// which parsers refuse).
pub const SYNC_DURATION_BUCKETS: [f64; 8] = [1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, f64::MAX];

pub const SYNC_OUTCOMES: [&str; 3] = ["success", "partial", "failed"];
pub const EVENT_CHANGES: [&str; 4] = ["created", "updated", "deleted", "unchanged"];
pub const WEBHOOK_OUTCOMES: [&str; 4] = ["processed", "queued", "ignored", "rejected"];

fn key(name: &str, label: &str) -> String {
    format!("metrics:{name}:{label}")
}

fn read(store: &dyn KeyValue, key: &str) -> Result<u64, StoreError> {
    Ok(u64::try_from(store.counter(key)?).unwrap_or(0))
}

fn add(store: &dyn KeyValue, key: &str, by: u64) -> Result<(), StoreError> {
    if by == 0 {
        return Ok(());
    }
    store
        .increment(key, i64::try_from(by).unwrap_or(i64::MAX))
        .map(drop)
}

/// Where the event counts live (the keys `/api/v1/health` has always read).
pub fn event_key(change: &str) -> String {
    format!("metrics:events_{change}")
}

pub fn count_events(store: &dyn KeyValue, change: &str, by: u64) -> Result<(), StoreError> {
    add(store, &event_key(change), by)
}

pub fn events(store: &dyn KeyValue, change: &str) -> Result<u64, StoreError> {
    read(store, &event_key(change))
}

/// One finished sync: its outcome and its duration.
pub fn count_sync(store: &dyn KeyValue, outcome: Outcome, seconds: f64) -> Result<(), StoreError> {
    let label = match outcome {
        Outcome::Success => "success",
        Outcome::Partial => "partial",
        Outcome::Failed => "failed",
    };
    add(store, &key("syncs", label), 1)?;
    let bucket = SYNC_DURATION_BUCKETS
        .iter()
        .position(|&bound| seconds <= bound)
        .unwrap_or(SYNC_DURATION_BUCKETS.len() - 1);
    add(store, &key("sync_duration_bucket", &bucket.to_string()), 1)?;
    add(
        store,
        &key("sync_duration", "millis"),
        (seconds.max(0.0) * 1000.0) as u64,
    )
}

/// A webhook's outcome; `reason` the error code of a rejection.
pub fn count_webhook(
    store: &dyn KeyValue,
    outcome: &str,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let label = match reason {
        Some(reason) => format!("{outcome}:{reason}"),
        None => outcome.to_string(),
    };
    add(store, &key("webhooks", &label), 1)
}

/// Whether `calplanebot_errors_total` counts this code in the store: not
/// the answers any client can cause for free (they are in the host's
/// `calplanebot_host_http_requests_total` by status).
pub fn counts_in_store(code: crate::api::ErrorCode) -> bool {
    use crate::api::ErrorCode::*;
    !matches!(
        code,
        NotFound | MethodNotAllowed | Unauthorized | RateLimitExceeded | ServiceUnavailable
    )
}

/// An error answered in the API's error format.
pub fn count_error(store: &dyn KeyValue, code: &str) -> Result<(), StoreError> {
    add(store, &key("errors", code), 1)
}

/// A wait on Plane's rate limit (or a retry) by a sync.
pub fn count_plane_wait(store: &dyn KeyValue, seconds: f64) -> Result<(), StoreError> {
    add(store, &key("plane_waits", "count"), 1)?;
    add(
        store,
        &key("plane_waits", "millis"),
        (seconds.max(0.0) * 1000.0) as u64,
    )
}
