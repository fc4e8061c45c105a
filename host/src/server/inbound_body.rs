//! A request's body, read whole by the host before any guest instance is
//! taken: a client that is slow to send (or sends nothing after
//! `Content-Length: 1000`) holds a connection until the body deadline, never
//! an instance.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HeaderValue};

use crate::runtime::{HostResponse, error_response};

/// The body type requests reach the guest with.
pub type WholeBody = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub deadline: Duration,
}

pub fn whole(bytes: Bytes) -> WholeBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The request with its body read, or the error response to send (the
/// connection is then closed: what is left of the body is never read).
pub async fn read(
    request: hyper::Request<Incoming>,
    limits: BodyLimits,
) -> Result<hyper::Request<WholeBody>, HostResponse> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_bytes as u64) {
        return Err(too_large(limits));
    }
    let (head, body) = request.into_parts();
    match tokio::time::timeout(
        limits.deadline,
        Limited::new(body, limits.max_bytes).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => Ok(hyper::Request::from_parts(
            head,
            whole(collected.to_bytes()),
        )),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => Err(too_large(limits)),
        Ok(Err(err)) => {
            tracing::debug!("request body unreadable: {err}");
            Err(closing(error_response(
                400,
                "BAD_REQUEST",
                "The request body could not be read",
            )))
        }
        Err(_) => Err(closing(error_response(
            408,
            "REQUEST_TIMEOUT",
            "The request body did not arrive in time",
        ))),
    }
}

fn too_large(limits: BodyLimits) -> HostResponse {
    closing(error_response(
        413,
        "PAYLOAD_TOO_LARGE",
        &format!("The request body is larger than {} bytes", limits.max_bytes),
    ))
}

fn closing(mut response: HostResponse) -> HostResponse {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}
