//! Webhooks delivered the way Plane delivers them: CE's envelope, the body
//! serialised like Python's `json.dumps`, signed with the shared secret.

use serde_json::{Value, json};

use crate::host::{Host, client};
use crate::plane_json::{dumps, sign};
use crate::world::World;

pub const SECRET: &str = "whsec-test";

/// A world whose service checks signatures with [`SECRET`] and does not
/// rate-limit the tests' deliveries.
pub fn world(extra: &[(&str, &str)]) -> World {
    let mut env = vec![
        ("PLANE_WEBHOOK_SECRET", SECRET),
        ("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "10000"),
    ];
    env.extend_from_slice(extra);
    World::start(&env)
}

pub fn ce_body(action: &str, data: Value) -> Vec<u8> {
    dumps(&json!({
        "event": "issue", "action": action, "webhook_id": "wh-1", "workspace_id": "ws-uuid",
        "data": data, "activity": {"field": "name", "actor": {"id": "user-ada"}}
    }))
}

pub fn post(
    world: &World,
    body: &[u8],
    signature: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    post_to(world.host(), body, signature)
}

/// As [`post`], to one particular host (a replica).
pub fn post_to(
    host: &Host,
    body: &[u8],
    signature: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = client()
        .post(host.url("/webhooks/plane"))
        .header("content-type", "application/json")
        .header("user-agent", "Autopilot")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-plane-signature", signature);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().unwrap_or(Value::Null), headers)
}

/// Posts a signed body; returns the status and the JSON answer.
pub fn deliver_body(world: &World, body: &[u8]) -> (u16, Value) {
    let (status, json, _) = post(world, body, Some(&sign(SECRET, body)));
    (status, json)
}

pub fn deliver(world: &World, action: &str, data: Value) -> (u16, Value) {
    deliver_body(world, &ce_body(action, data))
}

/// As [`deliver`], signed, to one particular host (a replica).
pub fn deliver_to(host: &Host, action: &str, data: Value) -> (u16, Value) {
    let body = ce_body(action, data);
    let (status, json, _) = post_to(host, &body, Some(&sign(SECRET, &body)));
    (status, json)
}
