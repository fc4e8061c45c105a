//! One sync at a time for as long as it works, and a newer change never
//! undone by an older one: the real host and guest against Radicale, with
//! a fake Plane that can be slow or failing, and webhooks interleaved with
//! a long full sync, delivered late, out of order, or queued.

use std::time::{Duration, Instant};

use calplanebot_tests::caldav_server::Kind;
use calplanebot_tests::plane_json::dumps;
use calplanebot_tests::webhook_delivery::{SECRET, deliver, deliver_body, world};
use calplanebot_tests::world::{World, property};
use serde_json::json;

fn summary(world: &World, project: &str, item: &str) -> Option<String> {
    world
        .event_of(project, item)
        .and_then(|event| property(&event, "SUMMARY"))
}

fn date(world: &World, project: &str, item: &str) -> Option<String> {
    world
        .event_of(project, item)
        .and_then(|event| property(&event, "DTSTART"))
}

#[test]
fn a_sync_whose_plane_listing_spans_several_lease_periods_keeps_its_lease() {
    let w = World::start(&[
        ("SYNC_LEASE_SECONDS", "2"),
        ("PLANE_PAGE_SIZE", "2"),
        ("RATE_LIMIT_SYNC_PER_HOUR", "10000"),
    ]);
    let project = w.plane.add_project("Website", "WEB");
    for n in 0..10 {
        w.plane
            .add_item(&project, &format!("Item {n}"), Some("2026-05-01"));
    }
    // Each answer takes 0.7 s and the first two fail (back-off of 1 s and
    // 2 s): the listing alone takes about three lease periods.
    w.plane.set_delay(Duration::from_millis(700));
    w.plane.fail_next(2);
    let started = Instant::now();
    let (status, body) = w.trigger();
    assert_eq!(status, 200, "{body}");
    let sync_id = body["sync_id"].as_str().unwrap().to_string();
    let mut polls = 0;
    loop {
        let status = w.get_json("/webhooks/status");
        if status["status"] != "running" {
            assert_eq!(status["last_sync"]["status"], "success", "{status}");
            break;
        }
        // For all of it, a second trigger is refused.
        let (code, refused) = w.trigger();
        assert_eq!(code, 409, "{refused}");
        assert_eq!(refused["error_code"], "SYNC_IN_PROGRESS");
        assert_eq!(refused["details"]["sync_id"], sync_id.as_str());
        polls += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    let lasted = started.elapsed();
    assert!(
        lasted > Duration::from_secs(4),
        "the sync was to outlast two lease periods; took {lasted:?}"
    );
    assert!(polls > 0);
    assert_eq!(w.events(&project).len(), 10);
    assert!(!w.host().log_contains("lease was lost"));
}

#[test]
fn webhooks_for_items_changed_during_a_long_full_sync_are_not_undone() {
    let w = world(&[("PLANE_PAGE_SIZE", "5")]);
    let projects: Vec<String> = ["Web", "Mobile", "Ops"]
        .iter()
        .map(|name| w.plane.add_project(name, &name.to_uppercase()))
        .collect();
    let mut items = Vec::new();
    for project in &projects {
        for n in 0..20 {
            let dated = (n != 0).then_some("2026-05-01");
            items.push((
                project.clone(),
                w.plane.add_item(project, &format!("Item {n}"), dated),
            ));
        }
    }
    assert_eq!(w.sync()["last_sync"]["status"], "success");

    // A slow Plane: the full sync takes seconds, and the changes below
    // happen while it lists and writes.
    w.plane.set_delay(Duration::from_millis(150));
    let (status, _) = w.trigger();
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let mut changed = Vec::new();
    for (round, (project, item)) in items.iter().step_by(7).enumerate() {
        match round % 4 {
            0 => w
                .plane
                .update_item(item, |i| i.name = "Renamed mid-sync".into()),
            1 => w
                .plane
                .update_item(item, |i| i.target_date = Some("2026-07-04".into())),
            2 => w.plane.update_item(item, |i| i.target_date = None),
            _ => w.plane.update_item(item, |i| {
                i.name = "Moved mid-sync".into();
                i.target_date = Some("2026-08-15".into())
            }),
        }
        let (status, body) = deliver(&w, "updated", w.plane.webhook_data(item));
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("processed")),
            "{body}"
        );
        changed.push((project.clone(), item.clone()));
        std::thread::sleep(Duration::from_millis(250));
    }
    let status = w.wait_until_idle();
    assert_ne!(status["last_sync"]["status"], "failed", "{status}");
    // As soon as that sync ends, without another one, every changed item
    // shows its latest state.
    for (project, item) in &changed {
        let latest = w.plane.items().into_iter().find(|i| &i.id == item).unwrap();
        match &latest.target_date {
            None => assert!(
                w.event_of(project, item).is_none(),
                "{item}: its date was removed"
            ),
            Some(day) => {
                assert_eq!(
                    date(&w, project, item).as_deref(),
                    Some(day.replace('-', "").as_str()),
                    "{item}"
                );
                assert!(
                    summary(&w, project, item).unwrap().ends_with(&latest.name),
                    "{item}"
                );
            }
        }
    }
}

#[test]
fn an_older_delivery_after_a_newer_one_changes_nothing() {
    older_after_newer(Kind::Radicale);
}

#[test]
fn an_older_delivery_after_a_newer_one_changes_nothing_on_xandikos() {
    older_after_newer(Kind::Xandikos);
}

fn older_after_newer(kind: Kind) {
    let w = World::start_with(
        kind,
        &[
            ("PLANE_WEBHOOK_SECRET", SECRET),
            ("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "10000"),
        ],
    );
    let project = w.plane.add_project("Website", "WEB");
    w.sync();
    let item = w.plane.add_item(&project, "First name", Some("2026-05-01"));
    let first = w.plane.webhook_data(&item);
    w.plane
        .update_item(&item, |i| i.name = "Second name".into());
    let second = w.plane.webhook_data(&item);

    let (status, body) = deliver(&w, "updated", second);
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("created")),
        "{body}"
    );
    // Plane retries a delivery minutes later with its original body.
    w.proxy.reset();
    let (status, body) = deliver(&w, "created", first);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "superseded");
    assert_eq!(w.proxy.writes(), 0, "{:?}", w.proxy.counts());
    assert!(
        summary(&w, &project, &item)
            .unwrap()
            .ends_with("Second name")
    );

    // An older removal of the date does not remove the newer event either.
    let undated_before = {
        let mut data = w.plane.webhook_data(&item);
        data["target_date"] = json!(null);
        data["updated_at"] = json!("2020-01-01T00:00:00.000000+05:30");
        data
    };
    let (status, body) = deliver(&w, "updated", undated_before);
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("superseded")),
        "{body}"
    );
    assert!(w.event_of(&project, &item).is_some());
}

#[test]
fn a_stale_queued_change_is_not_applied_after_a_direct_one() {
    let w = world(&[]);
    let project = w.plane.add_project("Ops", "OPS");
    w.sync();
    let item = w.plane.add_item(&project, "Old name", Some("2026-06-01"));

    w.proxy.set_down(true);
    let (status, body) = deliver(&w, "created", w.plane.webhook_data(&item));
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    w.proxy.set_down(false);
    w.plane.update_item(&item, |i| i.name = "New name".into());
    let (status, body) = deliver(&w, "updated", w.plane.webhook_data(&item));
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    assert_eq!(w.get_json("/webhooks/status")["queue_length"], 1);

    // The next sync drains the queue first: the older change is dropped,
    // not written over the newer one.
    w.proxy.reset();
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert_eq!(status["queue_length"], 0);
    let stale: Vec<String> = w
        .proxy
        .put_bodies()
        .into_iter()
        .filter(|body| body.contains("Old name"))
        .collect();
    assert!(stale.is_empty(), "the stale change was written: {stale:?}");
    assert!(summary(&w, &project, &item).unwrap().ends_with("New name"));
}

#[test]
fn a_webhook_meeting_a_slow_plane_is_queued_within_the_request_limit() {
    // A request limit of 6 s: the webhook gives Plane 3 s, Plane takes 20.
    let w = World::start_with_args(
        Kind::Radicale,
        &[
            ("PLANE_WEBHOOK_SECRET", SECRET),
            ("RATE_LIMIT_WEBHOOKS_PER_MINUTE", "10000"),
        ],
        &["--request-timeout", "6"],
    );
    let project = w.plane.add_project("Website", "WEB");
    w.sync();
    let item = w
        .plane
        .add_item(&project, "Fetched later", Some("2026-09-09"));
    w.plane.set_delay(Duration::from_secs(20));
    // Plane Cloud's v2 format carries ids only: the item must be fetched.
    let body = dumps(&json!({
        "version": "v2", "event": "workitem.updated", "event_id": "evt-slow",
        "data": {"id": item, "project_id": project, "state_id": null}
    }));
    let (status, answer) = deliver_body(&w, &body);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "queued");
    assert_eq!(answer["queue_length"], 1);

    // Once Plane is fast again, the next sync applies it.
    w.plane.set_delay(Duration::ZERO);
    let status = w.sync();
    assert_eq!(status["queue_length"], 0, "{status}");
    assert!(
        summary(&w, &project, &item)
            .unwrap()
            .ends_with("Fetched later")
    );
}

#[test]
fn a_delivery_claiming_a_version_from_the_future_cannot_freeze_an_event() {
    let w = world(&[]);
    let project = w.plane.add_project("Website", "WEB");
    let item = w.plane.add_item(&project, "Real name", Some("2026-05-01"));
    w.sync();
    // A forged (or wildly mis-clocked) delivery: it is applied, but its
    // version counts as unknown, so it outranks nothing.
    let mut forged = w.plane.webhook_data(&item);
    forged["name"] = json!("Forged name");
    forged["updated_at"] = json!("2999-01-01T00:00:00.000000Z");
    let (status, body) = deliver(&w, "updated", forged);
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("updated")),
        "{body}"
    );
    let event = w.event_of(&project, &item).unwrap();
    assert!(
        property(&event, "X-CALPLANEBOT-UPDATED-AT").is_none(),
        "{event}"
    );
    // Plane's own listing puts the item back as it is.
    let status = w.sync();
    assert_eq!(status["last_sync"]["status"], "success", "{status}");
    assert!(summary(&w, &project, &item).unwrap().ends_with("Real name"));
}
