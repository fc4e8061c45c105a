//! The wasmtime engine: pooling allocator sized to the concurrency cap,
//! epoch interruption for wall-clock limits, and the linker with every
//! interface the host provides.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::state::GuestState;
use crate::keyvalue;

/// How often the epoch advances; the resolution of time limits.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Sandbox limits for every guest instance.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most guest instances alive at once (requests in flight plus work a
    /// guest continues after answering).
    pub max_instances: u32,
    /// Largest linear memory one instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time a guest has to produce its response.
    pub request_timeout: Duration,
    /// Wall-clock time a guest may keep running in all, when it continues
    /// working after its response was sent (e.g. a sync).
    pub background_timeout: Duration,
    /// Longest wait for an outbound response's head, and between its bytes.
    pub outbound_timeout: Duration,
    /// Most outbound requests one instance may have open at once.
    pub outbound_concurrency: usize,
    /// Most host resources (streams, requests, handles) one instance may
    /// hold at once.
    pub table_entries: usize,
    /// Key, value and store sizes.
    pub store: crate::keyvalue::StoreLimits,
}

/// A component built by `wasm32-wasip2` Rust holds a few core instances,
/// memories and tables (the program plus wit-component's shims); these bound
/// what one component may use, and the pool holds that much per instance.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

const KEEP_RESIDENT_BYTES: usize = 4 << 20;

pub fn new_engine(limits: &Limits) -> anyhow::Result<Engine> {
    let instances = limits.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(instances * MEMORIES_PER_COMPONENT)
        .total_tables(instances * TABLES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(limits.memory_bytes)
        // Reset a freed instance's first pages with memset instead of
        // returning them to the kernel: madvise plus the page faults after it
        // cost more. A Rust guest's request touches its 1 MiB stack and some
        // heap above it; 4 MiB covers that (1 MiB did not: measured 1.2× vs
        // 2.2× `wasmtime serve`, see docs/benchmarks.md). The price is up to
        // that much resident memory per warm pool slot.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the engine lives.
pub fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .unwrap_or_else(|err| tracing::error!("cannot start the epoch ticker: {err}"));
}

pub fn new_linker(engine: &Engine) -> anyhow::Result<Arc<Linker<GuestState>>> {
    let mut linker = Linker::<GuestState>::new(engine);
    // The full WASI 0.2 set, not only the proxy world: Rust's std imports
    // `wasi:cli/environment` and friends. Filesystem and sockets are linked
    // but the context grants no preopens and no network.
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    keyvalue::add_to_linker(&mut linker, GuestState::keyvalue)?;
    crate::config::guest_store::add_to_linker(&mut linker, GuestState::config)?;
    Ok(Arc::new(linker))
}
