//! Configuration from `wasi:config/store`: Spin's variables (where secrets
//! come from Spin's providers, not the manifest), `wasmtime serve -S
//! config-var=KEY=VALUE`, calplanebot's host's settings.

use super::bindings::config;

/// Every variable the host offers, named as the guest's keys are: Spin
/// variable names are lower case (`plane_api_token` is `PLANE_API_TOKEN`).
/// A host whose store fails offers none; the environment still applies.
pub fn variables() -> Vec<(String, String)> {
    match config::get_all() {
        Ok(pairs) => pairs
            .into_iter()
            .map(|(key, value)| (key.to_ascii_uppercase(), value))
            .collect(),
        Err(err) => {
            crate::log!(
                "WARN",
                "Configuration store unreadable, using the environment only: {err:?}"
            );
            Vec::new()
        }
    }
}
