//! The sync end to end: the real host and guest, a fake Plane, and a real
//! CalDAV server (Radicale; the main flows also on Xandikos) behind a proxy
//! that counts every CalDAV request.

use std::time::Duration;

use calplanebot_tests::caldav_server::Kind;
use calplanebot_tests::world::{WEB_URL, World, content_line, property, uid};

struct Fixture {
    world: World,
    web: String,
    mobile: String,
    ops: String,
    /// Items of "Website": shipped (dated), planned (dated), someday (undated), review (dated).
    items: Vec<String>,
}

fn fixture(extra: &[(&str, &str)]) -> Fixture {
    fixture_on(Kind::Radicale, extra)
}

fn fixture_on(kind: Kind, extra: &[(&str, &str)]) -> Fixture {
    let world = World::start_with(kind, extra);
    let plane = &world.plane;
    let web = plane.add_project("Website", "WEB");
    let mobile = plane.add_project("Mobile", "MOB");
    let ops = plane.add_project("Ops", "OPS");
    let shipped = plane.add_item(&web, "Ship the landing page", Some("2025-12-31"));
    plane.update_item(&shipped, |item| {
        item.priority = "urgent".into();
        item.label_ids.push(format!("{web}-label-feature"));
        item.assignee_ids.push("user-linus".into());
        item.description_html =
            "<p>Copy &amp; images</p><ul><li>hero</li><li>footer</li></ul>".into();
    });
    let planned = plane.add_item(&web, "Plan Q1", Some("2024-02-29"));
    let someday = plane.add_item(&web, "Someday", None);
    let review = plane.add_item(&web, "Review; with, punctuation", Some("2026-01-15"));
    plane.add_item(&mobile, "Release 2.0", Some("2026-03-01"));
    plane.add_item(&mobile, "Beta", Some("2026-02-01"));
    plane.add_item(&ops, "Rotate keys", Some("2026-04-30"));
    Fixture {
        world,
        web,
        mobile,
        ops,
        items: vec![shipped, planned, someday, review],
    }
}

#[test]
fn full_sync_maps_every_property_then_costs_nothing_until_something_changes() {
    full_sync_flow(Kind::Radicale);
}

#[test]
fn full_sync_flow_on_xandikos() {
    full_sync_flow(Kind::Xandikos);
}

fn full_sync_flow(kind: Kind) {
    let f = fixture_on(kind, &[]);
    let w = &f.world;

    let status = w.sync_counted();
    assert_eq!(status["status"], "idle", "{status}");
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(status["last_sync"]["events_processed"], 6);
    assert_eq!(w.proxy.count("PUT"), 6);
    assert_eq!(w.proxy.count("MKCALENDAR"), 3);

    // Xandikos starts with a calendar of its own, which is left alone.
    let mut names: Vec<String> = w
        .calendar_names()
        .into_iter()
        .map(|(_, n)| n)
        .filter(|n| n.starts_with("Plane: "))
        .collect();
    names.sort();
    assert_eq!(names, ["Plane: Mobile", "Plane: Ops", "Plane: Website"]);
    assert_eq!(w.events(&f.web).len(), 3);
    assert_eq!(w.events(&f.mobile).len(), 2);
    assert_eq!(w.events(&f.ops).len(), 1);
    assert!(
        w.event_of(&f.web, &f.items[2]).is_none(),
        "undated item on the calendar"
    );

    let shipped = w
        .event_of(&f.web, &f.items[0])
        .expect("event for the shipped item");
    let sequence = w.plane.items()[0].sequence_id;
    assert_eq!(
        property(&shipped, "SUMMARY").unwrap(),
        format!("[{sequence}] Ship the landing page")
    );
    assert_eq!(
        content_line(&shipped, "DTSTART").unwrap(),
        "DTSTART;VALUE=DATE:20251231"
    );
    assert_eq!(
        content_line(&shipped, "DTEND").unwrap(),
        "DTEND;VALUE=DATE:20260101"
    );
    assert_eq!(property(&shipped, "STATUS").unwrap(), "CONFIRMED");
    assert_eq!(property(&shipped, "COLOR").unwrap(), "red");
    assert_eq!(property(&shipped, "CATEGORIES").unwrap(), "bug,feature");
    let link = format!("{WEB_URL}/acme/projects/{}/issues/{}/", f.web, f.items[0]);
    assert_eq!(property(&shipped, "URL").unwrap(), link);
    let description = property(&shipped, "DESCRIPTION").unwrap();
    assert_eq!(
        description,
        format!(
            "Copy & images\n- hero\n- footer\n\nPriority: Urgent\nState: Todo\nAssignees: Ada Lovelace, Linus\n\
             Labels: bug, feature\nProject: Website (WEB)\nLink: {link}"
        )
    );
    assert!(property(&shipped, "X-CALPLANEBOT-HASH").is_some());
    let leap = w.event_of(&f.web, &f.items[1]).unwrap();
    assert_eq!(
        content_line(&leap, "DTEND").unwrap(),
        "DTEND;VALUE=DATE:20240301"
    );
    let punctuated = w.event_of(&f.web, &f.items[3]).unwrap();
    assert!(
        property(&punctuated, "SUMMARY")
            .unwrap()
            .ends_with("Review; with, punctuation")
    );

    let health = w.get_json("/api/v1/health");
    assert_eq!(health["metrics"]["events_created"], 6);
    assert_eq!(health["metrics"]["projects_synced"], 3);
    assert_eq!(health["metrics"]["caldav_connection"], "healthy");
    assert_eq!(health["metrics"]["plane_api_connection"], "healthy");
    assert!(health["metrics"]["last_sync"].is_string());

    // No change: no write, and at most two requests per calendar beyond discovery.
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success");
    assert_eq!(w.proxy.writes(), 0, "{:?}", w.proxy.counts());
    assert_eq!(w.proxy.count("REPORT"), 3);
    assert!(w.proxy.total() <= 3 + 2 * 3, "{:?}", w.proxy.counts());

    // Renaming one item: exactly one PUT.
    w.plane
        .update_item(&f.items[1], |item| item.name = "Plan Q1 (revised)".into());
    w.sync_counted();
    assert_eq!((w.proxy.count("PUT"), w.proxy.count("DELETE")), (1, 0));
    let revised = w.event_of(&f.web, &f.items[1]).unwrap();
    assert!(
        property(&revised, "SUMMARY")
            .unwrap()
            .ends_with("Plan Q1 (revised)")
    );

    // Removing a due date, deleting and archiving: one DELETE each.
    w.plane
        .update_item(&f.items[1], |item| item.target_date = None);
    w.sync_counted();
    assert_eq!((w.proxy.count("PUT"), w.proxy.count("DELETE")), (0, 1));
    assert!(w.event_of(&f.web, &f.items[1]).is_none());

    w.plane.delete_item(&f.items[3]);
    w.sync_counted();
    assert_eq!((w.proxy.count("PUT"), w.proxy.count("DELETE")), (0, 1));
    assert!(w.event_of(&f.web, &f.items[3]).is_none());

    w.plane.archive_item(&f.items[0]);
    w.sync_counted();
    assert_eq!((w.proxy.count("PUT"), w.proxy.count("DELETE")), (0, 1));
    assert!(w.events(&f.web).is_empty());

    // Completing and cancelling: STATUS:CANCELLED.
    let mobile_items: Vec<String> = w
        .plane
        .items()
        .into_iter()
        .filter(|i| i.project_id == f.mobile)
        .map(|i| i.id)
        .collect();
    w.plane.set_state(&mobile_items[0], "completed");
    w.plane.set_state(&mobile_items[1], "cancelled");
    w.sync_counted();
    assert_eq!(w.proxy.count("PUT"), 2);
    for item in &mobile_items {
        let event = w.event_of(&f.mobile, item).unwrap();
        assert_eq!(property(&event, "STATUS").unwrap(), "CANCELLED");
    }
    let health = w.get_json("/api/v1/health");
    assert_eq!(health["metrics"]["events_deleted"], 3);
    assert_eq!(health["metrics"]["events_updated"], 3);
    let _ = &f.ops;
}

#[test]
fn foreign_events_survive_and_edited_events_are_restored() {
    foreign_and_edited(Kind::Radicale);
}

#[test]
fn foreign_events_survive_and_edited_events_are_restored_on_xandikos() {
    foreign_and_edited(Kind::Xandikos);
}

fn foreign_and_edited(kind: Kind) {
    let f = fixture_on(kind, &[]);
    let w = &f.world;
    w.sync();
    let calendar = w.calendar_path(&f.web);
    let foreign = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:standup-1@example.com\r\n\
                   DTSTAMP:20250101T000000Z\r\nDTSTART:20260105T090000Z\r\nDTEND:20260105T091500Z\r\nSUMMARY:Standup\r\n\
                   END:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(w.put_event(&format!("{calendar}standup.ics"), foreign), 201);

    let (href, original) = w
        .events(&f.web)
        .into_iter()
        .find(|(_, ics)| property(ics, "UID").as_deref() == Some(uid(&f.items[0]).as_str()))
        .unwrap();
    let edited = original.replace("Ship the landing page", "Edited in a calendar app");
    assert!(matches!(w.put_event(&href, &edited), 201 | 204));

    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success");
    assert_eq!((w.proxy.count("PUT"), w.proxy.count("DELETE")), (1, 0));
    let restored = w.event_of(&f.web, &f.items[0]).unwrap();
    assert!(
        property(&restored, "SUMMARY")
            .unwrap()
            .ends_with("Ship the landing page")
    );
    assert!(
        w.events(&f.web)
            .iter()
            .any(|(_, ics)| property(ics, "UID").as_deref() == Some("standup-1@example.com")),
        "the foreign event was touched"
    );
}

/// The other tests go through a proxy that re-frames requests; this one
/// talks to Radicale (an HTTP/1.0 server) directly.
#[test]
fn syncs_straight_to_radicale_without_the_proxy() {
    let mut f = fixture(&[]);
    f.world.bypass_proxy();
    let w = &f.world;
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.events(&f.web).len(), 3);
    w.plane
        .update_item(&f.items[0], |item| item.name = "Renamed".into());
    w.plane.delete_item(&f.items[1]);
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.events(&f.web).len(), 2);
    let renamed = w.event_of(&f.web, &f.items[0]).unwrap();
    assert!(property(&renamed, "SUMMARY").unwrap().ends_with("Renamed"));
}

#[test]
fn an_empty_listing_deletes_nothing_that_plane_still_has() {
    let f = fixture(&[]);
    let w = &f.world;
    w.sync();
    // Plane lists nothing, but every item is still there when asked: each
    // deletion is confirmed first, and none is confirmed.
    w.plane.set_empty_listing(&f.web, true);
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.proxy.count("DELETE"), 0);
    assert_eq!(w.proxy.writes(), 0, "the events are read, not rewritten");
    assert_eq!(w.events(&f.web).len(), 3);

    // Back to normal: nothing to do.
    w.plane.set_empty_listing(&f.web, false);
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success");
    assert_eq!(w.proxy.writes(), 0);
}

#[test]
fn a_renamed_project_keeps_its_calendar() {
    let f = fixture(&[]);
    let w = &f.world;
    w.sync();
    w.plane.rename_project(&f.ops, "Operations");
    w.sync_counted();
    assert_eq!(w.proxy.count("MKCALENDAR"), 0);
    assert_eq!(w.proxy.count("PROPPATCH"), 1);
    assert_eq!(w.proxy.count("PUT"), 1, "the event's Project line changed");
    let names: Vec<(String, String)> = w.calendar_names();
    assert!(
        names
            .iter()
            .any(|(href, name)| href.contains(&f.ops) && name == "Plane: Operations"),
        "{names:?}"
    );
    assert_eq!(names.len(), 3);
}

#[test]
fn plane_rate_limits_are_waited_out() {
    let f = fixture(&[("PLANE_PAGE_SIZE", "1")]);
    let w = &f.world;
    w.plane.set_rate_limit(4, Duration::from_secs(2));
    // Another client of the same key has spent this window's budget.
    w.plane.exhaust_rate_limit();
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.events(&f.web).len(), 3);
    assert!(w.plane.requests() > 8);
    assert!(w.plane.throttled() >= 1, "no 429 was met");
}

#[test]
fn a_sync_killed_midway_converges_on_the_next_one() {
    let mut w = World::start(&[("SYNC_LEASE_SECONDS", "2")]);
    let project = w.plane.add_project("Big", "BIG");
    for n in 0..40 {
        w.plane.add_item(
            &project,
            &format!("Item {n}"),
            Some(&format!("2026-05-{:02}", n % 28 + 1)),
        );
    }
    let (status, _) = w.trigger();
    assert_eq!(status, 200);
    let (second, body) = w.trigger();
    assert_eq!(second, 409, "{body}");
    assert_eq!(body["error_code"], "SYNC_IN_PROGRESS");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while w.proxy.count("PUT") < 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "sync made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    w.host().signal("KILL");
    let written = w.events(&project).len();
    assert!(written < 40, "the sync finished before it was killed");

    w.restart_host();
    // The dead sync's lease runs out; then a sync converges.
    std::thread::sleep(Duration::from_millis(2500));
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    let events = w.events(&project);
    assert_eq!(events.len(), 40);
    let mut uids: Vec<String> = events
        .iter()
        .filter_map(|(_, ics)| property(ics, "UID"))
        .collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), 40, "duplicate events");
    assert!(w.proxy.count("PUT") as usize <= 40 - written + 1);
    w.sync_counted();
    assert_eq!(w.proxy.writes(), 0);
}

#[test]
fn failures_are_reported_with_their_error_codes() {
    let mut w = World::start(&[("PLANE_API_TOKEN", "wrong-token")]);
    w.plane.add_project("P", "P");
    let status = w.sync();
    assert_eq!(status["status"], "error");
    assert_eq!(status["last_sync"]["status"], "failed");
    let errors = status["last_sync"]["errors"].to_string();
    assert!(
        errors.contains("PLANE_API_ERROR") && errors.contains("PLANE_API_TOKEN"),
        "{errors}"
    );
    assert!(!errors.contains("wrong-token"));
    assert_eq!(
        w.get_json("/api/v1/health")["metrics"]["plane_api_connection"],
        "unhealthy"
    );

    w.options = w
        .options
        .clone()
        .env("PLANE_API_TOKEN", calplanebot_tests::fake_plane::TOKEN);
    w.restart_host();
    w.proxy.set_down(true);
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "failed");
    assert!(
        status["last_sync"]["errors"]
            .to_string()
            .contains("CALDAV_CONNECTION_ERROR"),
        "{status}"
    );
    assert_eq!(
        w.get_json("/api/v1/health")["metrics"]["caldav_connection"],
        "unhealthy"
    );
    w.proxy.set_down(false);
    assert_eq!(w.sync()["last_sync"]["status"], "success");
}

#[test]
fn an_unconfigured_service_says_what_is_missing() {
    let dir = calplanebot_tests::host::test_dir("unconfigured");
    let options = calplanebot_tests::host::HostOptions::default().env("ENABLE_SYNC", "false");
    let host = calplanebot_tests::host::Host::start(dir.path(), &options).unwrap();
    let http = calplanebot_tests::host::client();
    let response = http.post(host.url("/webhooks/sync")).send().unwrap();
    assert_eq!(response.status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status: serde_json::Value = http
            .get(host.url("/webhooks/status"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if status["status"] == "error" {
            assert!(
                status["last_sync"]["errors"][0]
                    .as_str()
                    .unwrap()
                    .contains("PLANE_BASE_URL")
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
