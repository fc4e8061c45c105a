//! The documented configuration keys: the only variables the guest sees.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Secret,
    Url,
    /// A whole number greater than zero.
    Count,
    /// A whole number from 0 to 100.
    Percent,
    /// A share that cannot be nothing: 1 to 100.
    Share,
    Seconds,
    Bool,
    Level,
    /// Addresses and CIDR blocks, separated by commas or spaces.
    AddressList,
}

#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// For URLs: whether the guest may send requests to its origin.
    pub reachable: bool,
    pub default: &'static str,
    pub meaning: &'static str,
}

const fn key(name: &'static str, kind: Kind, default: &'static str, meaning: &'static str) -> Key {
    Key {
        name,
        kind,
        reachable: false,
        default,
        meaning,
    }
}

const fn service_url(name: &'static str, meaning: &'static str) -> Key {
    Key {
        name,
        kind: Kind::Url,
        reachable: true,
        default: "",
        meaning,
    }
}

pub const KEYS: &[Key] = &[
    service_url(
        "PLANE_BASE_URL",
        "Plane's API origin, e.g. https://api.plane.so",
    ),
    key(
        "PLANE_API_TOKEN",
        Kind::Secret,
        "",
        "Plane API key (X-API-Key)",
    ),
    key(
        "PLANE_WORKSPACE_SLUG",
        Kind::Text,
        "",
        "Plane workspace slug",
    ),
    key(
        "PLANE_WEB_URL",
        Kind::Url,
        "PLANE_BASE_URL",
        "Origin of Plane's web app, for links in events",
    ),
    key(
        "PLANE_PAGE_SIZE",
        Kind::Count,
        "100",
        "per_page for Plane listings",
    ),
    key(
        "PLANE_WEBHOOK_SECRET",
        Kind::Secret,
        "",
        "Secret for X-Plane-Signature; unset accepts unsigned webhooks",
    ),
    key(
        "PLANE_WEBHOOK_SECRET_PREVIOUS",
        Kind::Secret,
        "",
        "Previous webhook secret, accepted during rotation",
    ),
    service_url("CALDAV_URL", "CalDAV server URL used for discovery"),
    key("CALDAV_USERNAME", Kind::Text, "", "CalDAV user name"),
    key("CALDAV_PASSWORD", Kind::Secret, "", "CalDAV password"),
    key("CALDAV_AUTH_TYPE", Kind::Text, "basic", "basic or digest"),
    key(
        "WEBHOOK_SOURCE_IPS",
        Kind::AddressList,
        "",
        "Addresses and CIDRs webhooks may come from (e.g. Plane's egress IPs); unset allows all",
    ),
    key(
        "CALPLANEBOT_API_TOKEN",
        Kind::Secret,
        "",
        "If set, bearer token required by the sync trigger and status endpoints",
    ),
    key(
        "SYNC_INTERVAL_SECONDS",
        Kind::Seconds,
        "300",
        "Period of the full sync",
    ),
    key(
        "RATE_LIMIT_WEBHOOKS_PER_MINUTE",
        Kind::Count,
        "100",
        "Webhook requests per minute per client IP",
    ),
    key(
        "RATE_LIMIT_SYNC_PER_HOUR",
        Kind::Count,
        "10",
        "Sync triggers per hour per client IP",
    ),
    key(
        "SYNC_LEASE_SECONDS",
        Kind::Count,
        "120",
        "How long a crashed sync can block the next one",
    ),
    key(
        "SYNC_FULL_INTERVAL_SECONDS",
        Kind::Seconds,
        "3600",
        "Period of the full reconciliation (every item listed, every calendar read without a sync token); syncs in between read what changed",
    ),
    key(
        "SYNC_WATERMARK_OVERLAP_SECONDS",
        Kind::Seconds,
        "120",
        "How far before the last sync's newest change an incremental read goes back (Plane writes committed late)",
    ),
    key(
        "WEBHOOK_SILENCE_WINDOW_SECONDS",
        Kind::Seconds,
        "3600",
        "Window in which changes that arrived only through a sync are counted (Plane's webhook may be disabled)",
    ),
    key(
        "WEBHOOK_SILENCE_GRACE_SECONDS",
        Kind::Seconds,
        "120",
        "How long after a change its webhook may still arrive before the change counts as missed",
    ),
    key(
        "PLANE_RATE_BUDGET_PERCENT",
        Kind::Share,
        "50",
        "Share of the Plane key's rate limit (60 requests a minute) a sync may spend",
    ),
    key(
        "SYNC_MAX_DELETE_PERCENT",
        Kind::Percent,
        "50",
        "Share of a calendar's events one sync may delete (when more than 10) before it withholds the deletions",
    ),
    key(
        "ENABLE_SYNC",
        Kind::Bool,
        "true",
        "Run the periodic full sync",
    ),
    key(
        "LOG_LEVEL",
        Kind::Level,
        "INFO",
        "DEBUG, INFO, WARNING or ERROR",
    ),
];
