//! Two `calplanebot serve` processes on one real Redis behave as one
//! service: one sync at a time, rate limits counted across them, webhooks
//! split between them applied once, a replica's crash covered by the other,
//! one scheduled sync per interval for the fleet, and a Redis restart under
//! traffic losing nothing that was acknowledged.

use std::time::{Duration, Instant};

use calplanebot_tests::host::{Host, client, test_dir};
use calplanebot_tests::redis_server::RedisServer;
use calplanebot_tests::webhook_delivery::{SECRET, deliver_to, post_to};
use calplanebot_tests::world::{Setup, World, property, uid};

/// A world whose host is the first replica, the second replica, and Redis.
struct Fleet {
    world: World,
    second: Host,
    _second_dir: tempfile::TempDir,
    redis: RedisServer,
}

impl Fleet {
    fn start(env: &[(&str, &str)]) -> Fleet {
        let redis = RedisServer::start().expect("redis-server starts");
        let mut setup = Setup::default()
            .arg("--store")
            .arg(&redis.url())
            .arg("--store-timeout")
            .arg("1")
            .env("PLANE_WEBHOOK_SECRET", SECRET);
        for (key, value) in env {
            setup = setup.env(key, value);
        }
        let world = setup.start();
        let second_dir = test_dir("replica");
        let second = Host::start(second_dir.path(), &world.options).expect("second replica starts");
        Fleet {
            world,
            second,
            _second_dir: second_dir,
            redis,
        }
    }

    fn first(&self) -> &Host {
        self.world.host()
    }

    fn replicas(&self) -> [&Host; 2] {
        [self.first(), &self.second]
    }
}

fn trigger(host: &Host) -> (u16, serde_json::Value) {
    let response = client().post(host.url("/webhooks/sync")).send().unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

fn status(host: &Host) -> serde_json::Value {
    client()
        .get(host.url("/webhooks/status"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn wait_idle(host: &Host) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = status(host);
        if now["status"] != "running" {
            return now;
        }
        assert!(Instant::now() < deadline, "the sync did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Invariant: while one replica's sync runs, the other refuses a trigger
/// with SYNC_IN_PROGRESS naming that sync, sees it in its status, and the
/// calendar ends with each item once.
#[test]
fn concurrent_triggers_on_two_replicas_run_one_sync() {
    let fleet = Fleet::start(&[]);
    let project = fleet.world.plane.add_project("Website", "WEB");
    for n in 0..6 {
        fleet
            .world
            .plane
            .add_item(&project, &format!("Item {n}"), Some("2026-05-01"));
    }
    fleet.world.plane.set_delay(Duration::from_millis(300));
    let (code, started) = trigger(fleet.first());
    assert_eq!(code, 200, "{started}");
    let (code, refused) = trigger(&fleet.second);
    assert_eq!(code, 409, "{refused}");
    assert_eq!(refused["error_code"], "SYNC_IN_PROGRESS");
    assert_eq!(refused["details"]["sync_id"], started["sync_id"]);
    assert_eq!(status(&fleet.second)["status"], "running");
    let done = wait_idle(&fleet.second);
    assert_eq!(done["last_sync"]["status"], "success", "{done}");
    assert_eq!(fleet.world.events(&project).len(), 6);
}

/// Invariant: a burst of webhooks split across both replicas, some for the
/// same item from both at once, leaves every event at its item's newest
/// name, each item once.
#[test]
fn a_webhook_burst_split_across_replicas_is_applied_once() {
    let fleet = Fleet::start(&[("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "10000")]);
    let plane = &fleet.world.plane;
    let project = plane.add_project("Website", "WEB");
    let items: Vec<String> = (0..8)
        .map(|n| plane.add_item(&project, &format!("Item {n}"), Some("2026-05-01")))
        .collect();
    let (code, _) = trigger(fleet.first());
    assert_eq!(code, 200);
    wait_idle(fleet.first());
    for item in &items {
        plane.update_item(item, |i| i.name = format!("Renamed {}", i.id));
    }
    std::thread::scope(|scope| {
        for (n, item) in items.iter().enumerate() {
            let data = plane.webhook_data(item);
            for host in fleet.replicas() {
                let data = data.clone();
                scope.spawn(move || {
                    let (code, body) = deliver_to(host, "updated", data);
                    assert!(code == 200 || code == 202, "item {n}: {code} {body}");
                });
            }
        }
    });
    let events = fleet.world.events(&project);
    assert_eq!(events.len(), items.len(), "one event per item");
    for item in &items {
        let event = fleet.world.event_of(&project, item).expect("event kept");
        let summary = property(&event, "SUMMARY").unwrap();
        assert!(summary.ends_with(&format!("Renamed {item}")), "{summary}");
        assert_eq!(
            events
                .iter()
                .filter(|(_, ics)| ics.contains(&uid(item)))
                .count(),
            1
        );
    }
}

/// Invariant: a rate limit is one budget for the fleet: deliveries
/// alternating between the replicas are refused once their sum passes it.
#[test]
fn a_rate_limit_is_counted_across_replicas() {
    let fleet = Fleet::start(&[("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "4")]);
    let statuses: Vec<u16> = (0..6)
        .map(|n| post_to(fleet.replicas()[n % 2], b"{}", Some("bad")).0)
        .collect();
    assert!(statuses[..4].iter().all(|&s| s != 429), "{statuses:?}");
    assert_eq!(&statuses[4..], &[429, 429], "{statuses:?}");
}

/// Invariant: a replica killed mid-sync blocks the other only until its
/// lease expires; the other then runs the next sync to success, with each
/// item once.
#[test]
fn a_replica_killed_mid_sync_leaves_the_next_sync_to_the_other() {
    let mut fleet = Fleet::start(&[("SYNC_LEASE_SECONDS", "2")]);
    let project = fleet.world.plane.add_project("Website", "WEB");
    for n in 0..6 {
        fleet
            .world
            .plane
            .add_item(&project, &format!("Item {n}"), Some("2026-05-01"));
    }
    fleet.world.plane.set_delay(Duration::from_millis(500));
    let (code, _) = trigger(fleet.first());
    assert_eq!(code, 200);
    assert!(
        fleet
            .first()
            .wait_for_log("Sync started", Duration::from_secs(30))
    );
    fleet.world.host = None;
    let (code, refused) = trigger(&fleet.second);
    assert_eq!(code, 409, "the dead replica's lease still holds: {refused}");
    fleet.world.plane.set_delay(Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(30);
    let started = loop {
        let (code, body) = trigger(&fleet.second);
        if code == 200 {
            break body;
        }
        assert_eq!(body["error_code"], "SYNC_IN_PROGRESS", "{body}");
        assert!(Instant::now() < deadline, "the lease never expired");
        std::thread::sleep(Duration::from_millis(200));
    };
    let done = wait_idle(&fleet.second);
    assert_eq!(done["last_sync"]["status"], "success", "{done} {started}");
    assert_eq!(fleet.world.events(&project).len(), 6);
}

/// Invariant: with both replicas ticking every 2 s, the fleet runs about one
/// scheduled sync per interval, not one per replica.
#[test]
fn the_fleet_runs_one_scheduled_sync_per_interval() {
    let began = Instant::now();
    let mut fleet = Fleet::start(&[("ENABLE_SYNC", "true"), ("SYNC_INTERVAL_SECONDS", "2")]);
    let project = fleet.world.plane.add_project("Website", "WEB");
    fleet
        .world
        .plane
        .add_item(&project, "Item", Some("2026-05-01"));
    std::thread::sleep(Duration::from_secs(10));
    let elapsed = began.elapsed().as_secs_f64();
    let second_started = fleet
        .second
        .log()
        .iter()
        .filter(|l| l.contains("Sync started"))
        .count();
    let first = fleet.world.host.take().unwrap();
    let first_started = first
        .log()
        .iter()
        .filter(|l| l.contains("Sync started"))
        .count();
    let total = first_started + second_started;
    // Counted from before either host started; one sync per interval per
    // replica would be about twice as many.
    let intervals = (elapsed / 2.0).ceil() as usize + 1;
    assert!(
        total >= 2,
        "the scheduler runs: {first_started} + {second_started}"
    );
    assert!(
        total <= intervals + 1,
        "{first_started} + {second_started} syncs in {elapsed:.1} s"
    );
    drop(first);
}

/// Invariants: while Redis is down, webhooks and triggers are refused with
/// 503 in the error format and `/api/v1/health` says the store is
/// unavailable; every webhook answered 2xx before, during or after is in
/// the calendar; once Redis is back, both replicas serve again by
/// themselves.
#[test]
fn redis_restarted_under_traffic_loses_nothing_that_was_acknowledged() {
    let mut fleet = Fleet::start(&[("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "10000")]);
    let plane = &fleet.world.plane;
    let project = plane.add_project("Website", "WEB");
    let items: Vec<String> = (0..24)
        .map(|n| plane.add_item(&project, &format!("Item {n}"), Some("2026-05-01")))
        .collect();
    let (code, _) = trigger(fleet.first());
    assert_eq!(code, 200);
    wait_idle(fleet.first());

    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for (n, item) in items.iter().enumerate() {
        if n == 8 {
            fleet.redis.stop();
            let health = client()
                .get(fleet.second.url("/api/v1/health"))
                .send()
                .unwrap();
            assert_eq!(health.status(), 503);
            let health: serde_json::Value = health.json().unwrap();
            assert_eq!(health["store"], "unavailable", "{health}");
            let (code, body) = trigger(fleet.first());
            assert_eq!(
                (code, body["error_code"].as_str()),
                (503, Some("SERVICE_UNAVAILABLE"))
            );
        }
        if n == 16 {
            fleet.redis.restart().expect("redis-server restarts");
        }
        plane.update_item(item, |i| i.name = format!("Changed {}", i.id));
        let host = fleet.replicas()[n % 2];
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (code, body) = deliver_to(host, "updated", plane.webhook_data(item));
            match code {
                200 | 202 => {
                    acknowledged.push(item.clone());
                    break;
                }
                503 => {
                    assert_eq!(body["error_code"], "SERVICE_UNAVAILABLE", "{body}");
                    refused += 1;
                    // During the outage a refusal is the answer; after it,
                    // the replica must come back by itself.
                    if n < 16 || Instant::now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => panic!("item {n}: {other} {body}"),
            }
        }
    }
    assert!(refused >= 8, "the outage was seen: {refused} refusals");
    for item in &items[16..] {
        assert!(
            acknowledged.contains(item),
            "after the restart {item} was taken"
        );
    }
    for item in &acknowledged {
        let event = fleet.world.event_of(&project, item).expect("event kept");
        let summary = property(&event, "SUMMARY").unwrap();
        assert!(
            summary.ends_with(&format!("Changed {item}")),
            "{item}: {summary}"
        );
    }
    // Nothing was lost for good either: a sync brings the refused ones.
    let (code, _) = trigger(&fleet.second);
    assert_eq!(code, 200);
    assert_eq!(wait_idle(&fleet.second)["last_sync"]["status"], "success");
    assert_eq!(fleet.world.events(&project).len(), items.len());
}
