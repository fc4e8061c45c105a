//! Large workspaces. A sync costs what changed, not the size of the workspace: 2 projects of
//! 500 items with descriptions of a few KB, into Radicale (and of 150 into
//! Xandikos), in a guest limited to 32 MiB. Request counts and bytes are asserted, never times.

use std::time::Duration;

use calplanebot_tests::caldav_server::Kind;
use calplanebot_tests::fake_plane::realistic_description;
use calplanebot_tests::world::{World, uid};

const PROJECTS: usize = 2;
/// Plane's listing pages (`PLANE_PAGE_SIZE`, Plane Cloud's maximum).
const PAGE: usize = 100;

fn plane_requests_of(
    world: &World,
    sync: impl FnOnce() -> serde_json::Value,
) -> (u32, serde_json::Value) {
    let before = world.plane.requests();
    let status = sync();
    (world.plane.requests() - before, status)
}

#[test]
fn a_sync_costs_what_changed_not_the_size_of_the_workspace() {
    costs_what_changed(Kind::Radicale, 500);
}

/// Xandikos answers sync-collection without calendar-data and refuses a
/// token with 412 (Radicale 403): the same costs.
#[test]
fn a_sync_costs_what_changed_on_xandikos() {
    costs_what_changed(Kind::Xandikos, 150);
}

fn costs_what_changed(kind: Kind, items_per_project: usize) {
    let world = World::start_with_args(kind, &[], &["--memory-limit-mib", "32"]);
    let plane = &world.plane;
    let mut projects = Vec::new();
    for p in 0..PROJECTS {
        let project = plane.add_project(&format!("Big {p}"), &format!("BIG{p}"));
        let mut items = Vec::new();
        for i in 0..items_per_project {
            let item = plane.add_item(&project, &format!("Task {i}"), Some("2026-06-01"));
            plane.update_item(&item, |it| it.description_html = realistic_description(8));
            items.push(item);
        }
        projects.push((project, items));
    }
    // Edited over the last weeks, not all in the last minute.
    plane.backdate_items(Duration::from_secs(60));

    // The first sync writes everything: each project read in full.
    let (requests, status) = plane_requests_of(&world, || world.sync_counted());
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    let pages = items_per_project.div_ceil(PAGE) as u32;
    assert_eq!(
        requests,
        1 + PROJECTS as u32 * pages,
        "projects list, then every page"
    );
    assert_eq!(
        world.proxy.count("PUT"),
        (PROJECTS * items_per_project) as u32
    );

    // The next one lists each new calendar once, by ETag, and recognises
    // the service's own writes without fetching them.
    let (requests, status) = plane_requests_of(&world, || world.sync_counted());
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(requests, 1 + PROJECTS as u32, "one page per project");
    assert_eq!(world.proxy.writes(), 0);
    assert_eq!(
        world.proxy.count("REPORT"),
        PROJECTS as u32,
        "{:?}",
        world.proxy.counts()
    );
    let listing_bytes = world.proxy.bytes();

    // Nothing changed: one page per project, one sync-collection per
    // calendar, kilobytes.
    let (requests, status) = plane_requests_of(&world, || world.sync_counted());
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(requests, 1 + PROJECTS as u32);
    assert_eq!(world.proxy.writes(), 0);
    assert_eq!(world.proxy.count("REPORT"), PROJECTS as u32);
    assert_eq!(world.proxy.count("GET"), 0);
    let idle_bytes = world.proxy.bytes();
    assert!(
        idle_bytes * 20 < listing_bytes,
        "a no-change sync moved {idle_bytes} bytes, the first listing {listing_bytes}"
    );

    // Ten changes: ten writes, and still one page per project.
    for (_, items) in &projects {
        for item in &items[..5] {
            plane.update_item(item, |it| it.name.push_str(" (moved)"));
        }
    }
    let (requests, status) = plane_requests_of(&world, || world.sync_counted());
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(requests, 1 + PROJECTS as u32);
    assert_eq!(world.proxy.count("PUT"), 10);
    assert_eq!(world.proxy.count("DELETE"), 0);
    let (project, items) = &projects[0];
    let event = world
        .event_of(project, &items[0])
        .expect("the event is there");
    assert!(event.contains("Task 0 (moved)"), "{event}");

    // An item deleted in Plane sends no webhook: the count gives it away,
    // and only that project is listed in full.
    plane.delete_item(&items[7]);
    let (requests, status) = plane_requests_of(&world, || world.sync_counted());
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(
        requests,
        1 + PROJECTS as u32 + pages + 1,
        "the changed page of each project, the full listing of one, one confirmation"
    );
    assert_eq!(world.proxy.count("DELETE"), 1);
    assert!(world.event_of(project, &items[7]).is_none());
    assert!(world.event_of(project, &items[8]).is_some());
    assert!(
        !world
            .all_events()
            .iter()
            .any(|(_, ics)| ics.contains(&uid(&items[7])))
    );

    // The guest said how much memory the syncs took, within its limit.
    let health = world.get_json("/api/v1/health");
    let peak = health["metrics"]["last_sync_peak_memory_bytes"]
        .as_u64()
        .expect("the last sync's memory is reported");
    assert!(peak > 0 && peak <= 32 << 20, "{peak}");
    assert!(
        world
            .host()
            .wait_for_log("peak memory", Duration::from_secs(5))
    );
}

/// A calendar the server cannot list (a 500, say, or an answer too large
/// to arrive in time) is reported, and the other projects are synced.
#[test]
fn a_calendar_that_cannot_be_read_does_not_stop_the_others() {
    let world = World::start(&[]);
    let plane = &world.plane;
    let broken = plane.add_project("Broken", "BRK");
    let fine = plane.add_project("Fine", "FIN");
    plane.add_item(&broken, "First", Some("2026-06-01"));
    plane.add_item(&fine, "First", Some("2026-06-01"));
    let status = world.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");

    let late_broken = plane.add_item(&broken, "Second", Some("2026-06-02"));
    let late_fine = plane.add_item(&fine, "Second", Some("2026-06-02"));
    world
        .proxy
        .refuse_under(Some((&world.calendar_path(&broken), 500)));
    let status = world.sync();
    assert_eq!(status["last_sync"]["status"], "partial", "{status}");
    let errors = status["last_sync"]["errors"].to_string();
    assert!(errors.contains("project Broken"), "{errors}");
    assert!(world.event_of(&fine, &late_fine).is_some());
    assert!(world.event_of(&broken, &late_broken).is_none());

    world.proxy.refuse_under(None);
    let status = world.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert!(world.event_of(&broken, &late_broken).is_some());
}
