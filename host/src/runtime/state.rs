//! What one guest instance's `Store` holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::limits::InstanceLimiter;
use crate::keyvalue::{Backend, KeyValue};
use crate::outbound::OutboundPolicy;

pub struct GuestState {
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) table: ResourceTable,
    pub(super) outbound: OutboundPolicy,
    pub(super) backend: Arc<dyn Backend>,
    pub(super) limiter: InstanceLimiter,
    pub(super) started: Instant,
    /// Set once the guest has handed over its response.
    pub(super) responded: Arc<AtomicBool>,
}

impl GuestState {
    pub fn keyvalue(&mut self) -> KeyValue<'_> {
        KeyValue {
            backend: &self.backend,
            table: &mut self.table,
        }
    }

    pub(super) fn has_responded(&self) -> bool {
        self.responded.load(Ordering::Acquire)
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
