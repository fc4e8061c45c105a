//! Each guest build links exactly against the host family it is built for:
//! a linker that provides precisely that host's world, and nothing else,
//! instantiates it; the other family's world does not. calplanebot's own
//! linker instantiates both.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView as _};
use wasmtime_wasi_http::WasiHttpCtx;

use super::engine::{Limits, new_engine, new_linker};
use super::limits::InstanceLimiter;
use super::run_clock::RunClock;
use super::state::GuestState;
use crate::config::Settings;
use crate::config::guest_store;
use crate::keyvalue::{self, EmbeddedStore, StoreLimits};
use crate::outbound::OutboundPolicy;

/// The default build (`calplanebot serve`'s built-in guest).
const SPIN_BUILD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/calplanebot_guest.wasm"));
/// The `wasmtime-serve` build.
const WASMTIME_SERVE_BUILD: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/calplanebot_guest_wasmtime_serve.wasm"
));

fn limits() -> Limits {
    Limits {
        max_instances: 4,
        memory_bytes: 64 << 20,
        request_timeout: Duration::from_secs(5),
        background_timeout: Duration::from_secs(5),
        outbound_timeout: Duration::from_secs(5),
        outbound_concurrency: 4,
        table_entries: 1000,
        store: StoreLimits {
            max_key_bytes: 1024,
            max_value_bytes: 1 << 20,
        },
    }
}

/// Spin 3's world for an HTTP component: `wasi:http` 0.2.x, `wasi:io`,
/// `wasi:clocks`, `wasi:random`, `wasi:cli` (Rust's std imports its
/// environment, exit and terminal interfaces), `wasi:keyvalue@0.2.0-draft2`
/// and `wasi:config@0.2.0-draft-2024-09-27`. No filesystem, no sockets.
fn spin_linker(engine: &Engine) -> Linker<GuestState> {
    use wasmtime_wasi::p2::bindings::{cli, random};
    let mut linker = Linker::new(engine);
    let l = &mut linker;
    wasmtime_wasi::p2::add_to_linker_proxy_interfaces_async(l).unwrap();
    random::insecure::add_to_linker::<_, WasiRandom>(l, GuestState::random).unwrap();
    random::insecure_seed::add_to_linker::<_, WasiRandom>(l, GuestState::random).unwrap();
    cli::exit::add_to_linker::<_, WasiCli>(l, GuestState::cli).unwrap();
    cli::environment::add_to_linker::<_, WasiCli>(l, GuestState::cli).unwrap();
    cli::terminal_input::add_to_linker::<_, WasiCli>(l, GuestState::cli).unwrap();
    cli::terminal_output::add_to_linker::<_, WasiCli>(l, GuestState::cli).unwrap();
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, GuestState::cli).unwrap();
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, GuestState::cli).unwrap();
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, GuestState::cli).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l).unwrap();
    keyvalue::add_draft2_to_linker(l, GuestState::keyvalue).unwrap();
    guest_store::add_spin_to_linker(l, GuestState::config).unwrap();
    linker
}

/// `wasmtime serve -S cli -S keyvalue -S config` (48.x), and wasmCloud's
/// keyvalue link: all of WASI 0.2, `wasi:http`, `wasi:keyvalue@0.2.0-draft`,
/// `wasi:config@0.2.0-rc.1`.
fn wasmtime_serve_linker(engine: &Engine) -> Linker<GuestState> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    keyvalue::add_draft_to_linker(&mut linker, GuestState::keyvalue).unwrap();
    guest_store::add_rc1_to_linker(&mut linker, GuestState::config).unwrap();
    linker
}

fn state(dir: &std::path::Path) -> GuestState {
    let limits = limits();
    let clock = Arc::new(RunClock::start(
        limits.request_timeout,
        limits.background_timeout,
    ));
    GuestState {
        wasi: WasiCtx::builder().build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        outbound: OutboundPolicy::new(Vec::new(), limits.outbound_timeout, 4, clock.clone(), None),
        backend: Arc::new(EmbeddedStore::open(&dir.join("store.redb"), 1 << 20).unwrap()),
        store_limits: limits.store,
        limiter: InstanceLimiter::new(limits.memory_bytes),
        clock,
        settings: Arc::new(Settings::from_vars(Vec::new()).unwrap()),
    }
}

/// Instantiates `component` with `linker`; the error names what is missing.
async fn instantiate(
    engine: &Engine,
    linker: &Linker<GuestState>,
    component: &Component,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!(
        "cpb-worlds-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut store = Store::new(engine, state(&dir));
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(u64::MAX / 2);
    let result = linker
        .instantiate_async(&mut store, component)
        .await
        .map(drop)
        .map_err(|err| format!("{err:#}"));
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

#[tokio::test]
async fn each_build_links_exactly_against_its_host_family() {
    let engine = new_engine(&limits()).unwrap();
    let spin = Component::new(&engine, SPIN_BUILD).unwrap();
    let wasmtime_serve = Component::new(&engine, WASMTIME_SERVE_BUILD).unwrap();

    let spin_world = spin_linker(&engine);
    let serve_world = wasmtime_serve_linker(&engine);
    if let Err(err) = instantiate(&engine, &spin_world, &spin).await {
        panic!(
            "the default build under Spin's world: {err}\nimports: {:#?}",
            imports(&engine, &spin)
        );
    }
    if let Err(err) = instantiate(&engine, &serve_world, &wasmtime_serve).await {
        panic!(
            "the wasmtime-serve build under wasmtime serve's world: {err}\nimports: {:#?}",
            imports(&engine, &wasmtime_serve)
        );
    }
    // The families' worlds differ, so each build is for one of them.
    let crossed = instantiate(&engine, &serve_world, &spin).await;
    assert!(crossed.is_err_and(|e| e.contains("0.2.0-draft2")));
    let crossed = instantiate(&engine, &spin_world, &wasmtime_serve).await;
    assert!(crossed.is_err_and(|e| e.contains("0.2.0-draft") || e.contains("rc.1")));

    // calplanebot's own host runs either.
    let own = new_linker(&engine).unwrap();
    instantiate(&engine, &own, &spin).await.unwrap();
    instantiate(&engine, &own, &wasmtime_serve).await.unwrap();
}
