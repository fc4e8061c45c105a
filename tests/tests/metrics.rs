//! `GET /metrics` read by the reference OpenMetrics parser (Python's
//! `prometheus_client`): the guest's fleet-wide counters and the host's
//! per-process series in one valid exposition, counting what happened.

use std::io::Write;
use std::process::{Command, Stdio};

use calplanebot_tests::caldav_server::python;
use calplanebot_tests::host::client;
use calplanebot_tests::plane_json::sign;
use calplanebot_tests::webhook_delivery::{ce_body, deliver, post, world};
use serde_json::Value;

/// Every sample as `{name, labels, value}`, through the strict parser (it
/// refuses a missing `# EOF`, a repeated family, a malformed line).
fn parse(text: &str) -> Vec<Value> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type})
print(json.dumps(out))
"#;
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The sum over every sample of `name` with these labels (and any others).
fn total(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .filter_map(|s| s["value"].as_f64())
        .sum()
}

fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .and_then(|s| s["value"].as_f64())
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

/// Invariant: after a sync that creates two events, a processed webhook
/// and a rejected one, the exposition parses and says so: syncs by
/// outcome with a duration histogram, events by change, webhooks by outcome
/// and reason, errors by code, the host's requests by route and status and
/// its outbound requests to Plane and CalDAV.
#[test]
fn the_exposition_parses_and_counts_what_happened() {
    let world = world(&[]);
    let project = world.plane.add_project("Website", "WEB");
    let item = world.plane.add_item(&project, "Launch", Some("2027-01-15"));
    world.plane.add_item(&project, "Party", Some("2027-01-16"));
    world.sync();
    world
        .plane
        .update_item(&item, |i| i.name = "Launch v2".into());
    let (status, _) = deliver(&world, "updated", world.plane.webhook_data(&item));
    assert_eq!(status, 200);
    let body = ce_body("updated", world.plane.webhook_data(&item));
    let (status, _, _) = post(&world, &body, Some(&sign("wrong-secret", &body)));
    assert_eq!(status, 401, "a wrong signature is refused");

    let response = client().get(world.host().url("/metrics")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    let text = response.text().unwrap();
    let samples = parse(&text);

    assert_eq!(
        value(
            &samples,
            "calplanebot_syncs_total",
            &[("outcome", "success")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "calplanebot_syncs_total",
            &[("outcome", "failed")]
        ),
        0.0
    );
    assert_eq!(
        value(&samples, "calplanebot_sync_duration_seconds_count", &[]),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "calplanebot_sync_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "calplanebot_events_total",
            &[("change", "created")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "calplanebot_events_total",
            &[("change", "updated")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "calplanebot_webhooks_total",
            &[("outcome", "processed")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "calplanebot_webhooks_total",
            &[("outcome", "rejected"), ("reason", "INVALID_SIGNATURE")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "calplanebot_errors_total",
            &[("error_code", "INVALID_SIGNATURE")]
        ),
        1.0
    );
    assert_eq!(value(&samples, "calplanebot_queue_length", &[]), 0.0);
    assert!(
        value(
            &samples,
            "calplanebot_host_http_requests_total",
            &[
                ("route", "/webhooks/plane"),
                ("method", "POST"),
                ("status", "200")
            ]
        ) >= 1.0
    );
    assert!(
        value(
            &samples,
            "calplanebot_host_outbound_requests_total",
            &[
                ("destination", "plane"),
                ("method", "GET"),
                ("status", "200")
            ]
        ) >= 1.0
    );
    assert!(
        total(
            &samples,
            "calplanebot_host_outbound_requests_total",
            &[("destination", "caldav"), ("method", "PUT")]
        ) >= 2.0
    );
    assert!(
        value(
            &samples,
            "calplanebot_host_guest_instantiation_seconds_count",
            &[]
        ) >= 1.0
    );
    assert!(
        value(
            &samples,
            "calplanebot_host_store_operations_total",
            &[("operation", "get")]
        ) >= 1.0
    );
    assert_eq!(text.matches("# EOF").count(), 1);

    // HEAD and a query string change nothing; an unknown path is one series.
    client()
        .get(world.host().url("/no/such/path/123"))
        .send()
        .unwrap();
    client()
        .get(world.host().url("/no/such/path/456"))
        .send()
        .unwrap();
    let samples = parse(
        &client()
            .get(world.host().url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    assert_eq!(
        value(
            &samples,
            "calplanebot_host_http_requests_total",
            &[("route", "other"), ("status", "404")]
        ),
        2.0
    );
}

/// Invariant: with CALPLANEBOT_API_TOKEN set, `/metrics` needs it.
#[test]
fn the_management_token_guards_the_metrics() {
    let world = world(&[("CALPLANEBOT_API_TOKEN", "metrics-token-123")]);
    let refused = client().get(world.host().url("/metrics")).send().unwrap();
    assert_eq!(refused.status(), 401);
    let body = refused.text().unwrap();
    assert!(
        !body.contains("calplanebot_host_"),
        "no host series without the token"
    );
    let allowed = client()
        .get(world.host().url("/metrics"))
        .bearer_auth("metrics-token-123")
        .send()
        .unwrap();
    assert_eq!(allowed.status(), 200);
    parse(&allowed.text().unwrap());
}
