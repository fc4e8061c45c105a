//! Webhook benchmark: the time from a `created` webhook to the event's PUT
//! completing at Radicale (the service answers after the PUT), against
//! Radicale's own PUT time measured by PUTting directly; then the sustained
//! rate of `updated` webhooks with 8 senders. See docs/benchmarks.md.
//!
//! `cargo run --release -p calplanebot-tests --example webhook_bench [items]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use calplanebot_tests::host::client;
use calplanebot_tests::plane_json::{dumps, sign};
use calplanebot_tests::world::World;
use serde_json::json;

const SECRET: &str = "bench-secret";

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Sends a signed CE webhook for `id` and returns how long the answer took.
fn deliver(world: &World, http: &reqwest::blocking::Client, action: &str, id: &str) -> Duration {
    let body = dumps(
        &json!({"event": "issue", "action": action, "webhook_id": "w", "workspace_id": "ws", "data": world.plane.webhook_data(id), "activity": {}}),
    );
    let started = Instant::now();
    let response = http
        .post(world.host().url("/webhooks/plane"))
        .header("content-type", "application/json")
        .header("x-plane-signature", sign(SECRET, &body))
        .body(body)
        .send()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 200, "{:?}", response.text());
    elapsed
}

fn main() {
    let items: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let mut world = World::start(&[
        ("PLANE_WEBHOOK_SECRET", SECRET),
        ("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "1000000"),
    ]);
    world.bypass_proxy();
    let project = world.plane.add_project("Bench", "BEN");
    world.sync();
    let ids: Vec<String> = (0..items)
        .map(|n| {
            world
                .plane
                .add_item(&project, &format!("Item {n}"), Some("2026-07-01"))
        })
        .collect();

    // Alternate: a webhook, then a direct PUT of a comparable event into the
    // same calendar, so both meet a calendar of the same size (Radicale's
    // PUT cost grows with it).
    let http = client();
    let calendar = world.calendar_path(&project);
    let mut webhook = Vec::new();
    let mut direct = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        webhook.push(deliver(&world, &http, "created", id));
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:direct-{n}@bench\r\nDTSTAMP:20260101T000000Z\r\n\
             DTSTART;VALUE=DATE:20260701\r\nDTEND;VALUE=DATE:20260702\r\nSUMMARY:Direct {n}\r\nDESCRIPTION:Priority: Medium\\nState: Todo\r\n\
             STATUS:CONFIRMED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        let started = Instant::now();
        let status = world.put_event(&format!("{calendar}direct-{n}.ics"), &ics);
        direct.push(started.elapsed());
        assert_eq!(status, 201);
    }

    let (w50, w99) = (
        percentile(&mut webhook, 0.5),
        percentile(&mut webhook, 0.99),
    );
    let (d50, d99) = (percentile(&mut direct, 0.5), percentile(&mut direct, 0.99));
    println!("{items} created webhooks, one at a time, Radicale on loopback\n");
    println!("| | median | p99 |");
    println!("|---|---|---|");
    println!(
        "| webhook → PUT done (service answers after the PUT) | {} | {} |",
        ms(w50),
        ms(w99)
    );
    println!(
        "| Radicale's own PUT (direct) | {} | {} |",
        ms(d50),
        ms(d99)
    );
    println!(
        "| added by the service | {} | |",
        ms(w50.saturating_sub(d50))
    );

    // Sustained: every item renamed, 8 senders at once.
    for id in &ids {
        world
            .plane
            .update_item(id, |item| item.name = format!("{} (renamed)", item.name));
    }
    let world = Arc::new(world);
    let ids = Arc::new(ids);
    let started = Instant::now();
    let senders: Vec<_> = (0..8)
        .map(|t| {
            let (world, ids) = (world.clone(), ids.clone());
            std::thread::spawn(move || {
                let http = client();
                for id in ids.iter().skip(t).step_by(8) {
                    deliver(&world, &http, "updated", id);
                }
            })
        })
        .collect();
    senders.into_iter().for_each(|s| s.join().unwrap());
    let elapsed = started.elapsed();
    println!(
        "\nsustained: {items} `updated` webhooks from 8 senders in {:.2} s = {:.0} webhooks/s, each one PUT",
        elapsed.as_secs_f64(),
        items as f64 / elapsed.as_secs_f64()
    );
}
