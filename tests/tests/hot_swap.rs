//! Swapping the guest under load: no request fails, both versions answer,
//! and a torn file is rejected while the old version keeps serving.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use calplanebot_tests::components;
use calplanebot_tests::host::{Host, HostOptions, client, test_dir};
use serde_json::Value;

/// Replaces the file in one step, as a build or deploy does.
fn install(source: &Path, target: &Path) {
    let partial = target.with_extension("partial");
    std::fs::copy(source, &partial).unwrap();
    std::fs::rename(&partial, target).unwrap();
}

fn version(host: &Host) -> String {
    let info: Value = client().get(host.url("/")).send().unwrap().json().unwrap();
    info["version"].as_str().unwrap().to_string()
}

fn wait_for_version(host: &Host, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while version(host) != wanted {
        assert!(Instant::now() < deadline, "{wanted} never served");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn swaps_under_concurrent_load_without_a_failed_request() {
    let dir = test_dir("swap-load");
    let live = dir.path().join("guest.wasm");
    install(&components::guest_a(), &live);
    let host = Arc::new(Host::start(dir.path(), &HostOptions::default().component(&live)).unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let seen_a = Arc::new(AtomicUsize::new(0));
    let seen_b = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (host, stop, failures, served, seen_a, seen_b) = (
                host.clone(),
                stop.clone(),
                failures.clone(),
                served.clone(),
                seen_a.clone(),
                seen_b.clone(),
            );
            std::thread::spawn(move || {
                let http = client();
                while !stop.load(Ordering::Relaxed) {
                    match http.get(host.url("/")).send() {
                        Ok(response) if response.status() == 200 => {
                            let info: Value = response.json().unwrap();
                            match info["version"].as_str().unwrap() {
                                v if v.ends_with("swap-a") => {
                                    seen_a.fetch_add(1, Ordering::Relaxed)
                                }
                                v if v.ends_with("swap-b") => {
                                    seen_b.fetch_add(1, Ordering::Relaxed)
                                }
                                other => panic!("unexpected version {other}"),
                            };
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();

    for round in 0..6 {
        let (next, label) = if round % 2 == 0 {
            (components::guest_b(), "0.1.0+swap-b")
        } else {
            (components::guest_a(), "0.1.0+swap-a")
        };
        install(&next, &live);
        wait_for_version(&host, label);
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    eprintln!(
        "served {} requests: {} from a, {} from b",
        served.load(Ordering::Relaxed),
        seen_a.load(Ordering::Relaxed),
        seen_b.load(Ordering::Relaxed)
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert!(seen_a.load(Ordering::Relaxed) > 0);
    assert!(seen_b.load(Ordering::Relaxed) > 0);
    assert!(host.wait_for_log("component swapped", Duration::from_secs(5)));
}

#[test]
fn torn_or_invalid_files_are_rejected_and_the_old_version_keeps_serving() {
    let dir = test_dir("swap-torn");
    let live = dir.path().join("guest.wasm");
    install(&components::guest_a(), &live);
    let host = Host::start(dir.path(), &HostOptions::default().component(&live)).unwrap();
    assert_eq!(version(&host), "0.1.0+swap-a");

    // Half of a valid component, written in place: a torn copy.
    let b = std::fs::read(components::guest_b()).unwrap();
    std::fs::write(&live, &b[..b.len() / 2]).unwrap();
    assert!(host.wait_for_log("component rejected", Duration::from_secs(30)));
    for _ in 0..20 {
        assert_eq!(version(&host), "0.1.0+swap-a");
    }

    // A valid component whose imports this host cannot satisfy.
    let count = host
        .log()
        .iter()
        .filter(|l| l.contains("component rejected"))
        .count();
    let unlinkable = wat_component_importing_unknown_interface();
    std::fs::write(&live, unlinkable).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while host
        .log()
        .iter()
        .filter(|l| l.contains("component rejected"))
        .count()
        == count
    {
        assert!(
            Instant::now() < deadline,
            "unlinkable component not rejected"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(host.wait_for_log("imports this host cannot provide", Duration::from_secs(5)));
    assert_eq!(version(&host), "0.1.0+swap-a");

    // Completing the write brings the new version in.
    install(&components::guest_b(), &live);
    wait_for_version(&host, "0.1.0+swap-b");

    // SIGHUP with an unchanged file reloads from the cache: no compile.
    let compiles = host
        .log()
        .iter()
        .filter(|l| l.contains("component compiled"))
        .count();
    host.signal("HUP");
    assert!(host.wait_for_log(
        "reload requested; component unchanged",
        Duration::from_secs(30)
    ));
    // Swapping back to a version compiled before reuses its compiled code.
    install(&components::guest_a(), &live);
    wait_for_version(&host, "0.1.0+swap-a");
    let compiles_after = host
        .log()
        .iter()
        .filter(|l| l.contains("component compiled"))
        .count();
    assert_eq!(
        compiles, compiles_after,
        "a known component was compiled again"
    );
}

/// A valid component importing an interface no host provides.
fn wat_component_importing_unknown_interface() -> Vec<u8> {
    wat::parse_str(r#"(component (import "example:missing/thing" (instance (export "f" (func)))))"#)
        .unwrap()
}
