//! The guest's configuration, read from its environment.
//!
//! The host passes only documented keys (see the README); names are those of
//! the original CalPlaneBot so an existing `.env` keeps working.

use std::collections::HashMap;

/// Set by calplanebot's host to a value that is new on every host start.
pub const BOOT_ID: &str = "CALPLANEBOT_BOOT_ID";
/// Set by calplanebot's host to a random secret; its scheduled-sync requests
/// carry it in [`crate::api::SCHEDULER_HEADER`].
pub const SCHEDULER_TOKEN: &str = "CALPLANEBOT_SCHEDULER_TOKEN";

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Identifies this boot of the host, for uptime; empty when the host sets none.
    pub boot_id: String,
    /// The secret that marks the host's own scheduled requests; `None` when the
    /// host has no scheduler (then no request is taken as scheduled).
    pub scheduler_token: Option<String>,
}

impl Config {
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars: HashMap<String, String> = vars.into_iter().collect();
        Config {
            boot_id: vars.get(BOOT_ID).cloned().unwrap_or_default(),
            scheduler_token: vars
                .get(SCHEDULER_TOKEN)
                .filter(|token| !token.is_empty())
                .cloned(),
        }
    }

    pub fn from_env() -> Self {
        Self::from_vars(std::env::vars())
    }
}
