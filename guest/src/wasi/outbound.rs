//! [`Http`] over `wasi:http/outgoing-handler`.

use std::io::Write;
use std::time::{Duration, Instant};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::StreamError;

use crate::net::{Http, HttpRequest, HttpResponse, NetError, Origin};

/// Largest response body read; a calendar REPORT of a few thousand events
/// fits many times over.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Bytes asked of the response stream per read.
const READ_CHUNK: u64 = 64 * 1024;

pub struct WasiHttp;

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

fn net_error(code: ErrorCode) -> NetError {
    match code {
        ErrorCode::HttpRequestDenied => NetError::Denied,
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout => NetError::Timeout,
        other => NetError::Connection(format!("{other:?}")),
    }
}

/// A monotonic-clock timer, in the units `wasi:clocks` takes.
fn timer(duration: Duration) -> Pollable {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    wasip2::clocks::monotonic_clock::subscribe_duration(nanos)
}

/// How one request waits: in slices of `every`, calling `tick` between
/// them, and no later than `deadline`.
struct Waiting<'a> {
    every: Duration,
    tick: &'a dyn Fn(),
    deadline: Option<Instant>,
}

impl Waiting<'_> {
    /// Blocks until `ready` is, or the deadline passes.
    fn until(&self, ready: &Pollable) -> Result<(), NetError> {
        loop {
            let mut slice = self.every;
            if let Some(deadline) = self.deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(NetError::Timeout);
                }
                slice = slice.min(left);
            }
            let timer = timer(slice);
            if poll(&[ready, &timer]).contains(&0) {
                return Ok(());
            }
            (self.tick)();
        }
    }
}

impl Http for WasiHttp {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, NetError> {
        self.send_ticking(request, Duration::from_secs(3600), &|| {})
    }

    fn send_ticking(
        &self,
        request: &HttpRequest,
        every: Duration,
        tick: &dyn Fn(),
    ) -> Result<HttpResponse, NetError> {
        let waiting = Waiting {
            every,
            tick,
            deadline: request.deadline,
        };
        let origin = Origin::of(&request.url)
            .ok_or_else(|| NetError::Invalid("not an absolute URL".into()))?;
        let (scheme, authority) = origin
            .as_str()
            .split_once("://")
            .ok_or_else(|| NetError::Invalid("no scheme".into()))?;
        let headers = Fields::new();
        // Always a length, zero included: without one the body goes out
        // chunked, which HTTP/1.0 servers such as Radicale's refuse (400),
        // and a GET would carry an open-ended body a server may answer and
        // close before it is finished.
        headers
            .append("content-length", request.body.len().to_string().as_bytes())
            .map_err(|err| NetError::Invalid(format!("content-length: {err:?}")))?;
        for (name, value) in &request.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|err| NetError::Invalid(format!("header {name}: {err:?}")))?;
        }
        let outgoing = OutgoingRequest::new(headers);
        let path = crate::net::path_of(&request.url);
        let scheme = if scheme == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_method(&method(&request.method))
            .and(outgoing.set_scheme(Some(&scheme)))
            .and(outgoing.set_authority(Some(authority)))
            .and(outgoing.set_path_with_query(Some(path)))
            .map_err(|()| NetError::Invalid("request line rejected".into()))?;
        let body = outgoing
            .body()
            .map_err(|()| NetError::Invalid("no body".into()))?;
        let future = outgoing_handler::handle(outgoing, None).map_err(net_error)?;
        let sent = if request.body.is_empty() {
            Ok(())
        } else {
            body.write()
                .map_err(|()| NetError::Invalid("no body stream".into()))
                .and_then(|mut stream| {
                    stream
                        .write_all(&request.body)
                        .and_then(|()| Write::flush(&mut stream))
                        .map_err(|err| NetError::Connection(err.to_string()))
                })
        };
        let finished = OutgoingBody::finish(body, None).map_err(net_error);
        // Dropping the future on a timeout cancels the request.
        waiting.until(&future.subscribe())?;
        // A server may answer before reading all of the body and close the
        // connection; then the answer counts, not the failed write.
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(sent.and(finished).err().unwrap_or(net_error(code))),
            Some(Err(())) => return Err(NetError::Connection("response taken twice".into())),
            None => return Err(NetError::Connection("no response".into())),
        };
        let headers = super::header_pairs(&response.headers());
        let status = response.status();
        let incoming = response
            .consume()
            .map_err(|()| NetError::Connection("response body taken".into()))?;
        let mut body = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| NetError::Connection("response body stream".into()))?;
            let readable = stream.subscribe();
            loop {
                waiting.until(&readable)?;
                match stream.read(READ_CHUNK) {
                    Ok(bytes) => body.extend_from_slice(&bytes),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(err)) => {
                        return Err(NetError::Connection(err.to_debug_string()));
                    }
                }
                if body.len() > MAX_RESPONSE_BYTES {
                    return Err(NetError::Connection(format!(
                        "response body larger than {MAX_RESPONSE_BYTES} bytes"
                    )));
                }
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn sleep(&self, duration: Duration) {
        timer(duration).block();
    }
}
