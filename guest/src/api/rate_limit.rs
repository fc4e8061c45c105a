//! Per-client request limits (API reference: webhooks 100/minute per IP,
//! sync trigger 10/hour; health unlimited). Fixed windows counted with the
//! store's atomic increment, so the limit holds across parallel instances
//! and replicas.

use chrono::{DateTime, Utc};

use super::{ApiError, ErrorCode};
use crate::http::{Request, Response};
use crate::store::{KeyValue, StoreError};

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

/// Counts `request` against `limit` for its client; the 429 when over.
pub fn enforce(ctx: &super::Context, request: &Request, limit: Limit) -> Result<Count, ApiError> {
    let count = count(ctx.store, limit, &client_of(request), ctx.now)?;
    if count.exceeded {
        return Err(count.error(ctx.now));
    }
    Ok(count)
}

/// The client's IP as the host supplies it (never a client-sent header:
/// the host strips those).
pub fn client_of(request: &Request) -> String {
    if let Some(addr) = request.header(super::CLIENT_ADDR_HEADER) {
        return addr.trim().to_string();
    }
    match request.header(super::SPIN_CLIENT_ADDR_HEADER) {
        // Spin gives `ip:port` (`[v6]:port`).
        Some(addr) => {
            let addr = addr.trim();
            match addr.rsplit_once(':') {
                Some((ip, port))
                    if port.chars().all(|c| c.is_ascii_digit())
                        && (ip.contains('.') || ip.starts_with('[')) =>
                {
                    ip.trim_start_matches('[').trim_end_matches(']').to_string()
                }
                _ => addr.to_string(),
            }
        }
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
    fn client_addresses() {
        let mut request = Request::new("POST", "/");
        assert_eq!(client_of(&request), "unknown");
        request
            .headers
            .push(("spin-client-addr".into(), "192.0.2.1:5555".into()));
        assert_eq!(client_of(&request), "192.0.2.1");
        request.headers[0].1 = "[2001:db8::1]:443".into();
        assert_eq!(client_of(&request), "2001:db8::1");
        request
            .headers
            .push(("calplanebot-client-addr".into(), "127.0.0.1".into()));
        assert_eq!(client_of(&request), "127.0.0.1");
    }
}
