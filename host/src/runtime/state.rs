//! What one guest instance's `Store` holds.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::limits::InstanceLimiter;
use super::run_clock::RunClock;
use crate::config::Settings;
use crate::config::guest_store::GuestConfig;
use crate::keyvalue::{Backend, KeyValue, StoreLimits};
use crate::outbound::OutboundPolicy;

pub struct GuestState {
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) table: ResourceTable,
    pub(super) outbound: OutboundPolicy,
    pub(super) backend: Arc<dyn Backend>,
    pub(super) store_limits: StoreLimits,
    pub(super) limiter: InstanceLimiter,
    pub(super) clock: Arc<RunClock>,
    pub(super) settings: Arc<Settings>,
}

impl GuestState {
    pub fn keyvalue(&mut self) -> KeyValue<'_> {
        KeyValue {
            backend: &self.backend,
            limits: self.store_limits,
            table: &mut self.table,
        }
    }

    pub fn config(&mut self) -> GuestConfig<'_> {
        GuestConfig {
            settings: &self.settings,
        }
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
