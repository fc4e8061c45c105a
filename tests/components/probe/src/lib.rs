//! A component for the host's tests: every route exercises one capability,
//! or misbehaves on purpose (loops, allocates without bound, traps).
//!
//! Routes: `/ok`, `/loop`, `/alloc`, `/trap`, `/sleep?ms=`, `/log?line=`,
//! `/fetch?url=`, `/env?name=`, `/headers?name=`, `/kv/get?key=`,
//! `/kv/set?key=` (body = value), `/kv/incr?key=&by=`, `POST /webhooks/sync`,
//! `/slow-body?ms=` (the head at once, the body after `ms`),
//! `/drop-response?ms=` (no response, then `ms` of work), `/resources?n=`
//! (holds `n` host resources), `/fetch-many?url=&n=` (`n` requests open at
//! once), `/kv/big?bytes=` (stores a value that large), `/scheme`,
//! `/kv/delete?key=`, `/kv/list` (every key, one per line, through every
//! page), `/kv/cas?key=&expected=` (body = new value; no `expected` = the key
//! must be absent; answers `swapped` or 409 with the value now).
#![cfg(target_arch = "wasm32")]

use std::io::{Read, Write};

use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

mod keyvalue {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "calplanebot:service/keyvalue-draft2",
        generate_all,
    });
    pub use self::wasi::keyvalue0_2_0_draft2::{atomics, store};
}

use keyvalue::{atomics, store};

struct Probe;

wasip2::http::proxy::export!(Probe);

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| decode(value))
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn bucket() -> store::Bucket {
    store::open("default").expect("store opens")
}

fn respond(out: ResponseOutparam, status: u16, body: &str) {
    let headers = Fields::new();
    let _ = headers.append("content-type", b"text/plain");
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let outgoing = response.body().expect("body");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = outgoing.write().expect("stream");
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}

fn sleep_ms(ms: u64) {
    wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
}

fn outgoing(url: &str) -> Result<OutgoingRequest, String> {
    let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    }));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    Ok(request)
}

/// Starts `n` requests before waiting for any: how many the host let open.
fn fetch_many(url: &str, n: usize) -> String {
    let mut futures = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..n {
        let started = outgoing(url).and_then(|request| {
            wasip2::http::outgoing_handler::handle(request, None)
                .map_err(|code| format!("{code:?}"))
        });
        match started {
            Ok(future) => futures.push(future),
            Err(err) => refused.push(err),
        }
    }
    let mut answered = 0;
    for future in &futures {
        future.subscribe().block();
        match future.get() {
            Some(Ok(Ok(_))) => answered += 1,
            Some(Ok(Err(code))) => refused.push(format!("{code:?}")),
            _ => refused.push("no response".into()),
        }
    }
    format!(
        "answered={answered} refused={}: {}",
        refused.len(),
        refused.first().cloned().unwrap_or_default()
    )
}

fn fetch(url: &str) -> Result<u16, String> {
    let request = outgoing(url)?;
    let future = wasip2::http::outgoing_handler::handle(request, None)
        .map_err(|code| format!("{code:?}"))?;
    future.subscribe().block();
    let response = future
        .get()
        .ok_or("no response")?
        .map_err(|()| "taken")?
        .map_err(|code| format!("{code:?}"))?;
    Ok(response.status())
}

impl wasip2::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path_query = request.path_with_query().unwrap_or_default();
        let (path, query) = path_query.split_once('?').unwrap_or((&path_query, ""));
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .first()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let is_post = matches!(request.method(), Method::Post);
        match path {
            "/ok" => respond(out, 200, "ok"),
            "/scheme" => {
                let scheme = match request.scheme() {
                    Some(Scheme::Https) => "https",
                    Some(Scheme::Http) => "http",
                    _ => "other",
                };
                respond(out, 200, scheme)
            }
            "/slow-body" => {
                let ms: u64 = query_param(query, "ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let response = OutgoingResponse::new(Fields::new());
                let outgoing = response.body().expect("body");
                ResponseOutparam::set(out, Ok(response));
                sleep_ms(ms);
                let mut stream = outgoing.write().expect("stream");
                let _ = stream.write_all(b"the whole body");
                let _ = stream.flush();
                drop(stream);
                let _ = OutgoingBody::finish(outgoing, None);
            }
            "/drop-response" => {
                drop(out);
                let ms: u64 = query_param(query, "ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                sleep_ms(ms);
            }
            "/resources" => {
                let n: usize = query_param(query, "n")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let held: Vec<Fields> = (0..n).map(|_| Fields::new()).collect();
                respond(out, 200, &format!("held {}", held.len()));
            }
            "/fetch-many" => {
                let n: usize = query_param(query, "n")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let report = fetch_many(&query_param(query, "url").unwrap_or_default(), n);
                respond(out, 200, &report)
            }
            "/kv/big" => {
                let bytes: usize = query_param(query, "bytes")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let key = query_param(query, "key").unwrap_or_else(|| "big".into());
                match bucket().set(&key, &vec![7u8; bytes]) {
                    Ok(()) => respond(out, 200, "stored"),
                    Err(err) => respond(out, 507, &format!("{err:?}")),
                }
            }
            "/loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "/trap" => panic!("probe asked to trap"),
            "/sleep" => {
                let ms: u64 = query_param(query, "ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if ms >= 1000 {
                    // Lets a test see that a long request is in flight.
                    println!("sleeping {ms} ms");
                }
                sleep_ms(ms);
                respond(out, 200, "slept");
            }
            "/log" => {
                println!("{}", query_param(query, "line").unwrap_or_default());
                respond(out, 200, "logged");
            }
            "/fetch" => match fetch(&query_param(query, "url").unwrap_or_default()) {
                Ok(status) => respond(out, 200, &status.to_string()),
                Err(error) => respond(out, 502, &error),
            },
            "/env" => match std::env::var(query_param(query, "name").unwrap_or_default()) {
                Ok(value) => respond(out, 200, &value),
                Err(_) => respond(out, 404, "unset"),
            },
            "/headers" => match header(&query_param(query, "name").unwrap_or_default()) {
                Some(value) => respond(out, 200, &value),
                None => respond(out, 404, "absent"),
            },
            "/kv/get" => match bucket().get(&query_param(query, "key").unwrap_or_default()) {
                Ok(Some(value)) => respond(out, 200, &String::from_utf8_lossy(&value)),
                Ok(None) => respond(out, 404, "absent"),
                Err(err) => respond(out, 500, &format!("{err:?}")),
            },
            "/kv/set" => {
                let mut value = Vec::new();
                let body = request.consume();
                if let Some(mut stream) = body.as_ref().ok().and_then(|b| b.stream().ok()) {
                    let _ = stream.read_to_end(&mut value);
                }
                match bucket().set(&query_param(query, "key").unwrap_or_default(), &value) {
                    Ok(()) => respond(out, 200, "stored"),
                    Err(err) => respond(out, 500, &format!("{err:?}")),
                }
            }
            "/kv/incr" => {
                let by: i64 = query_param(query, "by")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let key = query_param(query, "key").unwrap_or_default();
                match atomics::increment(&bucket(), &key, by) {
                    Ok(value) => respond(out, 200, &value.to_string()),
                    Err(err) => respond(out, 500, &format!("{err:?}")),
                }
            }
            "/kv/delete" => match bucket().delete(&query_param(query, "key").unwrap_or_default()) {
                Ok(()) => respond(out, 200, "deleted"),
                Err(err) => respond(out, 500, &format!("{err:?}")),
            },
            "/kv/list" => match list_all() {
                Ok(keys) => respond(out, 200, &keys.join("\n")),
                Err(err) => respond(out, 500, &format!("{err:?}")),
            },
            "/kv/cas" => {
                let mut value = Vec::new();
                let body = request.consume();
                if let Some(mut stream) = body.as_ref().ok().and_then(|b| b.stream().ok()) {
                    let _ = stream.read_to_end(&mut value);
                }
                let key = query_param(query, "key").unwrap_or_default();
                let expected = query_param(query, "expected");
                match compare_and_swap(&key, expected.as_deref(), &value) {
                    Ok(None) => respond(out, 200, "swapped"),
                    Ok(Some(now)) => respond(out, 409, &now.unwrap_or_else(|| "absent".into())),
                    Err(err) => respond(out, 500, &err),
                }
            }
            "/webhooks/sync" if is_post => {
                let token = std::env::var("CALPLANEBOT_SCHEDULER_TOKEN").ok();
                let scheduled = token.is_some() && header("calplanebot-scheduled") == token;
                let counter = if scheduled {
                    "scheduled"
                } else {
                    "unscheduled"
                };
                let _ = atomics::increment(&bucket(), counter, 1);
                respond(out, 200, counter);
            }
            _ => respond(out, 404, "no such probe"),
        }
    }
}

fn list_all() -> Result<Vec<String>, store::Error> {
    let bucket = bucket();
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = bucket.list_keys(cursor.as_deref())?;
        let done = page.keys.is_empty();
        keys.extend(page.keys);
        match page.cursor {
            Some(next) if !done => cursor = Some(next),
            _ => return Ok(keys),
        }
    }
}

/// `None` when swapped; `Some(value now)` when the value was not `expected`.
fn compare_and_swap(
    key: &str,
    expected: Option<&str>,
    new: &[u8],
) -> Result<Option<Option<String>>, String> {
    let text = |v: Option<Vec<u8>>| v.map(|v| String::from_utf8_lossy(&v).into_owned());
    let cas = atomics::Cas::new(&bucket(), key).map_err(|e| format!("{e:?}"))?;
    let seen = text(cas.current().map_err(|e| format!("{e:?}"))?);
    if seen.as_deref() != expected {
        return Ok(Some(seen));
    }
    match atomics::swap(cas, new) {
        Ok(()) => Ok(None),
        Err(atomics::CasError::CasFailed(fresh)) => {
            Ok(Some(text(fresh.current().map_err(|e| format!("{e:?}"))?)))
        }
        Err(atomics::CasError::StoreError(err)) => Err(format!("{err:?}")),
    }
}
