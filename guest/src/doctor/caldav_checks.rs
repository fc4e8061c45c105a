//! CalDAV: reachable (TLS included), the credentials accepted, discovery,
//! the calendars the sync would use or create, and a write test.

use super::{Check, Options};
use crate::caldav::{CalDavClient, CalDavError, Calendar, Precondition, WriteOutcome};
use crate::config::SyncConfig;
use crate::net::Http;
use crate::plane::Project;
use crate::sync::calendars::{NAME_PREFIX, display_name};

pub fn run(
    http: &dyn Http,
    sync: &SyncConfig,
    projects: Option<&[Project]>,
    options: Options,
    checks: &mut Vec<Check>,
) {
    let credentials = sync.credentials();
    let caldav = CalDavClient::new(http, &sync.caldav_url, &credentials);
    let shown = super::without_credentials(&sync.caldav_url);
    let url = &shown;
    let home = match caldav.discover_home() {
        Ok(home) => home,
        Err(err) => {
            checks.extend(discovery_failure(url, err));
            return;
        }
    };
    checks.push(Check::pass("CalDAV reachable", format!("{url} answered")));
    checks.push(Check::pass(
        "CalDAV credentials",
        format!(
            "accepted for {:?}",
            if sync.caldav_username.is_empty() {
                "(no user name)"
            } else {
                sync.caldav_username.as_str()
            }
        ),
    ));
    checks.push(Check::pass(
        "CalDAV discovery",
        format!("calendar home {home}"),
    ));
    let calendars = match caldav.calendars(&home) {
        Ok(calendars) => calendars,
        Err(err) => {
            checks.push(Check::fail(
                "CalDAV calendars",
                format!("the calendar home could not be listed: {err}"),
                "point CALDAV_URL at the calendar home or the server root (e.g. https://host/remote.php/dav for Nextcloud)",
            ));
            return;
        }
    };
    checks.push(calendar_plan(&calendars, projects));
    if options.write_test {
        checks.push(write_test(&caldav, &home));
    }
}

fn discovery_failure(url: &str, err: CalDavError) -> Vec<Check> {
    let reachable = || Check::pass("CalDAV reachable", format!("{url} answered"));
    match err {
        CalDavError::Connection(net) => {
            let text = net.to_string();
            let tls = ["certificate", "tls", "ssl", "handshake"]
                .iter()
                .any(|word| text.to_ascii_lowercase().contains(word));
            let fix = if tls {
                "the server's TLS certificate is not trusted: give it a certificate from a public CA (or add its CA to this machine's trust store)"
            } else {
                "check CALDAV_URL's host and port, and that this machine can reach it"
            };
            vec![Check::fail(
                "CalDAV reachable",
                format!("{url} did not answer: {text}"),
                fix,
            )]
        }
        CalDavError::Unauthorized(status) => vec![
            reachable(),
            Check::fail(
                "CalDAV credentials",
                format!("the server refused the credentials (HTTP {status})"),
                "check CALDAV_USERNAME and CALDAV_PASSWORD (an app password where the server has two-factor sign-in), and CALDAV_AUTH_TYPE (basic or digest)",
            ),
        ],
        CalDavError::Status { status, .. } => vec![
            reachable(),
            Check::fail(
                "CalDAV discovery",
                format!("{url} is not a CalDAV collection (PROPFIND answered {status})"),
                "set CALDAV_URL to the server's CalDAV address (Nextcloud: https://host/remote.php/dav; Radicale: https://host/; or https://host/.well-known/caldav)",
            ),
        ],
        other => vec![
            reachable(),
            Check::fail(
                "CalDAV discovery",
                other.to_string(),
                "set CALDAV_URL to the server's CalDAV address",
            ),
        ],
    }
}

/// Which calendar each project would use: the one named `Plane: {name}`,
/// else one the sync creates.
fn calendar_plan(calendars: &[Calendar], projects: Option<&[Project]>) -> Check {
    let ours = calendars
        .iter()
        .filter(|c| {
            c.display_name
                .as_deref()
                .is_some_and(|n| n.starts_with(NAME_PREFIX))
        })
        .count();
    let mut found = format!(
        "{} calendars, {ours} named \"{NAME_PREFIX} …\"",
        calendars.len()
    );
    if let Some(projects) = projects {
        let (mut used, mut created) = (Vec::new(), Vec::new());
        for project in projects {
            let name = display_name(project);
            if calendars
                .iter()
                .any(|c| c.display_name.as_deref() == Some(name.as_str()))
            {
                used.push(name);
            } else {
                created.push(name);
            }
        }
        if !used.is_empty() {
            found.push_str(&format!("; would use {}", quoted(&used)));
        }
        if !created.is_empty() {
            found.push_str(&format!("; would create {}", quoted(&created)));
        }
    }
    Check::pass("CalDAV calendars", found)
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates a temporary calendar, writes an event in it, and deletes both:
/// the sync needs both rights (it makes a calendar per project).
fn write_test(caldav: &CalDavClient, home: &str) -> Check {
    const NAME: &str = "CalDAV write test";
    let id = uuid::Uuid::new_v4();
    let calendar = format!("{home}calplanebot-doctor-{id}/");
    let made = caldav.make_calendar(
        &calendar,
        "calplanebot doctor (temporary)",
        "Made and deleted by calplanebot doctor",
    );
    let refused = match made {
        Ok(true) => None,
        Ok(false) => Some("the server refused it (HTTP 403 or 409)".to_string()),
        Err(err) => {
            // A timeout can come after the server made it.
            let _ = caldav.delete(&calendar, None);
            Some(err.to_string())
        }
    };
    if let Some(why) = refused {
        return Check::fail(
            NAME,
            format!("could not create a calendar in the calendar home: {why}"),
            "give the CalDAV user the right to create calendars, or create one named \"Plane: {project name}\" per project by hand",
        );
    }
    let event = format!("{calendar}calplanebot-doctor-{id}.ics");
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calplanebot//doctor//EN\r\nBEGIN:VEVENT\r\nUID:calplanebot-doctor-{id}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260101\r\nSUMMARY:calplanebot doctor write test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let written = caldav.put(&event, &ics, &Precondition::Absent);
    let event_deleted = match &written {
        Ok(WriteOutcome::Done { .. }) => Some(matches!(
            caldav.delete(&event, None),
            Ok(WriteOutcome::Done { .. })
        )),
        _ => None,
    };
    let calendar_gone = matches!(
        caldav.delete(&calendar, None),
        Ok(WriteOutcome::Done { .. } | WriteOutcome::NotFound)
    );
    let leftover = if calendar_gone {
        String::new()
    } else {
        format!("; then delete the calendar {calendar} by hand")
    };
    match (written, event_deleted) {
        (_, Some(true)) if calendar_gone => {
            Check::pass(NAME, "created and deleted an event in a temporary calendar")
        }
        (_, Some(true)) => Check::fail(
            NAME,
            "wrote and deleted an event, but the temporary calendar could not be deleted",
            format!("give the CalDAV user the right to delete calendars{leftover}"),
        ),
        (_, Some(false)) => Check::fail(
            NAME,
            "an event was written but could not be deleted",
            format!("give the CalDAV user the right to delete events{leftover}"),
        ),
        (outcome, None) => Check::fail(
            NAME,
            format!(
                "an event could not be written: {}",
                match outcome {
                    Err(err) => err.to_string(),
                    Ok(other) => format!("{other:?}"),
                }
            ),
            format!("give the CalDAV user write access to its calendars{leftover}"),
        ),
    }
}
