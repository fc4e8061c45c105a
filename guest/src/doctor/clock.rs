//! The clock check: every response's `Date` header (RFC 9110 §6.6.1)
//! against the local clock. A clock far off breaks webhook timestamps and
//! the `Retry-After` and rate-limit reset times the service waits for.

use std::cell::Cell;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Check;
use crate::net::{Http, HttpRequest, HttpResponse, NetError};

/// Further off than this and the clock check fails.
const MAX_SKEW_SECONDS: i64 = 60;

/// An [`Http`] that notes the largest gap between a server's `Date` and
/// the local clock at the moment the answer came.
pub struct DateWatch<'a> {
    inner: &'a dyn Http,
    /// Requests to URLs under this are Plane's; the others CalDAV's.
    plane_base: &'a str,
    /// The largest gap seen, in seconds (server minus local), and who.
    widest: Cell<Option<(i64, &'static str)>>,
}

impl<'a> DateWatch<'a> {
    pub fn new(inner: &'a dyn Http, plane_base: &'a str) -> Self {
        DateWatch {
            inner,
            plane_base,
            widest: Cell::new(None),
        }
    }

    pub fn verdict(&self) -> Check {
        match self.widest.get() {
            None => Check::pass("clock", "no server sent a Date header to compare with"),
            Some((gap, _)) if gap.abs() <= MAX_SKEW_SECONDS => Check::pass(
                "clock",
                format!("within {}s of the servers' Date headers", gap.abs()),
            ),
            Some((gap, server)) => Check::fail(
                "clock",
                format!(
                    "this machine's clock is {}s {} {server}'s",
                    gap.abs(),
                    if gap > 0 { "behind" } else { "ahead of" }
                ),
                "synchronise the clock (NTP: systemd-timesyncd, chrony): webhook timestamps and rate-limit waits depend on it",
            ),
        }
    }
}

impl Http for DateWatch<'_> {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, NetError> {
        let response = self.inner.send(request)?;
        let server = response
            .header("date")
            .and_then(|date| DateTime::parse_from_rfc2822(date.trim()).ok());
        if let Some(server) = server {
            let gap = (server.with_timezone(&Utc) - crate::time::now()).num_seconds();
            let who = if request.url.starts_with(self.plane_base) {
                "Plane"
            } else {
                "the CalDAV server"
            };
            if self
                .widest
                .get()
                .is_none_or(|(widest, _)| gap.abs() > widest.abs())
            {
                self.widest.set(Some((gap, who)));
            }
        }
        Ok(response)
    }

    fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration);
    }
}
