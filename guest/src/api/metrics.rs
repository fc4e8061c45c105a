//! `GET /metrics`: the Prometheus scrape. With `CALPLANEBOT_API_TOKEN` set
//! it needs the token like the other management endpoints (Prometheus:
//! `authorization: {credentials: …}` in the scrape config).

use super::auth::{page_token_ok, require_token};
use super::{ApiError, Context};
use crate::http::{Request, Response};
use crate::metrics::{self, Gauges};
use crate::sync::{missed_webhooks, queue};

/// OpenMetrics 1.0 text, which Prometheus negotiates and parses.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn scrape(ctx: &Context, request: &Request) -> Result<Response, ApiError> {
    // The status page links here: its Basic password or cookie opens it too.
    if !page_token_ok(ctx, request) {
        require_token(ctx, request)?;
    }
    let gauges = Gauges {
        queue_length: queue::len(ctx.store)? as u64,
        changes_only_by_sync: missed_webhooks::silence(
            ctx.store,
            ctx.now,
            ctx.config.missed_webhook_window(),
        )?
        .missed,
    };
    let text = metrics::render(ctx.store, &gauges)?;
    Ok(Response {
        status: 200,
        headers: vec![("content-type".into(), CONTENT_TYPE.into())],
        body: text.into_bytes(),
    })
}
