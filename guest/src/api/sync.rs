//! `POST /webhooks/sync` and `GET /webhooks/status`.

use serde_json::{Value, json};

use super::auth::{is_scheduled, require_token};
use super::rate_limit::{self, Limit};
use super::{ApiError, Context, Deferred, ErrorCode, Reply};
use crate::http::{Request, Response};
use crate::sync::{lease, progress, queue, schedule, status};
use crate::time::rfc3339;

/// The query of the host's own `calplanebot sync` trigger.
pub const COMMAND_QUERY: &str = "source=command";

/// Takes the sync lease now, so a second trigger gets 409; the sync itself
/// runs after the response is sent.
pub fn trigger(ctx: &Context, request: &Request) -> Result<Reply, ApiError> {
    require_token(ctx, request)?;
    // The host's `calplanebot sync` command runs a sync now, outside the
    // schedule: it claims no interval.
    let from_host = is_scheduled(ctx, request);
    let command = from_host && request.query.as_deref() == Some(COMMAND_QUERY);
    let scheduled = from_host && !command;
    // The host's own trigger is not a client: it is not rate limited.
    let count = if from_host {
        None
    } else {
        let limit = Limit {
            scope: "sync",
            max: ctx.config.sync_trigger_limit(),
            window_seconds: rate_limit::SYNC_WINDOW_SECONDS,
        };
        Some(rate_limit::enforce(ctx, request, limit)?)
    };
    if scheduled {
        let interval = chrono::Duration::seconds(ctx.config.sync_interval_seconds() as i64);
        if !schedule::claim(ctx.store, ctx.now, interval)? {
            return Ok(Reply {
                response: Response::json(
                    200,
                    &json!({
                        "status": "skipped",
                        "message": "This interval's scheduled sync was started by another replica",
                        "timestamp": rfc3339(ctx.now),
                    }),
                ),
                deferred: None,
            });
        }
    }
    let sync_id = uuid::Uuid::new_v4().to_string();
    if !lease::acquire(ctx.store, &sync_id, ctx.now, ctx.config.lease_ttl())? {
        let running = lease::active(ctx.store, ctx.now)?.map(|l| l.holder);
        let mut error = ApiError::new(ErrorCode::SyncInProgress, "A sync is already running");
        if let Some(running) = running {
            error = error.detail("sync_id", running);
        }
        return Err(error);
    }
    let message = if scheduled {
        "Scheduled sync initiated"
    } else {
        "Manual sync initiated"
    };
    let response = Response::json(
        200,
        &json!({
            "status": "triggered",
            "message": message,
            "sync_id": sync_id,
            "timestamp": rfc3339(ctx.now),
        }),
    );
    Ok(Reply {
        response: match count {
            Some(count) => count.apply(response),
            None => response,
        },
        deferred: Some(Deferred::Sync { sync_id }),
    })
}

pub fn status(ctx: &Context, request: &Request) -> Result<Response, ApiError> {
    require_token(ctx, request)?;
    let last = status::last_sync(ctx.store)?;
    let state = status::state(ctx.store, last.as_ref(), ctx.now)?;
    let progress = match lease::active(ctx.store, ctx.now)? {
        Some(lease) => progress::current(ctx.store, &lease.holder)?,
        None => None,
    };
    let next_sync = match (&last, ctx.config.sync_enabled()) {
        (Some(last), true) => {
            let interval = chrono::Duration::seconds(ctx.config.sync_interval_seconds() as i64);
            json!(rfc3339(last.timestamp + interval))
        }
        _ => Value::Null,
    };
    let last_sync = match last {
        Some(last) => json!({
            "sync_id": last.sync_id,
            "timestamp": rfc3339(last.timestamp),
            "duration_seconds": last.duration_seconds,
            "status": last.status,
            "events_processed": last.events_processed,
            "errors": last.errors,
        }),
        None => Value::Null,
    };
    Ok(Response::json(
        200,
        &json!({
            "status": state,
            "last_sync": last_sync,
            "next_sync": next_sync,
            "queue_length": queue::len(ctx.store)?,
            "progress": progress,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Context, SCHEDULER_HEADER, handle};
    use crate::config::Config;
    use crate::store::memory::MemoryStore;

    fn ctx<'a>(
        store: &'a MemoryStore,
        config: &'a Config,
        http: &'a dyn crate::net::Http,
    ) -> Context<'a> {
        Context {
            store,
            config,
            now: crate::time::now(),
            http,
        }
    }

    #[test]
    fn a_second_trigger_while_one_runs_is_409() {
        let store = MemoryStore::default();
        let config = Config::default();
        let http = crate::api::tests::no_network();
        let first = handle(
            &ctx(&store, &config, &http),
            &Request::new("POST", "/webhooks/sync"),
        );
        assert_eq!(first.response.status, 200);
        let body: Value = serde_json::from_slice(&first.response.body).unwrap();
        assert_eq!(body["status"], "triggered");
        assert_eq!(body["message"], "Manual sync initiated");
        let Some(Deferred::Sync { sync_id }) = first.deferred else {
            panic!("no sync deferred")
        };
        assert_eq!(body["sync_id"], sync_id);

        let second = handle(
            &ctx(&store, &config, &http),
            &Request::new("POST", "/webhooks/sync"),
        );
        assert_eq!(second.response.status, 409);
        let body: Value = serde_json::from_slice(&second.response.body).unwrap();
        assert_eq!(body["error_code"], "SYNC_IN_PROGRESS");
        assert_eq!(body["details"]["sync_id"], sync_id);
        assert!(second.deferred.is_none());

        let status = handle(
            &ctx(&store, &config, &http),
            &Request::new("GET", "/webhooks/status"),
        );
        let body: Value = serde_json::from_slice(&status.response.body).unwrap();
        assert_eq!(body["status"], "running");
        assert_eq!(body["queue_length"], 0);
        assert!(body["last_sync"].is_null());
        assert!(body["progress"].is_null(), "no progress saved yet");

        // The running sync's progress is shown; another sync's is not.
        let clock = crate::time::now;
        let tracker = progress::Tracker::start(&store, &clock, &sync_id);
        tracker.projects_listed(3);
        let status = handle(
            &ctx(&store, &config, &http),
            &Request::new("GET", "/webhooks/status"),
        );
        let body: Value = serde_json::from_slice(&status.response.body).unwrap();
        assert_eq!(body["progress"]["projects_total"], 3);
        assert_eq!(body["progress"]["phase"], "projects");
        assert!(body["progress"]["waiting_on_plane_until"].is_null());
        progress::Tracker::start(&store, &clock, "an older sync");
        let status = handle(
            &ctx(&store, &config, &http),
            &Request::new("GET", "/webhooks/status"),
        );
        let body: Value = serde_json::from_slice(&status.response.body).unwrap();
        assert!(body["progress"].is_null());
    }

    #[test]
    fn the_hosts_sync_command_claims_no_interval() {
        let store = MemoryStore::default();
        let config = Config::from_vars([(
            crate::config::SCHEDULER_TOKEN.to_string(),
            "s3cret".to_string(),
        )]);
        let http = crate::api::tests::no_network();
        let mut request = Request::new("POST", &format!("/webhooks/sync?{COMMAND_QUERY}"));
        request
            .headers
            .push((SCHEDULER_HEADER.into(), "s3cret".into()));
        let reply = handle(&ctx(&store, &config, &http), &request);
        let body: Value = serde_json::from_slice(&reply.response.body).unwrap();
        assert_eq!(body["message"], "Manual sync initiated");
        let now = crate::time::now();
        assert!(schedule::claim(&store, now, chrono::Duration::seconds(300)).unwrap());
    }

    #[test]
    fn only_the_hosts_token_marks_a_scheduled_sync() {
        let store = MemoryStore::default();
        let config = Config::from_vars([(
            crate::config::SCHEDULER_TOKEN.to_string(),
            "s3cret".to_string(),
        )]);
        let http = crate::api::tests::no_network();
        let mut request = Request::new("POST", "/webhooks/sync");
        request
            .headers
            .push((SCHEDULER_HEADER.into(), "guess!".into()));
        assert!(!is_scheduled(&ctx(&store, &config, &http), &request));
        request.headers[0].1 = "s3cret".into();
        assert!(is_scheduled(&ctx(&store, &config, &http), &request));
        let reply = handle(&ctx(&store, &config, &http), &request);
        let body: Value = serde_json::from_slice(&reply.response.body).unwrap();
        assert_eq!(body["message"], "Scheduled sync initiated");
    }
}
