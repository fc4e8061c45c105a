//! The guest's configuration: its environment and, winning over it, the
//! host's configuration store (see `crate::wasi`).
//!
//! The host passes only documented keys (see the README); names are those of
//! the original CalPlaneBot so an existing `.env` keeps working.

use std::collections::HashMap;
use std::time::Duration;

use crate::caldav::{Credentials, Scheme};
use crate::plane::PlaneSettings;

/// Set by calplanebot's host to a value that is new on every host start.
pub const BOOT_ID: &str = "CALPLANEBOT_BOOT_ID";
/// Set by calplanebot's host to a random secret; its scheduled-sync requests
/// carry it in [`crate::api::SCHEDULER_HEADER`].
pub const SCHEDULER_TOKEN: &str = "CALPLANEBOT_SCHEDULER_TOKEN";
/// Set by calplanebot's host to its request time limit, in seconds.
pub const REQUEST_TIMEOUT: &str = "CALPLANEBOT_REQUEST_TIMEOUT_SECONDS";

/// The request time limit assumed when the host names none (it is
/// `wasmtime serve`'s and calplanebot's default alike).
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a webhook waits on Plane and CalDAV before it queues the
/// change instead: well inside Plane's 30 s delivery timeout.
const MAX_WEBHOOK_BUDGET: Duration = Duration::from_secs(10);

const DEFAULT_INTERVAL_SECONDS: u64 = 300;
const DEFAULT_PAGE_SIZE: u32 = 100;
/// `SYNC_MAX_DELETE_PERCENT`: the share of a calendar's events one sync may
/// delete (when more than a few) before it withholds the deletions.
const DEFAULT_MAX_DELETE_PERCENT: u8 = 50;
const DEFAULT_RATE_BUDGET_PERCENT: u8 = 50;
const DEFAULT_FULL_INTERVAL_SECONDS: u64 = 3600;
const DEFAULT_WATERMARK_OVERLAP_SECONDS: u64 = 120;

#[derive(Debug, Clone, Default)]
pub struct Config {
    vars: HashMap<String, String>,
}

/// What a sync needs; every key present and valid.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub plane: PlaneSettings,
    /// Origin (and path prefix) of Plane's web app, for event links.
    pub web_url: String,
    pub caldav_url: String,
    pub caldav_username: String,
    pub caldav_password: String,
    pub caldav_digest: bool,
    pub lease_ttl: chrono::Duration,
    pub max_delete_percent: u8,
    /// How often every project is listed in full from Plane and every
    /// calendar without a sync token (`SYNC_FULL_INTERVAL_SECONDS`).
    pub full_interval: chrono::Duration,
    /// The sync's share of the Plane key's rate limit (`PLANE_RATE_BUDGET_PERCENT`).
    pub rate_budget_percent: u8,
    /// How far before the last sync's newest change an incremental read
    /// goes back (`SYNC_WATERMARK_OVERLAP_SECONDS`): a write Plane commits
    /// late can carry an `updated_at` older than items already listed.
    pub watermark_overlap: chrono::Duration,
    /// How far back changes that arrived only through a sync are counted
    /// (`WEBHOOK_SILENCE_WINDOW_SECONDS`), and after how long a change's
    /// webhook counts as missing (`WEBHOOK_SILENCE_GRACE_SECONDS`).
    pub missed_webhooks: crate::sync::missed_webhooks::Watch,
}

impl SyncConfig {
    pub fn credentials(&self) -> Credentials {
        let scheme = if self.caldav_digest {
            Scheme::Digest
        } else {
            Scheme::Basic
        };
        Credentials::new(&self.caldav_username, &self.caldav_password, scheme)
    }
}

impl Config {
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Config {
            vars: vars.into_iter().collect(),
        }
    }

    /// A set, non-blank value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Identifies this boot of the host, for uptime; empty when the host sets none.
    pub fn boot_id(&self) -> &str {
        self.get(BOOT_ID).unwrap_or("")
    }

    /// The secret that marks the host's own scheduled requests; `None` when
    /// the host has no scheduler (then no request is taken as scheduled).
    pub fn scheduler_token(&self) -> Option<&str> {
        self.get(SCHEDULER_TOKEN)
    }

    pub fn sync_enabled(&self) -> bool {
        !matches!(
            self.get("ENABLE_SYNC")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("0" | "false" | "no" | "off")
        )
    }

    pub fn sync_interval_seconds(&self) -> u64 {
        self.get("SYNC_INTERVAL_SECONDS")
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or(DEFAULT_INTERVAL_SECONDS)
    }

    fn count(&self, key: &str, default: i64) -> i64 {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .filter(|&v: &i64| v > 0)
            .unwrap_or(default)
    }

    /// Webhook requests per minute per client IP (API reference: 100).
    pub fn webhook_limit(&self) -> i64 {
        self.count("RATE_LIMIT_WEBHOOKS_PER_MINUTE", 100)
    }

    /// Sync triggers per hour per client IP (API reference: 10).
    pub fn sync_trigger_limit(&self) -> i64 {
        self.count("RATE_LIMIT_SYNC_PER_HOUR", 10)
    }

    /// The webhook secrets: the current one, then the previous one during a
    /// rotation. Empty when webhooks are accepted unsigned.
    pub fn webhook_secrets(&self) -> Vec<&str> {
        ["PLANE_WEBHOOK_SECRET", "PLANE_WEBHOOK_SECRET_PREVIOUS"]
            .iter()
            .filter_map(|key| self.get(key))
            .collect()
    }

    /// How long a webhook may wait on Plane and CalDAV: at most half the
    /// host's request limit, so the change is queued (202) with time to
    /// spare rather than the request cut off (500, never retried by Plane).
    pub fn webhook_budget(&self) -> Duration {
        let limit = self
            .get(REQUEST_TIMEOUT)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&v| v > 0)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        (limit / 2).min(MAX_WEBHOOK_BUDGET)
    }

    /// `WEBHOOK_SILENCE_WINDOW_SECONDS`: the window in which changes that
    /// only a sync found are counted (default an hour).
    pub fn missed_webhook_window(&self) -> chrono::Duration {
        self.get("WEBHOOK_SILENCE_WINDOW_SECONDS")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|&v| (60..=30 * 86_400).contains(&v))
            .map(chrono::Duration::seconds)
            .unwrap_or(chrono::Duration::hours(1))
    }

    /// How long the sync lease lasts without renewal (`SYNC_LEASE_SECONDS`).
    pub fn lease_ttl(&self) -> chrono::Duration {
        self.get("SYNC_LEASE_SECONDS")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|&v| v > 0)
            .map(chrono::Duration::seconds)
            .unwrap_or(crate::sync::lease::DEFAULT_TTL)
    }

    /// The sync's settings, or the list of what is missing or invalid.
    pub fn sync(&self) -> Result<SyncConfig, String> {
        let mut missing = Vec::new();
        let mut required = |key: &'static str| {
            self.get(key).map(str::to_string).unwrap_or_else(|| {
                missing.push(key);
                String::new()
            })
        };
        let base_url = required("PLANE_BASE_URL");
        let token = required("PLANE_API_TOKEN");
        let workspace = required("PLANE_WORKSPACE_SLUG");
        let caldav_url = required("CALDAV_URL");
        if !missing.is_empty() {
            return Err(format!(
                "not configured: {} must be set",
                missing.join(", ")
            ));
        }
        let base_url = base_url.trim_end_matches('/').to_string();
        // The slug is part of every Plane request path.
        if !crate::plane::is_valid_id(&workspace) {
            return Err(format!(
                "PLANE_WORKSPACE_SLUG {workspace:?} is not a workspace slug (letters, digits, - and _ only, as in the workspace's URL)"
            ));
        }
        let max_delete_percent = self.whole_number(
            "SYNC_MAX_DELETE_PERCENT",
            0,
            100,
            DEFAULT_MAX_DELETE_PERCENT.into(),
        )?;
        let rate_budget_percent = self.whole_number(
            "PLANE_RATE_BUDGET_PERCENT",
            1,
            100,
            DEFAULT_RATE_BUDGET_PERCENT.into(),
        )?;
        let watermark_overlap = self.whole_number(
            "SYNC_WATERMARK_OVERLAP_SECONDS",
            1,
            86_400,
            DEFAULT_WATERMARK_OVERLAP_SECONDS,
        )?;
        let full_interval = self.whole_number(
            "SYNC_FULL_INTERVAL_SECONDS",
            1,
            u64::from(u32::MAX),
            DEFAULT_FULL_INTERVAL_SECONDS,
        )?;
        Ok(SyncConfig {
            web_url: self
                .get("PLANE_WEB_URL")
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| web_url_for(&base_url)),
            plane: PlaneSettings {
                base_url,
                token,
                workspace,
                per_page: self
                    .get("PLANE_PAGE_SIZE")
                    .and_then(|v| v.parse().ok())
                    .filter(|&v| v > 0)
                    .unwrap_or(DEFAULT_PAGE_SIZE),
            },
            caldav_url,
            caldav_username: self.get("CALDAV_USERNAME").unwrap_or("").to_string(),
            caldav_password: self.get("CALDAV_PASSWORD").unwrap_or("").to_string(),
            caldav_digest: self
                .get("CALDAV_AUTH_TYPE")
                .is_some_and(|t| t.eq_ignore_ascii_case("digest")),
            lease_ttl: self.lease_ttl(),
            max_delete_percent: u8::try_from(max_delete_percent).unwrap_or(100),
            full_interval: chrono::Duration::seconds(
                i64::try_from(full_interval).unwrap_or(i64::MAX / 1000),
            ),
            rate_budget_percent: u8::try_from(rate_budget_percent).unwrap_or(100),
            watermark_overlap: chrono::Duration::seconds(
                i64::try_from(watermark_overlap).unwrap_or(86_400),
            ),
            missed_webhooks: crate::sync::missed_webhooks::Watch {
                window: self.missed_webhook_window(),
                grace: chrono::Duration::seconds(
                    self.get("WEBHOOK_SILENCE_GRACE_SECONDS")
                        .and_then(|v| v.parse::<i64>().ok())
                        .filter(|v| (0..=3600).contains(v))
                        .unwrap_or(120),
                ),
            },
        })
    }

    /// `WEBHOOK_SOURCE_IPS`, addresses and CIDR blocks separated by commas
    /// or spaces; `Ok(None)` (unset) allows every address. The error names
    /// the key and the entry's position, not the value.
    pub fn webhook_sources(&self) -> Result<Option<Vec<ipnet::IpNet>>, String> {
        let Some(value) = self.get("WEBHOOK_SOURCE_IPS") else {
            return Ok(None);
        };
        value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(index, entry)| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!(
                            "WEBHOOK_SOURCE_IPS: entry {} is not an IP address or CIDR block",
                            index + 1
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A whole number from `min` to `max`, `default` when unset; a value
    /// out of range fails closed, naming the key.
    fn whole_number(&self, key: &str, min: u64, max: u64, default: u64) -> Result<u64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(value) => value
                .parse::<u64>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(|| {
                    format!("{key} must be a whole number from {min} to {max}, not {value:?}")
                }),
        }
    }
}

/// Plane's web app, for links, when `PLANE_WEB_URL` is unset: Plane Cloud
/// serves its API at `api.plane.so` and the app at `app.plane.so`; a
/// self-hosted Plane serves both from one origin, the API under `/api`.
pub fn web_url_for(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base
        .strip_suffix("/api/v1")
        .or_else(|| base.strip_suffix("/api"))
        .unwrap_or(base);
    match base.split_once("://") {
        Some((scheme, rest)) if rest.eq_ignore_ascii_case("api.plane.so") => {
            format!("{scheme}://app.plane.so")
        }
        _ => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_url_defaults_to_the_web_app_not_the_api() {
        assert_eq!(web_url_for("https://api.plane.so"), "https://app.plane.so");
        assert_eq!(web_url_for("https://api.plane.so/"), "https://app.plane.so");
        assert_eq!(
            web_url_for("https://plane.example.com/api/v1/"),
            "https://plane.example.com"
        );
        assert_eq!(
            web_url_for("https://plane.example.com/api"),
            "https://plane.example.com"
        );
        assert_eq!(web_url_for("http://10.0.0.5:8080"), "http://10.0.0.5:8080");
        let set = config(&[
            ("PLANE_BASE_URL", "https://api.plane.so"),
            ("PLANE_WEB_URL", "https://plane.internal/"),
            ("PLANE_API_TOKEN", "t"),
            ("PLANE_WORKSPACE_SLUG", "ws"),
            ("CALDAV_URL", "http://dav/"),
        ]);
        assert_eq!(set.sync().unwrap().web_url, "https://plane.internal");
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn missing_keys_are_named() {
        let err = config(&[("PLANE_BASE_URL", "https://p")])
            .sync()
            .unwrap_err();
        assert!(err.contains("PLANE_API_TOKEN") && err.contains("CALDAV_URL"));
        assert!(!err.contains("PLANE_BASE_URL"));
    }

    #[test]
    fn invalid_values_are_named_not_guessed() {
        let base = [
            ("PLANE_BASE_URL", "https://p/"),
            ("PLANE_API_TOKEN", "t"),
            ("CALDAV_URL", "http://dav/"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            config(&pairs).sync()
        };
        for bad in ["101", "-1", "half", "50%"] {
            let err = with(&[
                ("PLANE_WORKSPACE_SLUG", "ws"),
                ("SYNC_MAX_DELETE_PERCENT", bad),
            ])
            .unwrap_err();
            assert!(err.contains("SYNC_MAX_DELETE_PERCENT"), "{err}");
        }
        let ok = with(&[
            ("PLANE_WORKSPACE_SLUG", "ws"),
            ("SYNC_MAX_DELETE_PERCENT", "100"),
        ]);
        assert_eq!(ok.unwrap().max_delete_percent, 100);
        for (key, bad) in [
            ("PLANE_RATE_BUDGET_PERCENT", "0"),
            ("PLANE_RATE_BUDGET_PERCENT", "150"),
            ("SYNC_FULL_INTERVAL_SECONDS", "0"),
            ("SYNC_FULL_INTERVAL_SECONDS", "1h"),
            ("SYNC_WATERMARK_OVERLAP_SECONDS", "86401"),
        ] {
            let err = with(&[("PLANE_WORKSPACE_SLUG", "ws"), (key, bad)]).unwrap_err();
            assert!(err.contains(key), "{err}");
        }
        let err = with(&[("PLANE_WORKSPACE_SLUG", "ws/../x")]).unwrap_err();
        assert!(err.contains("PLANE_WORKSPACE_SLUG"), "{err}");
    }

    #[test]
    fn defaults_apply() {
        let c = config(&[
            ("PLANE_BASE_URL", "https://p/"),
            ("PLANE_API_TOKEN", "t"),
            ("PLANE_WORKSPACE_SLUG", "ws"),
            ("CALDAV_URL", "http://dav/"),
        ]);
        let sync = c.sync().unwrap();
        assert_eq!(sync.plane.base_url, "https://p");
        assert_eq!(sync.web_url, "https://p");
        assert_eq!(sync.plane.per_page, 100);
        assert!(!sync.caldav_digest);
        assert!(c.sync_enabled());
        assert_eq!(c.sync_interval_seconds(), 300);
        assert!(!config(&[("ENABLE_SYNC", "False")]).sync_enabled());
        assert_eq!(c.webhook_budget(), Duration::from_secs(10));
        assert_eq!(sync.max_delete_percent, 50);
        assert_eq!(sync.rate_budget_percent, 50);
        assert_eq!(sync.full_interval, chrono::Duration::hours(1));
        let tight = config(&[(REQUEST_TIMEOUT, "6")]);
        assert_eq!(tight.webhook_budget(), Duration::from_secs(3));
    }
}
