//! Uptime of the service.
//!
//! A guest instance lives for one request, so the start time is kept in the
//! store. It is tied to the host's boot id (`CALPLANEBOT_BOOT_ID`, new on each
//! host start) so that a restarted host reports a fresh uptime; a host that
//! sets no boot id gets the time of the first request ever served.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{KeyValue, StoreError};

const KEY: &str = "service:started";

#[derive(Serialize, Deserialize)]
struct Started {
    boot_id: String,
    at: DateTime<Utc>,
}

/// The time this boot of the service started, recording `now` if it is the
/// first request of the boot.
pub fn started_at(
    store: &dyn KeyValue,
    boot_id: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, StoreError> {
    let recorded = store
        .get(KEY)?
        .and_then(|bytes| serde_json::from_slice::<Started>(&bytes).ok());
    if let Some(started) = recorded.filter(|s| s.boot_id == boot_id && s.at <= now) {
        return Ok(started.at);
    }
    let started = Started {
        boot_id: boot_id.to_string(),
        at: now,
    };
    let bytes = serde_json::to_vec(&started).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(KEY, &bytes)?;
    Ok(now)
}

/// `2h 15m 30s`, the format of the API reference; days are counted in hours.
pub fn format(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use chrono::Duration;

    #[test]
    fn formats_like_the_reference() {
        assert_eq!(format(2 * 3600 + 15 * 60 + 30), "2h 15m 30s");
        assert_eq!(format(0), "0s");
        assert_eq!(format(61), "1m 1s");
        assert_eq!(format(3600), "1h 0m 0s");
        assert_eq!(format(-5), "0s");
        assert_eq!(format(50 * 3600), "50h 0m 0s");
    }

    #[test]
    fn start_time_is_kept_per_boot() {
        let store = MemoryStore::default();
        let t0 = crate::time::now();
        assert_eq!(started_at(&store, "boot-a", t0).unwrap(), t0);
        let later = t0 + Duration::seconds(90);
        assert_eq!(started_at(&store, "boot-a", later).unwrap(), t0);
        assert_eq!(started_at(&store, "boot-b", later).unwrap(), later);
    }

    #[test]
    fn corrupt_record_is_replaced() {
        let store = MemoryStore::default();
        store.set(KEY, b"not json").unwrap();
        let t0 = crate::time::now();
        assert_eq!(started_at(&store, "b", t0).unwrap(), t0);
    }
}
