//! `GET /status` in a real headless Chromium at a phone's width, and the
//! warning that Plane's webhook stopped delivering, from changes synced
//! without their webhooks.

use calplanebot_tests::chromium;
use calplanebot_tests::host::{client, target_dir};
use calplanebot_tests::webhook_delivery::{deliver, world};

/// Invariant: the page renders without scripts, shows every synced
/// project with its calendar name and event count, and its screenshot is
/// kept for people under `target/`.
#[test]
fn the_status_page_renders_a_real_sync_in_a_browser() {
    let world = world(&[]);
    let website = world.plane.add_project("Website", "WEB");
    let mobile = world.plane.add_project("Mobile <app>", "MOB");
    world.plane.add_item(&website, "Launch", Some("2027-01-15"));
    world.plane.add_item(&website, "Party", Some("2027-01-16"));
    world.plane.add_item(&mobile, "Beta", Some("2027-02-01"));
    world.sync();

    let response = client().get(world.host().url("/status")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().unwrap();
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "self-contained"
    );
    assert!(!html.contains(calplanebot_tests::fake_plane::TOKEN));

    let Some(browser) = chromium::binary() else {
        return;
    };
    let url = world.host().url("/status");
    let dom = chromium::run(&browser, &["--dump-dom".to_string()], &url);
    for text in [
        "Plane: Website",
        "Plane: Mobile &lt;app&gt;",
        "success",
        "Projects (2)",
    ] {
        assert!(dom.contains(text), "{text} not on the page: {dom}");
    }
    let row = dom
        .split("<tr>")
        .find(|row| row.contains("Plane: Website"))
        .unwrap();
    assert!(row.contains("<td>2</td>"), "two events: {row}");
    let shot = target_dir().join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium::run(
        &browser,
        &[format!("--screenshot={}", shot.display())],
        &url,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    eprintln!("status page screenshot: {}", shot.display());
}

/// Invariant: with CALPLANEBOT_API_TOKEN set the page asks for it (401
/// with a Basic challenge, no project named) and opens with it as the
/// Basic password or the cookie.
#[test]
fn the_status_page_asks_for_the_token() {
    let world = world(&[("CALPLANEBOT_API_TOKEN", "page-token-42")]);
    let project = world.plane.add_project("Secret roadmap", "SEC");
    world
        .plane
        .add_item(&project, "Acquire", Some("2027-01-15"));
    let (status, _) = world_trigger(&world);
    assert_eq!(status, 200);
    let refused = client().get(world.host().url("/status")).send().unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert!(!refused.text().unwrap().contains("Secret roadmap"));
    let wrong = client()
        .get(world.host().url("/status"))
        .basic_auth("ops", Some("guess"))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let basic = client()
        .get(world.host().url("/status"))
        .basic_auth("ops", Some("page-token-42"))
        .send()
        .unwrap();
    assert_eq!(basic.status(), 200);
    let cookie = client()
        .get(world.host().url("/status"))
        .header("cookie", "theme=dark; calplanebot_token=page-token-42")
        .send()
        .unwrap();
    assert_eq!(cookie.status(), 200);
    assert!(cookie.text().unwrap().contains("Secret roadmap"));
}

fn world_trigger(world: &calplanebot_tests::world::World) -> (u16, serde_json::Value) {
    let response = client()
        .post(world.host().url("/webhooks/sync"))
        .bearer_auth("page-token-42")
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

/// Invariant: changes that reach the calendar only through full syncs are
/// counted and reported in plain words (health, metrics, the page), with
/// the last webhook's time; a change its webhook delivered is not.
#[test]
fn changes_synced_without_their_webhooks_say_plane_stopped_sending() {
    let world = world(&[("WEBHOOK_SILENCE_GRACE_SECONDS", "1")]);
    let project = world.plane.add_project("Website", "WEB");
    let items: Vec<String> = (0..4)
        .map(|n| {
            world
                .plane
                .add_item(&project, &format!("Item {n}"), Some("2027-01-15"))
        })
        .collect();
    world.sync();
    let health = world.get_json("/api/v1/health");
    assert_eq!(health["webhooks"]["changes_only_by_sync"], 0, "{health}");
    assert!(health["webhooks"]["warning"].is_null());

    // One change arrives by webhook; three only through the next sync.
    world
        .plane
        .update_item(&items[0], |i| i.name = "Delivered".into());
    let (status, _) = deliver(&world, "updated", world.plane.webhook_data(&items[0]));
    assert_eq!(status, 200);
    for item in &items[1..] {
        world
            .plane
            .update_item(item, |i| i.name = format!("{} (edited)", i.name));
    }
    // Past the grace a webhook has to arrive in.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    world.sync();

    let health = world.get_json("/api/v1/health");
    let webhooks = &health["webhooks"];
    assert_eq!(webhooks["changes_only_by_sync"], 3, "{health}");
    assert!(webhooks["last_received"].as_str().is_some());
    let warning = webhooks["warning"].as_str().unwrap();
    assert!(
        warning.starts_with("Plane's webhook may be disabled: 3 changes in the last hour arrived only through the sync"),
        "{warning}"
    );
    let metrics = client()
        .get(world.host().url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("calplanebot_changes_only_by_sync 3"),
        "{metrics}"
    );
    let page = client()
        .get(world.host().url("/status"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("Plane&#39;s webhook may be disabled: 3 changes"),
        "{page}"
    );
}
