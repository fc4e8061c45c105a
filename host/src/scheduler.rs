//! The periodic full sync: while `ENABLE_SYNC` is true, an in-process
//! `POST /webhooks/sync` to the guest every `SYNC_INTERVAL_SECONDS`, marked
//! with the scheduler token that only this host knows.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::runtime::Runtime;
use crate::server::SCHEDULER_HEADER;

pub const SYNC_PATH: &str = "/webhooks/sync";
/// How often a disabled scheduler looks whether it was enabled.
const RECHECK: Duration = Duration::from_secs(5);

pub async fn run(runtime: Arc<Runtime>) {
    loop {
        let settings = runtime.config.current();
        if !settings.enable_sync {
            tokio::time::sleep(RECHECK).await;
            continue;
        }
        trigger(&runtime).await;
        tokio::time::sleep(runtime.config.current().sync_interval).await;
    }
}

async fn trigger(runtime: &Runtime) {
    let request = hyper::Request::post(format!("http://localhost{SYNC_PATH}"))
        .header(hyper::header::HOST, "localhost")
        .header(SCHEDULER_HEADER, &runtime.host_env.scheduler_token)
        .body(Empty::<Bytes>::new().map_err(
            |never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} },
        ));
    let request = match request {
        Ok(request) => request,
        Err(err) => {
            tracing::error!("cannot build the scheduled request: {err}");
            return;
        }
    };
    let response = runtime.handle(request, Scheme::Http).await;
    let status = response.status();
    if status.is_success() {
        tracing::debug!(%status, "scheduled sync triggered");
    } else {
        tracing::warn!(%status, "scheduled sync trigger not accepted");
    }
}
