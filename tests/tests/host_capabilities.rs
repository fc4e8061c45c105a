//! Storage, configuration, the scheduler, client addresses, logs and
//! shutdown, observed through the probe component.

use std::sync::Arc;
use std::time::{Duration, Instant};

use calplanebot_tests::components;
use calplanebot_tests::host::{Host, HostOptions, client, test_dir};

fn probe() -> HostOptions {
    HostOptions::default().component(components::probe())
}

fn get(host: &Host, path: &str) -> (u16, String) {
    let response = client().get(host.url(path)).send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn post(host: &Host, path: &str, body: &str) -> (u16, String) {
    let response = client()
        .post(host.url(path))
        .body(body.to_string())
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn stored_values_survive_a_restart() {
    let dir = test_dir("kv-restart");
    let host = Host::start(dir.path(), &probe()).unwrap();
    assert_eq!(post(&host, "/kv/set?key=greeting", "hello").0, 200);
    assert_eq!(post(&host, "/kv/incr?key=visits&by=3", "").1, "3");
    host.stop().unwrap();

    let host = Host::start(dir.path(), &probe()).unwrap();
    assert_eq!(get(&host, "/kv/get?key=greeting"), (200, "hello".into()));
    assert_eq!(post(&host, "/kv/incr?key=visits&by=0", "").1, "3");
}

#[test]
fn stored_values_survive_a_killed_host() {
    let dir = test_dir("kv-kill");
    let host = Host::start(dir.path(), &probe()).unwrap();
    assert_eq!(post(&host, "/kv/set?key=k", "durable").0, 200);
    host.signal("KILL");
    drop(host);
    let host = Host::start(dir.path(), &probe()).unwrap();
    assert_eq!(get(&host, "/kv/get?key=k"), (200, "durable".into()));
}

#[test]
fn parallel_increments_from_many_instances_are_exact() {
    let dir = test_dir("kv-incr");
    let host = Arc::new(Host::start(dir.path(), &probe()).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let host = host.clone();
            std::thread::spawn(move || {
                let http = client();
                for _ in 0..40 {
                    let response = http.post(host.url("/kv/incr?key=hits")).send().unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(post(&host, "/kv/incr?key=hits&by=0", "").1, "320");
}

#[test]
fn only_documented_keys_reach_the_guest_and_env_file_changes_apply_without_restart() {
    let dir = test_dir("env-file");
    let env_file = dir.path().join(".env");
    std::fs::write(&env_file, "PLANE_WORKSPACE_SLUG=first\nUNDOCUMENTED=leak\n").unwrap();
    let options = probe().env("CALDAV_USERNAME", "from-process");
    let host = Host::start(dir.path(), &options).unwrap();
    assert_eq!(
        get(&host, "/env?name=PLANE_WORKSPACE_SLUG"),
        (200, "first".into())
    );
    assert_eq!(
        get(&host, "/env?name=CALDAV_USERNAME"),
        (200, "from-process".into())
    );
    assert_eq!(get(&host, "/env?name=UNDOCUMENTED").0, 404);
    assert_eq!(get(&host, "/env?name=PATH").0, 404);

    std::fs::write(&env_file, "PLANE_WORKSPACE_SLUG=second-value\n").unwrap();
    assert_eq!(
        get(&host, "/env?name=PLANE_WORKSPACE_SLUG"),
        (200, "second-value".into())
    );

    // An invalid change is refused and the previous settings stay.
    std::fs::write(
        &env_file,
        "PLANE_WORKSPACE_SLUG=third\nSYNC_INTERVAL_SECONDS=often\n",
    )
    .unwrap();
    assert_eq!(
        get(&host, "/env?name=PLANE_WORKSPACE_SLUG"),
        (200, "second-value".into())
    );
    assert!(host.wait_for_log("SYNC_INTERVAL_SECONDS", Duration::from_secs(5)));
}

#[test]
fn invalid_settings_stop_start_up_naming_the_key_but_not_the_secret() {
    let dir = test_dir("bad-config");
    let options = probe()
        .env("SYNC_INTERVAL_SECONDS", "every-now-and-then")
        .env("CALDAV_URL", "not a url at all")
        .env("CALDAV_PASSWORD", "hunter2-secret");
    let error = Host::start(dir.path(), &options)
        .err()
        .expect("start-up refused");
    let message = error.to_string();
    assert!(message.contains("SYNC_INTERVAL_SECONDS"), "{message}");
    assert!(message.contains("CALDAV_URL"), "{message}");
    assert!(!message.contains("every-now-and-then"));
    assert!(!message.contains("hunter2-secret"));
}

#[test]
fn the_scheduler_marks_its_requests_and_clients_cannot_forge_the_mark() {
    let dir = test_dir("scheduler");
    let options = probe()
        .env("ENABLE_SYNC", "true")
        .env("SYNC_INTERVAL_SECONDS", "1");
    let host = Host::start(dir.path(), &options).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(&host, "/kv/get?key=scheduled");
        if status == 200 && body.parse::<u32>().unwrap_or(0) >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "scheduler did not fire twice");
        std::thread::sleep(Duration::from_millis(100));
    }
    let forged = client()
        .post(host.url("/webhooks/sync"))
        .header("calplanebot-scheduled", "guess")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(forged, "unscheduled");
}

#[test]
fn the_scheduler_is_silent_when_sync_is_disabled() {
    let dir = test_dir("scheduler-off");
    let options = probe()
        .env("ENABLE_SYNC", "false")
        .env("SYNC_INTERVAL_SECONDS", "1");
    let host = Host::start(dir.path(), &options).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(get(&host, "/kv/get?key=scheduled").0, 404);
}

#[test]
fn the_client_address_comes_from_the_socket_not_from_headers() {
    let dir = test_dir("client-addr");
    let host = Host::start(dir.path(), &probe()).unwrap();
    let http = client();
    let ask = |name: &str| {
        let response = http
            .get(host.url(&format!("/headers?name={name}")))
            .header("calplanebot-client-addr", "203.0.113.9")
            .header("spin-client-addr", "203.0.113.9")
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    assert_eq!(ask("calplanebot-client-addr"), (200, "127.0.0.1".into()));
    assert_eq!(ask("spin-client-addr").0, 404);
}

#[test]
fn guest_output_is_logged_tagged() {
    let dir = test_dir("guest-log");
    let host = Host::start(dir.path(), &probe()).unwrap();
    assert_eq!(get(&host, "/log?line=hello+from+the+probe").0, 200);
    assert!(host.wait_for_log("guest: hello from the probe", Duration::from_secs(5)));
}

#[test]
fn shutdown_lets_requests_in_flight_finish() {
    let dir = test_dir("graceful");
    let host = Host::start(dir.path(), &probe()).unwrap();
    let url = host.url("/sleep?ms=1500");
    let in_flight = std::thread::spawn(move || {
        let response = client().get(url).send().unwrap();
        (response.status().as_u16(), response.text().unwrap())
    });
    std::thread::sleep(Duration::from_millis(500));
    let status = host.stop().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(in_flight.join().unwrap(), (200, "slept".into()));
}
