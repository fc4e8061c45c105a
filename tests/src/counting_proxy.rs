//! A reverse proxy in front of a CalDAV server that counts requests by
//! method, and can play "server down" by refusing connections' requests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[derive(Clone)]
pub struct CountingProxy {
    pub addr: SocketAddr,
    counts: Arc<Mutex<BTreeMap<String, u32>>>,
    puts: Arc<Mutex<Vec<String>>>,
    down: Arc<AtomicBool>,
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
        let down = Arc::new(AtomicBool::new(false));
        let seen = Seen {
            counts: counts.clone(),
            puts: puts.clone(),
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
            down,
        }
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
    }

    /// The bodies of the PUTs since the last reset, in order.
    pub fn put_bodies(&self) -> Vec<String> {
        self.puts.lock().unwrap().clone()
    }

    /// While down, connections are closed without an answer.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

/// What the proxy keeps of the requests it forwards.
#[derive(Clone)]
struct Seen {
    counts: Arc<Mutex<BTreeMap<String, u32>>>,
    puts: Arc<Mutex<Vec<String>>>,
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
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return failure(400);
    };
    if parts.method == hyper::Method::PUT {
        seen.puts
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
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
        if !HOP_BY_HOP.contains(&name.as_str()) {
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
    let mut out = hyper::Response::new(Full::new(body));
    *out.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}
