//! The host's log as JSON lines, the guest's lines carrying the sync id
//! and the work item id, and `--log-file` written instead of stderr.

use calplanebot_tests::host::{run_command, test_dir};
use calplanebot_tests::webhook_delivery::deliver;
use calplanebot_tests::world::Setup;
use serde_json::Value;

fn records(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not one JSON object ({err}): {line}"))
        })
        .collect()
}

/// Invariant: with `--log-format json` every line is one JSON object with
/// a timestamp, level, target and message; the guest's sync lines carry
/// the sync's id and its webhook lines the work item's id.
#[test]
fn json_lines_carry_the_sync_and_item_ids() {
    let world = Setup::default()
        .arg("--log-format")
        .arg("json")
        .env(
            "PLANE_WEBHOOK_SECRET",
            calplanebot_tests::webhook_delivery::SECRET,
        )
        .start();
    let project = world.plane.add_project("Website", "WEB");
    let item = world.plane.add_item(&project, "Launch", Some("2027-01-15"));
    let (status, body) = world.trigger();
    assert_eq!(status, 200, "{body}");
    let sync_id = body["sync_id"].as_str().unwrap().to_string();
    world.wait_until_idle();
    world
        .plane
        .update_item(&item, |i| i.name = "Launch v2".into());
    let (status, _) = deliver(&world, "updated", world.plane.webhook_data(&item));
    assert_eq!(status, 200);

    let all = records(&world.host().log());
    for record in &all {
        for key in ["timestamp", "level", "target"] {
            assert!(record[key].is_string(), "{key} missing: {record}");
        }
        assert!(record["fields"]["message"].is_string(), "{record}");
    }
    let completed = all
        .iter()
        .find(|r| {
            r["target"] == "guest"
                && r["fields"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Sync completed")
        })
        .expect("the sync's outcome is logged");
    assert_eq!(completed["fields"]["sync_id"], sync_id.as_str());
    assert!(
        all.iter()
            .any(|r| r["target"] == "guest" && r["fields"]["item_id"] == item.as_str()),
        "a webhook line names the item"
    );
}

/// Invariant: `--log-file` receives the log (stderr does not), and a
/// folder that does not exist is refused with a message naming the flag.
#[test]
fn the_log_file_receives_the_log() {
    let world = Setup::default().start();
    let dir = test_dir("log-file");
    let path = dir.path().join("calplanebot.log");
    let mut options = world.options.clone();
    // Nothing listens there: the sync fails and says so in the log.
    options.env.retain(|(k, _)| k != "PLANE_BASE_URL");
    options = options.env("PLANE_BASE_URL", "http://127.0.0.1:9/");
    let run = run_command(
        dir.path(),
        &options,
        &[
            "sync",
            "--log-format",
            "json",
            "--log-file",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.all());
    let written = std::fs::read_to_string(&path).expect("the log file exists");
    let lines: Vec<String> = written.lines().map(str::to_string).collect();
    assert!(!lines.is_empty(), "{}", run.all());
    let warned = records(&lines)
        .into_iter()
        .any(|r| r["level"] == "WARN" && r["fields"]["sync_id"].is_string());
    assert!(warned, "{written}");
    assert!(
        !run.stderr.contains("\"level\""),
        "stderr has no log records: {}",
        run.stderr
    );

    let refused = run_command(
        dir.path(),
        &options,
        &["doctor", "--log-file", "/no/such/folder/x.log"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", refused.all());
    assert!(refused.stderr.contains("--log-file"), "{}", refused.all());
}
