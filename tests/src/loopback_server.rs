//! An HTTP/1.1 server on a free loopback port, run by its own tokio runtime
//! on a background thread: the shape shared by the fake Plane and the
//! counting proxy.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

pub type Reply = hyper::Response<Full<Bytes>>;

/// Starts serving; `admit` is asked for every new connection (closing it
/// unanswered when false), `handle` answers each request.
pub fn spawn<H, F>(admit: impl Fn() -> bool + Send + 'static, handle: H) -> SocketAddr
where
    H: Fn(hyper::Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if !admit() {
                    continue;
                }
                let handle = handle.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let reply = handle(request);
                        async move { Ok::<_, Infallible>(reply.await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}
