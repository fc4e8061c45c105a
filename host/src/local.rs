//! Requests the host makes to its own guest (the scheduled sync, the
//! `doctor` and `sync` commands): marked with the scheduler token that only
//! this host knows, answered in process.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::runtime::Runtime;
use crate::server::SCHEDULER_HEADER;

/// The guest's answer, read in full.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|err| {
            anyhow::anyhow!(
                "the guest answered HTTP {} with no JSON ({err})",
                self.status
            )
        })
    }
}

pub async fn call(runtime: &Runtime, method: &str, path: &str) -> anyhow::Result<Answer> {
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header(hyper::header::HOST, "localhost")
        .header(SCHEDULER_HEADER, &runtime.host_env.scheduler_token)
        .body(Empty::<Bytes>::new().map_err(
            |never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} },
        ))?;
    let response = runtime.handle(request, Scheme::Http).await;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| anyhow::anyhow!("reading the guest's answer: {err:?}"))?
        .to_bytes();
    Ok(Answer { status, body })
}
