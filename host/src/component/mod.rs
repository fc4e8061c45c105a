//! The guest component: loading (validate, link, compile with a cache) and
//! hot swapping (watch the file, swap atomically, keep the old on failure).

mod cache;
mod loader;
mod watch;

pub use cache::CompiledCache;
pub use loader::Loader;
pub use watch::watch;

use std::sync::Arc;

use arc_swap::ArcSwap;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::runtime::GuestState;

/// A component ready to instantiate.
pub struct LoadedGuest {
    pub pre: ProxyPre<GuestState>,
    /// SHA-256 of the component's bytes, hex.
    pub digest: String,
    /// Where it came from, for logs.
    pub origin: String,
}

impl LoadedGuest {
    pub fn short_digest(&self) -> &str {
        &self.digest[..12.min(self.digest.len())]
    }
}

/// The component serving new requests. Each request takes a snapshot, so a
/// swap never disturbs a request in flight: it finishes on the version it
/// started with.
pub struct GuestSlot {
    current: ArcSwap<LoadedGuest>,
}

impl GuestSlot {
    pub fn new(guest: LoadedGuest) -> Arc<Self> {
        Arc::new(GuestSlot {
            current: ArcSwap::from_pointee(guest),
        })
    }

    pub fn current(&self) -> Arc<LoadedGuest> {
        self.current.load_full()
    }

    pub fn swap(&self, guest: LoadedGuest) {
        self.current.store(Arc::new(guest));
    }
}
