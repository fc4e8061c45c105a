//! The sandbox: a guest that loops, exhausts memory or traps costs one
//! request a 500; outbound requests are limited to the allow-list.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use calplanebot_tests::components;
use calplanebot_tests::host::{Host, HostOptions, client, probe_host, test_dir};

#[test]
fn a_runaway_guest_costs_one_request_and_the_host_keeps_serving() {
    let options = HostOptions::default()
        .arg("--request-timeout")
        .arg("2")
        .arg("--memory-limit-mib")
        .arg("32");
    let (host, _dir) = probe_host("runaway", options);
    let http = client();

    let looping = http.get(host.url("/loop")).send().unwrap();
    assert_eq!(looping.status(), 500);
    assert!(host.wait_for_log("wall-clock limit", Duration::from_secs(10)));
    assert_eq!(http.get(host.url("/ok")).send().unwrap().status(), 200);

    let hungry = http.get(host.url("/alloc")).send().unwrap();
    assert_eq!(hungry.status(), 500);
    assert!(host.wait_for_log("memory limit of 32 MiB exceeded", Duration::from_secs(10)));
    assert_eq!(http.get(host.url("/ok")).send().unwrap().status(), 200);

    let trapping = http.get(host.url("/trap")).send().unwrap();
    assert_eq!(trapping.status(), 500);
    assert!(host.wait_for_log("trap", Duration::from_secs(10)));
    assert_eq!(http.get(host.url("/ok")).send().unwrap().status(), 200);

    // The error response is in the API's error format.
    let body: serde_json::Value = http.get(host.url("/trap")).send().unwrap().json().unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["error_code"], "INTERNAL_ERROR");
}

/// A loopback server that counts the connections it accepts and answers 204.
fn counting_server() -> (u16, Arc<AtomicUsize>) {
    counting_server_on("127.0.0.1:0").expect("a loopback port")
}

#[test]
fn outbound_requests_reach_only_allowed_origins() {
    let (denied_port, denied_hits) = counting_server();
    let (flag_port, flag_hits) = counting_server();
    let (config_port, config_hits) = counting_server();
    let options = HostOptions::default()
        .arg("--allow-host")
        .arg(format!("127.0.0.1:{flag_port}"))
        .env("CALDAV_URL", format!("http://127.0.0.1:{config_port}/dav/"));
    let (host, _dir) = probe_host("allow-list", options);
    let http = client();
    let fetch = |port: u16| {
        let response = http
            .get(host.url(&format!("/fetch?url=http%3A%2F%2F127.0.0.1%3A{port}%2F")))
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };

    let (status, body) = fetch(denied_port);
    assert_eq!(status, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
    assert_eq!(denied_hits.load(Ordering::SeqCst), 0);
    assert!(host.wait_for_log("outbound request refused", Duration::from_secs(5)));

    assert_eq!(fetch(flag_port), (200, "204".to_string()));
    assert_eq!(flag_hits.load(Ordering::SeqCst), 1);
    assert_eq!(fetch(config_port), (200, "204".to_string()));
    assert_eq!(config_hits.load(Ordering::SeqCst), 1);
}

#[test]
fn with_nothing_configured_nothing_is_reachable() {
    let (port, hits) = counting_server();
    let (host, _dir) = probe_host("allow-nothing", HostOptions::default());
    let response = client()
        .get(host.url(&format!("/fetch?url=http%3A%2F%2F127.0.0.1%3A{port}%2F")))
        .send()
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

/// A plain listener on `addr` that counts its connections and answers 204;
/// `None` when the address cannot be bound here (no IPv6, no privilege).
fn counting_server_on(addr: &str) -> Option<(u16, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind(addr).ok()?;
    let port = listener.local_addr().ok()?.port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            use std::io::Write;
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
    Some((port, accepted))
}

fn fetch_status(host: &Host, url: &str) -> (u16, String) {
    let encoded: String = url
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let response = client()
        .get(host.url(&format!("/fetch?url={encoded}")))
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

/// Invariant: an entry with a port allows that port only, even when it is
/// the scheme's default; an entry without one allows the default port
/// only; IPv6 literals match with or without brackets.
#[test]
fn allow_list_entries_allow_exactly_their_ports() {
    // 127.0.0.80 is loopback; port 80 needs the privilege CI has.
    let default_port = counting_server_on("127.0.0.80:80");
    let (other_port, other_hits) = counting_server_on("127.0.0.80:0").unwrap();
    let v6 = counting_server_on("[::1]:0");
    let mut options = HostOptions::default()
        .arg("--allow-host")
        .arg("http://127.0.0.80:80");
    if let Some((port, _)) = &v6 {
        options = options.arg("--allow-host").arg(format!("[::1]:{port}"));
    }
    let (host, _dir) = probe_host("allow-ports", options);

    let (status, body) = fetch_status(&host, &format!("http://127.0.0.80:{other_port}/"));
    assert_eq!(status, 502, "a port other than the entry's: {body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    assert_eq!(other_hits.load(Ordering::SeqCst), 0);
    match default_port {
        Some((_, hits)) => {
            assert_eq!(fetch_status(&host, "http://127.0.0.80/").0, 200);
            assert_eq!(fetch_status(&host, "http://127.0.0.80:80/").0, 200);
            assert_eq!(hits.load(Ordering::SeqCst), 2);
        }
        None => eprintln!("port 80 cannot be bound here: only the refusal was checked"),
    }
    // The same host under the other scheme has another default port.
    assert_eq!(fetch_status(&host, "https://127.0.0.80/").0, 502);
    if let Some((port, hits)) = v6 {
        assert_eq!(fetch_status(&host, &format!("http://[::1]:{port}/")).0, 200);
        assert_eq!(
            fetch_status(&host, &format!("http://[::1]:{}/", port + 1)).0,
            502
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}

/// Invariant: credentials in an outbound URL's authority are refused
/// before any connection and never logged; an allow-list entry with
/// credentials stops start-up.
#[test]
fn credentials_in_an_outbound_authority_never_leave_the_host() {
    let (port, hits) = counting_server();
    let options = HostOptions::default()
        .arg("--allow-host")
        .arg(format!("127.0.0.1:{port}"));
    let (host, _dir) = probe_host("userinfo", options);
    let (status, body) = fetch_status(
        &host,
        &format!("http://admin:hunter2-secret@127.0.0.1:{port}/"),
    );
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert!(host.wait_for_log("credentials in the URL", Duration::from_secs(5)));
    assert!(!host.log_contains("hunter2"));

    let dir = test_dir("userinfo-flag");
    let refused = Host::start(
        dir.path(),
        &HostOptions::default()
            .component(components::probe())
            .arg("--allow-host")
            .arg("http://admin:hunter2-secret@example.org"),
    );
    let Err(err) = refused else {
        panic!("an allow-list entry with credentials was accepted")
    };
    let message = format!("{err:#}");
    assert!(message.contains("--allow-host"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}
