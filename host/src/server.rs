//! HTTP/1.1 serving with hyper: every route is the guest's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HOST, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::runtime::Runtime;

/// Where the host puts the peer's IP address. Set by the host only: any copy
/// a client sends is removed, as are Spin's header and the scheduler marker,
/// so none of them can be forged from outside.
pub const CLIENT_ADDR_HEADER: &str = "calplanebot-client-addr";
pub const SPIN_CLIENT_ADDR_HEADER: &str = "spin-client-addr";
pub const SCHEDULER_HEADER: &str = "calplanebot-scheduled";

/// How long shutdown waits for requests in flight and guest work to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let graceful = GracefulShutdown::new();
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
        let runtime = runtime.clone();
        let service = service_fn(move |request| {
            let runtime = runtime.clone();
            async move {
                Ok::<_, std::convert::Infallible>(runtime.handle(from_peer(request, peer)).await)
            }
        });
        let connection = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, "connection ended: {err}");
            }
        });
    }
    tracing::info!("shutting down: no new connections; waiting for requests in flight");
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; closing them");
    }
    runtime.tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, runtime.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("guest work still running after {SHUTDOWN_GRACE:?}; stopping it");
    }
    Ok(())
}

fn from_peer<B>(mut request: hyper::Request<B>, peer: SocketAddr) -> hyper::Request<B> {
    let headers = request.headers_mut();
    for name in [
        CLIENT_ADDR_HEADER,
        SPIN_CLIENT_ADDR_HEADER,
        SCHEDULER_HEADER,
    ] {
        headers.remove(name);
    }
    if let Ok(value) = HeaderValue::from_str(&peer.ip().to_string()) {
        headers.insert(CLIENT_ADDR_HEADER, value);
    }
    // HTTP/1.0 clients may send no Host; wasi:http needs an authority.
    if !headers.contains_key(HOST) {
        headers.insert(HOST, HeaderValue::from_static("localhost"));
    }
    request
}
