//! A time budget over every request and wait of a piece of work: a webhook
//! must answer well within the host's request limit (and Plane's 30 s
//! delivery timeout), so it queues the change rather than be cut off.

use std::time::{Duration, Instant};

use super::{Http, HttpRequest, HttpResponse, NetError};

pub struct Deadline<'a> {
    inner: &'a dyn Http,
    at: Instant,
}

impl<'a> Deadline<'a> {
    pub fn new(inner: &'a dyn Http, budget: Duration) -> Self {
        Deadline {
            inner,
            at: Instant::now() + budget,
        }
    }

    fn bounded(&self, request: &HttpRequest) -> Result<HttpRequest, NetError> {
        if Instant::now() >= self.at {
            return Err(NetError::Timeout);
        }
        let mut request = request.clone();
        request.deadline = Some(request.deadline.map_or(self.at, |d| d.min(self.at)));
        Ok(request)
    }
}

impl Http for Deadline<'_> {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, NetError> {
        self.inner.send(&self.bounded(request)?)
    }

    fn send_ticking(
        &self,
        request: &HttpRequest,
        every: Duration,
        tick: &dyn Fn(),
    ) -> Result<HttpResponse, NetError> {
        self.inner
            .send_ticking(&self.bounded(request)?, every, tick)
    }

    fn sleep(&self, duration: Duration) {
        let left = self.at.saturating_duration_since(Instant::now());
        self.inner.sleep(duration.min(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::scripted::{ScriptedHttp, response};

    #[test]
    fn requests_carry_the_deadline_and_stop_once_it_passed() {
        let http = ScriptedHttp::new(|_, _| Ok(response(200, &[], "")));
        let bounded = Deadline::new(&http, Duration::from_secs(5));
        bounded.send(&HttpRequest::new("GET", "http://x/")).unwrap();
        let sent = http.requests.borrow()[0].deadline.expect("deadline set");
        assert!(sent <= Instant::now() + Duration::from_secs(5));
        bounded.sleep(Duration::from_secs(60));
        assert!(http.sleeps.borrow()[0] <= Duration::from_secs(5));

        let spent = Deadline::new(&http, Duration::ZERO);
        assert_eq!(
            spent
                .send(&HttpRequest::new("GET", "http://x/"))
                .unwrap_err(),
            NetError::Timeout
        );
        assert_eq!(http.requests.borrow().len(), 1);
    }
}
