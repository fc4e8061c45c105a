//! Never a wrong calendar: what Plane or the CalDAV server hand over may be
//! odd (an unreadable item, a listing that shifts or fails while it pages,
//! an event at another href or twice, characters XML cannot carry, a server
//! that drops a property, a second workspace in the same account, hostile
//! ids), and still no event is lost, doubled, injected into or rewritten
//! for nothing. The real host and guest against Radicale and a fake Plane.

use std::time::Duration;

use calplanebot_tests::caldav_server::Kind;
use calplanebot_tests::webhook_delivery::{self, ce_body, deliver, post};
use calplanebot_tests::world::{Setup, World, decode_href, property, uid};
use serde_json::{Value, json};

const NONCHARACTERS: [char; 3] = ['\u{FFFF}', '\u{FFFE}', '\u{FDD0}'];

/// A plain event as another client (or the original CalPlaneBot) writes it.
fn ics_event(uid: &str, summary: &str, day: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//another client//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20250101T000000Z\r\nDTSTART;VALUE=DATE:{day}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn errors(status: &Value) -> String {
    status["last_sync"]["errors"].to_string()
}

/// Every copy of an item's event in its project's calendar, as
/// (decoded href, iCalendar text).
fn copies(w: &World, project: &str, item: &str) -> Vec<(String, String)> {
    let uid = uid(item);
    w.events(project)
        .into_iter()
        .filter(|(_, ics)| property(ics, "UID").as_deref() == Some(uid.as_str()))
        .map(|(href, ics)| (decode_href(&href), ics))
        .collect()
}

/// The last segment of an href.
fn file_name(href: &str) -> &str {
    href.rsplit('/').next().unwrap_or(href)
}

/// `[sequence] name`, as the item's event should be titled now.
fn expected_summary(w: &World, item: &str) -> String {
    let item = w.plane.items().into_iter().find(|i| i.id == item).unwrap();
    format!("[{}] {}", item.sequence_id, item.name)
}

fn summary(w: &World, project: &str, item: &str) -> Option<String> {
    w.event_of(project, item)
        .and_then(|ics| property(&ics, "SUMMARY"))
}

/// Many items mean many requests (a sync confirms each deletion with
/// Plane); the budget is raised so that no test waits out Plane's minute.
fn without_rate_limit(w: &World) {
    w.plane.set_rate_limit(100_000, Duration::from_secs(60));
}

fn dated_items(w: &World, project: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            w.plane.add_item(
                project,
                &format!("Item {n}"),
                Some(&format!("2026-05-{:02}", n % 28 + 1)),
            )
        })
        .collect()
}

#[test]
fn an_unreadable_item_keeps_its_event_and_a_null_in_a_list_is_read_leniently() {
    let w = World::start(&[]);
    let project = w.plane.add_project("Website", "WEB");
    let steady = w.plane.add_item(&project, "Steady", Some("2026-03-01"));
    let broken = w
        .plane
        .add_item(&project, "Soon unreadable", Some("2026-03-02"));
    let lenient = w.plane.add_item(&project, "Null label", Some("2026-03-03"));
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.events(&project).len(), 3);

    // Plane has been seen to send a null inside a list: the rest of the
    // item is fine, and so is its event.
    w.plane
        .update_item(&lenient, |i| i.name = "Null label, renamed".into());
    w.plane.set_raw_field(&lenient, "labels", json!([null]));
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.proxy.count("DELETE"), 0, "{:?}", w.proxy.counts());
    assert_eq!(
        summary(&w, &project, &lenient).as_deref(),
        Some(expected_summary(&w, &lenient).as_str()),
        "the item with a null label was not updated"
    );

    // An impossible date: the item cannot be read, so nothing is known
    // about it, and its event is left exactly as it is.
    let (broken_href, before) = copies(&w, &project, &broken)
        .pop()
        .expect("the item's event");
    w.plane
        .update_item(&broken, |i| i.name = "Renamed while unreadable".into());
    w.plane
        .set_raw_field(&broken, "target_date", json!("2026-02-30"));
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "partial", "{status}");
    assert!(errors(&status).contains(&broken), "{status}");
    assert!(!errors(&status).contains(&lenient), "{status}");
    assert_eq!(w.proxy.count("DELETE"), 0, "{:?}", w.proxy.requests());
    let touched: Vec<(String, String)> = w
        .proxy
        .requests()
        .into_iter()
        .filter(|(method, path)| {
            matches!(method.as_str(), "PUT" | "DELETE") && decode_href(path) == broken_href
        })
        .collect();
    assert!(touched.is_empty(), "{touched:?}");
    assert!(
        !w.proxy
            .put_bodies()
            .iter()
            .any(|body| body.contains(&uid(&broken))),
        "the unreadable item's event was written"
    );
    let after = copies(&w, &project, &broken);
    assert_eq!(after, vec![(broken_href, before)], "the event changed");
    assert!(w.event_of(&project, &steady).is_some());
    assert!(w.event_of(&project, &lenient).is_some());
}

#[test]
fn a_project_s_last_item_deleted_loses_its_event() {
    let w = World::start(&[]);
    let project = w.plane.add_project("Website", "WEB");
    let only = w
        .plane
        .add_item(&project, "The only one", Some("2026-04-01"));
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert!(w.event_of(&project, &only).is_some());

    w.plane.delete_item(&only);
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.proxy.count("DELETE"), 1, "{:?}", w.proxy.counts());
    assert!(w.events(&project).is_empty());
}

/// A project of 52 dated items, synced; then `archived` of them archived
/// and synced again. Returns the world, the project and that sync's status.
fn drop_of(env: &[(&str, &str)], archived: usize) -> (World, String, Value) {
    let w = World::start(env);
    without_rate_limit(&w);
    let project = w.plane.add_project("Website", "WEB");
    let items = dated_items(&w, &project, 52);
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.events(&project).len(), 52);

    for item in &items[..archived] {
        w.plane.archive_item(item);
    }
    let status = w.sync_counted();
    (w, project, status)
}

#[test]
fn a_large_drop_is_withheld_and_reported() {
    let (w, project, status) = drop_of(&[], 47);
    assert_eq!(status["last_sync"]["status"], "partial", "{status}");
    assert_eq!(w.proxy.count("DELETE"), 0, "{:?}", w.proxy.counts());
    let reported = status["last_sync"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .any(|e| e.contains("Website") && e.contains("47"));
    assert!(reported, "{status}");
    assert_eq!(w.events(&project).len(), 52);
}

#[test]
fn a_large_drop_is_applied_when_the_limit_allows_it() {
    let (w, project, status) = drop_of(&[("SYNC_MAX_DELETE_PERCENT", "100")], 47);
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.proxy.count("DELETE"), 47, "{:?}", w.proxy.counts());
    assert_eq!(w.events(&project).len(), 5);
}

#[test]
fn a_small_drop_is_applied_without_a_guard() {
    let (w, project, status) = drop_of(&[], 5);
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.proxy.count("DELETE"), 5, "{:?}", w.proxy.counts());
    assert_eq!(w.events(&project).len(), 47);
}

#[test]
fn an_item_archived_while_the_listing_pages_never_costs_its_neighbour_its_event() {
    let w = World::start(&[("PLANE_PAGE_SIZE", "2")]);
    without_rate_limit(&w);
    let project = w.plane.add_project("Website", "WEB");
    // Listed newest first: [5, 4] [3, 2] [1, 0].
    let items = dated_items(&w, &project, 6);
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.events(&project).len(), 6);

    let archived = &items[5];
    let neighbour = &items[3];
    let (neighbour_href, _) = copies(&w, &project, neighbour).pop().unwrap();
    // Archiving an item of the first page once it is served moves every
    // later item one place forward: the second page starts one further
    // on, and the item that led it is on no page.
    w.plane.archive_after_page(&project, 0, archived);
    w.plane.clear_served();
    let status = w.sync_counted();
    assert_ne!(status["last_sync"]["status"], "failed", "{status}");
    assert!(
        w.plane
            .items()
            .iter()
            .any(|i| &i.id == archived && i.archived),
        "the fake did not archive mid-listing"
    );
    let second_page = w
        .plane
        .served_pages()
        .into_iter()
        .find(|p| p.project_id == project && p.page == 1)
        .expect("the second page was served");
    assert_eq!(
        second_page.item_ids,
        [items[2].clone(), items[1].clone()],
        "the listing did not shift"
    );
    let deletes_of_neighbour = |w: &World| {
        w.proxy
            .paths("DELETE")
            .into_iter()
            .filter(|path| decode_href(path) == neighbour_href)
            .count()
    };
    assert_eq!(deletes_of_neighbour(&w), 0, "{:?}", w.proxy.requests());
    assert_eq!(copies(&w, &project, neighbour).len(), 1);

    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(deletes_of_neighbour(&w), 0, "{:?}", w.proxy.requests());
    assert_eq!(copies(&w, &project, neighbour).len(), 1);
    assert!(
        w.event_of(&project, archived).is_none(),
        "the archived item kept its event"
    );
    assert_eq!(w.events(&project).len(), 5);
}

#[test]
fn a_listing_that_fails_part_way_deletes_nothing() {
    let w = World::start(&[("PLANE_PAGE_SIZE", "2")]);
    without_rate_limit(&w);
    let project = w.plane.add_project("Website", "WEB");
    let items = dated_items(&w, &project, 6);
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.events(&project).len(), 6);

    // One item really is gone: a sync that trusted the pages it got (and
    // confirmed with Plane) would delete its event.
    w.plane.delete_item(&items[0]);
    // A 400 is not retried: the listing stops after its first page.
    w.plane.fail_listing_page(&project, 1, 400);
    w.plane.clear_served();
    let status = w.sync_counted();
    let outcome = status["last_sync"]["status"].as_str().unwrap_or_default();
    assert!(matches!(outcome, "partial" | "failed"), "{status}");
    assert!(
        w.plane.listing_failures_answered() > 0,
        "page 2 was never asked for"
    );
    assert!(
        !w.plane
            .served_pages()
            .iter()
            .any(|p| p.project_id == project && p.page > 0),
        "{:?}",
        w.plane.served_pages()
    );
    assert_eq!(w.proxy.count("DELETE"), 0, "{:?}", w.proxy.requests());
    assert_eq!(w.events(&project).len(), 6);

    w.plane.clear_listing_failures();
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.proxy.count("DELETE"), 1, "{:?}", w.proxy.requests());
    assert!(w.event_of(&project, &items[0]).is_none());
    assert_eq!(w.events(&project).len(), 5);
}

/// Where the original CalPlaneBot put an item's event: `{uid}.ics`.
fn original_href(w: &World, project: &str, item: &str) -> String {
    format!(
        "{}{}.ics",
        w.calendar_path(project),
        uid(item).replace('@', "%40")
    )
}

fn canonical_href(w: &World, project: &str, item: &str) -> String {
    format!("{}plane-issue-{item}.ics", w.calendar_path(project))
}

/// The one copy of the item's event, which must be at the original href.
fn only_copy_at_original_href(w: &World, project: &str, item: &str) -> String {
    let found = copies(w, project, item);
    assert_eq!(found.len(), 1, "{found:?}");
    let (href, ics) = found.into_iter().next().unwrap();
    assert_eq!(href, decode_href(&original_href(w, project, item)));
    assert_eq!(
        w.get_status(&canonical_href(w, project, item)),
        404,
        "a second copy at the service's own href"
    );
    ics
}

#[test]
fn an_event_at_the_original_href_is_updated_in_place_by_sync_and_webhooks() {
    let w = webhook_delivery::world(&[]);
    let project = w.plane.add_project("Website", "WEB");
    w.plane.add_item(&project, "Other", Some("2026-03-01"));
    let item = w.plane.add_item(&project, "Carried over", None);
    w.sync();
    let planted = ics_event(
        &uid(&item),
        "Written by the original CalPlaneBot",
        "20260310",
    );
    assert_eq!(
        w.put_event(&original_href(&w, &project, &item), &planted),
        201
    );
    w.plane
        .update_item(&item, |i| i.target_date = Some("2026-03-10".into()));

    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.proxy.count("DELETE"), 0, "{:?}", w.proxy.requests());
    let ics = only_copy_at_original_href(&w, &project, &item);
    assert_eq!(
        property(&ics, "SUMMARY").unwrap(),
        expected_summary(&w, &item)
    );

    w.plane
        .update_item(&item, |i| i.name = "Renamed in Plane".into());
    let (status, body) = deliver(&w, "updated", w.plane.webhook_data(&item));
    assert_eq!(status, 200, "{body}");
    let ics = only_copy_at_original_href(&w, &project, &item);
    assert_eq!(
        property(&ics, "SUMMARY").unwrap(),
        expected_summary(&w, &item)
    );

    w.plane.delete_item(&item);
    let (status, body) = deliver(&w, "deleted", json!({"id": item}));
    assert_eq!(status, 200, "{body}");
    assert!(copies(&w, &project, &item).is_empty());
    assert_eq!(w.get_status(&original_href(&w, &project, &item)), 404);
}

#[test]
fn a_webhook_finds_an_event_at_the_original_href_that_the_service_never_wrote() {
    webhook_finds_a_never_written_event(Kind::Radicale, "updated");
}

/// A `created` delivery writes where the service puts new events first:
/// the server refuses the second href for the UID (Radicale with a bare
/// 409, Xandikos with a 412 naming `no-uid-conflict`), and the event is
/// found and updated where it is.
#[test]
fn a_created_webhook_meeting_the_uid_at_the_original_href_updates_it_there() {
    webhook_finds_a_never_written_event(Kind::Radicale, "created");
}

#[test]
fn a_created_webhook_meeting_the_uid_at_the_original_href_updates_it_there_on_xandikos() {
    webhook_finds_a_never_written_event(Kind::Xandikos, "created");
}

#[test]
fn a_webhook_finds_an_event_at_the_original_href_on_xandikos() {
    webhook_finds_a_never_written_event(Kind::Xandikos, "updated");
}

fn webhook_finds_a_never_written_event(kind: Kind, action: &str) {
    let w = World::start_with(
        kind,
        &[
            ("PLANE_WEBHOOK_SECRET", webhook_delivery::SECRET),
            ("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "10000"),
        ],
    );
    let project = w.plane.add_project("Website", "WEB");
    w.plane.add_item(&project, "Other", Some("2026-03-01"));
    w.sync();
    // Created after the last sync: the service has no record of it.
    let item = w
        .plane
        .add_item(&project, "Never synced", Some("2026-03-10"));
    let planted = ics_event(
        &uid(&item),
        "Written by the original CalPlaneBot",
        "20260310",
    );
    assert_eq!(
        w.put_event(&original_href(&w, &project, &item), &planted),
        201
    );

    let (status, body) = deliver(&w, action, w.plane.webhook_data(&item));
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["error_code"], "CALDAV_CONNECTION_ERROR", "{body}");
    let ics = only_copy_at_original_href(&w, &project, &item);
    assert_eq!(
        property(&ics, "SUMMARY").unwrap(),
        expected_summary(&w, &item)
    );

    // Nor does a sync afterwards give the item a second copy.
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    only_copy_at_original_href(&w, &project, &item);

    // And its deletion removes it there.
    w.plane.delete_item(&item);
    let (status, body) = deliver(&w, "deleted", json!({"id": item}));
    assert_eq!(status, 200, "{body}");
    assert!(copies(&w, &project, &item).is_empty());
}

#[test]
fn duplicate_copies_of_an_event_collapse_to_one_with_plane_s_content() {
    let w = World::start(&[]);
    let project = w.plane.add_project("Website", "WEB");
    let alpha = w.plane.add_item(&project, "Alpha", Some("2026-06-01"));
    let beta = w.plane.add_item(&project, "Beta", Some("2026-06-02"));
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");

    // Radicale refuses a second href for a UID over HTTP, so the copies
    // are put into its storage, as a restored backup or a sync tool can.
    let stored = |item: &str| {
        let (href, _) = copies(&w, &project, item).pop().expect("the event");
        let name = file_name(&href).to_string();
        let text = w
            .stored_files(&project)
            .into_iter()
            .find(|(file, _)| *file == name)
            .map(|(_, text)| text)
            .expect("the event's file");
        (name, text)
    };
    let stale =
        |text: &str, item: &str, summary: &str| text.replace(&expected_summary(&w, item), summary);
    let (alpha_file, alpha_text) = stored(&alpha);
    assert_eq!(alpha_file, format!("plane-issue-{alpha}.ics"));
    w.plant_file(
        &project,
        &alpha_file,
        &stale(&alpha_text, &alpha, "Stale canonical copy"),
    );
    w.plant_file(
        &project,
        "copy.ics",
        &stale(&alpha_text, &alpha, "Stale second copy"),
    );
    let (beta_file, beta_text) = stored(&beta);
    w.remove_file(&project, &beta_file);
    w.plant_file(
        &project,
        "beta-one.ics",
        &stale(&beta_text, &beta, "Stale first"),
    );
    w.plant_file(
        &project,
        "beta-two.ics",
        &stale(&beta_text, &beta, "Stale second"),
    );
    let names = |item: &str| {
        let mut names: Vec<String> = copies(&w, &project, item)
            .iter()
            .map(|(href, _)| file_name(href).to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(&alpha),
        ["copy.ics".to_string(), alpha_file.clone()],
        "Radicale did not pick the planted files up"
    );
    assert_eq!(names(&beta), ["beta-one.ics", "beta-two.ics"]);

    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    let alpha_copies = copies(&w, &project, &alpha);
    assert_eq!(alpha_copies.len(), 1, "{alpha_copies:?}");
    assert_eq!(file_name(&alpha_copies[0].0), alpha_file);
    assert_eq!(
        property(&alpha_copies[0].1, "SUMMARY").unwrap(),
        expected_summary(&w, &alpha)
    );
    let beta_copies = copies(&w, &project, &beta);
    assert_eq!(beta_copies.len(), 1, "{beta_copies:?}");
    assert_eq!(
        property(&beta_copies[0].1, "SUMMARY").unwrap(),
        expected_summary(&w, &beta)
    );
}

#[test]
fn discovery_starts_at_well_known_caldav() {
    let w = Setup::default()
        .env("RATE_LIMIT_SYNC_PER_HOUR", "10000")
        .caldav_path("/.well-known/caldav")
        .start();
    let project = w.plane.add_project("Website", "WEB");
    let first = w.plane.add_item(&project, "First", Some("2026-07-01"));
    let second = w.plane.add_item(&project, "Second", Some("2026-07-02"));
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert!(
        w.proxy
            .requests()
            .iter()
            .any(|(_, path)| path == "/.well-known/caldav"),
        "{:?}",
        w.proxy.requests()
    );
    assert_eq!(w.events(&project).len(), 2);
    assert!(w.event_of(&project, &first).is_some());
    assert!(w.event_of(&project, &second).is_some());
}

#[test]
fn two_workspaces_in_one_caldav_account_never_delete_each_other_s_events() {
    let acme = Setup::default().workspace("acme").start();
    let globex = Setup::default()
        .workspace("globex")
        .on(&acme.caldav)
        .start();
    let acme_project = acme.plane.add_project("Website", "WEB");
    let globex_project = globex.plane.add_project("Website", "WEB");
    assert_ne!(acme_project, globex_project);
    let acme_items: Vec<String> = ["Acme launch", "Acme docs", "Acme blog"]
        .iter()
        .map(|name| acme.plane.add_item(&acme_project, name, Some("2026-08-01")))
        .collect();
    let globex_items: Vec<String> = ["Globex launch", "Globex hiring"]
        .iter()
        .map(|name| {
            globex
                .plane
                .add_item(&globex_project, name, Some("2026-08-02"))
        })
        .collect();

    let present = |items: &[String]| {
        let events = acme.all_events();
        items
            .iter()
            .map(|item| {
                let uid = uid(item);
                events
                    .iter()
                    .filter(|(_, ics)| property(ics, "UID").as_deref() == Some(uid.as_str()))
                    .count()
            })
            .collect::<Vec<usize>>()
    };
    let rounds: [(&str, &World); 4] = [
        ("acme", &acme),
        ("globex", &globex),
        ("acme", &acme),
        ("globex", &globex),
    ];
    for (round, (name, w)) in rounds.iter().enumerate() {
        let status = w.sync();
        assert_eq!(
            status["last_sync"]["status"], "success",
            "{name} in round {round}: {status}"
        );
        assert_eq!(present(&acme_items), [1, 1, 1], "after {name}'s sync");
        if round > 0 {
            assert_eq!(present(&globex_items), [1, 1], "after {name}'s sync");
        }
        assert_eq!(
            acme.proxy.count("DELETE") + globex.proxy.count("DELETE"),
            0,
            "after {name}'s sync: {:?} {:?}",
            acme.proxy.requests(),
            globex.proxy.requests()
        );
    }
    for (item, name) in acme_items
        .iter()
        .zip(["Acme launch", "Acme docs", "Acme blog"])
    {
        let events = acme.all_events();
        let (_, ics) = events
            .iter()
            .find(|(_, ics)| property(ics, "UID") == Some(uid(item)))
            .unwrap();
        assert!(property(ics, "SUMMARY").unwrap().ends_with(name));
    }
}

fn expect_invalid_field(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error_code"], "INVALID_FIELD_VALUE", "{body}");
    let named = body["details"]["field"] == field
        || body["message"]
            .as_str()
            .is_some_and(|message| message.contains(field));
    assert!(named, "{field} is not named: {body}");
}

#[test]
fn an_injected_id_is_refused_and_never_reaches_a_calendar() {
    // Without a secret anyone can deliver: the body is all there is to check.
    let w = World::start(&[("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "10000")]);
    let project = w.plane.add_project("Website", "WEB");
    let item = w.plane.add_item(&project, "Target", Some("2026-09-01"));
    w.sync();
    w.proxy.reset();

    let mut data = w.plane.webhook_data(&item);
    data["id"] = json!("abc\r\nATTENDEE:mailto:victim@example.com");
    let (status, body, _) = post(&w, &ce_body("updated", data), None);
    expect_invalid_field(status, &body, "data.id");

    let mut data = w.plane.webhook_data(&item);
    data["project"] = json!("../../alice/elsewhere");
    let (status, body, _) = post(&w, &ce_body("updated", data), None);
    expect_invalid_field(status, &body, "data.project");

    for (href, ics) in w.all_events() {
        assert!(
            !ics.contains("ATTENDEE") && !ics.contains("ORGANIZER"),
            "{href}: {ics}"
        );
    }
    let injected: Vec<String> = w
        .proxy
        .put_bodies()
        .into_iter()
        .filter(|body| body.contains("ATTENDEE") || body.contains("ORGANIZER"))
        .collect();
    assert!(injected.is_empty(), "{injected:?}");
}

#[test]
fn noncharacters_are_left_out_and_the_event_then_stays_as_it_is() {
    let w = World::start(&[]);
    let project = w.plane.add_project("Website", "WEB");
    let item = w
        .plane
        .add_item(&project, "Fix \u{FFFF} bug", Some("2026-10-01"));
    w.plane.update_item(&item, |i| {
        i.description_html = "<p>Before \u{FFFE} between \u{FDD0} after</p>".into()
    });
    w.plane.add_item(&project, "Plain", Some("2026-10-02"));

    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    for (name, text) in w.stored_files(&project) {
        assert!(!text.contains(NONCHARACTERS), "{name}: {text:?}");
    }
    let event = w
        .event_of(&project, &item)
        .expect("the item's event, readable from the server");
    let summary = property(&event, "SUMMARY").unwrap();
    assert!(
        summary.contains("Fix") && summary.contains("bug"),
        "{summary:?}"
    );
    let description = property(&event, "DESCRIPTION").unwrap();
    assert!(
        description.contains("Before") && description.contains("after"),
        "{description:?}"
    );
    assert_eq!(w.events(&project).len(), 2);

    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(w.proxy.writes(), 0, "{:?}", w.proxy.requests());
}

/// The calendar's name is sent to the server without the noncharacter, so
/// the name the server sends back must be what the service wants, or every
/// sync renames the calendar again.
#[test]
fn a_project_name_with_a_noncharacter_names_its_calendar_once() {
    let w = World::start(&[]);
    let project = w.plane.add_project("Web\u{FFFF}site", "WEB");
    w.plane.add_item(&project, "Launch", Some("2026-10-01"));
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    let names = w.calendar_names();
    assert!(
        names.iter().any(|(_, name)| name == "Plane: Website"),
        "{names:?}"
    );
    for _ in 0..2 {
        let status = w.sync_counted();
        assert_eq!(status["last_sync"]["status"], "success", "{status}");
        assert_eq!(w.proxy.count("PROPPATCH"), 0, "{:?}", w.proxy.requests());
        assert_eq!(w.proxy.writes(), 0, "{:?}", w.proxy.requests());
    }
}

#[test]
fn a_stored_event_with_a_noncharacter_does_not_block_its_calendar() {
    let w = World::start(&[]);
    let project = w.plane.add_project("Website", "WEB");
    let alpha = w.plane.add_item(&project, "Alpha", Some("2026-10-01"));
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");

    // Radicale serves it in its XML as it is, where XML cannot carry it.
    let foreign = ics_event(
        "imported-1@example.com",
        "Broken \u{FFFF} import",
        "20261005",
    );
    w.plant_file(&project, "imported.ics", &foreign);
    w.plane
        .update_item(&alpha, |i| i.name = "Alpha renamed".into());
    let beta = w.plane.add_item(&project, "Beta", Some("2026-10-02"));

    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    // Read from storage: the server's own listing of this calendar is not
    // valid XML while the foreign event is there.
    let files = w.stored_files(&project);
    let with_uid = |uid: &str| {
        files
            .iter()
            .filter(|(_, text)| property(text, "UID").as_deref() == Some(uid))
            .map(|(_, text)| text.clone())
            .collect::<Vec<String>>()
    };
    let alpha_event = with_uid(&uid(&alpha));
    assert_eq!(alpha_event.len(), 1, "{files:?}");
    assert_eq!(
        property(&alpha_event[0], "SUMMARY").unwrap(),
        expected_summary(&w, &alpha)
    );
    let beta_event = with_uid(&uid(&beta));
    assert_eq!(beta_event.len(), 1, "{files:?}");
    assert_eq!(
        property(&beta_event[0], "SUMMARY").unwrap(),
        expected_summary(&w, &beta)
    );
    assert_eq!(
        with_uid("imported-1@example.com"),
        [foreign],
        "the foreign event was touched"
    );
}

#[test]
fn a_tiptap_description_keeps_its_lists_and_mentions() {
    let w = World::start(&[]);
    let project = w.plane.add_project("Website", "WEB");
    let item = w.plane.add_item(&project, "Lists", Some("2026-11-01"));
    w.plane.update_item(&item, |i| {
        i.description_html = concat!(
            r#"<ul class="list-disc pl-7 space-y-[--list-spacing-y] tight" data-tight="true">"#,
            r#"<li class="not-prose space-y-2"><p class="editor-paragraph-block">one</p></li>"#,
            r#"<li class="not-prose space-y-2"><p class="editor-paragraph-block">two</p></li></ul>"#,
            r#"<ol class="list-decimal pl-7 space-y-[--list-spacing-y] tight" data-tight="true">"#,
            r#"<li class="not-prose space-y-2"><p class="editor-paragraph-block">first</p></li>"#,
            r#"<li class="not-prose space-y-2"><p class="editor-paragraph-block">second</p></li></ol>"#,
            r#"<p class="editor-paragraph-block">Ping <mention-component entity_identifier="0b1c..." "#,
            r#"entity_name="user_mention" label="Ada"></mention-component></p>"#,
        )
        .into()
    });
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    let event = w.event_of(&project, &item).expect("the item's event");
    let description = property(&event, "DESCRIPTION").unwrap();
    let lines: Vec<&str> = description.lines().map(str::trim_end).collect();
    for wanted in ["- one", "- two", "1. first", "2. second", "Ping @Ada"] {
        assert!(lines.contains(&wanted), "no line {wanted:?} in {lines:#?}");
    }
    assert!(
        !lines.iter().any(|line| line.trim() == "-"),
        "an empty bullet in {lines:#?}"
    );
}

#[test]
fn a_server_that_drops_the_color_costs_no_rewrites() {
    let w = World::start(&[]);
    w.proxy.strip_put_property("COLOR");
    let project = w.plane.add_project("Website", "WEB");
    for (name, priority) in [("Urgent", "urgent"), ("Low", "low"), ("None", "none")] {
        let item = w.plane.add_item(&project, name, Some("2026-12-01"));
        w.plane
            .update_item(&item, |i| i.priority = priority.to_string());
    }
    let status = w.sync_counted();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert!(
        w.proxy
            .put_bodies()
            .iter()
            .all(|body| body.contains("\nCOLOR:")),
        "the service wrote no COLOR"
    );
    let events = w.events(&project);
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|(_, ics)| property(ics, "COLOR").is_none()),
        "the server kept COLOR: {events:?}"
    );

    for _ in 0..2 {
        let status = w.sync_counted();
        assert_eq!(status["last_sync"]["status"], "success", "{status}");
        assert_eq!(w.proxy.writes(), 0, "{:?}", w.proxy.requests());
    }
}
