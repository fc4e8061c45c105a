//! Noticing that Plane stopped sending: Plane switches a webhook off after
//! five failed deliveries (and tells only its creator by mail). A change a
//! full sync had to write, to an item Plane changed after the previous
//! sync began and long enough ago for its webhook to have arrived, is a
//! change no webhook delivered; enough of them in the window and health,
//! the status page and the metrics say so. Deletions do not count:
//! Community Edition sends no webhook for them.

use chrono::{DateTime, Duration, Utc};

use crate::store::{KeyValue, StoreError};

const MISSED: &str = "webhook:missed";
const LAST_SEEN: &str = "webhook:last_seen";
/// Fewer missed changes than this in the window are not worth a warning
/// (one can be a delivery that raced the sync).
const WARN_FROM: u64 = 3;
/// Kept at most: enough to say "hundreds".
const MAX_KEPT: usize = 1000;

/// What health reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    /// Changes in the window that arrived only through the sync.
    pub missed: u64,
    pub last_webhook: Option<DateTime<Utc>>,
}

impl Silence {
    /// The plain-words warning, when there is one.
    pub fn warning(&self, window: Duration) -> Option<String> {
        if self.missed < WARN_FROM {
            return None;
        }
        let since = match self.last_webhook {
            Some(at) => format!("the last webhook arrived at {}", crate::time::rfc3339(at)),
            None => "no webhook has arrived yet".to_string(),
        };
        Some(format!(
            "Plane's webhook may be disabled: {} change{} in the last {} arrived only through the sync ({since}); check the webhook in Plane's workspace settings",
            self.missed,
            if self.missed == 1 { "" } else { "s" },
            window_words(window),
        ))
    }
}

fn window_words(window: Duration) -> String {
    match window.num_minutes() {
        60 => "hour".into(),
        m if m % 60 == 0 => format!("{} hours", m / 60),
        m => format!("{m} minutes"),
    }
}

pub fn webhook_seen(store: &dyn KeyValue, now: DateTime<Utc>) -> Result<(), StoreError> {
    store.set(LAST_SEEN, now.timestamp().to_string().as_bytes())
}

fn read(store: &dyn KeyValue) -> Result<Vec<i64>, StoreError> {
    Ok(store
        .get(MISSED)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default())
}

/// The window changes are counted in, and how long a webhook may take to
/// arrive after its change (`WEBHOOK_SILENCE_GRACE_SECONDS`).
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub window: Duration,
    pub grace: Duration,
}

/// Notes the versions a full sync wrote that a webhook should have brought:
/// changed after `previous_start` and before `now - grace`, `now` being
/// when the sync began.
pub fn note_sync_writes(
    store: &dyn KeyValue,
    written: &[DateTime<Utc>],
    previous_start: DateTime<Utc>,
    now: DateTime<Utc>,
    watch: Watch,
) -> Result<(), StoreError> {
    let window = watch.window;
    let fresh: Vec<i64> = written
        .iter()
        .filter(|at| **at > previous_start && **at < now - watch.grace)
        .map(DateTime::timestamp)
        .collect();
    let mut kept = read(store)?;
    let before = kept.len();
    kept.retain(|at| *at >= (now - window).timestamp());
    if fresh.is_empty() && kept.len() == before {
        return Ok(());
    }
    kept.extend(fresh);
    kept.sort_unstable();
    let excess = kept.len().saturating_sub(MAX_KEPT);
    kept.drain(..excess);
    let bytes = serde_json::to_vec(&kept).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(MISSED, &bytes)
}

pub fn silence(
    store: &dyn KeyValue,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Silence, StoreError> {
    let since = (now - window).timestamp();
    let missed = read(store)?.into_iter().filter(|at| *at >= since).count() as u64;
    let last_webhook = store
        .get(LAST_SEEN)?
        .and_then(|b| String::from_utf8(b).ok()?.parse::<i64>().ok())
        .and_then(|secs| DateTime::from_timestamp(secs, 0));
    Ok(Silence {
        missed,
        last_webhook,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn only_changes_a_webhook_should_have_brought_count_and_they_age_out() {
        let store = MemoryStore::default();
        let now = crate::time::now();
        let hour = Duration::hours(1);
        let watch = Watch {
            window: hour,
            grace: Duration::minutes(2),
        };
        let previous = now - Duration::minutes(10);
        let written = [
            now - Duration::minutes(5),  // missed
            now - Duration::minutes(8),  // missed
            now - Duration::minutes(9),  // missed
            now - Duration::seconds(30), // its webhook may still come
            now - Duration::minutes(30), // before the previous sync: an old change
        ];
        note_sync_writes(&store, &written, previous, now, watch).unwrap();
        let found = silence(&store, now, hour).unwrap();
        assert_eq!(found.missed, 3);
        let warning = found.warning(hour).unwrap();
        assert!(warning.contains("3 changes in the last hour"), "{warning}");
        let fewer = Silence {
            missed: 2,
            last_webhook: None,
        };
        assert!(fewer.warning(hour).is_none(), "one or two can be a race");
        assert!(warning.contains("no webhook has arrived"), "{warning}");
        webhook_seen(&store, now).unwrap();
        assert!(silence(&store, now, hour).unwrap().last_webhook.is_some());
        let later = now + Duration::hours(2);
        note_sync_writes(&store, &[], now, later, watch).unwrap();
        assert_eq!(silence(&store, later, hour).unwrap().missed, 0);
        assert!(
            silence(&store, later, hour)
                .unwrap()
                .warning(hour)
                .is_none()
        );
    }
}
