//! The real guest's service endpoints, served by the real host over a socket.

use calplanebot_tests::components;
use calplanebot_tests::host::{Host, HostOptions, client, test_dir};
use serde_json::Value;

fn is_rfc3339_utc(text: &str) -> bool {
    // 2025-12-27T10:30:00Z
    text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T'
}

#[test]
fn every_endpoint_answers_in_its_documented_shape() {
    let dir = test_dir("endpoints");
    let host = Host::start(dir.path(), &HostOptions::default()).unwrap();
    let http = client();

    let info: Value = http.get(host.url("/")).send().unwrap().json().unwrap();
    assert_eq!(info["name"], "CalPlaneBot");
    assert_eq!(info["status"], "running");
    assert_eq!(info["description"], "Plane ↔ CalDAV Integration Service");
    assert!(info["version"].as_str().unwrap().starts_with("0."));
    assert!(info["uptime"].as_str().unwrap().ends_with('s'));

    let health = http.get(host.url("/health")).send().unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().unwrap();
    assert_eq!(health["status"], "healthy");
    assert!(is_rfc3339_utc(health["timestamp"].as_str().unwrap()));

    let detailed: Value = http
        .get(host.url("/api/v1/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    for key in ["status", "timestamp", "version", "uptime", "metrics"] {
        assert!(detailed.get(key).is_some(), "missing {key}");
    }
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
        assert!(
            detailed["metrics"].get(key).is_some(),
            "missing metrics.{key}"
        );
    }

    let spec = http.get(host.url("/openapi.json")).send().unwrap();
    assert_eq!(spec.headers()["content-type"], "application/json");
    let spec: Value = spec.json().unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/api/v1/health"]["get"].is_object());

    let docs = http.get(host.url("/docs")).send().unwrap();
    assert!(
        docs.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = docs.text().unwrap();
    assert!(page.contains("<code>/api/v1/health</code>"));
    assert!(!page.contains("<script src"));

    let missing = http.get(host.url("/no/such/thing")).send().unwrap();
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().unwrap();
    assert_eq!(missing["status"], "error");
    assert_eq!(missing["error_code"], "NOT_FOUND");
    assert!(missing["details"].is_object());
    assert!(is_rfc3339_utc(missing["timestamp"].as_str().unwrap()));

    let wrong = http.post(host.url("/health")).send().unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET, HEAD");
    let wrong: Value = wrong.json().unwrap();
    assert_eq!(wrong["error_code"], "METHOD_NOT_ALLOWED");

    // Load balancers probe with HEAD.
    let probe = http.head(host.url("/health")).send().unwrap();
    assert_eq!(probe.status(), 200);
    assert!(probe.bytes().unwrap().is_empty());
}

#[test]
fn uptime_counts_from_this_boot() {
    let dir = test_dir("uptime");
    let options = HostOptions::default().component(components::guest_a());
    let host = Host::start(dir.path(), &options).unwrap();
    let http = client();
    let first: Value = http.get(host.url("/")).send().unwrap().json().unwrap();
    assert_eq!(first["version"], "0.1.0+swap-a");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let later: Value = http.get(host.url("/")).send().unwrap().json().unwrap();
    let seconds: u64 = later["uptime"]
        .as_str()
        .unwrap()
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!(seconds >= 2, "uptime {later}");
    host.stop().unwrap();

    // A restarted host (same store) starts counting again.
    let host = Host::start(dir.path(), &options).unwrap();
    let restarted: Value = http.get(host.url("/")).send().unwrap().json().unwrap();
    assert_eq!(restarted["uptime"], "0s");
}
