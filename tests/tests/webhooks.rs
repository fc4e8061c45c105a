//! `POST /webhooks/plane` end to end: signed deliveries built the way Plane
//! builds them, applied to Radicale through the real host and guest; the
//! durable queue across CalDAV outages and restarts; rate limits; and every
//! error code of the API reference.

use std::time::Duration;

use calplanebot_tests::fake_plane::WORKSPACE;
use calplanebot_tests::host::client;
use calplanebot_tests::plane_json::{dumps, sign};
use calplanebot_tests::webhook_delivery::{SECRET, ce_body, deliver, post, world};
use calplanebot_tests::world::{World, property};
use serde_json::{Value, json};

#[test]
fn signed_changes_reach_the_calendar_at_most_once_each() {
    let w = world(&[]);
    let project = w.plane.add_project("Website", "WEB");
    w.sync();
    let item = w.plane.add_item(&project, "Launch", Some("2026-02-14"));

    w.proxy.reset();
    let (status, body) = deliver(&w, "created", w.plane.webhook_data(&item));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "processed");
    assert_eq!(body["message"], "Issue sync triggered");
    assert_eq!(body["issue_id"], item.as_str());
    assert_eq!(body["action"], "created");
    assert_eq!(w.proxy.count("PUT"), 1);
    let created = w.event_of(&project, &item).expect("event created");
    assert!(property(&created, "SUMMARY").unwrap().ends_with("Launch"));

    // Same body again: no write.
    w.proxy.reset();
    let (status, _) = deliver(&w, "created", w.plane.webhook_data(&item));
    assert_eq!(status, 200);
    assert_eq!(w.proxy.writes(), 0);

    // Updated (older action spelling too).
    w.plane.update_item(&item, |i| i.name = "Launch v2".into());
    let (status, _) = deliver(&w, "update", w.plane.webhook_data(&item));
    assert_eq!(status, 200);
    assert!(
        property(&w.event_of(&project, &item).unwrap(), "SUMMARY")
            .unwrap()
            .ends_with("Launch v2")
    );

    // A burst: one delivery per changed field for five items, ten each.
    let items: Vec<String> = (0..5)
        .map(|n| {
            w.plane
                .add_item(&project, &format!("Burst {n}"), Some("2026-03-01"))
        })
        .collect();
    w.proxy.reset();
    for round in 0..10 {
        for item in &items {
            let action = if round == 0 { "created" } else { "updated" };
            let (status, _) = deliver(&w, action, w.plane.webhook_data(item));
            assert_eq!(status, 200);
        }
    }
    assert!(w.proxy.writes() <= 5, "{:?}", w.proxy.counts());
    assert_eq!(w.events(&project).len(), 6);

    // Deleted: CE sends only the id (and no project).
    w.plane.delete_item(&items[0]);
    let (status, body) = deliver(&w, "deleted", json!({"id": items[0]}));
    assert_eq!((status, body["action"].as_str()), (200, Some("deleted")));
    assert!(w.event_of(&project, &items[0]).is_none());

    // Archived, in Plane Cloud's v2 format.
    w.plane.archive_item(&items[1]);
    let v2 = dumps(
        &json!({"version": "v2", "event": "workitem.archived", "event_id": "evt-1", "entity_id": items[1],
        "data": {"id": items[1], "project_id": project, "state_id": null, "label_ids": [], "assignee_ids": []}}),
    );
    let (status, body, _) = post(
        &w,
        &v2,
        Some(&format!("sha256={}", sign(SECRET, &v2).to_uppercase())),
    );
    assert_eq!(status, 200, "{body}");
    assert!(w.event_of(&project, &items[1]).is_none());

    // A v2 update carries only ids: the item is fetched from Plane.
    w.plane.update_item(&items[2], |i| {
        i.name = "Fetched from Plane".into();
        i.state_id = format!("{}-state-completed", i.project_id);
    });
    let v2 = dumps(
        &json!({"version": "v2", "event": "workitem.updated", "event_id": "evt-2", "entity_id": items[2],
        "data": {"id": items[2], "project_id": project, "state_id": format!("{project}-state-completed")}}),
    );
    let (status, body, _) = post(&w, &v2, Some(&sign(SECRET, &v2)));
    assert_eq!(status, 200, "{body}");
    let fetched = w.event_of(&project, &items[2]).unwrap();
    assert!(
        property(&fetched, "SUMMARY")
            .unwrap()
            .ends_with("Fetched from Plane")
    );
    assert_eq!(property(&fetched, "STATUS").unwrap(), "CANCELLED");

    // Removing the due date removes the event.
    w.plane.update_item(&items[3], |i| i.target_date = None);
    deliver(&w, "updated", w.plane.webhook_data(&items[3]));
    assert!(w.event_of(&project, &items[3]).is_none());

    // Other events are acknowledged and ignored.
    let cycle = dumps(&json!({"event": "cycle", "action": "created", "data": {"id": "c1"}}));
    let (status, body, _) = post(&w, &cycle, Some(&sign(SECRET, &cycle)));
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));

    // And the periodic sync agrees with what the webhooks did.
    w.sync_counted();
    assert_eq!(w.proxy.writes(), 0, "{:?}", w.proxy.counts());
}

#[test]
fn a_new_project_gets_its_calendar_from_a_project_webhook() {
    let w = world(&[]);
    let project = w.plane.add_project("Brand new", "NEW");
    let body = dumps(
        &json!({"event": "project", "action": "created", "data": {"id": project, "name": "Brand new", "identifier": "NEW"}}),
    );
    let (status, response, _) = post(&w, &body, Some(&sign(SECRET, &body)));
    assert_eq!(status, 200, "{response}");
    assert!(
        w.calendar_names()
            .iter()
            .any(|(_, name)| name == "Plane: Brand new")
    );
    let body = dumps(
        &json!({"event": "project", "action": "updated", "data": {"id": project, "name": "Renamed", "identifier": "NEW"}}),
    );
    post(&w, &body, Some(&sign(SECRET, &body)));
    assert!(
        w.calendar_names()
            .iter()
            .any(|(_, name)| name == "Plane: Renamed")
    );
}

#[test]
fn changes_are_queued_while_caldav_is_down_and_survive_a_restart() {
    let mut w = world(&[]);
    let project = w.plane.add_project("Ops", "OPS");
    w.sync();
    let first = w.plane.add_item(&project, "Queued one", Some("2026-06-01"));
    let second = w.plane.add_item(&project, "Queued two", Some("2026-06-02"));

    w.proxy.set_down(true);
    let (status, body) = deliver(&w, "created", w.plane.webhook_data(&first));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["queue_length"], 1);
    let (_, body) = deliver(&w, "created", w.plane.webhook_data(&second));
    assert_eq!(body["queue_length"], 2);
    // A newer change of the same item replaces the queued one.
    w.plane
        .update_item(&first, |i| i.name = "Queued one, renamed".into());
    let (_, body) = deliver(&w, "updated", w.plane.webhook_data(&first));
    assert_eq!(body["queue_length"], 2);
    assert_eq!(w.get_json("/webhooks/status")["queue_length"], 2);

    // A restart loses nothing.
    w.restart_host();
    assert_eq!(w.get_json("/webhooks/status")["queue_length"], 2);

    w.proxy.set_down(false);
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(status["queue_length"], 0);
    let renamed = w.event_of(&project, &first).expect("queued change applied");
    assert!(
        property(&renamed, "SUMMARY")
            .unwrap()
            .ends_with("Queued one, renamed")
    );
    assert!(w.event_of(&project, &second).is_some());
}

fn from(address: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn the_101st_webhook_in_a_minute_from_one_address_is_refused() {
    let w = World::start(&[]);
    let ignored = dumps(&json!({"event": "module", "action": "updated", "data": {"id": "m"}}));
    let send = |client: &reqwest::blocking::Client| {
        client
            .post(w.host().url("/webhooks/plane"))
            .header("content-type", "application/json")
            .body(ignored.clone())
            .send()
            .unwrap()
    };
    let one = from("127.0.0.1");
    // Windows are whole minutes: start early in one, so that the 101 requests
    // (well under a second's work) all fall in it.
    let second_of_minute = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 60
    };
    while second_of_minute() > 40 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut last = None;
    for n in 1..=100 {
        let response = send(&one);
        assert_eq!(response.status(), 200, "refused after {n}");
        last = Some(response);
    }
    let last = last.unwrap();
    assert_eq!(last.headers()["x-ratelimit-limit"], "100");
    assert_eq!(last.headers()["x-ratelimit-remaining"], "0");
    let over = send(&one);
    assert_eq!(over.status(), 429);
    assert!(over.headers().contains_key("retry-after"));
    assert!(over.headers().contains_key("x-ratelimit-reset"));
    let body: Value = over.json().unwrap();
    assert_eq!(body["error_code"], "RATE_LIMIT_EXCEEDED");
    // Another address is counted on its own.
    assert_eq!(send(&from("127.0.0.2")).status(), 200);
    // Health is never limited.
    for _ in 0..20 {
        assert_eq!(
            one.get(w.host().url("/health")).send().unwrap().status(),
            200
        );
    }
}

fn expect_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    assert!(body["message"].is_string());
    assert!(body["details"].is_object());
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let text = body.to_string();
    for secret in [SECRET, "plane-test-token", "mgmt-token"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn every_error_code_is_reachable_with_its_status_and_shape() {
    let w = world(&[
        ("CALPLANEBOT_API_TOKEN", "mgmt-token"),
        ("RATE_LIMIT_SYNC_PER_HOUR", "2"),
    ]);
    let project = w.plane.add_project("P", "P");
    let item = w.plane.add_item(&project, "x", Some("2026-01-01"));
    let signed = |body: &[u8]| post(&w, body, Some(&sign(SECRET, body)));

    let (s, b, _) = signed(b"{not json");
    expect_error(s, &b, 400, "INVALID_JSON");
    let body = dumps(&json!({"action": "created", "data": {"id": "x"}}));
    let (s, b, _) = signed(&body);
    expect_error(s, &b, 422, "MISSING_REQUIRED_FIELD");
    assert_eq!(b["details"]["field"], "event");
    let body = dumps(&json!({"event": "issue", "action": "created", "data": {"name": "no id"}}));
    let (s, b, _) = signed(&body);
    expect_error(s, &b, 422, "MISSING_REQUIRED_FIELD");
    assert_eq!(b["details"]["field"], "data.id");
    let body = dumps(
        &json!({"event": "issue", "action": "created", "data": {"id": "x", "target_date": "next tuesday"}}),
    );
    let (s, b, _) = signed(&body);
    expect_error(s, &b, 422, "INVALID_DATE_FORMAT");
    assert_eq!(b["details"]["field"], "data.target_date");

    let body = ce_body("created", w.plane.webhook_data(&item));
    let (s, b, _) = post(&w, &body, Some(&sign("wrong-secret", &body)));
    expect_error(s, &b, 401, "INVALID_SIGNATURE");
    let (s, b, _) = post(&w, &body, None);
    expect_error(s, &b, 401, "INVALID_SIGNATURE");
    assert!(
        w.events(&project).is_empty(),
        "an unsigned change was applied"
    );

    let huge = vec![b' '; 1024 * 1024 + 10];
    let (s, b, _) = signed(&huge);
    expect_error(s, &b, 413, "PAYLOAD_TOO_LARGE");
    let response = client()
        .post(w.host().url("/webhooks/plane"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .unwrap();
    let status = response.status().as_u16();
    expect_error(
        status,
        &response.json().unwrap(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    );

    // Management token.
    let response = client()
        .post(w.host().url("/webhooks/sync"))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("www-authenticate"));
    expect_error(status, &response.json().unwrap(), 401, "UNAUTHORIZED");
    let response = client()
        .get(w.host().url("/webhooks/status"))
        .bearer_auth("nope")
        .send()
        .unwrap();
    let status = response.status().as_u16();
    expect_error(status, &response.json().unwrap(), 401, "UNAUTHORIZED");
    assert_eq!(
        client()
            .get(w.host().url("/webhooks/status"))
            .bearer_auth("mgmt-token")
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client()
            .get(w.host().url("/health"))
            .send()
            .unwrap()
            .status(),
        200
    );

    // Sync in progress, then the hourly trigger limit.
    let trigger = || {
        client()
            .post(w.host().url("/webhooks/sync"))
            .bearer_auth("mgmt-token")
            .send()
            .unwrap()
    };
    w.plane.set_rate_limit(1000, Duration::from_secs(60));
    let first = trigger();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit"], "2");
    let second = trigger();
    let status = second.status().as_u16();
    expect_error(status, &second.json().unwrap(), 409, "SYNC_IN_PROGRESS");
    let third = trigger();
    let status = third.status().as_u16();
    assert!(third.headers().contains_key("retry-after"));
    expect_error(status, &third.json().unwrap(), 429, "RATE_LIMIT_EXCEEDED");
    w.wait_until_idle();

    // Routing.
    let response = client().get(w.host().url("/nowhere")).send().unwrap();
    let status = response.status().as_u16();
    expect_error(status, &response.json().unwrap(), 404, "NOT_FOUND");
    let response = client()
        .get(w.host().url("/webhooks/plane"))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    expect_error(status, &response.json().unwrap(), 405, "METHOD_NOT_ALLOWED");
}

#[test]
fn servers_refusing_the_service_are_reported_not_queued() {
    // Plane refuses the key: a v2 update (which needs Plane) is a PLANE_API_ERROR.
    let w = world(&[("PLANE_API_TOKEN", "revoked-token")]);
    let project = w.plane.add_project("P", "P");
    let item = w.plane.add_item(&project, "x", Some("2026-01-01"));
    let v2 =
        dumps(&json!({"event": "workitem.updated", "data": {"id": item, "project_id": project}}));
    let (status, body, _) = post(&w, &v2, Some(&sign(SECRET, &v2)));
    expect_error(status, &body, 502, "PLANE_API_ERROR");
    assert!(!body.to_string().contains("revoked-token"));
    assert_eq!(w.get_json("/webhooks/status")["queue_length"], 0);

    // The CalDAV server refuses the credentials (Radicale answers Digest
    // with a Basic challenge): CALDAV_CONNECTION_ERROR.
    let w = world(&[("CALDAV_AUTH_TYPE", "digest")]);
    let project = w.plane.add_project("P", "P");
    let item = w.plane.add_item(&project, "x", Some("2026-01-01"));
    let (status, body) = deliver(&w, "created", w.plane.webhook_data(&item));
    expect_error(status, &body, 502, "CALDAV_CONNECTION_ERROR");
    let _ = WORKSPACE;
}

#[test]
fn unsigned_webhooks_are_accepted_without_a_secret_and_said_so() {
    let w = World::start(&[]);
    let project = w.plane.add_project("P", "P");
    let item = w.plane.add_item(&project, "x", Some("2026-01-01"));
    let body = ce_body("created", w.plane.webhook_data(&item));
    let (status, _, _) = post(&w, &body, None);
    assert_eq!(status, 200);
    post(&w, &body, None);
    let health = w.get_json("/api/v1/health");
    assert!(
        health["webhook_signatures"]
            .as_str()
            .unwrap()
            .starts_with("not verified")
    );
    let notices = w
        .host()
        .log()
        .iter()
        .filter(|l| l.contains("webhooks are accepted without a signature"))
        .count();
    assert_eq!(notices, 1);
}
