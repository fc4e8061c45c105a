//! Every open client connection, so none can be held forever and the
//! service never runs out of file descriptors.
//!
//! hyper 1.x applies no timeout unless given a timer, and caps nothing. Each
//! connection here is watched: one that sent part of a request head for
//! longer than the header timeout, or that sat idle between requests longer
//! than the idle timeout, is closed. At the cap, a new connection closes the
//! longest-idle one; only when every connection is in a request is the new
//! one refused.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// How long connections may wait, and how many may be open.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_open: usize,
    /// From the first byte of a request head to its end.
    pub header_timeout: Duration,
    /// Between requests on a kept-alive connection.
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    /// How often a connection looks at its clocks: often enough that a
    /// timeout is kept to within a quarter of itself.
    pub fn check_every(&self) -> Duration {
        (self.header_timeout.min(self.idle_timeout) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// What one connection is doing, kept in atomics because every read and
/// write updates it.
pub struct Activity {
    epoch: Instant,
    /// Requests read but not yet answered.
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` of the last byte read or written.
    last_io: AtomicU64,
    /// Milliseconds since `epoch` (plus one, so zero means none) of the
    /// first byte of a request head not yet complete.
    head_started: AtomicU64,
    evict: Notify,
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    HeaderTimeout,
    IdleTimeout,
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let activity = Activity {
            epoch,
            in_flight: AtomicUsize::new(0),
            last_io: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            evict: Notify::new(),
        };
        activity.touch();
        activity
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
    }

    fn read_some(&self) {
        self.read_some_at(self.now_ms());
    }

    fn read_some_at(&self, now: u64) {
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ = self.head_started.compare_exchange(
                0,
                now + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// A request head arrived: it is no longer half-sent.
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
    }

    pub fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.touch();
    }

    pub fn verdict(&self, limits: &ConnectionLimits) -> Verdict {
        self.verdict_at(limits, self.now_ms())
    }

    fn verdict_at(&self, limits: &ConnectionLimits, now: u64) -> Verdict {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Verdict::Keep;
        }
        let head = self.head_started.load(Ordering::Relaxed);
        if head > 0 {
            if now.saturating_sub(head - 1) >= limits.header_timeout.as_millis() as u64 {
                return Verdict::HeaderTimeout;
            }
            return Verdict::Keep;
        }
        let idle = now.saturating_sub(self.last_io.load(Ordering::Relaxed));
        if idle >= limits.idle_timeout.as_millis() as u64 {
            return Verdict::IdleTimeout;
        }
        Verdict::Keep
    }

    /// Resolves when the registry closes this connection to make room.
    pub async fn evicted(&self) {
        self.evict.notified().await
    }

    /// Idle connections sort before half-sent heads; the oldest first.
    /// `None` for a connection in a request, which is never evicted.
    fn eviction_rank(&self) -> Option<(bool, u64)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let head = self.head_started.load(Ordering::Relaxed);
        Some((head > 0, self.last_io.load(Ordering::Relaxed)))
    }
}

/// The open connections.
pub struct Connections {
    limits: ConnectionLimits,
    epoch: Instant,
    open: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    by_id: HashMap<u64, Arc<Activity>>,
    /// When the cap was last logged, so a flood logs once a minute.
    last_warned: Option<Instant>,
    refused_since_warned: u64,
}

/// A registered connection; leaves the registry when dropped.
pub struct Registered {
    id: u64,
    pub activity: Arc<Activity>,
    connections: Arc<Connections>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.lock().by_id.remove(&self.id);
    }
}

const WARN_EVERY: Duration = Duration::from_secs(60);

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Connections {
            limits,
            epoch: Instant::now(),
            open: Mutex::new(Registry::default()),
        })
    }

    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new connection, closing the longest-idle one at the cap.
    /// `None` when every open connection is in a request.
    pub fn admit(self: &Arc<Self>) -> Option<Registered> {
        let mut registry = self.lock();
        if registry.by_id.len() >= self.limits.max_open {
            let victim = registry
                .by_id
                .iter()
                .filter_map(|(id, a)| a.eviction_rank().map(|rank| (rank, *id)))
                // Ties (one millisecond) go to the older connection.
                .min()
                .map(|(_, id)| id);
            let admitted = victim.is_some();
            // Out of the registry at once: the victim's task may not run
            // before the next accept, which must pick another victim, not
            // count this one again.
            if let Some(victim) = victim.and_then(|id| registry.by_id.remove(&id)) {
                victim.evict.notify_one();
            }
            self.warn_at_cap(&mut registry, admitted);
            if !admitted {
                return None;
            }
        }
        let id = registry.next_id;
        registry.next_id += 1;
        let activity = Arc::new(Activity::new(self.epoch));
        registry.by_id.insert(id, activity.clone());
        Some(Registered {
            id,
            activity,
            connections: self.clone(),
        })
    }

    fn warn_at_cap(&self, registry: &mut Registry, admitted: bool) {
        if !admitted {
            registry.refused_since_warned += 1;
        }
        let due = registry
            .last_warned
            .is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if due {
            tracing::warn!(
                "connection limit of {} reached (--max-connections): closing the longest-idle \
                 connection for each new one; {} refused while every connection was in a request",
                self.limits.max_open,
                registry.refused_since_warned
            );
            registry.last_warned = Some(Instant::now());
            registry.refused_since_warned = 0;
        }
    }
}

/// A stream that reports its reads and writes to its [`Activity`].
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_open: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_open,
            header_timeout: Duration::from_millis(40),
            idle_timeout: Duration::from_millis(80),
        }
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room_and_requests_are_never_evicted() {
        let connections = Connections::new(limits(2));
        let busy = connections.admit().unwrap();
        busy.activity.request_started();
        let idle = connections.admit().unwrap();
        let third = connections.admit();
        assert!(third.is_some(), "the idle one made room");
        // The idle connection was told to close; the busy one was not.
        let told = idle.activity.evict.notified();
        futures_lite_now(told);
        drop(idle);
        let third = third.unwrap();
        third.activity.request_started();
        assert!(
            connections.admit().is_none(),
            "every connection is in a request"
        );
    }

    /// Invariant: a burst of connections admitted before any evicted one has
    /// closed never counts more than the cap, and each evicts another.
    #[test]
    fn a_burst_at_the_cap_evicts_a_different_connection_for_each_new_one() {
        let connections = Connections::new(limits(10));
        let first: Vec<Registered> = (0..10).map(|_| connections.admit().unwrap()).collect();
        // None of the victims' tasks runs (none is dropped) during the burst.
        let burst: Vec<Registered> = (0..10).map(|_| connections.admit().unwrap()).collect();
        assert_eq!(connections.lock().by_id.len(), 10);
        for old in &first {
            futures_lite_now(old.activity.evicted());
        }
        drop(first);
        assert_eq!(connections.lock().by_id.len(), 10, "{} open", burst.len());
    }

    /// A `Notify` permit stored by `notify_one` resolves the next wait at once.
    fn futures_lite_now(future: impl Future<Output = ()>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), future)
                .await
                .expect("evicted")
        });
    }

    #[test]
    fn half_sent_heads_and_idle_connections_time_out_but_requests_do_not() {
        let limits = limits(10);
        let connections = Connections::new(limits);
        let (head, idle, busy) = (
            connections.admit().unwrap(),
            connections.admit().unwrap(),
            connections.admit().unwrap(),
        );
        for connection in [&head, &idle, &busy] {
            connection.activity.last_io.store(1_000, Ordering::Relaxed);
        }
        head.activity.read_some_at(1_000);
        busy.activity.request_started();
        let at = |ms| {
            (
                head.activity.verdict_at(&limits, ms),
                idle.activity.verdict_at(&limits, ms),
                busy.activity.verdict_at(&limits, ms),
            )
        };
        assert_eq!(at(1_039), (Verdict::Keep, Verdict::Keep, Verdict::Keep));
        assert_eq!(
            at(1_040),
            (Verdict::HeaderTimeout, Verdict::Keep, Verdict::Keep)
        );
        assert_eq!(
            at(1_080),
            (Verdict::HeaderTimeout, Verdict::IdleTimeout, Verdict::Keep)
        );
        // A byte read inside a request does not start a head.
        busy.activity.read_some_at(1_090);
        busy.activity.request_finished();
        busy.activity.last_io.store(1_090, Ordering::Relaxed);
        assert_eq!(busy.activity.verdict_at(&limits, 1_169), Verdict::Keep);
        assert_eq!(
            busy.activity.verdict_at(&limits, 1_170),
            Verdict::IdleTimeout
        );
    }
}
