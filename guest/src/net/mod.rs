//! Outbound HTTP as the clients see it: one blocking `send`, plus `sleep`
//! for pacing and backoff. In a component it is `wasi:http` (see
//! `crate::wasi::outbound`); native tests script it.

mod deadline;
mod url;

pub use deadline::Deadline;
pub use url::{Origin, join, path_of};

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    /// Absolute URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When to give up waiting for the whole response ([`NetError::Timeout`]).
    pub deadline: Option<Instant>,
}

impl HttpRequest {
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        HttpRequest {
            method: method.to_string(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            deadline: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    pub status: u16,
    /// Names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        crate::http::header_value(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why no response arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("the host refused the destination (not on its allow-list)")]
    Denied,
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The caller may no longer send (a sync that lost its lease).
    #[error("not sent: {0}")]
    Cancelled(&'static str),
}

pub trait Http {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, NetError>;
    fn sleep(&self, duration: Duration);

    /// Like [`Http::send`], calling `tick` about every `every` while the
    /// response is awaited, for work that must show it is alive (a sync
    /// renewing its lease). Implementations that cannot wait in slices
    /// (scripted ones) just send.
    fn send_ticking(
        &self,
        request: &HttpRequest,
        every: Duration,
        tick: &dyn Fn(),
    ) -> Result<HttpResponse, NetError> {
        let _ = (every, tick);
        self.send(request)
    }
}

/// A scripted [`Http`] for native tests: answers with a closure, records
/// every request and every sleep (without sleeping).
#[cfg(test)]
pub mod scripted {
    use std::cell::RefCell;
    use std::time::Duration;

    use super::{Http, HttpRequest, HttpResponse, NetError};

    type Responder = Box<dyn Fn(&HttpRequest, usize) -> Result<HttpResponse, NetError>>;

    pub struct ScriptedHttp {
        responder: Responder,
        pub requests: RefCell<Vec<HttpRequest>>,
        pub sleeps: RefCell<Vec<Duration>>,
    }

    impl ScriptedHttp {
        /// `respond(request, index)` where `index` counts earlier requests.
        pub fn new(
            respond: impl Fn(&HttpRequest, usize) -> Result<HttpResponse, NetError> + 'static,
        ) -> Self {
            ScriptedHttp {
                responder: Box::new(respond),
                requests: RefCell::new(Vec::new()),
                sleeps: RefCell::new(Vec::new()),
            }
        }

        pub fn methods(&self) -> Vec<String> {
            self.requests
                .borrow()
                .iter()
                .map(|r| r.method.clone())
                .collect()
        }
    }

    impl Http for ScriptedHttp {
        fn send(&self, request: &HttpRequest) -> Result<HttpResponse, NetError> {
            let index = self.requests.borrow().len();
            self.requests.borrow_mut().push(request.clone());
            (self.responder)(request, index)
        }

        fn sleep(&self, duration: Duration) {
            self.sleeps.borrow_mut().push(duration);
        }
    }

    pub fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse::new(status, headers, body)
    }
}
