//! One scheduled sync per interval across the fleet. Every replica's host
//! ticks on its own clock; the first tick of an interval claims it in the
//! store by compare-and-swap, and the others that interval stand down, so a
//! fleet of N replicas syncs once per interval, not N times.

use chrono::{DateTime, Duration, Utc};

use crate::store::{KeyValue, StoreError};

const KEY: &str = "sync:scheduled_at";

/// A tick stands down when another began less than this share of an
/// interval ago: replicas' ticks drift, and one that comes a little early
/// for the next interval must still count as the next interval's.
const SLACK_NUMERATOR: i32 = 9;
const SLACK_DENOMINATOR: i32 = 10;

/// Claims the scheduled sync of the interval that `now` is in. `false`:
/// another tick already began this interval's.
pub fn claim(
    store: &dyn KeyValue,
    now: DateTime<Utc>,
    interval: Duration,
) -> Result<bool, StoreError> {
    let seen = store.get(KEY)?;
    let last = seen
        .as_deref()
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<i64>().ok())
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    if let Some(last) = last {
        let recent = now - last < interval * SLACK_NUMERATOR / SLACK_DENOMINATOR;
        // A claim from a clock far ahead must not silence the fleet.
        let believable = last - now < interval;
        if recent && believable {
            return Ok(false);
        }
    }
    let stamp = now.timestamp_millis().to_string();
    store.compare_and_swap(KEY, seen.as_deref(), stamp.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    /// Invariant: two replicas ticking every interval, offset by a third of
    /// one, run exactly one scheduled sync per interval between them.
    #[test]
    fn two_replicas_run_one_scheduled_sync_per_interval() {
        let store = MemoryStore::default();
        let interval = Duration::seconds(300);
        let mut ran = Vec::new();
        for n in 0..10 {
            for offset in [0, 100] {
                let now = at(n * 300 + offset);
                if claim(&store, now, interval).unwrap() {
                    ran.push(n);
                }
            }
        }
        assert_eq!(ran, (0..10).collect::<Vec<_>>());
    }

    /// Invariant: ticks that drift a little early still claim their
    /// interval; a claim stamped far in the future (a clock gone wrong) does
    /// not stop the fleet.
    #[test]
    fn drift_and_a_wrong_clock_do_not_skip_intervals() {
        let store = MemoryStore::default();
        let interval = Duration::seconds(300);
        assert!(claim(&store, at(0), interval).unwrap());
        assert!(
            claim(&store, at(295), interval).unwrap(),
            "5 s early is the next interval"
        );
        assert!(
            !claim(&store, at(300), interval).unwrap(),
            "that interval is taken"
        );
        assert!(claim(&store, at(100_000), interval).unwrap());
        assert!(
            claim(&store, at(0), interval).unwrap(),
            "a claim from the future is not believed"
        );
    }
}
