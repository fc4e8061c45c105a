//! The guest's `wasmtime-serve` build under `wasmtime serve` 48 itself,
//! against the fake Plane and Radicale: a host whose keyvalue store forgets
//! everything between requests and which has no timer. Secrets reach the
//! guest through `wasi:config` (`-S config-var`), the rest through `--env`.
//! Runs when `wasmtime` 48 is installed (`.ci/run` installs it).

use std::time::{Duration, Instant};

use serde_json::Value;

use calplanebot_tests::host::client;
use calplanebot_tests::plane_json::sign;
use calplanebot_tests::wasmtime_cli;
use calplanebot_tests::webhook_delivery::{SECRET, ce_body, post};
use calplanebot_tests::world::{Server, Setup, World, property};

const TOKEN: &str = "management-token-for-wasmtime";

fn world() -> World {
    Setup::default()
        .env("PLANE_WEBHOOK_SECRET", SECRET)
        .env("CALPLANEBOT_API_TOKEN", TOKEN)
        .server(Server::WasmtimeServe {
            config: [
                "PLANE_API_TOKEN",
                "CALDAV_PASSWORD",
                "PLANE_WEBHOOK_SECRET",
                "CALPLANEBOT_API_TOKEN",
            ]
            .map(str::to_string)
            .to_vec(),
        })
        .start()
}

/// Triggers a sync with the management token and waits for the guest to
/// log its end (`/webhooks/status` cannot say: nothing outlives a request).
fn sync(world: &World) {
    let done_before = completed(world);
    let response = client()
        .post(world.host().url("/webhooks/sync"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "triggered", "{body}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while completed(world) == done_before {
        assert!(
            Instant::now() < deadline,
            "the sync did not finish: {:?}",
            world.host().log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn completed(world: &World) -> usize {
    world
        .host()
        .log()
        .iter()
        .filter(|line| line.contains("Sync completed"))
        .count()
}

/// Invariants: under `wasmtime serve` every endpoint answers; the detailed
/// health says which guarantees are off; a full sync fills the calendars;
/// a second one, with no state kept between them, recovers what it needs
/// from the events (content hash, version) and writes nothing; a signed
/// webhook updates its one event within its request.
#[test]
fn the_wasmtime_serve_build_syncs_under_wasmtime_serve() {
    if !wasmtime_cli::available("the_wasmtime_serve_build_syncs_under_wasmtime_serve") {
        return;
    }
    let w = world();
    let web = w.plane.add_project("Website", "WEB");
    let ops = w.plane.add_project("Ops", "OPS");
    let landing = w
        .plane
        .add_item(&web, "Ship the landing page", Some("2026-12-31"));
    w.plane.add_item(&web, "Plan Q1", Some("2027-01-15"));
    w.plane.add_item(&web, "Someday", None);
    w.plane.add_item(&ops, "Rotate keys", Some("2027-04-30"));

    let health = client().get(w.host().url("/health")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let detailed: Value = client()
        .get(w.host().url("/api/v1/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(detailed["status"], "healthy", "{detailed}");
    assert_eq!(
        detailed["guarantees_off"],
        serde_json::json!([
            "durable_queue",
            "cross_instance_lease",
            "rate_limit_counters",
            "metrics_across_requests"
        ]),
        "{detailed}"
    );
    assert_eq!(detailed["guarantees"]["durable_queue"], false);
    assert!(
        detailed["guarantees_note"]
            .as_str()
            .is_some_and(|note| note.contains("keeps nothing between requests")),
        "{detailed}"
    );
    // The token came through wasi:config: without it, 401.
    let refused = client()
        .post(w.host().url("/webhooks/sync"))
        .send()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);

    w.proxy.reset();
    sync(&w);
    assert_eq!(w.events(&web).len(), 2, "{:?}", w.events(&web));
    assert_eq!(w.events(&ops).len(), 1);
    assert_eq!(w.proxy.count("PUT"), 3);

    // Nothing was kept since: the events themselves say they are current.
    w.proxy.reset();
    sync(&w);
    assert_eq!(w.proxy.writes(), 0, "{:?}", w.proxy.requests());
    assert_eq!(w.events(&web).len(), 2);

    w.plane.update_item(&landing, |item| {
        item.name = "Ship the new landing page".into()
    });
    let body = ce_body("updated", w.plane.webhook_data(&landing));
    let (status, answer, _) = post(&w, &body, Some(&sign(SECRET, &body)));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "processed", "{answer}");
    assert_eq!(answer["result"], "updated", "{answer}");
    let event = w.event_of(&web, &landing).expect("the event is there");
    assert!(
        property(&event, "SUMMARY").is_some_and(|s| s.contains("Ship the new landing page")),
        "{event}"
    );
    // A delivery with a wrong signature is refused: the secret came
    // through wasi:config too.
    let (status, _, _) = post(&w, &body, Some(&sign("not-the-secret", &body)));
    assert_eq!(status, 401);
}
