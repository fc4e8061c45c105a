//! calplanebot's guest: every endpoint and every rule of the service.
//!
//! Everything except [`wasi`] is plain Rust that knows nothing of WebAssembly,
//! so it is unit tested natively; [`wasi`] is the thin layer that binds it to
//! `wasi:http/proxy` and `wasi:keyvalue` when compiled for `wasm32-wasip2`.

pub mod api;
pub mod caldav;
pub mod config;
pub mod doctor;
pub mod http;
pub mod ical;
pub mod log;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod plane;
pub mod store;
pub mod sync;
pub mod time;
pub mod uptime;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod wasi;

/// The service's version as reported by `GET /` and `/api/v1/health`: the
/// package version, plus the build label (`CALPLANEBOT_BUILD_LABEL` at compile
/// time) as semver build metadata when one was given.
pub fn version() -> String {
    match option_env!("CALPLANEBOT_BUILD_LABEL") {
        Some(label) if !label.is_empty() => format!("{}+{label}", env!("CARGO_PKG_VERSION")),
        _ => env!("CARGO_PKG_VERSION").to_string(),
    }
}
