//! One sync at a time across instances and replicas: a lease in the store,
//! taken and renewed by compare-and-swap, that expires so a crashed sync
//! cannot wedge the service.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{KeyValue, StoreError};

const KEY: &str = "sync:lease";
/// How long a lease lasts without renewal (`SYNC_LEASE_SECONDS`). A sync
/// renews it between projects and every few writes, far more often.
pub const DEFAULT_TTL: Duration = Duration::seconds(120);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

fn read(store: &dyn KeyValue) -> Result<(Option<Vec<u8>>, Option<Lease>), StoreError> {
    let bytes = store.get(KEY)?;
    let lease = bytes
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok());
    Ok((bytes, lease))
}

fn encode(lease: &Lease) -> Vec<u8> {
    serde_json::to_vec(lease).unwrap_or_default()
}

/// The lease in force, if any.
pub fn active(store: &dyn KeyValue, now: DateTime<Utc>) -> Result<Option<Lease>, StoreError> {
    Ok(read(store)?.1.filter(|lease| lease.expires_at > now))
}

/// Takes the lease for `holder` unless another holder's is in force.
pub fn acquire(
    store: &dyn KeyValue,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let (bytes, lease) = read(store)?;
    if lease.is_some_and(|l| l.expires_at > now && l.holder != holder) {
        return Ok(false);
    }
    take(store, bytes.as_deref(), holder, now, ttl)
}

/// Swaps `seen` for a lease held by `holder` until `now + ttl`.
fn take(
    store: &dyn KeyValue,
    seen: Option<&[u8]>,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let next = Lease {
        holder: holder.to_string(),
        expires_at: now + ttl,
    };
    store.compare_and_swap(KEY, seen, &encode(&next))
}

/// Extends `holder`'s lease; `false` if it is no longer theirs.
pub fn renew(
    store: &dyn KeyValue,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let (bytes, lease) = read(store)?;
    if lease.is_none_or(|l| l.holder != holder) {
        return Ok(false);
    }
    take(store, bytes.as_deref(), holder, now, ttl)
}

/// Gives the lease up (by expiring it) if `holder` still has it.
pub fn release(store: &dyn KeyValue, holder: &str) -> Result<(), StoreError> {
    let (bytes, lease) = read(store)?;
    if let Some(lease) = lease.filter(|l| l.holder == holder) {
        let expired = Lease {
            expires_at: DateTime::<Utc>::MIN_UTC,
            ..lease
        };
        store.compare_and_swap(KEY, bytes.as_deref(), &encode(&expired))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn one_holder_at_a_time_until_release_or_expiry() {
        let store = MemoryStore::default();
        let now = crate::time::now();
        assert!(acquire(&store, "a", now, DEFAULT_TTL).unwrap());
        assert!(!acquire(&store, "b", now, DEFAULT_TTL).unwrap());
        assert_eq!(active(&store, now).unwrap().unwrap().holder, "a");
        assert!(renew(&store, "a", now + Duration::seconds(60), DEFAULT_TTL).unwrap());
        assert!(!acquire(&store, "b", now + Duration::seconds(150), DEFAULT_TTL).unwrap());
        // A crashed holder's lease runs out.
        assert!(acquire(&store, "b", now + Duration::seconds(200), DEFAULT_TTL).unwrap());
        assert!(!renew(&store, "a", now + Duration::seconds(200), DEFAULT_TTL).unwrap());
        release(&store, "b").unwrap();
        assert!(active(&store, now).unwrap().is_none());
        assert!(acquire(&store, "c", now, DEFAULT_TTL).unwrap());
    }

    #[test]
    fn a_concurrent_change_loses_the_race() {
        let store = MemoryStore::default();
        let now = crate::time::now();
        // Another instance writes between our read and our swap.
        let before = store.get(KEY).unwrap();
        assert!(acquire(&store, "other", now, DEFAULT_TTL).unwrap());
        assert!(
            !store
                .compare_and_swap(KEY, before.as_deref(), b"mine")
                .unwrap()
        );
    }
}
