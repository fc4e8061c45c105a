//! Per-client request limits (API reference: webhooks 100/minute per IP,
//! sync trigger 10/hour; health unlimited). Fixed windows counted with the
//! store's atomic increment, so the limit holds across parallel instances
//! and replicas.

use chrono::{DateTime, Utc};

use super::{ApiError, ErrorCode};
use crate::http::{Request, Response};
use crate::store::{KeyValue, StoreError};

/// Window lengths: webhooks per minute, sync triggers per hour.
pub const WEBHOOK_WINDOW_SECONDS: i64 = 60;
pub const SYNC_WINDOW_SECONDS: i64 = 3600;
/// Every scope counted, with its window, for [`sweep`].
pub const WINDOWS: &[(&str, i64)] = &[
    ("webhooks", WEBHOOK_WINDOW_SECONDS),
    ("sync", SYNC_WINDOW_SECONDS),
];

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub scope: &'static str,
    pub max: i64,
    pub window_seconds: i64,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub limit: i64,
    pub remaining: i64,
    /// Unix seconds when the window ends.
    pub reset: i64,
    pub exceeded: bool,
}

impl Count {
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset.to_string()),
        ]
    }

    pub fn apply(&self, response: Response) -> Response {
        self.headers()
            .into_iter()
            .fold(response, |r, (name, value)| r.with_header(name, value))
    }

    /// The 429 for an exceeded limit, with `Retry-After`.
    pub fn error(&self, now: DateTime<Utc>) -> ApiError {
        let retry_after = (self.reset - now.timestamp()).max(1);
        let mut error = ApiError::new(
            ErrorCode::RateLimitExceeded,
            "Too many requests; retry later",
        )
        .detail("limit", self.limit)
        .detail("retry_after_seconds", retry_after)
        .header("retry-after", retry_after.to_string());
        for (name, value) in self.headers() {
            error = error.header(name, value);
        }
        error
    }
}

/// Counts a request from `client` against `limit`.
pub fn count(
    store: &dyn KeyValue,
    limit: Limit,
    client: &str,
    now: DateTime<Utc>,
) -> Result<Count, StoreError> {
    let window = limit.window_seconds.max(1);
    let start = now.timestamp().div_euclid(window) * window;
    let key = |start: i64| format!("ratelimit:{}:{client}:{start}", limit.scope);
    let used = store.increment(&key(start), 1)?;
    if used == 1 {
        // First request of a window: the previous window's counter is done.
        store.delete(&key(start - window))?;
    }
    Ok(Count {
        limit: limit.max,
        remaining: (limit.max - used).max(0),
        reset: start + window,
        exceeded: used > limit.max,
    })
}

/// Removes the windows that have ended. A client that comes back deletes its
/// previous window itself ([`count`]); this removes those of clients that
/// never came back, which an unauthenticated flood from many addresses
/// would otherwise leave behind forever. `windows` gives each scope's
/// window length; keys of unknown scopes are left alone.
pub fn sweep(
    store: &dyn KeyValue,
    windows: &[(&str, i64)],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut removed = 0;
    for key in store.list_keys()? {
        let Some(rest) = key.strip_prefix("ratelimit:") else {
            continue;
        };
        let (Some((scope, _)), Some((_, start))) = (rest.split_once(':'), rest.rsplit_once(':'))
        else {
            continue;
        };
        let Some(&(_, window)) = windows.iter().find(|(s, _)| *s == scope) else {
            continue;
        };
        let Ok(start) = start.parse::<i64>() else {
            continue;
        };
        if start + window <= now.timestamp() {
            store.delete(&key)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Counts `request` against `limit` for its client; the 429 when over.
pub fn enforce(ctx: &super::Context, request: &Request, limit: Limit) -> Result<Count, ApiError> {
    let count = count(ctx.store, limit, &client_of(request), ctx.now)?;
    if count.exceeded {
        return Err(count.error(ctx.now));
    }
    Ok(count)
}

/// The client's IP as the host supplies it. Spin's header first: Spin
/// sets `spin-client-addr` itself but passes any other header a client sends,
/// so under Spin a `calplanebot-client-addr` may be forged; calplanebot's host
/// strips a client's `spin-client-addr` and sets its own header.
pub fn client_of(request: &Request) -> String {
    if let Some(addr) = request.header(super::SPIN_CLIENT_ADDR_HEADER) {
        // Spin gives `ip:port` (`[v6]:port`).
        let addr = addr.trim();
        return match addr.rsplit_once(':') {
            Some((ip, port))
                if port.chars().all(|c| c.is_ascii_digit())
                    && (ip.contains('.') || ip.starts_with('[')) =>
            {
                ip.trim_start_matches('[').trim_end_matches(']').to_string()
            }
            _ => addr.to_string(),
        };
    }
    match request.header(super::CLIENT_ADDR_HEADER) {
        Some(addr) => addr.trim().to_string(),
        None => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use chrono::TimeZone;

    const WEBHOOKS: Limit = Limit {
        scope: "webhooks",
        max: 100,
        window_seconds: 60,
    };

    #[test]
    fn the_101st_request_in_a_minute_is_refused_and_others_are_not() {
        let store = MemoryStore::default();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 30).unwrap();
        for n in 1..=100 {
            let c = count(&store, WEBHOOKS, "10.0.0.1", now).unwrap();
            assert!(!c.exceeded);
            assert_eq!(c.remaining, 100 - n);
        }
        let over = count(&store, WEBHOOKS, "10.0.0.1", now).unwrap();
        assert!(over.exceeded);
        assert_eq!(over.reset, now.timestamp() + 30);
        assert!(!count(&store, WEBHOOKS, "10.0.0.2", now).unwrap().exceeded);
        let next_minute = now + chrono::Duration::seconds(31);
        assert_eq!(
            count(&store, WEBHOOKS, "10.0.0.1", next_minute)
                .unwrap()
                .remaining,
            99
        );
        let error = over.error(now);
        assert_eq!(error.code, ErrorCode::RateLimitExceeded);
        assert!(
            error
                .headers
                .iter()
                .any(|(n, v)| n == "retry-after" && v == "30")
        );
    }

    #[test]
    fn ended_windows_of_clients_that_never_return_are_swept() {
        let store = MemoryStore::default();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 30).unwrap();
        let earlier = now - chrono::Duration::minutes(5);
        count(&store, WEBHOOKS, "192.0.2.1", earlier).unwrap();
        count(&store, WEBHOOKS, "2001:db8::1", earlier).unwrap();
        count(&store, WEBHOOKS, "192.0.2.2", now).unwrap();
        store.set("ratelimit-unrelated", b"x").unwrap();
        let removed = sweep(&store, &[("webhooks", 60)], now).unwrap();
        assert_eq!(removed, 2);
        let left: Vec<String> = store
            .list_keys()
            .unwrap()
            .into_iter()
            .filter(|k| k.starts_with("ratelimit"))
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().any(|k| k.contains("192.0.2.2")));
    }

    #[test]
    fn client_addresses() {
        let mut request = Request::new("POST", "/");
        assert_eq!(client_of(&request), "unknown");
        request
            .headers
            .push(("spin-client-addr".into(), "192.0.2.1:5555".into()));
        assert_eq!(client_of(&request), "192.0.2.1");
        request.headers[0].1 = "[2001:db8::1]:443".into();
        assert_eq!(client_of(&request), "2001:db8::1");
        // Under Spin a client can send calplanebot's header: Spin's wins.
        request
            .headers
            .push(("calplanebot-client-addr".into(), "127.0.0.1".into()));
        assert_eq!(client_of(&request), "2001:db8::1");
        request.headers.remove(0);
        assert_eq!(client_of(&request), "127.0.0.1");
    }
}
