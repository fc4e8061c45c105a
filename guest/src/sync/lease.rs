//! One sync at a time across instances and replicas: a lease in the store,
//! taken and renewed by compare-and-swap, that expires so a crashed sync
//! cannot wedge the service.

use std::cell::Cell;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::net::{Http, HttpRequest, HttpResponse, NetError};
use crate::store::{KeyValue, StoreError};

const KEY: &str = "sync:lease";
/// How long a lease lasts without renewal (`SYNC_LEASE_SECONDS`). A sync
/// renews it a few times per lease period (see [`Keeper`]).
pub const DEFAULT_TTL: Duration = Duration::seconds(120);
/// Renewals per lease period: a renewal may come late by one slice of a
/// wait, and the lease must not run out meanwhile.
const BEATS_PER_TTL: i32 = 4;

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

/// A sync's outbound HTTP, keeping its lease alive: renewed before and
/// after every request, every slice of a long response wait, and every
/// slice of a pacing or back-off sleep, so a sync holds its lease for as
/// long as it works, whatever Plane makes it wait. Once the lease is lost
/// (another holder took it), nothing more is sent.
pub struct Keeper<'a> {
    inner: &'a dyn Http,
    store: &'a dyn KeyValue,
    holder: &'a str,
    ttl: Duration,
    clock: &'a dyn Fn() -> DateTime<Utc>,
    renewed_at: Cell<DateTime<Utc>>,
    lost: Cell<bool>,
}

impl<'a> Keeper<'a> {
    pub fn new(
        inner: &'a dyn Http,
        store: &'a dyn KeyValue,
        holder: &'a str,
        ttl: Duration,
        clock: &'a dyn Fn() -> DateTime<Utc>,
    ) -> Self {
        Keeper {
            inner,
            store,
            holder,
            ttl,
            clock,
            renewed_at: Cell::new(DateTime::<Utc>::MIN_UTC),
            lost: Cell::new(false),
        }
    }

    /// The longest the sync waits between renewals.
    pub fn slice(&self) -> std::time::Duration {
        (self.ttl / BEATS_PER_TTL)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1))
            .max(std::time::Duration::from_millis(50))
    }

    /// Renews the lease when a slice has passed since the last renewal;
    /// `false` once it is lost. A store that fails to answer is tried again
    /// at the next beat: the lease has three more slices to run.
    pub fn beat(&self) -> bool {
        if self.lost.get() {
            return false;
        }
        let now = (self.clock)();
        let slice = Duration::from_std(self.slice()).unwrap_or(Duration::seconds(1));
        if now - self.renewed_at.get() < slice {
            return true;
        }
        match renew(self.store, self.holder, now, self.ttl) {
            Ok(true) => self.renewed_at.set(now),
            Ok(false) => {
                crate::log!("WARN", "Sync {} lost its lease", self.holder);
                self.lost.set(true);
            }
            Err(err) => crate::log!("WARN", "Sync lease not renewed: {err}"),
        }
        !self.lost.get()
    }

    pub fn is_lost(&self) -> bool {
        self.lost.get()
    }
}

const LOST: NetError = NetError::Cancelled("the sync lease was lost");

impl Http for Keeper<'_> {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, NetError> {
        if !self.beat() {
            return Err(LOST);
        }
        let response = self.inner.send_ticking(request, self.slice(), &|| {
            self.beat();
        });
        self.beat();
        response
    }

    fn sleep(&self, duration: std::time::Duration) {
        let mut left = duration;
        while !left.is_zero() && self.beat() {
            let step = left.min(self.slice());
            self.inner.sleep(step);
            left -= step;
        }
    }
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
    fn the_keeper_renews_through_long_sleeps_and_stops_once_the_lease_is_lost() {
        use crate::net::scripted::{ScriptedHttp, response};
        use std::cell::RefCell;
        use std::rc::Rc;

        let store = MemoryStore::default();
        let start = crate::time::now();
        let ttl = Duration::seconds(8);
        // Virtual time: every sleep advances the clock.
        let elapsed = Rc::new(RefCell::new(std::time::Duration::ZERO));
        let seen = elapsed.clone();
        let clock = move || start + Duration::from_std(*seen.borrow()).unwrap();
        struct Sleepy(ScriptedHttp, Rc<RefCell<std::time::Duration>>);
        impl Http for Sleepy {
            fn send(&self, request: &HttpRequest) -> Result<HttpResponse, NetError> {
                self.0.send(request)
            }
            fn sleep(&self, duration: std::time::Duration) {
                self.0.sleep(duration);
                *self.1.borrow_mut() += duration;
            }
        }
        let http = Sleepy(
            ScriptedHttp::new(|_, _| Ok(response(200, &[], ""))),
            elapsed.clone(),
        );
        assert!(acquire(&store, "s", start, ttl).unwrap());
        let keeper = Keeper::new(&http, &store, "s", ttl, &clock);
        // A 90 s back-off is slept in slices of a quarter lease, renewing.
        keeper.sleep(std::time::Duration::from_secs(90));
        assert!(
            http.0
                .sleeps
                .borrow()
                .iter()
                .all(|s| *s <= std::time::Duration::from_secs(2))
        );
        let now = clock();
        assert_eq!(active(&store, now).unwrap().unwrap().holder, "s");
        assert!(active(&store, now).unwrap().unwrap().expires_at > now + Duration::seconds(5));
        keeper.send(&HttpRequest::new("GET", "http://x/")).unwrap();

        // Another sync takes over (say the lease ran out while suspended).
        *elapsed.borrow_mut() += std::time::Duration::from_secs(60);
        assert!(acquire(&store, "t", clock(), ttl).unwrap());
        assert_eq!(
            keeper
                .send(&HttpRequest::new("GET", "http://x/"))
                .unwrap_err(),
            LOST
        );
        assert!(keeper.is_lost());
        assert_eq!(
            http.0.requests.borrow().len(),
            1,
            "nothing sent after the loss"
        );
        assert_eq!(active(&store, clock()).unwrap().unwrap().holder, "t");
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
