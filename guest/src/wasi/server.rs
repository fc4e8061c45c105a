//! `wasi:http` incoming request → [`Request`]; [`Response`] → outgoing response.

use std::io::{Read, Write};

use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

use crate::http::{Request, Response};

/// Bodies are read up to one byte past the largest the API accepts, so an
/// endpoint can tell "too large" from "exactly at the limit" without the guest
/// buffering an unbounded upload.
const BODY_READ_LIMIT: u64 = 1024 * 1024 + 1;

/// The request's method, path and headers; its body is read separately
/// ([`read_body`]) so a request can be refused from its head alone.
pub fn read_head(incoming: &IncomingRequest) -> Request {
    let method = match incoming.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".to_string(),
        Method::Post => "POST".to_string(),
        Method::Put => "PUT".to_string(),
        Method::Delete => "DELETE".to_string(),
        Method::Connect => "CONNECT".to_string(),
        Method::Options => "OPTIONS".to_string(),
        Method::Trace => "TRACE".to_string(),
        Method::Patch => "PATCH".to_string(),
        Method::Other(other) => other.to_ascii_uppercase(),
    };
    let mut request = Request::new(
        &method,
        &incoming.path_with_query().unwrap_or_else(|| "/".into()),
    );
    request.headers = super::header_pairs(&incoming.headers());
    request
}

pub fn read_body(incoming: IncomingRequest, request: &mut Request) -> Result<(), String> {
    let body = incoming
        .consume()
        .map_err(|()| "request body already consumed".to_string())?;
    {
        let stream = body
            .stream()
            .map_err(|()| "request body stream unavailable".to_string())?;
        stream
            .take(BODY_READ_LIMIT)
            .read_to_end(&mut request.body)
            .map_err(|err| format!("reading the request body: {err}"))?;
    }
    Ok(())
}

pub fn send_response(out: ResponseOutparam, response: Response) {
    let headers = Fields::new();
    for (name, value) in &response.headers {
        // A header the API built is always valid; skip rather than fail the
        // whole response if one ever is not.
        let _ = headers.append(name, value.as_bytes());
    }
    let outgoing = OutgoingResponse::new(headers);
    let _ = outgoing.set_status_code(response.status);
    let Ok(body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(outgoing));
    let written = body
        .write()
        .map_err(|()| std::io::Error::other("no body stream"))
        .and_then(|mut stream| {
            stream.write_all(&response.body)?;
            Write::flush(&mut stream)
        });
    if written.is_err() {
        eprintln!("client went away while the response was written");
    }
    let _ = OutgoingBody::finish(body, None);
}
