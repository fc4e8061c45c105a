//! `POST /webhooks/plane`: a change in Plane, applied within the request
//! when the servers answer, else queued durably (202) for the next sync.
//! Plane never retries an HTTP error, so an accepted change must not be
//! lost, and a rejected one must be rejected for a reason the sender can fix.

use serde_json::{Value, json};

use super::rate_limit::{self, Limit};
use super::{ApiError, Context, ErrorCode};
use crate::caldav::CalDavError;
use crate::http::{Request, Response};
use crate::net::Deadline;
use crate::sync::{self, ItemError, SyncEnv, queue};
use crate::webhook::{self, Change, Entity, PayloadError};

/// Where Plane delivers.
pub const PATH: &str = "/webhooks/plane";
/// Largest body accepted (Plane's largest payloads are far smaller).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const UNSIGNED_NOTICE: &str = "webhook:unsigned-notice";

pub fn receive(ctx: &Context, request: &Request) -> Result<Response, ApiError> {
    let limit = Limit {
        scope: "webhooks",
        max: ctx.config.webhook_limit(),
        window_seconds: rate_limit::WEBHOOK_WINDOW_SECONDS,
    };
    // A rate-limited delivery is not counted in the store: a flood would
    // multiply the writes (the host counts its 429s).
    let count = rate_limit::enforce(ctx, request, limit)?;
    match process(ctx, request) {
        Ok(response) => {
            let ignored = response.status == 200
                && serde_json::from_slice::<Value>(&response.body)
                    .is_ok_and(|body| body["status"] == "ignored");
            let outcome = match response.status {
                202 => "queued",
                _ if ignored => "ignored",
                _ => "processed",
            };
            count_outcome(ctx, outcome, None);
            Ok(count.apply(response))
        }
        Err(error) => {
            if error.code != ErrorCode::ServiceUnavailable {
                count_outcome(ctx, "rejected", Some(&error));
            }
            Err(count
                .headers()
                .into_iter()
                .fold(error, |e, (name, value)| e.header(name, value)))
        }
    }
}

/// For `/metrics`; a store that cannot count does not change the answer.
fn count_outcome(ctx: &Context, outcome: &str, rejection: Option<&ApiError>) {
    let reason = rejection.map(|error| error.code.as_str());
    let _ = crate::metrics::count_webhook(ctx.store, outcome, reason);
    if rejection.is_none() {
        let _ = crate::sync::missed_webhooks::webhook_seen(ctx.store, ctx.now);
    }
}

fn process(ctx: &Context, request: &Request) -> Result<Response, ApiError> {
    let content_type = request.header("content-type").unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Webhooks must be sent as application/json",
        )
        .detail("field", "Content-Type")
        .detail("reason", "unsupported_media_type"));
    }
    if request.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "The webhook body is larger than 1 MiB",
        )
        .detail("field", "body")
        .detail("reason", "too_large")
        .detail("limit_bytes", MAX_BODY_BYTES));
    }
    verify_signature(ctx, request)?;
    let (change, entity, _) = webhook::parse(&request.body).map_err(payload_error)?;
    match entity {
        Entity::WorkItem {
            id,
            project_id,
            data,
        } => crate::log::for_item(&id, || {
            crate::log!(
                "INFO",
                "Webhook received: action={}, issue_id={id}",
                change.as_str()
            );
            apply_item(ctx, change, &id, project_id.as_deref(), &data)
        }),
        Entity::Project { id, data } => {
            crate::log!("INFO", "Webhook received: project {id} {}", change.as_str());
            apply_project(ctx, change, &id, &data)
        }
        Entity::Other { event } => Ok(Response::json(
            200,
            &json!({"status": "ignored", "message": format!("Event {event} is not synced"), "action": change.as_str()}),
        )),
    }
}

fn verify_signature(ctx: &Context, request: &Request) -> Result<(), ApiError> {
    let secrets = ctx.config.webhook_secrets();
    if secrets.is_empty() {
        // Said once per host start, not on every delivery.
        let notice = format!("{UNSIGNED_NOTICE}:{}", ctx.config.boot_id());
        if ctx
            .store
            .compare_and_swap(&notice, None, b"1")
            .unwrap_or(false)
        {
            crate::log!(
                "WARN",
                "PLANE_WEBHOOK_SECRET is not set: webhooks are accepted without a signature"
            );
        }
        return Ok(());
    }
    webhook::verify(&request.body, request.header("x-plane-signature"), &secrets).map_err(|err| {
        ApiError::new(ErrorCode::InvalidSignature, "Invalid webhook signature")
            .detail("field", "X-Plane-Signature")
            .detail("reason", err.to_string())
    })
}

fn payload_error(err: PayloadError) -> ApiError {
    match err {
        PayloadError::NotJson(reason) => {
            ApiError::new(ErrorCode::InvalidJson, "The body is not valid JSON")
                .detail("field", "body")
                .detail("reason", reason)
        }
        PayloadError::Missing(field) => ApiError::new(
            ErrorCode::MissingRequiredField,
            format!("Required field {field} is missing"),
        )
        .detail("field", field)
        .detail("reason", "missing"),
        PayloadError::BadDate { field } => ApiError::new(
            ErrorCode::InvalidDateFormat,
            format!("{field} must be a date (YYYY-MM-DD)"),
        )
        .detail("field", field)
        .detail("reason", "invalid_date"),
        PayloadError::UnknownAction(action) => ApiError::new(
            ErrorCode::InvalidFieldValue,
            format!("Unknown action {action:?}"),
        )
        .detail("field", "action")
        .detail("reason", "expected created, updated, deleted or archived"),
        PayloadError::InvalidId { field } => ApiError::new(
            ErrorCode::InvalidFieldValue,
            format!("{field} is not a Plane id"),
        )
        .detail("field", field)
        .detail("reason", "expected a UUID"),
    }
}

fn processed(id: &str, change: Change, applied: sync::Applied) -> Response {
    Response::json(
        200,
        &json!({
            "status": "processed",
            "message": "Issue sync triggered",
            "issue_id": id,
            "action": change.as_str(),
            "result": match applied {
                sync::Applied::Created => "created",
                sync::Applied::Updated => "updated",
                sync::Applied::Deleted => "deleted",
                sync::Applied::Unchanged => "unchanged",
                sync::Applied::Superseded => "superseded",
            },
        }),
    )
}

fn apply_item(
    ctx: &Context,
    change: Change,
    id: &str,
    project_id: Option<&str>,
    data: &Value,
) -> Result<Response, ApiError> {
    let queue_it = |reason: &str| -> Result<Response, ApiError> {
        let length = queue::push(
            ctx.store,
            &queue::QueuedChange {
                item_id: id.to_string(),
                project_id: project_id.map(str::to_string),
                action: change.as_str().to_string(),
                data: data.clone(),
                received_at: ctx.now,
                version: sync::version_in(data, ctx.now),
            },
        )?;
        crate::log!("WARN", "Webhook for {id} queued: {reason}");
        // Where the queue does not outlive the request, the change is not
        // lost either (the next full sync reads it from Plane), but the
        // answer must not promise a queue.
        let message = if ctx.store.durability()?.persists {
            "The change is queued and will be applied by the next sync"
        } else {
            "This host keeps no queue: the next full sync applies the change from Plane"
        };
        Ok(Response::json(
            202,
            &json!({
                "status": "queued",
                "message": message,
                "issue_id": id,
                "action": change.as_str(),
                "queue_length": length,
            }),
        ))
    };
    let settings = match ctx.config.sync() {
        Ok(settings) => settings,
        Err(reason) => return queue_it(&reason),
    };
    // Plane never retries an HTTP error, and the host ends a request that
    // runs out of time with one: a slow server gets the change queued.
    let bounded = Deadline::new(ctx.http, ctx.config.webhook_budget());
    let env = SyncEnv::new(ctx.store, &bounded, &settings);
    match sync::apply_change(&env, change, id, project_id, data) {
        Ok(applied) => Ok(processed(id, change, applied)),
        Err(ItemError::Unreachable(reason)) => queue_it(&reason),
        Err(ItemError::LeftToFullSync(reason)) => queue_it(reason),
        Err(err) => Err(item_error(err)),
    }
}

fn apply_project(
    ctx: &Context,
    change: Change,
    id: &str,
    data: &Value,
) -> Result<Response, ApiError> {
    let acknowledged = |message: &str| {
        Response::json(
            200,
            &json!({"status": "processed", "message": message, "project_id": id, "action": change.as_str()}),
        )
    };
    if matches!(change, Change::Deleted | Change::Archived) {
        // A project's calendar is not deleted with it: it may hold history.
        return Ok(acknowledged("Project removal noted; its calendar is kept"));
    }
    let Ok(settings) = ctx.config.sync() else {
        return Ok(acknowledged(
            "Not configured; the next sync creates the calendar",
        ));
    };
    let bounded = Deadline::new(ctx.http, ctx.config.webhook_budget());
    let env = SyncEnv::new(ctx.store, &bounded, &settings);
    match sync::apply_project(&env, id, data) {
        Ok(_) => Ok(acknowledged("Project calendar updated")),
        // The next full sync creates or renames every project's calendar.
        Err(ItemError::Unreachable(_) | ItemError::LeftToFullSync(_)) => Ok(Response::json(
            202,
            &json!({"status": "queued", "message": "The next sync will update the project's calendar", "project_id": id, "action": change.as_str()}),
        )),
        Err(err) => Err(item_error(err)),
    }
}

fn item_error(err: ItemError) -> ApiError {
    match err {
        ItemError::Plane(err) => ApiError::new(ErrorCode::PlaneApiError, err.to_string()),
        ItemError::CalDav(err @ CalDavError::UidConflict { .. }) => {
            ApiError::new(ErrorCode::CaldavConflict, err.to_string())
        }
        ItemError::CalDav(err) => ApiError::new(ErrorCode::CaldavConnectionError, err.to_string()),
        ItemError::Missing(field) => ApiError::new(
            ErrorCode::MissingRequiredField,
            format!("Required field {field} is missing"),
        )
        .detail("field", field)
        .detail("reason", "missing"),
        ItemError::Store(err) => err.into(),
        ItemError::Unreachable(reason) => ApiError::new(ErrorCode::CaldavConnectionError, reason),
        ItemError::LeftToFullSync(reason) => ApiError::new(ErrorCode::InternalError, reason),
    }
}

#[cfg(test)]
mod tests {
    use crate::api::{Context, handle};
    use crate::config::Config;
    use crate::http::Request;
    use crate::net::NetError;
    use crate::net::scripted::ScriptedHttp;
    use crate::store::memory::MemoryStore;
    use serde_json::Value;

    fn config() -> Config {
        Config::from_vars(
            [
                ("PLANE_BASE_URL", "http://plane"),
                ("PLANE_API_TOKEN", "t"),
                ("PLANE_WORKSPACE_SLUG", "ws"),
                ("CALDAV_URL", "http://dav/"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    fn post(
        store: &MemoryStore,
        http: &ScriptedHttp,
        content_type: &str,
        body: &[u8],
    ) -> (u16, Value) {
        let config = config();
        let ctx = Context {
            store,
            config: &config,
            now: crate::time::now(),
            http,
        };
        let mut request = Request::new("POST", "/webhooks/plane");
        request
            .headers
            .push(("content-type".into(), content_type.into()));
        request.body = body.to_vec();
        let reply = handle(&ctx, &request);
        (
            reply.response.status,
            serde_json::from_slice(&reply.response.body).unwrap(),
        )
    }

    #[test]
    fn unreachable_servers_queue_the_change() {
        let store = MemoryStore::default();
        let offline = ScriptedHttp::new(|_, _| Err(NetError::Connection("refused".into())));
        let body = br#"{"event": "issue", "action": "created", "data": {"id": "i1", "project": "p1", "name": "x", "state": null, "target_date": "2026-01-01"}}"#;
        let (status, json) = post(&store, &offline, "application/json; charset=utf-8", body);
        assert_eq!(status, 202, "{json}");
        assert_eq!(json["queue_length"], 1);
        let (_, json) = post(&store, &offline, "application/json", body);
        assert_eq!(json["queue_length"], 1, "the same item is queued once");
    }

    /// Invariant: a webhook that cannot be queued (the store is down) is
    /// refused with 503 in the error format, never acknowledged; once the
    /// store is back, the same delivery is queued.
    #[test]
    fn a_webhook_the_store_cannot_take_is_refused_not_acknowledged() {
        let store = MemoryStore::default();
        let offline = ScriptedHttp::new(|_, _| Err(NetError::Connection("refused".into())));
        let body = br#"{"event": "issue", "action": "updated", "data": {"id": "i1", "project": "p1", "name": "x", "state": null, "target_date": "2026-01-01"}}"#;
        store.set_unavailable(true);
        let (status, json) = post(&store, &offline, "application/json", body);
        assert_eq!(status, 503, "{json}");
        assert_eq!(json["error_code"], "SERVICE_UNAVAILABLE");
        assert_eq!(json["status"], "error");
        store.set_unavailable(false);
        assert!(
            store.keys().iter().all(|k| !k.starts_with("queue")),
            "nothing half-written"
        );
        let (status, json) = post(&store, &offline, "application/json", body);
        assert_eq!(status, 202, "{json}");
    }

    #[test]
    fn hostile_bodies_get_the_documented_errors() {
        let store = MemoryStore::default();
        let offline = ScriptedHttp::new(|_, _| Err(NetError::Connection("refused".into())));
        for (body, status, code) in [
            (&b""[..], 400, "INVALID_JSON"),
            (b"\xff\xfe", 400, "INVALID_JSON"),
            (b"null", 400, "INVALID_JSON"),
            (b"{\"event\": 5, \"action\": \"created\", \"data\": {\"id\": \"x\"}}", 422, "MISSING_REQUIRED_FIELD"),
            (b"{\"event\": \"issue\", \"action\": [], \"data\": {\"id\": \"x\"}}", 422, "MISSING_REQUIRED_FIELD"),
            (b"{\"event\": \"issue\", \"action\": \"created\", \"data\": {\"id\": {}}}", 422, "INVALID_FIELD_VALUE"),
            (b"{\"event\": \"issue\", \"action\": \"updated\", \"data\": {\"id\": \"x\\r\\nATTENDEE:mailto:a@b\"}}", 422, "INVALID_FIELD_VALUE"),
            (b"{\"event\": \"issue\", \"action\": \"updated\", \"data\": {\"id\": \"x\", \"project\": \"../../users/me\"}}", 422, "INVALID_FIELD_VALUE"),
            (b"{\"event\": \"issue\", \"action\": \"created\", \"data\": {\"id\": \"x\", \"target_date\": \"2025-13-45\"}}", 422, "INVALID_DATE_FORMAT"),
            (b"{\"event\": \"issue\", \"action\": \"created\", \"data\": {\"id\": \"x\"}}", 422, "MISSING_REQUIRED_FIELD"),
        ] {
            let (got, json) = post(&store, &offline, "application/json", body);
            assert_eq!((got, json["error_code"].as_str()), (status, Some(code)), "{:?}", String::from_utf8_lossy(body));
        }
        let (got, json) = post(&store, &offline, "text/json", b"{}");
        assert_eq!(
            (got, json["error_code"].as_str()),
            (415, Some("UNSUPPORTED_MEDIA_TYPE"))
        );
    }
}
