//! The host's door, through real sockets: connections that send nothing,
//! heads sent a byte at a time, bodies that never come, a flood of clients
//! against a few instances, proxies and forged addresses, HTTPS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use calplanebot_tests::components;
use calplanebot_tests::host::{Host, HostOptions, client, probe_host, test_dir};
use calplanebot_tests::webhook_delivery::{SECRET, deliver};
use calplanebot_tests::world::Setup;

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection; what it sent.
fn read_until_closed(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// A request head announcing a body that is never sent.
fn stalled_body(addr: SocketAddr, path: &str, extra_headers: &str) -> TcpStream {
    let mut stream = connect(addr);
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: calplanebot\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: 1000\r\n\r\n"
    )
    .unwrap();
    stream
}

/// The test process holds every connection it opens.
fn raise_own_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised).expect("soft limit raised to the hard one");
}

/// Invariant: connections that send nothing and bodies that never come,
/// more than systemd's default of 1024 descriptors allows, neither exhaust
/// the descriptors nor hold instances: another client's `/health` and a
/// signed webhook are answered, and the webhook is applied.
#[test]
fn a_thousand_idle_connections_and_a_hundred_stalled_bodies_starve_no_one() {
    raise_own_descriptor_limit();
    let w = Setup::default()
        .env("PLANE_WEBHOOK_SECRET", SECRET)
        .env("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "10000")
        .arg("--max-instances")
        .arg("8")
        // Long enough that only the cap, not a timeout, can free anything.
        .arg("--idle-timeout")
        .arg("600")
        .arg("--header-timeout")
        .arg("600")
        .arg("--body-timeout")
        .arg("600")
        .nofile(1024)
        .start();
    let project = w.plane.add_project("Website", "WEB");
    w.sync();
    let addr = w.host().addr;
    let idle: Vec<TcpStream> = (0..1000).map(|_| connect(addr)).collect();
    let stalled: Vec<TcpStream> = (0..100)
        .map(|_| stalled_body(addr, "/webhooks/plane", ""))
        .collect();
    // The service is reachable, the guest answers, and a webhook is applied.
    let health = client().get(w.host().url("/health")).send().unwrap();
    assert_eq!(health.status(), 200);
    let item = w.plane.add_item(&project, "Launch", Some("2026-02-14"));
    let (status, body) = deliver(&w, "created", w.plane.webhook_data(&item));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "processed");
    assert!(w.event_of(&project, &item).is_some());
    assert!(
        w.host().wait_for_log(
            "connection limit of 768 reached (--max-connections)",
            Duration::from_secs(5)
        ),
        "the cap (1024 less 256 kept for outbound requests) was reached and said so"
    );
    assert!(!w.host().log_contains("Too many open files"));
    drop((idle, stalled));
}

/// Invariant: a connection idle between requests, or whose head is not
/// complete, is closed once its timeout has passed.
#[test]
fn idle_connections_and_slow_heads_are_closed_after_their_timeouts() {
    let options = HostOptions::default()
        .arg("--idle-timeout")
        .arg("1")
        .arg("--header-timeout")
        .arg("2");
    let (host, _dir) = probe_host("idle", options);

    let mut silent = connect(host.addr);
    assert_eq!(
        read_until_closed(&mut silent).unwrap(),
        "",
        "closed, nothing sent"
    );

    let mut slow = connect(host.addr);
    slow.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    // Past the idle timeout but inside the header timeout: still open.
    slow.write_all(b"X-Slow: 1\r\n").unwrap();
    assert_eq!(read_until_closed(&mut slow).unwrap(), "", "closed mid-head");

    let mut kept_alive = connect(host.addr);
    kept_alive
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut kept_alive).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, body) = answer.split_once("\r\n\r\n").expect("a whole head");
    assert!(
        body.contains("ok"),
        "answered, then closed when idle: {answer}"
    );
}

/// Invariant: a client still sending its body holds a connection, never
/// an instance, and is answered 408 at the body deadline.
#[test]
fn stalled_bodies_hold_no_instance_and_time_out_with_408() {
    let options = HostOptions::default()
        .arg("--max-instances")
        .arg("2")
        .arg("--body-timeout")
        .arg("3");
    let (host, _dir) = probe_host("stalled", options);
    let mut stalled: Vec<TcpStream> = (0..20)
        .map(|_| stalled_body(host.addr, "/kv/set?key=x", ""))
        .collect();
    for _ in 0..5 {
        let response = client().get(host.url("/ok")).send().unwrap();
        assert_eq!(response.status(), 200);
    }
    let answer = read_until_closed(&mut stalled[0]).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains(r#""error_code":"REQUEST_TIMEOUT""#),
        "{answer}"
    );

    // Over the size limit: refused from the head, before any byte of body.
    let mut large = connect(host.addr);
    large
        .write_all(b"POST /kv/set?key=y HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut large).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
}

/// Invariant: under saturation every answer is a 200 or a 503 in the error
/// format; no request finds the pool full after its permit was granted.
#[test]
fn saturation_gives_only_200s_and_well_formed_503s() {
    let options = HostOptions::default()
        .arg("--max-instances")
        .arg("4")
        .arg("--request-timeout")
        .arg("2");
    let (host, _dir) = probe_host("saturation", options);
    let url = host.url("/sleep?ms=2");
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let http = client();
                let mut seen = Vec::new();
                for _ in 0..25 {
                    let response = http.get(&url).send().unwrap();
                    let status = response.status().as_u16();
                    if status == 503 {
                        assert_eq!(response.headers()["retry-after"], "1");
                    }
                    let body = response.text().unwrap();
                    seen.push((status, body));
                }
                seen
            })
        })
        .collect();
    let mut ok = 0;
    for thread in threads {
        for (status, body) in thread.join().unwrap() {
            match status {
                200 => ok += 1,
                503 => {
                    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(json["error_code"], "SERVICE_UNAVAILABLE");
                    assert_eq!(json["status"], "error");
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
    }
    assert!(ok > 0);
    assert!(!host.log_contains("instance limit"));
}

fn client_addr_seen(host: &Host, forwarded_for: Option<&str>) -> String {
    let mut request = client().get(host.url("/headers?name=calplanebot-client-addr"));
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().unwrap().text().unwrap()
}

/// Invariant: a forwarded address is believed from a trusted proxy only,
/// and the rightmost untrusted hop is the client.
#[test]
fn the_client_address_comes_through_trusted_proxies_only() {
    let (direct, _d1) = probe_host("untrusted", HostOptions::default());
    assert_eq!(client_addr_seen(&direct, Some("198.51.100.7")), "127.0.0.1");

    let trusted = HostOptions::default()
        .arg("--trusted-proxy")
        .arg("127.0.0.0/8");
    let (proxied, _d2) = probe_host("trusted", trusted);
    assert_eq!(
        client_addr_seen(&proxied, Some("6.6.6.6, 198.51.100.7")),
        "198.51.100.7"
    );
    assert_eq!(client_addr_seen(&proxied, None), "127.0.0.1");
    let forwarded = client()
        .get(proxied.url("/headers?name=calplanebot-client-addr"))
        .header("forwarded", r#"for="[2001:db8::7]:4711""#)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(forwarded, "2001:db8::7");
}

/// Invariant: with `WEBHOOK_SOURCE_IPS` set, a delivery from elsewhere is
/// refused 403 from its head, before its body is read; one from a listed
/// address reaches the guest.
#[test]
fn webhooks_from_unlisted_sources_are_refused_before_their_body() {
    let options = HostOptions::default()
        .arg("--trusted-proxy")
        .arg("127.0.0.1")
        .arg("--body-timeout")
        .arg("60")
        .env("WEBHOOK_SOURCE_IPS", "198.51.100.0/24, 2001:db8::1");
    let (host, _dir) = probe_host("sources", options);
    let mut refused = stalled_body(
        host.addr,
        "/webhooks/plane",
        "X-Forwarded-For: 203.0.113.9\r\n",
    );
    let mut answer = [0u8; 512];
    let read = refused.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains(r#""error_code":"FORBIDDEN""#), "{answer}");
    assert!(host.wait_for_log("not in WEBHOOK_SOURCE_IPS", Duration::from_secs(5)));

    // The probe has no webhook route: its 404 shows the host let it through.
    let listed = client()
        .post(host.url("/webhooks/plane"))
        .header("x-forwarded-for", "198.51.100.7")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(listed.status(), 404);
    // Other routes are not concerned.
    let other = client()
        .get(host.url("/ok"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .unwrap();
    assert_eq!(other.status(), 200);
}

struct Certificate {
    cert_pem: String,
    key_pem: String,
}

fn certificate() -> Certificate {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    Certificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn https_client(trusting: &Certificate, http1_only: bool) -> reqwest::blocking::Client {
    let root = reqwest::Certificate::from_pem(trusting.cert_pem.as_bytes()).unwrap();
    let mut builder = reqwest::blocking::Client::builder()
        .no_proxy()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .timeout(Duration::from_secs(10));
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

/// Invariant: HTTPS is served with HTTP/2 and HTTP/1.1 by ALPN, the guest
/// sees the `https` scheme, and a renewed certificate is served without a
/// restart.
#[test]
fn https_with_alpn_and_certificates_reloaded_when_renewed() {
    let dir = test_dir("tls");
    let first = certificate();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &first.cert_pem).unwrap();
    std::fs::write(&key_path, &first.key_pem).unwrap();
    let options = HostOptions::default()
        .component(components::probe())
        .arg("--tls-cert")
        .arg(cert_path.display().to_string())
        .arg("--tls-key")
        .arg(key_path.display().to_string());
    let host = Host::start(dir.path(), &options).unwrap();
    assert!(host.log_contains("listening on https://"));
    let url = format!("https://localhost:{}/scheme", host.addr.port());

    let h2 = https_client(&first, false).get(&url).send().unwrap();
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(h2.text().unwrap(), "https");
    let h1 = https_client(&first, true).get(&url).send().unwrap();
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert_eq!(h1.text().unwrap(), "https");
    // Plain HTTP on the TLS port is not served.
    assert!(client().get(host.url("/ok")).send().is_err());

    let renewed = certificate();
    std::fs::write(&key_path, &renewed.key_pem).unwrap();
    std::fs::write(&cert_path, &renewed.cert_pem).unwrap();
    assert!(host.wait_for_log("TLS certificate reloaded", Duration::from_secs(30)));
    let after = https_client(&renewed, false).get(&url).send().unwrap();
    assert_eq!(after.text().unwrap(), "https");
    assert!(
        https_client(&first, false).get(&url).send().is_err(),
        "the old certificate is no longer served"
    );
}

/// Invariant: a guest that drops its response is answered at once, not
/// after it stops; and a short background limit never cuts a body short.
#[test]
fn each_time_limit_means_what_its_name_says() {
    let options = HostOptions::default()
        .arg("--request-timeout")
        .arg("20")
        .arg("--background-timeout")
        .arg("1");
    let (host, _dir) = probe_host("limits", options);
    // The body comes 1.5 s after the head: inside the request limit, past
    // the background one.
    let body = client()
        .get(host.url("/slow-body?ms=1500"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "the whole body");

    let started = std::time::Instant::now();
    let dropped = client()
        .get(host.url("/drop-response?ms=15000"))
        .send()
        .unwrap();
    assert_eq!(dropped.status(), 500);
    let waited = started.elapsed();
    // Compared with the guest's own 15 s of work, not with a clock budget.
    assert!(
        waited < Duration::from_millis(15_000),
        "answered {waited:?} after, while the guest still worked"
    );
}
