//! Sync benchmark: `projects` × `items` (default 3 × 200) dated items with
//! descriptions of ~3.5 KB, last edited a minute apart, into Radicale, the fake Plane's 60 requests a
//! minute on, the guest limited to 128 MiB. For each sync it prints wall
//! time, the guest's own duration, Plane requests, CalDAV requests by method,
//! CalDAV bytes and the guest's peak memory (see docs/benchmarks.md).
//!
//! `cargo run --release -p calplanebot-tests --example sync_bench [projects] [items] [planted]`
//!
//! With `planted`, the events are written straight into Radicale's storage
//! (as the service would write them) and the service starts from an empty
//! store: the "lost disk" reconciliation of calendars that are already full,
//! without the hour of PUTs Radicale needs for 20,000 events (it scans every
//! event of a calendar for UID conflicts on each write).

use std::time::{Duration, Instant};

use calplanebot_tests::fake_plane::realistic_description;
use calplanebot_tests::world::{World, uid};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| {
        args.get(i)
            .map(|a| a.parse().expect("a number"))
            .unwrap_or(default)
    };
    let projects = number(0, 3);
    let items = number(1, 200);
    let planted = args.iter().any(|a| a == "planted");
    let mut world = World::start_with_args(
        calplanebot_tests::caldav_server::Kind::Radicale,
        &[],
        &[
            "--memory-limit-mib",
            "128",
            "--background-timeout",
            "3600",
            "--outbound-timeout",
            "600",
        ],
    );
    let plane = world.plane.clone();
    let mut ids: Vec<(String, Vec<String>)> = Vec::new();
    for p in 0..projects {
        let project = plane.add_project(&format!("Project {p}"), &format!("P{p}"));
        ids.push((project, Vec::new()));
    }
    let add = |project: &str| {
        let item = plane.add_item(project, "Prepare the release", Some("2026-06-01"));
        plane.update_item(&item, |it| it.description_html = realistic_description(14));
        item
    };
    if planted {
        // One event per calendar written by the service, the template for
        // the others.
        for (project, list) in &mut ids {
            list.push(add(project));
        }
        let status = world.sync();
        assert_eq!(status["last_sync"]["status"], "success", "{status}");
        for (project, list) in &mut ids {
            let template_id = list[0].clone();
            let (_, template) = world
                .stored_files(project)
                .into_iter()
                .find(|(_, ics)| ics.contains(&uid(&template_id)))
                .expect("the template event");
            let template = template.replace("\r\n ", "").replace("\n ", "");
            let template_sequence = sequence_of(&template_id);
            for _ in 1..items {
                let id = add(project);
                let ics = template.replace(&template_id, &id).replace(
                    &format!("[{template_sequence}]"),
                    &format!("[{}]", sequence_of(&id)),
                );
                world.plant_file(project, &format!("plane-issue-{id}.ics"), &ics);
                list.push(id);
            }
        }
        plane.backdate_items(Duration::from_secs(60));
        world.restart_host_with_an_empty_store();
    } else {
        for (project, list) in &mut ids {
            for _ in 0..items {
                list.push(add(project));
            }
        }
        plane.backdate_items(Duration::from_secs(60));
    }
    println!(
        "{projects} projects × {items} items, Radicale on loopback, Plane at 60 requests/min{}\n",
        if planted {
            ", events planted, empty store"
        } else {
            ""
        }
    );
    println!(
        "| sync | wall time | guest-measured | Plane requests | CalDAV requests by method | CalDAV bytes | guest peak memory |"
    );
    println!("|---|---|---|---|---|---|---|");
    let first = if planted {
        "full, fresh store, calendars full"
    } else {
        "full, into empty calendars"
    };
    let runs = [
        first,
        "next (first listing of new calendars)",
        "no change",
        "after 10 changes",
    ];
    for name in runs {
        if name == "after 10 changes" {
            // Ten items, spread over the projects.
            for n in 0..10 {
                let (_, list) = &ids[n % projects];
                plane.update_item(&list[n / projects], |it| it.name.push_str(" (moved)"));
            }
        }
        world.proxy.reset();
        let plane_before = plane.requests();
        let started = Instant::now();
        let (code, body) = world.trigger();
        assert_eq!(code, 200, "{body}");
        let status = world.wait_until_idle_within(Duration::from_secs(3600));
        let wall = started.elapsed();
        let last = &status["last_sync"];
        let health = world.get_json("/api/v1/health");
        let peak = &health["metrics"]["last_sync_peak_memory_bytes"];
        let counts: Vec<String> = world
            .proxy
            .counts()
            .iter()
            .map(|(method, count)| format!("{method} {count}"))
            .collect();
        println!(
            "| {name} | {:.2} s | {} s | {} | {} (total {}) | {} | {} |",
            wall.as_secs_f64(),
            last["duration_seconds"],
            plane.requests() - plane_before,
            counts.join(", "),
            world.proxy.total(),
            human_bytes(world.proxy.bytes()),
            peak.as_u64()
                .map_or("?".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
        );
        if last["status"] != "success" {
            println!("\n{name}: {} {}", last["status"], last["errors"]);
        }
    }
}

fn sequence_of(item_id: &str) -> u64 {
    item_id
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("ids end with their sequence number")
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / 1048576.0),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
