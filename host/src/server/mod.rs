//! HTTP serving with hyper: every route is the guest's. The host guards the
//! door: connection limits and timeouts, the request body read before an
//! instance is taken, the client's address, the webhook source list, TLS.

mod client_addr;
mod connections;
mod inbound_body;
mod tls;

pub use connections::ConnectionLimits;
pub use inbound_body::BodyLimits;
pub use tls::TlsFiles;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HOST, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::runtime::{HostResponse, Runtime, error_response};
use connections::{Activity, Connections, Verdict, Watched};

/// Where the host puts the client's IP address. Set by the host only: any
/// copy a client sends is removed, as are Spin's header and the scheduler
/// marker, so none of them can be forged from outside.
pub const CLIENT_ADDR_HEADER: &str = "calplanebot-client-addr";
pub const SPIN_CLIENT_ADDR_HEADER: &str = "spin-client-addr";
pub const SCHEDULER_HEADER: &str = "calplanebot-scheduled";
/// Plane's deliveries: the route `WEBHOOK_SOURCE_IPS` guards.
pub const WEBHOOK_PATH: &str = "/webhooks/plane";

/// What the door lets through.
pub struct Door {
    pub connections: ConnectionLimits,
    pub body: BodyLimits,
    /// Peers whose `X-Forwarded-For`/`Forwarded` is believed.
    pub trusted_proxies: Vec<IpNet>,
    pub tls: Option<TlsFiles>,
    /// How long shutdown waits, in all, for requests and guest work.
    pub shutdown_grace: Duration,
}

struct Shared {
    runtime: Arc<Runtime>,
    connections: Arc<Connections>,
    body: BodyLimits,
    trusted_proxies: Vec<IpNet>,
}

pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    door: Door,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let acceptor = door.tls.clone().map(tls::acceptor).transpose()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    tracing::info!("listening on {scheme}://{}", listener.local_addr()?);
    tracing::info!(
        max_connections = door.connections.max_open,
        "accepting at most {} connections",
        door.connections.max_open
    );
    let shared = Arc::new(Shared {
        runtime: runtime.clone(),
        connections: Connections::new(door.connections),
        body: door.body,
        trusted_proxies: door.trusted_proxies,
    });
    let (closing, closing_seen) = tokio::sync::watch::channel(false);
    let open = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(registered) = shared.connections.admit() else {
            drop(stream);
            continue;
        };
        // Responses are written whole; Nagle would hold their last segment.
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        let closing = closing_seen.clone();
        open.spawn(async move {
            let activity = registered.activity.clone();
            let stream = Watched::new(stream, activity.clone());
            match acceptor {
                None => {
                    let builder = http1_builder();
                    drive(
                        builder,
                        stream,
                        peer,
                        Scheme::Http,
                        shared,
                        activity,
                        closing,
                    )
                    .await
                }
                Some(acceptor) => {
                    let limits = *shared.connections.limits();
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await;
                    let stream = match handshake {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {err}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake not finished in time");
                            return;
                        }
                    };
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let builder = if h2 { http2_builder() } else { http1_builder() };
                    let scheme = Scheme::Https;
                    drive(builder, stream, peer, scheme, shared, activity, closing).await
                }
            }
            drop(registered);
        });
    }
    drop(listener);
    let deadline = Instant::now() + door.shutdown_grace;
    tracing::info!(
        "shutting down: no new connections; waiting up to {:?} for requests in flight",
        door.shutdown_grace
    );
    let _ = closing.send(true);
    open.close();
    if tokio::time::timeout_at(deadline.into(), open.wait())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight at the end of the grace period; closing them");
    }
    runtime.tasks.close();
    if tokio::time::timeout_at(deadline.into(), runtime.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("guest work still running at the end of the grace period; stopping it");
    }
    Ok(())
}

fn http1_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true);
    builder.http1_only()
}

fn http2_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Each stream is a request that may wait for an instance: a client gets
    // a few at a time, not hyper's default of 200.
    builder.http2().max_concurrent_streams(16);
    builder.http2_only()
}

/// Serves one connection until it ends, times out, is evicted, or has
/// drained after shutdown began.
async fn drive<S>(
    builder: auto::Builder<TokioExecutor>,
    stream: S,
    peer: SocketAddr,
    scheme: Scheme,
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = *shared.connections.limits();
    let service = {
        let activity = activity.clone();
        service_fn(move |request| {
            let shared = shared.clone();
            let activity = activity.clone();
            let scheme = scheme.clone();
            async move {
                Ok::<_, std::convert::Infallible>(
                    answer(&shared, request, peer, scheme, &activity).await,
                )
            }
        })
    };
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let mut check = tokio::time::interval(limits.check_every());
    let mut draining = false;
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(err) = ended {
                    tracing::debug!(%peer, "connection ended: {err}");
                }
                return;
            }
            _ = check.tick() => match activity.verdict(&limits) {
                Verdict::Keep => {}
                Verdict::HeaderTimeout => {
                    tracing::debug!(%peer, "closing a connection whose request head did not arrive within {:?}", limits.header_timeout);
                    return;
                }
                Verdict::IdleTimeout => {
                    tracing::debug!(%peer, "closing a connection idle for {:?}", limits.idle_timeout);
                    return;
                }
            },
            () = activity.evicted() => {
                tracing::debug!(%peer, "closing an idle connection to make room for a new one");
                return;
            }
            _ = closing.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Marks a request finished however its future ends.
struct InFlight<'a>(&'a Activity);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

async fn answer(
    shared: &Shared,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    scheme: Scheme,
    activity: &Activity,
) -> HostResponse {
    activity.request_started();
    let _in_flight = InFlight(activity);
    let started = Instant::now();
    let method = request.method().clone();
    // The path only: a query string may carry a token.
    let path = request.uri().path().to_string();
    let client = client_addr::resolve(peer.ip(), request.headers(), &shared.trusted_proxies);
    let response = admit(shared, request, client, scheme).await;
    let response = if method == hyper::Method::GET && response.status() == 200 && is_metrics(&path)
    {
        with_host_metrics(response).await
    } else {
        response
    };
    crate::metrics::get().request(
        method.as_str(),
        &path,
        response.status().as_u16(),
        started.elapsed(),
    );
    tracing::debug!(
        target: "calplanebot::access",
        %method,
        path,
        status = response.status().as_u16(),
        millis = started.elapsed().as_millis() as u64,
        client = %client,
        "request"
    );
    response
}

fn is_metrics(path: &str) -> bool {
    path.trim_end_matches('/') == "/metrics"
}

/// The guest's scrape with this process's series added.
async fn with_host_metrics(response: HostResponse) -> HostResponse {
    use http_body_util::BodyExt;
    let (mut parts, body) = response.into_parts();
    let guest = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            tracing::warn!("the guest's metrics could not be read: {err:?}");
            return error_response(500, "INTERNAL_ERROR", "Metrics could not be read");
        }
    };
    let text = crate::metrics::append_host_series(&String::from_utf8_lossy(&guest));
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    let body = http_body_util::Full::new(bytes::Bytes::from(text))
        .map_err(|never| match never {})
        .boxed_unsync();
    hyper::Response::from_parts(parts, body)
}

async fn admit(
    shared: &Shared,
    request: hyper::Request<Incoming>,
    client: std::net::IpAddr,
    scheme: Scheme,
) -> HostResponse {
    if request.uri().path() == WEBHOOK_PATH {
        let settings = shared.runtime.config.current();
        if let Some(sources) = &settings.webhook_sources
            && !sources.iter().any(|net| net.contains(&client))
        {
            tracing::warn!(%client, "webhook refused: the client is not in WEBHOOK_SOURCE_IPS");
            return error_response(
                403,
                "FORBIDDEN",
                "Webhooks are not accepted from this address",
            );
        }
    }
    match inbound_body::read(request, shared.body).await {
        Ok(request) => {
            shared
                .runtime
                .handle(from_client(request, client), scheme)
                .await
        }
        Err(refused) => refused,
    }
}

fn from_client<B>(mut request: hyper::Request<B>, client: std::net::IpAddr) -> hyper::Request<B> {
    let authority = request.uri().authority().map(|a| a.as_str().to_string());
    let headers = request.headers_mut();
    for name in [
        CLIENT_ADDR_HEADER,
        SPIN_CLIENT_ADDR_HEADER,
        SCHEDULER_HEADER,
    ] {
        headers.remove(name);
    }
    if let Ok(value) = HeaderValue::from_str(&client.to_string()) {
        headers.insert(CLIENT_ADDR_HEADER, value);
    }
    // HTTP/2 carries the authority in the URI, HTTP/1.0 clients may send
    // none; wasi:http needs one.
    if !headers.contains_key(HOST) {
        let host = authority
            .and_then(|a| HeaderValue::from_str(&a).ok())
            .unwrap_or(HeaderValue::from_static("localhost"));
        headers.insert(HOST, host);
    }
    request
}
