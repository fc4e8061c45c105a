//! `calplanebot sync`: one full sync in the foreground with its progress,
//! exit 0 on success; refused while a `serve` holds the embedded store
//! (saying how to ask it instead) and while a sync runs elsewhere on the
//! shared Redis; `/webhooks/status` shows the running sync's progress.

use std::time::{Duration, Instant};

use calplanebot_tests::host::{client, run_command, test_dir};
use calplanebot_tests::redis_server::RedisServer;
use calplanebot_tests::world::{Setup, World};

fn add_items(world: &World, project: &str, count: usize) {
    for n in 0..count {
        world
            .plane
            .add_item(project, &format!("Item {n}"), Some("2027-03-01"));
    }
}

/// Invariant: the command syncs every item (exit 0, the outcome printed),
/// shows its progress as plain lines when not on a terminal, and is
/// refused with instructions while `serve` holds the same store file.
#[test]
fn a_foreground_sync_shows_progress_and_refuses_a_store_that_serve_holds() {
    let world = Setup::default().env("PLANE_PAGE_SIZE", "20").start();
    let first = world.plane.add_project("Website", "WEB");
    let second = world.plane.add_project("Mobile app", "MOB");
    add_items(&world, &first, 60);
    add_items(&world, &second, 30);
    // Slow enough that progress is seen before the end.
    world.plane.set_delay(Duration::from_millis(150));

    let dir = test_dir("sync-command");
    let run = run_command(dir.path(), &world.options, &["sync"]);
    assert_eq!(run.status.code(), Some(0), "{}", run.all());
    assert!(run.stdout.contains("Sync success"), "{}", run.all());
    assert!(run.stdout.contains("90 events processed"), "{}", run.all());
    let progress: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with('[') && l.contains("projects "))
        .collect();
    assert!(!progress.is_empty(), "progress lines: {}", run.all());
    assert!(
        progress.iter().all(|l| !l.contains('\r')),
        "plain lines off a terminal"
    );
    assert!(
        progress
            .iter()
            .any(|l| l.contains("items ") && l.contains("/2")),
        "{progress:?}"
    );
    assert_eq!(world.events(&first).len(), 60);
    assert_eq!(world.events(&second).len(), 30);

    // The world's own host holds its store file.
    let held = run_command(world.dir.path(), &world.options, &["sync"]);
    assert_eq!(held.status.code(), Some(1), "{}", held.all());
    assert!(
        held.stderr.contains("serve") && held.stderr.contains("/webhooks/sync"),
        "{}",
        held.all()
    );
}

/// Invariant: on a shared Redis the command takes the same lease as
/// `serve` (refused while a sync runs, exit 1), and the running sync's
/// progress is in `/webhooks/status` for every replica to show.
#[test]
fn on_redis_the_command_shares_the_lease_and_the_progress() {
    let redis = RedisServer::start().expect("redis-server starts");
    let world = Setup::default()
        .arg("--store")
        .arg(&redis.url())
        .env("PLANE_PAGE_SIZE", "10")
        .start();
    let project = world.plane.add_project("Website", "WEB");
    // Ten pages, each slow: the sync outlasts the command's start-up.
    add_items(&world, &project, 100);
    world.plane.set_delay(Duration::from_millis(800));
    let (status, body) = world.trigger();
    assert_eq!(status, 200, "{body}");

    let deadline = Instant::now() + Duration::from_secs(60);
    let progress = loop {
        let status = world.get_json("/webhooks/status");
        if status["progress"]["items_done"].as_u64().unwrap_or(0) > 0 {
            break status["progress"].clone();
        }
        assert!(Instant::now() < deadline, "no progress shown: {status}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(progress["sync_id"], body["sync_id"]);
    assert_eq!(progress["projects_total"], 1);
    assert_eq!(progress["phase"], "projects");
    assert!(progress["started_at"].as_str().unwrap().ends_with('Z'));

    let dir = test_dir("sync-command-redis");
    let refused = run_command(dir.path(), &world.options, &["sync"]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.all());
    assert!(
        refused.stderr.contains("already running"),
        "{}",
        refused.all()
    );

    let done = world.wait_until_idle();
    assert!(done["progress"].is_null(), "{done}");
    world.plane.set_delay(Duration::ZERO);
    let run = run_command(dir.path(), &world.options, &["sync"]);
    assert_eq!(run.status.code(), Some(0), "{}", run.all());
    assert!(run.stdout.contains("Sync success"), "{}", run.all());
    // The serve process sees the command's sync as the last one.
    let status: serde_json::Value = client()
        .get(world.host().url("/webhooks/status"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["last_sync"]["status"], "success");
}
