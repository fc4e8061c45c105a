//! Components built by this crate's build script.

use std::path::PathBuf;

fn built(name: &str) -> PathBuf {
    PathBuf::from(env!("OUT_DIR")).join(name)
}

/// The real guest, labelled `swap-a` (version `…+swap-a`).
pub fn guest_a() -> PathBuf {
    built("guest-swap-a.wasm")
}

/// The real guest, labelled `swap-b`.
pub fn guest_b() -> PathBuf {
    built("guest-swap-b.wasm")
}

/// The probe: one route per host capability, and routes that misbehave.
pub fn probe() -> PathBuf {
    built("probe.wasm")
}

/// The real guest built for `wasmtime serve` and wasmCloud
/// (`--features wasmtime-serve`).
pub fn guest_wasmtime_serve() -> PathBuf {
    built("guest-wasmtime-serve.wasm")
}
