//! A reverse proxy in front of a CalDAV server that counts requests by
//! method, and can play "server down" by refusing connections' requests,
//! or play a server that changes what it stores by rewriting PUT bodies.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// Turns the body of a PUT into what the server is sent instead.
pub type Rewrite = Arc<dyn Fn(&str) -> String + Send + Sync>;

#[derive(Clone)]
pub struct CountingProxy {
    pub addr: SocketAddr,
    counts: Arc<Mutex<BTreeMap<String, u32>>>,
    puts: Arc<Mutex<Vec<String>>>,
    log: Arc<Mutex<Vec<(String, String)>>>,
    rewrite: Arc<Mutex<Option<Rewrite>>>,
    down: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
    refused: Arc<Mutex<Option<(String, u16)>>>,
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

impl CountingProxy {
    pub fn start(upstream_port: u16) -> CountingProxy {
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let puts = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let rewrite = Arc::new(Mutex::new(None));
        let down = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(Mutex::new(None));
        let seen = Seen {
            refused: refused.clone(),
            counts: counts.clone(),
            puts: puts.clone(),
            log: log.clone(),
            rewrite: rewrite.clone(),
            bytes: bytes.clone(),
        };
        let d = down.clone();
        let admit_down = down.clone();
        let addr = crate::loopback_server::spawn(
            move || !admit_down.load(Ordering::SeqCst),
            move |request| forward(request, upstream_port, seen.clone(), d.clone()),
        );
        CountingProxy {
            addr,
            counts,
            puts,
            log,
            rewrite,
            down,
            bytes,
            refused,
        }
    }

    /// From now on every request under `path` is answered `status`, as from
    /// a server that cannot serve one calendar; `None` lifts it.
    pub fn refuse_under(&self, refusal: Option<(&str, u16)>) {
        *self.refused.lock().unwrap() = refusal.map(|(path, status)| (path.to_string(), status));
    }

    /// Body bytes sent and received through the proxy since the last reset.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn counts(&self) -> BTreeMap<String, u32> {
        self.counts.lock().unwrap().clone()
    }

    pub fn count(&self, method: &str) -> u32 {
        self.counts().get(method).copied().unwrap_or(0)
    }

    /// Requests that change the calendar.
    pub fn writes(&self) -> u32 {
        ["PUT", "DELETE", "MKCALENDAR", "PROPPATCH"]
            .iter()
            .map(|m| self.count(m))
            .sum()
    }

    pub fn total(&self) -> u32 {
        self.counts().values().sum()
    }

    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
        self.puts.lock().unwrap().clear();
        self.log.lock().unwrap().clear();
        self.bytes.store(0, Ordering::SeqCst);
    }

    /// The bodies of the PUTs since the last reset, in order, as the
    /// service sent them (before any rewrite).
    pub fn put_bodies(&self) -> Vec<String> {
        self.puts.lock().unwrap().clone()
    }

    /// Every request since the last reset as (method, path), in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.log.lock().unwrap().clone()
    }

    /// Paths of the requests with `method` since the last reset.
    pub fn paths(&self, method: &str) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|(m, _)| m == method)
            .map(|(_, path)| path)
            .collect()
    }

    /// From now on the server stores `rewrite(body)` for every PUT and
    /// answers without an ETag, as a server that normalises or drops what
    /// it does not keep does.
    pub fn set_put_rewrite(&self, rewrite: impl Fn(&str) -> String + Send + Sync + 'static) {
        *self.rewrite.lock().unwrap() = Some(Arc::new(rewrite));
    }

    /// Every PUT reaches the server without the content lines of `name`
    /// (e.g. `COLOR`).
    pub fn strip_put_property(&self, name: &str) {
        let name = name.to_string();
        self.set_put_rewrite(move |body| without_property(body, &name));
    }

    pub fn clear_put_rewrite(&self) {
        *self.rewrite.lock().unwrap() = None;
    }

    /// While down, connections are closed without an answer.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

/// iCalendar text without the content lines (folded ones included) of
/// the property `name`.
pub fn without_property(ics: &str, name: &str) -> String {
    let mut out = String::with_capacity(ics.len());
    let mut skipping = false;
    for line in ics.split_inclusive('\n') {
        let continued = line.starts_with(' ') || line.starts_with('\t');
        if !continued {
            let head = line.split([':', ';']).next().unwrap_or("");
            skipping = head.eq_ignore_ascii_case(name);
        }
        if !skipping {
            out.push_str(line);
        }
    }
    out
}

/// What the proxy keeps of the requests it forwards, and how it changes them.
#[derive(Clone)]
struct Seen {
    counts: Arc<Mutex<BTreeMap<String, u32>>>,
    puts: Arc<Mutex<Vec<String>>>,
    log: Arc<Mutex<Vec<(String, String)>>>,
    rewrite: Arc<Mutex<Option<Rewrite>>>,
    bytes: Arc<AtomicU64>,
    refused: Arc<Mutex<Option<(String, u16)>>>,
}

async fn forward(
    request: hyper::Request<hyper::body::Incoming>,
    upstream_port: u16,
    seen: Seen,
    down: Arc<AtomicBool>,
) -> hyper::Response<Full<Bytes>> {
    let failure = |status: u16| {
        let mut response = hyper::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        response
    };
    if down.load(Ordering::SeqCst) {
        return failure(503);
    }
    *seen
        .counts
        .lock()
        .unwrap()
        .entry(request.method().to_string())
        .or_insert(0) += 1;
    seen.log.lock().unwrap().push((
        request.method().to_string(),
        request.uri().path().to_string(),
    ));
    let refusal = seen.refused.lock().unwrap().clone();
    if let Some((path, status)) = refusal
        && request.uri().path().starts_with(&path)
    {
        return failure(status);
    }
    let (parts, body) = request.into_parts();
    let Ok(mut body) = body.collect().await.map(|b| b.to_bytes()) else {
        return failure(400);
    };
    seen.bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
    let mut rewritten = false;
    if parts.method == hyper::Method::PUT {
        let text = String::from_utf8_lossy(&body).into_owned();
        let rewrite = seen.rewrite.lock().unwrap().clone();
        if let Some(rewrite) = rewrite {
            body = Bytes::from(rewrite(&text));
            rewritten = true;
        }
        seen.puts.lock().unwrap().push(text);
    }
    let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await else {
        return failure(502);
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return failure(502);
    };
    tokio::spawn(connection);
    let mut upstream = hyper::Request::builder().method(parts.method).uri(
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
    );
    for (name, value) in &parts.headers {
        // A rewritten body has a length of its own, which hyper sets.
        let stale_length = rewritten && name == hyper::header::CONTENT_LENGTH;
        if !HOP_BY_HOP.contains(&name.as_str()) && !stale_length {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(upstream) = upstream.body(Full::new(body)) else {
        return failure(400);
    };
    let Ok(response) = sender.send_request(upstream).await else {
        return failure(502);
    };
    let (parts, body) = response.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return failure(502);
    };
    seen.bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
    let mut out = hyper::Response::new(Full::new(body));
    *out.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        // A server that stored something else than it was sent answers no
        // ETag (RFC 4791 §5.3.4), as SabreDAV does when it normalises.
        let changed_data = rewritten && name == hyper::header::ETAG;
        if !HOP_BY_HOP.contains(&name.as_str()) && !changed_data {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}
