//! The same service on its two stores, measured in one run: the embedded
//! file store, and Redis (a local `redis-server` with `appendfsync
//! always`, as durable as the file). For each: a first full sync of
//! `projects × items` into Radicale, a sync with nothing to do, webhook
//! latency for `updated` deliveries that change the event (one PUT each)
//! and for duplicate deliveries (no write: store reads and one GET).
//! See docs/benchmarks.md.
//!
//! `cargo run --release -p calplanebot-tests --example store_bench [projects] [items] [webhooks]`

use std::time::{Duration, Instant};

use calplanebot_tests::plane_json::sign;
use calplanebot_tests::redis_server::RedisServer;
use calplanebot_tests::webhook_delivery::{SECRET, ce_body, post};
use calplanebot_tests::world::{Setup, World};

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn deliver(world: &World, id: &str) -> (Duration, String) {
    let body = ce_body("updated", world.plane.webhook_data(id));
    let started = Instant::now();
    let (status, answer, _) = post(world, &body, Some(&sign(SECRET, &body)));
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    (elapsed, answer["result"].as_str().unwrap_or("").to_string())
}

struct Measured {
    first_sync: Duration,
    idle_sync: Duration,
    changed: (Duration, Duration),
    duplicate: (Duration, Duration),
}

fn timed_sync(world: &World) -> Duration {
    let started = Instant::now();
    let status = world.sync();
    let elapsed = started.elapsed();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    elapsed
}

fn measure(setup: Setup, projects: usize, items: usize, webhooks: usize) -> Measured {
    let mut world = setup
        .env("PLANE_WEBHOOK_SECRET", SECRET)
        .env("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "1000000")
        .env("LOG_LEVEL", "INFO")
        .start();
    world.bypass_proxy();
    let mut ids = Vec::new();
    for p in 0..projects {
        let project = world
            .plane
            .add_project(&format!("Project {p}"), &format!("P{p}"));
        for n in 0..items {
            ids.push(
                world
                    .plane
                    .add_item(&project, &format!("Item {n}"), Some("2026-07-01")),
            );
        }
    }
    world.plane.backdate_items(Duration::from_secs(60));
    let first_sync = timed_sync(&world);
    let idle_sync = timed_sync(&world);
    let mut changed = Vec::new();
    let mut duplicate = Vec::new();
    for id in ids.iter().cycle().take(webhooks) {
        world
            .plane
            .update_item(id, |item| item.name = format!("{} ′", item.name));
        let (elapsed, result) = deliver(&world, id);
        assert_eq!(result, "updated");
        changed.push(elapsed);
        let (elapsed, result) = deliver(&world, id);
        assert_eq!(result, "unchanged");
        duplicate.push(elapsed);
    }
    Measured {
        first_sync,
        idle_sync,
        changed: (
            percentile(&mut changed, 0.5),
            percentile(&mut changed, 0.99),
        ),
        duplicate: (
            percentile(&mut duplicate, 0.5),
            percentile(&mut duplicate, 0.99),
        ),
    }
}

fn main() {
    let arg = |n: usize, default: usize| {
        std::env::args()
            .nth(n)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (projects, items, webhooks) = (arg(1, 3), arg(2, 200), arg(3, 200));
    let embedded = measure(Setup::default(), projects, items, webhooks);
    let redis = RedisServer::start().expect("redis-server starts");
    let on_redis = measure(
        Setup::default().arg("--store").arg(&redis.url()),
        projects,
        items,
        webhooks,
    );
    println!(
        "{projects} projects × {items} items into Radicale; {webhooks} webhooks of each kind, one at a time\n"
    );
    println!("| | embedded | Redis | Redis / embedded |");
    println!("|---|---|---|---|");
    let row = |name: &str, a: Duration, b: Duration| {
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.2} |",
            ms(a),
            ms(b),
            b.as_secs_f64() / a.as_secs_f64()
        );
    };
    row("first full sync", embedded.first_sync, on_redis.first_sync);
    row(
        "sync, nothing changed",
        embedded.idle_sync,
        on_redis.idle_sync,
    );
    row(
        "webhook that changes its event, median",
        embedded.changed.0,
        on_redis.changed.0,
    );
    row(
        "webhook that changes its event, p99",
        embedded.changed.1,
        on_redis.changed.1,
    );
    row(
        "duplicate webhook (no write), median",
        embedded.duplicate.0,
        on_redis.duplicate.0,
    );
    row(
        "duplicate webhook (no write), p99",
        embedded.duplicate.1,
        on_redis.duplicate.1,
    );
}
