//! What a guest may use of the host beyond its memory: resource-table
//! entries, concurrent outbound requests, key and value sizes, store size.
//! Each limit ends in the error the README documents, and the host keeps
//! serving.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use calplanebot_tests::host::{Host, HostOptions, client, probe_host};
use calplanebot_tests::loopback_server;

fn get(host: &Host, path: &str) -> (u16, String) {
    let response = client().get(host.url(path)).send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

/// Invariant: a guest holding more host resources than `--max-resources`
/// traps (its request gets a 500) and the next request is served.
#[test]
fn resource_table_entries_are_capped() {
    let options = HostOptions::default().arg("--max-resources").arg("200");
    let (host, _dir) = probe_host("resources", options);
    assert_eq!(get(&host, "/resources?n=100"), (200, "held 100".into()));
    let (status, _) = get(&host, "/resources?n=5000");
    assert_eq!(status, 500);
    assert!(host.wait_for_log("resource table has no free keys", Duration::from_secs(5)));
    assert_eq!(get(&host, "/ok"), (200, "ok".into()));
}

/// Invariant: an instance has at most `--max-outbound-requests` requests
/// open; the next ones fail at once with an error the guest can handle.
#[test]
fn concurrent_outbound_requests_per_instance_are_capped() {
    // Holds each request two seconds, so all are open at once.
    let slow = loopback_server::spawn(
        || true,
        |_| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            hyper::Response::new(Full::new(Bytes::from_static(b"late")))
        },
    );
    let options = HostOptions::default()
        .arg("--max-outbound-requests")
        .arg("4")
        .arg("--allow-host")
        .arg(slow.to_string());
    let (host, _dir) = probe_host("outbound-cap", options);
    let url = format!("http%3A%2F%2F{}%2F", slow.to_string().replace(':', "%3A"));
    let (status, report) = get(&host, &format!("/fetch-many?n=10&url={url}"));
    assert_eq!(status, 200);
    assert!(report.starts_with("answered=4 refused=6"), "{report}");
    assert!(
        report.contains("too many concurrent outbound requests"),
        "{report}"
    );
    assert!(host.wait_for_log("(--max-outbound-requests)", Duration::from_secs(5)));
    // The permits came back with the responses.
    let (_, again) = get(&host, &format!("/fetch-many?n=4&url={url}"));
    assert!(again.starts_with("answered=4 refused=0"), "{again}");
}

/// Invariant: keys over `--max-key-bytes`, values over `--max-value-mib`
/// and writes past `--max-store-mib` are refused with an error naming the
/// flag, nothing else is lost, and the store keeps serving reads and
/// smaller writes.
#[test]
fn key_value_and_store_sizes_are_capped() {
    let options = HostOptions::default()
        .arg("--max-key-bytes")
        .arg("64")
        .arg("--max-value-mib")
        .arg("1")
        .arg("--max-store-mib")
        .arg("2");
    let (host, _dir) = probe_host("store-limits", options);
    let long_key = "k".repeat(65);
    let (status, error) = get(&host, &format!("/kv/big?bytes=10&key={long_key}"));
    assert_eq!(status, 507);
    assert!(error.contains("--max-key-bytes"), "{error}");
    let (status, error) = get(&host, "/kv/big?bytes=1048577&key=huge");
    assert_eq!(status, 507);
    assert!(error.contains("--max-value-mib"), "{error}");

    // 600 KiB values: the fourth would take the store past 2 MiB.
    for key in ["a", "b", "c"] {
        let path = format!("/kv/big?bytes=614400&key={key}");
        assert_eq!(get(&host, &path), (200, "stored".into()), "{key}");
    }
    let (status, error) = get(&host, "/kv/big?bytes=614400&key=d");
    assert_eq!(status, 507);
    assert!(error.contains("--max-store-mib"), "{error}");
    // Overwriting a key with a smaller value still fits, and reads work.
    assert_eq!(get(&host, "/kv/big?bytes=10&key=a"), (200, "stored".into()));
    assert_eq!(get(&host, "/kv/get?key=a").1, "\u{7}".repeat(10));
    assert_eq!(get(&host, "/kv/get?key=d").0, 404);
}
