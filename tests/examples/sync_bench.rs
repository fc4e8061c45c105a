//! Sync benchmark: 3 projects × 200 items into Radicale on loopback, a full
//! sync into empty calendars, then a sync with no change. Prints wall time
//! and CalDAV requests by method for each (see docs/benchmarks.md).
//!
//! `cargo run --release -p calplanebot-tests --example sync_bench [projects] [items]`

use std::time::Instant;

use calplanebot_tests::world::World;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let projects = args.next().unwrap_or(3);
    let items = args.next().unwrap_or(200);
    let world = World::start(&[]);
    for p in 0..projects {
        let project = world
            .plane
            .add_project(&format!("Project {p}"), &format!("P{p}"));
        for n in 0..items {
            let date = format!("2026-{:02}-{:02}", n % 12 + 1, n % 28 + 1);
            world
                .plane
                .add_item(&project, &format!("Item {n} of project {p}"), Some(&date));
        }
    }
    println!("{projects} projects × {items} items, Radicale on loopback\n");
    println!("| sync | wall time | guest-measured | CalDAV requests by method | Plane requests |");
    println!("|---|---|---|---|---|");
    for name in ["full, into empty calendars", "no change"] {
        world.proxy.reset();
        let plane_before = world.plane.requests();
        let started = Instant::now();
        let status = world.sync();
        let wall = started.elapsed();
        assert_eq!(status["last_sync"]["status"], "success", "{status}");
        let counts: Vec<String> = world
            .proxy
            .counts()
            .iter()
            .map(|(method, count)| format!("{method} {count}"))
            .collect();
        println!(
            "| {name} | {:.2} s | {} s | {} (total {}) | {} |",
            wall.as_secs_f64(),
            status["last_sync"]["duration_seconds"],
            counts.join(", "),
            world.proxy.total(),
            world.plane.requests() - plane_before
        );
    }
}
