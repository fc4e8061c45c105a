use super::*;
use crate::net::NetError;
use crate::net::scripted::{ScriptedHttp, response};

const SECRET_TOKEN: &str = "plane_api_0123456789abcdef";
const SECRET_PASSWORD: &str = "hunter2-caldav";

fn config(extra: &[(&str, &str)]) -> Config {
    let mut pairs = vec![
        ("PLANE_BASE_URL", "https://plane.test"),
        ("PLANE_API_TOKEN", SECRET_TOKEN),
        ("PLANE_WORKSPACE_SLUG", "team"),
        ("CALDAV_URL", "https://dav.test/"),
        ("CALDAV_USERNAME", "bot"),
        ("CALDAV_PASSWORD", SECRET_PASSWORD),
    ];
    pairs.extend_from_slice(extra);
    Config::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn names_failed(report: &Report) -> Vec<&'static str> {
    report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name)
        .collect()
}

fn no_secret_in(report: &Report) {
    let text = serde_json::to_string(report).unwrap();
    assert!(
        !text.contains(SECRET_TOKEN) && !text.contains(SECRET_PASSWORD),
        "{text}"
    );
}

const OPTIONS: Options = Options { write_test: false };

#[test]
fn an_incomplete_configuration_is_named_and_nothing_is_asked() {
    let http = ScriptedHttp::new(|r, _| panic!("unexpected request to {}", r.url));
    let report = run(&Config::from_vars([]), &http, OPTIONS);
    assert!(!report.ok);
    assert_eq!(names_failed(&report), ["configuration", "webhook secret"]);
    assert!(report.checks[0].found.contains("PLANE_API_TOKEN"));
}

#[test]
fn a_refused_key_and_a_missing_key_are_told_apart() {
    for (status, words) in [(403, "not valid"), (401, "asked for an API key")] {
        let http = ScriptedHttp::new(move |_, _| {
            Ok(response(
                status,
                &[],
                r#"{"detail":"Given API token is not valid"}"#,
            ))
        });
        let report = run(&config(&[]), &http, OPTIONS);
        let key = report
            .checks
            .iter()
            .find(|c| c.name == "Plane API key")
            .unwrap();
        assert!(!key.ok && key.found.contains(words), "{key:?}");
        assert!(key.fix.as_deref().unwrap().contains("PLANE_API_TOKEN"));
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.name == "Plane reachable" && c.ok)
        );
        no_secret_in(&report);
    }
}

#[test]
fn an_unreachable_plane_and_a_wrong_slug_say_which_key_to_change() {
    let http = ScriptedHttp::new(|_, _| Err(NetError::Connection("connection refused".into())));
    let report = run(&config(&[]), &http, OPTIONS);
    let reachable = &report.checks[1];
    assert_eq!(reachable.name, "Plane reachable");
    assert!(!reachable.ok && reachable.fix.as_deref().unwrap().contains("PLANE_BASE_URL"));

    let http = ScriptedHttp::new(|request, _| {
        Ok(if request.url.contains("users/me") {
            response(200, &[], r#"{"id":"u"}"#)
        } else {
            response(404, &[], r#"{"detail":"Not found."}"#)
        })
    });
    let report = run(&config(&[]), &http, OPTIONS);
    let workspace = report
        .checks
        .iter()
        .find(|c| c.name == "Plane workspace")
        .unwrap();
    assert!(!workspace.ok);
    assert!(
        workspace
            .fix
            .as_deref()
            .unwrap()
            .contains("PLANE_WORKSPACE_SLUG")
    );
    no_secret_in(&report);
}

#[test]
fn a_web_address_that_is_the_api_fails_and_a_far_clock_is_noticed() {
    let http = ScriptedHttp::new(|_, _| {
        Ok(response(
            401,
            &[("date", "Mon, 01 Jan 2024 00:00:00 GMT")],
            "{}",
        ))
    });
    let report = run(
        &config(&[
            ("PLANE_WEB_URL", "https://api.plane.so"),
            ("PLANE_WEBHOOK_SECRET", "s"),
        ]),
        &http,
        OPTIONS,
    );
    let web = report
        .checks
        .iter()
        .find(|c| c.name == "Plane web address")
        .unwrap();
    assert!(!web.ok && web.fix.as_deref().unwrap().contains("PLANE_WEB_URL"));
    let clock = report.checks.iter().find(|c| c.name == "clock").unwrap();
    assert!(!clock.ok && clock.found.contains("ahead of"), "{clock:?}");
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.name == "webhook secret" && c.ok)
    );
}

#[test]
fn urls_are_shown_without_credentials() {
    assert_eq!(
        without_credentials("https://bot:s3cret@dav.test/remote.php/dav"),
        "https://dav.test/remote.php/dav"
    );
    assert_eq!(
        without_credentials("https://dav.test/a@b"),
        "https://dav.test/a@b"
    );
}
