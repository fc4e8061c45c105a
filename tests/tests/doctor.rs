//! `calplanebot doctor` against the fake Plane and a real Radicale: each
//! mistake an operator makes is named with the key to change, never with
//! a secret, and exits 1; a good configuration passes every check, exits 0
//! and leaves nothing behind on the CalDAV server.

use calplanebot_tests::caldav_server::{CalDavServer, free_port};
use calplanebot_tests::fake_plane::TOKEN;
use calplanebot_tests::host::{CommandRun, HostOptions, run_command, test_dir};
use calplanebot_tests::world::World;

const CALDAV_PASSWORD: &str = "correct-horse-battery";

/// The world's configuration with `changes` made (a key set to "" is
/// removed).
fn options(world: &World, changes: &[(&str, &str)]) -> HostOptions {
    let mut options = world.options.clone();
    options
        .env
        .retain(|(key, _)| !changes.iter().any(|(changed, _)| changed == key));
    for (key, value) in changes {
        if !value.is_empty() {
            options = options.env(key, *value);
        }
    }
    options
}

fn line<'a>(run: &'a CommandRun, check: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l[l.char_indices().nth(2).map(|(i, _)| i).unwrap_or(0)..].starts_with(check))
        .unwrap_or_else(|| panic!("no line for {check}: {}", run.all()))
}

fn assert_failed(run: &CommandRun, check: &str, key: &str) {
    assert_eq!(run.status.code(), Some(1), "{}", run.all());
    let found = line(run, check);
    assert!(found.starts_with('✗'), "{check} should fail: {}", run.all());
    let fix = run
        .stdout
        .lines()
        .skip_while(|l| *l != found)
        .nth(1)
        .unwrap_or("");
    assert!(
        fix.trim_start().starts_with('→') && fix.contains(key),
        "{check}'s fix names {key}: {}",
        run.all()
    );
}

fn no_secrets(run: &CommandRun, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !run.all().contains(secret),
            "a secret was printed: {}",
            run.all()
        );
    }
}

/// Invariant: with everything right every check passes (exit 0), the
/// calendars the sync would create are named, the write test leaves no
/// calendar behind, and `--json` says the same for machines.
#[test]
fn a_good_configuration_passes_every_check_and_leaves_nothing_behind() {
    let world = World::start(&[("PLANE_WEBHOOK_SECRET", "whsec-doctor")]);
    world.plane.add_project("Website", "WEB");
    let project = world.plane.add_project("Mobile app", "MOB");
    world
        .plane
        .add_item(&project, "Ship it", Some("2027-01-15"));
    world.plane.add_item(&project, "Someday", None);
    let dir = test_dir("doctor");
    let options = options(&world, &[]);
    let before = world.calendar_names();

    let run = run_command(dir.path(), &options, &["doctor"]);
    assert_eq!(run.status.code(), Some(0), "{}", run.all());
    for check in [
        "configuration",
        "Plane reachable",
        "Plane API key",
        "Plane workspace",
        "Plane work items",
        "Plane web address",
        "CalDAV reachable",
        "CalDAV credentials",
        "CalDAV discovery",
        "CalDAV calendars",
        "CalDAV write test",
        "webhook secret",
        "clock",
    ] {
        assert!(line(&run, check).starts_with('✓'), "{check}: {}", run.all());
    }
    assert!(
        line(&run, "Plane work items").contains("2 work items in 2 projects"),
        "{}",
        run.all()
    );
    assert!(
        line(&run, "Plane work items").contains("1 of them have a due date"),
        "{}",
        run.all()
    );
    assert!(
        line(&run, "CalDAV calendars")
            .contains("would create \"Plane: Website\", \"Plane: Mobile app\""),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("All checks passed."));
    assert_eq!(world.calendar_names(), before, "the write test cleaned up");
    no_secrets(&run, &[TOKEN, "whsec-doctor", "not-checked-by-radicale"]);

    let json = run_command(dir.path(), &options, &["doctor", "--json", "--no-write"]);
    assert_eq!(json.status.code(), Some(0), "{}", json.all());
    let report: serde_json::Value =
        serde_json::from_str(&json.stdout).expect("doctor --json prints JSON");
    assert_eq!(report["ok"], true);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"CalDAV write test"),
        "--no-write skips it: {names:?}"
    );
}

/// Invariant: a wrong API key (403) and a missing one are told apart, a
/// wrong slug names PLANE_WORKSPACE_SLUG, and neither prints the key.
#[test]
fn a_wrong_token_and_a_wrong_slug_are_named() {
    let world = World::start(&[("PLANE_WEBHOOK_SECRET", "s")]);
    let dir = test_dir("doctor-plane");
    let wrong = "plane_api_wrong0123456789";
    let run = run_command(
        dir.path(),
        &options(&world, &[("PLANE_API_TOKEN", wrong)]),
        &["doctor", "--no-write"],
    );
    assert_failed(&run, "Plane API key", "PLANE_API_TOKEN");
    assert!(line(&run, "Plane API key").contains("403"), "{}", run.all());
    assert!(line(&run, "Plane reachable").starts_with('✓'));
    no_secrets(&run, &[wrong]);

    let run = run_command(
        dir.path(),
        &options(&world, &[("PLANE_WORKSPACE_SLUG", "no-such-team")]),
        &["doctor", "--no-write"],
    );
    assert_failed(&run, "Plane workspace", "PLANE_WORKSPACE_SLUG");
    assert!(line(&run, "Plane API key").starts_with('✓'));
    // CalDAV is still checked: one run shows every problem it can.
    assert!(line(&run, "CalDAV credentials").starts_with('✓'));

    let run = run_command(
        dir.path(),
        &options(&world, &[("PLANE_API_TOKEN", "")]),
        &["doctor"],
    );
    assert_failed(&run, "configuration", "calplanebot config");
    assert!(line(&run, "configuration").contains("PLANE_API_TOKEN"));
}

/// Invariant: a wrong CalDAV password, a URL that is not CalDAV, and
/// servers that do not answer each fail their own check, naming the key.
#[test]
fn wrong_caldav_settings_and_unreachable_hosts_are_named() {
    let world = World::start(&[("PLANE_WEBHOOK_SECRET", "s")]);
    let dir = test_dir("doctor-caldav");
    let guarded =
        CalDavServer::start_with_password("alice", CALDAV_PASSWORD).expect("Radicale starts");
    let wrong_password = "wrong-password-42";
    let run = run_command(
        dir.path(),
        &options(
            &world,
            &[
                ("CALDAV_URL", &guarded.url()),
                ("CALDAV_PASSWORD", wrong_password),
            ],
        ),
        &["doctor"],
    );
    assert_failed(&run, "CalDAV credentials", "CALDAV_PASSWORD");
    assert!(line(&run, "CalDAV reachable").starts_with('✓'));
    no_secrets(&run, &[wrong_password]);

    let run = run_command(
        dir.path(),
        &options(
            &world,
            &[
                ("CALDAV_URL", &guarded.url()),
                ("CALDAV_PASSWORD", CALDAV_PASSWORD),
            ],
        ),
        &["doctor"],
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "the right password passes: {}",
        run.all()
    );
    no_secrets(&run, &[CALDAV_PASSWORD]);

    // A mistyped path: no collection there.
    let mistyped = world.proxy.url("/alice/no-such-calendar/");
    let run = run_command(
        dir.path(),
        &options(&world, &[("CALDAV_URL", &mistyped)]),
        &["doctor"],
    );
    assert_failed(&run, "CalDAV discovery", "CALDAV_URL");

    let nobody = format!("http://127.0.0.1:{}/", free_port());
    let run = run_command(
        dir.path(),
        &options(&world, &[("CALDAV_URL", &nobody)]),
        &["doctor"],
    );
    assert_failed(&run, "CalDAV reachable", "CALDAV_URL");
    assert!(line(&run, "Plane API key").starts_with('✓'));

    let run = run_command(
        dir.path(),
        &options(&world, &[("PLANE_BASE_URL", &nobody)]),
        &["doctor", "--no-write"],
    );
    assert_failed(&run, "Plane reachable", "PLANE_BASE_URL");
}
