//! Service information and health: `/`, `/health`, `/api/v1/health`.

use serde_json::{Value, json};

use super::guarantees::Guarantees;
use super::{ApiError, Context};
use crate::http::Response;
use crate::metrics;
use crate::sync::missed_webhooks;
use crate::sync::status;
use crate::time::rfc3339;
use crate::uptime;

fn uptime(ctx: &Context) -> Result<String, ApiError> {
    let started = uptime::started_at(ctx.store, ctx.config.boot_id(), ctx.now)?;
    Ok(uptime::format((ctx.now - started).num_seconds()))
}

pub fn info(ctx: &Context) -> Result<Response, ApiError> {
    Ok(Response::json(
        200,
        &json!({
            "name": "CalPlaneBot",
            "version": crate::version(),
            "description": "Plane ↔ CalDAV Integration Service",
            "status": "running",
            "uptime": uptime(ctx)?,
        }),
    ))
}

pub fn health(ctx: &Context) -> Result<Response, ApiError> {
    Ok(Response::json(
        200,
        &json!({"status": "healthy", "timestamp": rfc3339(ctx.now)}),
    ))
}

pub fn detailed_health(ctx: &Context) -> Result<Response, ApiError> {
    let found = health_metrics(ctx).and_then(|metrics| {
        Ok((
            metrics,
            uptime(ctx)?,
            ctx.store.durability()?,
            webhook_delivery(ctx)?,
        ))
    });
    let (metrics, uptime, durability, webhooks) = match found {
        Ok(found) => found,
        // A monitor must be able to tell "the store is down" from "the
        // service is down": the answer keeps the health shape.
        Err(err) => {
            return Ok(Response::json(
                503,
                &json!({
                    "status": "unhealthy",
                    "timestamp": rfc3339(ctx.now),
                    "version": crate::version(),
                    "store": "unavailable",
                    "message": err.message,
                    "details": err.details,
                }),
            )
            .with_header("retry-after", "5".to_string()));
        }
    };
    let mut body = json!({
        "status": "healthy",
        "timestamp": rfc3339(ctx.now),
        "version": crate::version(),
        "uptime": uptime,
        "store": "ok",
        "metrics": metrics,
        // Said here as well as once in the log: without a secret,
        // anyone who can reach the service can post changes.
        "webhook_signatures": if ctx.config.webhook_secrets().is_empty() { "not verified (PLANE_WEBHOOK_SECRET unset)" } else { "verified" },
        "webhooks": webhooks,
    });
    if let Value::Object(fields) = &mut body {
        for (name, value) in Guarantees::from(durability).fields(durability) {
            fields.insert(name.to_string(), value);
        }
    }
    Ok(Response::json(200, &body))
}

/// Whether Plane still sends: see [`missed_webhooks`].
pub fn webhook_delivery(ctx: &Context) -> Result<Value, ApiError> {
    let window = ctx.config.missed_webhook_window();
    let silence = missed_webhooks::silence(ctx.store, ctx.now, window)?;
    Ok(json!({
        "last_received": silence.last_webhook.map(rfc3339),
        "changes_only_by_sync": silence.missed,
        "window_seconds": window.num_seconds(),
        "warning": silence.warning(window),
    }))
}

fn health_metrics(ctx: &Context) -> Result<Value, ApiError> {
    let store = ctx.store;
    let events =
        |change: &str| -> Result<Value, ApiError> { Ok(json!(metrics::events(store, change)?)) };
    let last = status::last_sync(store)?;
    let sync_status = status::state(store, last.as_ref(), ctx.now)?;
    Ok(json!({
        "projects_synced": status::projects_synced(store)?,
        "events_created": events("created")?,
        "events_updated": events("updated")?,
        "events_deleted": events("deleted")?,
        "last_sync": last.as_ref().map(|l| rfc3339(l.timestamp)),
        // The guest's memory at the end of the last sync, its peak.
        "last_sync_peak_memory_bytes": last.as_ref().and_then(|l| l.peak_memory_bytes),
        "sync_status": sync_status,
        "caldav_connection": status::reachability(store, true)?,
        "plane_api_connection": status::reachability(store, false)?,
    }))
}

#[cfg(test)]
mod tests {
    use crate::api::tests::{call, call_on, json_body};

    #[test]
    fn info_has_the_reference_shape() {
        let (response, _) = call("GET", "/");
        assert_eq!(response.status, 200);
        let body = json_body(&response);
        assert_eq!(body["name"], "CalPlaneBot");
        assert_eq!(body["description"], "Plane ↔ CalDAV Integration Service");
        assert_eq!(body["status"], "running");
        assert_eq!(body["version"], crate::version());
        assert_eq!(body["uptime"], "0s");
    }

    #[test]
    fn detailed_health_reports_every_metric() {
        let (response, _) = call("GET", "/api/v1/health");
        let body = json_body(&response);
        let metrics = body["metrics"].as_object().unwrap();
        for key in [
            "projects_synced",
            "events_created",
            "events_updated",
            "events_deleted",
            "last_sync",
            "sync_status",
            "caldav_connection",
            "plane_api_connection",
        ] {
            assert!(metrics.contains_key(key), "missing {key}");
        }
        assert_eq!(metrics["events_created"], 0);
        assert!(metrics["last_sync"].is_null());
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["guarantees_off"], serde_json::json!([]));
        assert_eq!(body["guarantees"]["cross_instance_lease"], true);
        assert!(body.get("guarantees_note").is_none());
    }

    /// Invariant: on a store that forgets between requests the detailed
    /// health says which promises are off, in fields a monitor can read,
    /// and stays `healthy` (the service itself works).
    #[test]
    fn detailed_health_says_which_guarantees_a_forgetful_store_turns_off() {
        let store = crate::store::memory::MemoryStore::default();
        store.set_forgetful(true);
        let response = call_on(&store, "GET", "/api/v1/health");
        let body = json_body(&response);
        assert_eq!(response.status, 200);
        assert_eq!(body["status"], "healthy");
        assert_eq!(
            body["guarantees_off"],
            serde_json::json!([
                "durable_queue",
                "cross_instance_lease",
                "rate_limit_counters",
                "metrics_across_requests"
            ])
        );
        assert!(
            body["guarantees_note"]
                .as_str()
                .unwrap()
                .contains("POST /webhooks/sync")
        );
    }

    /// Invariant: with the store down, `/api/v1/health` answers 503 in the
    /// health shape (status "unhealthy", store "unavailable") and `/health`
    /// (liveness) stays 200; with the store back it is healthy again.
    #[test]
    fn detailed_health_reports_an_unavailable_store() {
        let store = crate::store::memory::MemoryStore::default();
        store.set_unavailable(true);
        let response = call_on(&store, "GET", "/api/v1/health");
        assert_eq!(response.status, 503);
        let body = json_body(&response);
        assert_eq!(body["status"], "unhealthy");
        assert_eq!(body["store"], "unavailable");
        assert_eq!(call_on(&store, "GET", "/health").status, 200);
        store.set_unavailable(false);
        let response = call_on(&store, "GET", "/api/v1/health");
        assert_eq!(response.status, 200);
        assert_eq!(json_body(&response)["store"], "ok");
    }
}
