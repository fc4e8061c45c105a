//! Operator mistakes fail closed: a mistyped env file or flag stops
//! start-up with a message that says what to fix; an env file deleted,
//! emptied or half-written while serving keeps the last good settings;
//! signals do what their names say.

use std::path::Path;
use std::time::{Duration, SystemTime};

use calplanebot_tests::components;
use calplanebot_tests::host::{Host, HostOptions, client, test_dir};

fn start_error(options: &HostOptions) -> String {
    let dir = test_dir("refused");
    match Host::start(dir.path(), options) {
        Ok(_) => panic!("the host started with {:?}", options.args),
        Err(err) => format!("{err:#}"),
    }
}

/// Invariant: a named env file that does not exist, and out-of-range
/// values, stop start-up and name what to fix.
#[test]
fn a_missing_env_file_and_out_of_range_flags_stop_start_up() {
    let probe = HostOptions::default().component(components::probe());
    let message = start_error(&probe.clone().arg("--env-file").arg("prod.env"));
    assert!(message.contains("prod.env"), "{message}");
    for (flag, value) in [
        ("--max-instances", "0"),
        ("--request-timeout", "0"),
        ("--body-timeout", "0"),
        ("--memory-limit-mib", "1"),
        ("--max-connections", "0"),
    ] {
        let message = start_error(&probe.clone().arg(flag).arg(value));
        assert!(message.contains(flag), "{flag}: {message}");
        assert!(message.contains("not in"), "a range is named: {message}");
    }
    let message = start_error(&probe.clone().arg("--trusted-proxy").arg("10.0.0.0/33"));
    assert!(message.contains("--trusted-proxy"), "{message}");
}

fn seen_by_guest(host: &Host, name: &str) -> Option<String> {
    let response = client()
        .get(host.url(&format!("/env?name={name}")))
        .send()
        .unwrap();
    match response.status().as_u16() {
        200 => Some(response.text().unwrap()),
        404 => None,
        other => panic!("/env answered {other}"),
    }
}

/// Writes `text` and dates the file `age` ago, as an edit made then.
fn write_aged(path: &Path, text: &str, age: Duration) {
    write_dated(path, text, SystemTime::now() - age);
}

fn write_dated(path: &Path, text: &str, modified: SystemTime) {
    std::fs::write(path, text).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(modified).unwrap();
}

const TOKEN: &str = "CALPLANEBOT_API_TOKEN";

/// Invariant: the secrets in force are only ever changed by a valid file
/// that sets or explicitly leaves them out; a deleted, emptied or
/// half-written file keeps the last good configuration and says why.
#[test]
fn a_deleted_emptied_or_half_written_env_file_keeps_the_secrets() {
    let dir = test_dir("env-reload");
    let env = dir.path().join("service.env");
    write_aged(&env, "CALPLANEBOT_API_TOKEN=first-token\n", Duration::ZERO);
    let options = HostOptions::default()
        .component(components::probe())
        .arg("--env-file")
        .arg(env.display().to_string());
    let host = Host::start(dir.path(), &options).unwrap();
    assert_eq!(seen_by_guest(&host, TOKEN).as_deref(), Some("first-token"));

    std::fs::write(&env, "").unwrap();
    assert_eq!(seen_by_guest(&host, TOKEN).as_deref(), Some("first-token"));
    assert!(host.wait_for_log("the env file is now empty", Duration::from_secs(5)));

    std::fs::remove_file(&env).unwrap();
    assert_eq!(seen_by_guest(&host, TOKEN).as_deref(), Some("first-token"));
    assert!(host.wait_for_log("the env file is gone", Duration::from_secs(5)));

    // A line that does not parse (an unclosed quote).
    write_aged(
        &env,
        "CALPLANEBOT_API_TOKEN=\"second\n",
        Duration::from_secs(5),
    );
    assert_eq!(seen_by_guest(&host, TOKEN).as_deref(), Some("first-token"));

    // Caught mid-write: the secret's line is not there yet.
    write_aged(
        &env,
        "LOG_LEVEL=DEBUG\nCALPLANEBOT_API",
        Duration::from_secs(5),
    );
    assert_eq!(seen_by_guest(&host, TOKEN).as_deref(), Some("first-token"));
    assert!(host.wait_for_log("looks half-written", Duration::from_secs(5)));

    write_aged(&env, "CALPLANEBOT_API_TOKEN=second-token\n", Duration::ZERO);
    assert_eq!(seen_by_guest(&host, TOKEN).as_deref(), Some("second-token"));

    // An edit that removes the secret, once it has settled, removes it.
    write_aged(&env, "LOG_LEVEL=DEBUG\n", Duration::from_secs(5));
    assert_eq!(seen_by_guest(&host, TOKEN), None);
    assert!(host.wait_for_log(
        "CALPLANEBOT_API_TOKEN removed by an edit",
        Duration::from_secs(5)
    ));
    assert!(!host.log_contains("second-token") && !host.log_contains("first-token"));
}

/// Invariant: SIGHUP never ends the process and makes it read the env
/// file even when the file looks unchanged.
#[test]
fn sighup_rereads_the_env_file_and_never_kills() {
    let dir = test_dir("sighup");
    let env = dir.path().join(".env");
    let edited = SystemTime::now() - Duration::from_secs(60);
    write_dated(&env, "CALPLANEBOT_API_TOKEN=aaaa\n", edited);
    let options = HostOptions::default().component(components::probe());
    let mut host = Host::start(dir.path(), &options).unwrap();
    assert_eq!(seen_by_guest(&host, TOKEN).as_deref(), Some("aaaa"));

    // Same size, same modification time: only a reread can notice.
    write_dated(&env, "CALPLANEBOT_API_TOKEN=bbbb\n", edited);
    assert_eq!(seen_by_guest(&host, TOKEN).as_deref(), Some("aaaa"));

    host.signal("HUP");
    assert!(host.wait_for_log("SIGHUP received", Duration::from_secs(5)));
    assert_eq!(seen_by_guest(&host, TOKEN).as_deref(), Some("bbbb"));
    assert!(host.is_running());
    assert_eq!(client().get(host.url("/ok")).send().unwrap().status(), 200);
}

/// Invariant: the first SIGTERM drains (and a drained host exits 0); a
/// second one ends the process at once, with a failure status, even while
/// a request is in flight and the grace period is long.
#[test]
fn a_second_sigterm_ends_the_process_at_once() {
    let dir = test_dir("sigterm");
    let options = HostOptions::default()
        .component(components::probe())
        .arg("--shutdown-grace")
        .arg("600");
    let host = Host::start(dir.path(), &options).unwrap();
    let url = host.url("/sleep?ms=600000");
    let in_flight = std::thread::spawn(move || client().get(url).send().map(|r| r.status()));
    assert!(host.wait_for_log("sleeping 600000 ms", Duration::from_secs(10)));
    host.signal("TERM");
    assert!(host.wait_for_log("shutting down", Duration::from_secs(5)));
    host.signal("TERM");
    let status = host.wait_exit(Duration::from_secs(30)).unwrap();
    assert_eq!(status.code(), Some(1), "stopped, not drained");
    assert!(in_flight.join().unwrap().is_err(), "the request was cut");

    let drained = Host::start(dir.path(), &options).unwrap();
    assert_eq!(drained.stop().unwrap().code(), Some(0));
}
