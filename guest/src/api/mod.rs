//! The HTTP API: routing, the error format, and the endpoints.

mod auth;
mod docs;
mod doctor;
mod error;
mod guarantees;
mod html;
mod metrics;
mod rate_limit;
mod service;
mod status_page;
mod sync;
mod webhook;
mod webhook_sources;

pub use error::{ApiError, ErrorCode};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::http::{Request, Response};
use crate::net::Http;
use crate::store::KeyValue;

/// The header in which calplanebot's host gives the peer's IP address. The host
/// sets it itself and strips any copy a client sent, so it cannot be forged.
pub const CLIENT_ADDR_HEADER: &str = "calplanebot-client-addr";
/// Spin's equivalent of [`CLIENT_ADDR_HEADER`].
pub const SPIN_CLIENT_ADDR_HEADER: &str = "spin-client-addr";
/// Marks the host's own scheduled-sync request; its value must equal the
/// scheduler token the host put in the guest's environment.
pub const SCHEDULER_HEADER: &str = "calplanebot-scheduled";

/// What an endpoint may use besides the request.
pub struct Context<'a> {
    pub store: &'a dyn KeyValue,
    pub config: &'a Config,
    pub now: DateTime<Utc>,
    /// Outbound HTTP, for webhooks applied while the request waits.
    pub http: &'a dyn Http,
}

/// Work an endpoint hands back to be done after its response is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred {
    /// Run the sync that holds lease `sync_id`.
    Sync { sync_id: String },
}

/// An endpoint's answer.
#[derive(Debug)]
pub struct Reply {
    pub response: Response,
    pub deferred: Option<Deferred>,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply {
            response,
            deferred: None,
        }
    }
}

type Handler = fn(&Context, &Request) -> Result<Reply, ApiError>;

/// One endpoint. Every route here is described in `openapi.json` (a test
/// checks both ways).
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    handler: Handler,
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/",
        handler: |ctx, _| service::info(ctx).map(Reply::from),
    },
    Route {
        method: "GET",
        path: "/health",
        handler: |ctx, _| service::health(ctx).map(Reply::from),
    },
    Route {
        method: "GET",
        path: "/api/v1/health",
        handler: |ctx, _| service::detailed_health(ctx).map(Reply::from),
    },
    Route {
        method: "GET",
        path: "/openapi.json",
        handler: |_, _| Ok(docs::openapi().into()),
    },
    Route {
        method: "GET",
        path: "/docs",
        handler: |_, _| Ok(docs::page().into()),
    },
    Route {
        method: "POST",
        path: webhook::PATH,
        handler: |ctx, request| webhook::receive(ctx, request).map(Reply::from),
    },
    Route {
        method: "POST",
        path: "/webhooks/sync",
        handler: sync::trigger,
    },
    Route {
        method: "GET",
        path: "/status",
        handler: |ctx, request| status_page::page(ctx, request).map(Reply::from),
    },
    Route {
        method: "GET",
        path: "/metrics",
        handler: |ctx, request| metrics::scrape(ctx, request).map(Reply::from),
    },
    Route {
        method: "GET",
        path: "/webhooks/status",
        handler: |ctx, request| sync::status(ctx, request).map(Reply::from),
    },
];

/// Endpoints only the host reaches (its requests carry the scheduler
/// token): commands run in the guest. Not in `openapi.json`; to anyone else
/// they do not exist.
const HOST_ROUTES: &[Route] = &[Route {
    method: "GET",
    path: doctor::PATH,
    handler: |ctx, request| doctor::check(ctx, request).map(Reply::from),
}];

/// Answers one request. Every failure becomes a response in the error format.
/// Refuses a request from its head alone (method, path, headers), before
/// its body is read: `WEBHOOK_SOURCE_IPS`.
pub fn refuse_early(config: &Config, request: &Request, now: DateTime<Utc>) -> Option<Response> {
    webhook_sources::admit(config, request)
        .err()
        .map(|error| error.into_response(now))
}

/// Removes rate-limit windows that have ended; run after each sync.
pub fn sweep_rate_limits(store: &dyn KeyValue, now: DateTime<Utc>) {
    match rate_limit::sweep(store, rate_limit::WINDOWS, now) {
        Ok(0) => {}
        Ok(removed) => crate::log!("DEBUG", "Removed {removed} ended rate-limit windows"),
        Err(err) => crate::log!("WARNING", "Rate-limit windows not swept: {err}"),
    }
}

pub fn handle(ctx: &Context, request: &Request) -> Reply {
    let mut reply = route(ctx, request)
        .and_then(|handler| handler(ctx, request))
        .unwrap_or_else(|err| {
            // Answers that cost nothing (an unknown path, a refused token,
            // a rate limit) are counted by the host per process, not with
            // a store write a flood could multiply; a store that failed
            // the request would fail this too.
            if crate::metrics::counts_in_store(err.code) {
                let _ = crate::metrics::count_error(ctx.store, err.code.as_str());
            }
            err.into_response(ctx.now).into()
        });
    // RFC 9110 §9.3.2: HEAD answers as GET would, without the content (load
    // balancers probe `/health` this way).
    if request.method == "HEAD" {
        reply.response.body.clear();
    }
    reply
}

fn route(ctx: &Context, request: &Request) -> Result<Handler, ApiError> {
    let path = normalize(&request.path);
    let host_routes = if auth::is_scheduled(ctx, request) {
        HOST_ROUTES
    } else {
        &[]
    };
    let on_path: Vec<&Route> = ROUTES
        .iter()
        .chain(host_routes)
        .filter(|r| r.path == path)
        .collect();
    if on_path.is_empty() {
        return Err(
            ApiError::new(ErrorCode::NotFound, format!("No endpoint at {path}"))
                .detail("path", path),
        );
    }
    let method = match request.method.as_str() {
        "HEAD" => "GET",
        other => other,
    };
    match on_path.iter().find(|r| r.method == method) {
        Some(route) => Ok(route.handler),
        None => {
            let mut allowed: Vec<&str> = on_path.iter().map(|r| r.method).collect();
            if allowed.contains(&"GET") {
                allowed.push("HEAD");
            }
            Err(ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{} is not allowed on {path}", request.method),
            )
            .detail("method", request.method.clone())
            .detail("allowed", allowed.clone())
            .header("allow", allowed.join(", ")))
        }
    }
}

/// `/health/` and `/health` are the same endpoint; `/` stays `/`.
fn normalize(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    /// Outbound HTTP for endpoints that must not make any.
    pub fn no_network() -> crate::net::scripted::ScriptedHttp {
        crate::net::scripted::ScriptedHttp::new(|request, _| {
            panic!("unexpected request to {}", request.url)
        })
    }

    pub fn call(method: &str, path: &str) -> (Response, MemoryStore) {
        let store = MemoryStore::default();
        let response = call_on(&store, method, path);
        (response, store)
    }

    /// As [`call`], on a store the test prepared (and may change between calls).
    pub fn call_on(store: &MemoryStore, method: &str, path: &str) -> Response {
        let config = Config::default();
        let http = no_network();
        let ctx = Context {
            store,
            config: &config,
            now: crate::time::now(),
            http: &http,
        };
        handle(&ctx, &Request::new(method, path)).response
    }

    pub fn json_body(response: &Response) -> serde_json::Value {
        serde_json::from_slice(&response.body).expect("JSON body")
    }

    #[test]
    fn unknown_path_is_404_in_the_error_format() {
        let (response, _) = call("GET", "/nope");
        assert_eq!(response.status, 404);
        let body = json_body(&response);
        assert_eq!(body["status"], "error");
        assert_eq!(body["error_code"], "NOT_FOUND");
        assert_eq!(body["details"]["path"], "/nope");
        assert!(body["message"].as_str().unwrap().contains("/nope"));
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let (response, _) = call("DELETE", "/health");
        assert_eq!(response.status, 405);
        assert_eq!(response.header("allow"), Some("GET, HEAD"));
        let body = json_body(&response);
        assert_eq!(body["error_code"], "METHOD_NOT_ALLOWED");
        assert_eq!(body["details"]["allowed"][0], "GET");
    }

    #[test]
    fn host_routes_do_not_exist_for_clients() {
        let (response, _) = call("GET", "/_host/doctor");
        assert_eq!(response.status, 404);
    }

    #[test]
    fn head_answers_as_get_without_a_body() {
        let (response, _) = call("HEAD", "/health");
        assert_eq!(response.status, 200);
        assert!(response.body.is_empty());
        assert_eq!(call("HEAD", "/webhooks/sync").0.status, 405);
    }

    #[test]
    fn trailing_slash_and_query_reach_the_same_endpoint() {
        assert_eq!(call("GET", "/health/").0.status, 200);
        assert_eq!(call("GET", "/health?x=1").0.status, 200);
    }

    #[test]
    fn health_is_minimal() {
        let (response, _) = call("GET", "/health");
        let body = json_body(&response);
        assert_eq!(body["status"], "healthy");
        assert_eq!(body.as_object().unwrap().len(), 2);
    }
}
