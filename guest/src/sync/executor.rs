//! Carries out a [`Plan`] with conditional writes. A failed precondition
//! (412) means someone else changed the event since it was read: re-read it
//! and decide again, rather than fail.

use chrono::{DateTime, Utc};

use super::planner::{Action, Plan};
use crate::caldav::{CalDavClient, CalDavError, Precondition, WriteOutcome};
use crate::ical::{Event, parse_event};

/// Re-reads allowed for one event before giving up on it this round.
const MAX_ROUNDS: usize = 4;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub errors: Vec<String>,
    /// Set when the CalDAV server became unreachable mid-way.
    pub connection_lost: bool,
}

/// What is known about the event at a URL.
pub enum Known {
    Absent,
    Version(Option<String>),
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created,
    Updated,
    Deleted,
    Unchanged,
}

pub fn execute(
    client: &CalDavClient,
    plan: &Plan,
    now: DateTime<Utc>,
    mut heartbeat: impl FnMut() -> bool,
) -> Outcome {
    let mut outcome = Outcome {
        unchanged: plan.unchanged as u64,
        ..Outcome::default()
    };
    for (index, action) in plan.actions.iter().enumerate() {
        if index % 20 == 19 && !heartbeat() {
            outcome.errors.push("sync lease lost; stopping".into());
            return outcome;
        }
        let (url, desired, known) = match action {
            Action::Create { url, event } => (url, Some(event), Known::Absent),
            Action::Update { url, etag, event } => (url, Some(event), Known::Version(etag.clone())),
            Action::Delete { url, etag, .. } => (url, None, Known::Version(etag.clone())),
        };
        match apply(client, url, desired, known, now).map(|(applied, _)| applied) {
            Ok(Applied::Created) => outcome.created += 1,
            Ok(Applied::Updated) => outcome.updated += 1,
            Ok(Applied::Deleted) => outcome.deleted += 1,
            Ok(Applied::Unchanged) => outcome.unchanged += 1,
            Err(CalDavError::Connection(err)) => {
                outcome.errors.push(format!("CalDAV unreachable: {err}"));
                outcome.connection_lost = true;
                return outcome;
            }
            Err(err) => outcome.errors.push(err.to_string()),
        }
    }
    outcome
}

/// Makes the event at `url` be `desired` (or absent), starting from what is
/// `known` about it. Returns what was done and the new ETag when the server
/// sent one.
pub fn apply(
    client: &CalDavClient,
    url: &str,
    desired: Option<&Event>,
    mut known: Known,
    now: DateTime<Utc>,
) -> Result<(Applied, Option<String>), CalDavError> {
    let ics = desired.map(|event| event.to_ics(now));
    for _ in 0..MAX_ROUNDS {
        known = match (desired.zip(ics.as_deref()), known) {
            (Some((_, ics)), Known::Absent) => match client.put(url, ics, &Precondition::Absent)? {
                WriteOutcome::Done { etag } => return Ok((Applied::Created, etag)),
                WriteOutcome::PreconditionFailed | WriteOutcome::NotFound => Known::Unknown,
            },
            (Some((_, ics)), Known::Version(etag)) => {
                let condition = match etag {
                    Some(etag) => Precondition::Matches(etag),
                    // A server that gave no ETag: nothing to condition on.
                    None => Precondition::Matches("*".into()),
                };
                match client.put(url, ics, &condition)? {
                    WriteOutcome::Done { etag } => return Ok((Applied::Updated, etag)),
                    WriteOutcome::PreconditionFailed => Known::Unknown,
                    WriteOutcome::NotFound => Known::Absent,
                }
            }
            (None, Known::Version(etag)) => match client.delete(url, etag.as_deref())? {
                WriteOutcome::Done { .. } => return Ok((Applied::Deleted, None)),
                WriteOutcome::NotFound => return Ok((Applied::Unchanged, None)),
                WriteOutcome::PreconditionFailed => Known::Unknown,
            },
            (None, Known::Absent) => return Ok((Applied::Unchanged, None)),
            (_, Known::Unknown) => match client.get(url)? {
                None => Known::Absent,
                Some(remote) => {
                    let same = desired
                        .zip(parse_event(&remote.data))
                        .is_some_and(|(want, have)| want.content_hash() == have.content_hash());
                    if same {
                        return Ok((Applied::Unchanged, remote.etag));
                    }
                    Known::Version(remote.etag)
                }
            },
        };
    }
    Err(CalDavError::Status {
        method: "PUT".into(),
        path: crate::net::path_of(url).to_string(),
        status: 412,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::{Credentials, Scheme};
    use crate::ical::{Issue, event_for};
    use crate::net::scripted::{ScriptedHttp, response};
    use chrono::NaiveDate;

    const URL: &str = "http://dav/cal/plane-issue-a.ics";

    fn event(name: &str) -> Event {
        event_for(&Issue {
            id: "a".into(),
            name: name.into(),
            priority: "low".into(),
            target_date: NaiveDate::from_ymd_opt(2026, 1, 1),
            ..Issue::default()
        })
        .unwrap()
    }

    fn run(http: &ScriptedHttp, action: Action) -> Outcome {
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = CalDavClient::new(http, "http://dav/", &credentials);
        let plan = Plan {
            actions: vec![action],
            ..Plan::default()
        };
        execute(&client, &plan, crate::time::now(), || true)
    }

    fn header<'a>(request: &'a crate::net::HttpRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_stale_etag_is_re_read_and_written_with_the_new_one() {
        let theirs = event("edited elsewhere").to_ics(crate::time::now());
        let http = ScriptedHttp::new(move |request, index| {
            Ok(match (index, request.method.as_str()) {
                (0, "PUT") => response(412, &[], ""),
                (1, "GET") => response(200, &[("etag", "\"v2\"")], &theirs),
                (2, "PUT") => response(204, &[("etag", "\"v3\"")], ""),
                other => panic!("unexpected {other:?}"),
            })
        });
        let outcome = run(
            &http,
            Action::Update {
                url: URL.into(),
                etag: Some("\"v1\"".into()),
                event: event("mine"),
            },
        );
        assert_eq!(outcome.updated, 1);
        assert!(outcome.errors.is_empty());
        let requests = http.requests.borrow();
        assert_eq!(header(&requests[0], "if-match"), Some("\"v1\""));
        assert_eq!(header(&requests[2], "if-match"), Some("\"v2\""));
    }

    #[test]
    fn a_create_that_finds_the_event_already_right_writes_nothing_more() {
        let wanted = event("same");
        let stored = wanted.to_ics(crate::time::now());
        let http = ScriptedHttp::new(move |request, index| {
            Ok(match (index, request.method.as_str()) {
                (0, "PUT") => {
                    assert_eq!(header(request, "if-none-match"), Some("*"));
                    response(412, &[], "")
                }
                (1, "GET") => response(200, &[("etag", "\"x\"")], &stored),
                other => panic!("unexpected {other:?}"),
            })
        });
        let outcome = run(
            &http,
            Action::Create {
                url: URL.into(),
                event: wanted,
            },
        );
        assert_eq!((outcome.created, outcome.unchanged), (0, 1));
        assert_eq!(http.methods(), ["PUT", "GET"]);
    }

    #[test]
    fn deleting_something_already_gone_is_done() {
        let http = ScriptedHttp::new(|request, index| {
            Ok(match (index, request.method.as_str()) {
                (0, "DELETE") => response(412, &[], ""),
                (1, "GET") => response(404, &[], ""),
                other => panic!("unexpected {other:?}"),
            })
        });
        let outcome = run(
            &http,
            Action::Delete {
                url: URL.into(),
                etag: Some("\"v1\"".into()),
                uid: "u".into(),
            },
        );
        assert!(outcome.errors.is_empty());
        assert_eq!(outcome.deleted, 0);
    }

    #[test]
    fn both_success_codes_of_each_server_count() {
        for (put, delete) in [(201, 200), (204, 204)] {
            let http = ScriptedHttp::new(move |request, _| {
                Ok(match request.method.as_str() {
                    "PUT" => response(put, &[], ""),
                    _ => response(delete, &[], "<multistatus xmlns=\"DAV:\"/>"),
                })
            });
            assert_eq!(
                run(
                    &http,
                    Action::Create {
                        url: URL.into(),
                        event: event("x")
                    }
                )
                .created,
                1
            );
            assert_eq!(
                run(
                    &http,
                    Action::Delete {
                        url: URL.into(),
                        etag: None,
                        uid: "u".into()
                    }
                )
                .deleted,
                1
            );
        }
    }

    #[test]
    fn losing_the_server_stops_the_round() {
        let http =
            ScriptedHttp::new(|_, _| Err(crate::net::NetError::Connection("refused".into())));
        let outcome = run(
            &http,
            Action::Create {
                url: URL.into(),
                event: event("x"),
            },
        );
        assert!(outcome.connection_lost);
        assert_eq!(outcome.errors.len(), 1);
    }

    #[test]
    fn a_server_that_keeps_changing_the_event_is_an_error_not_a_loop() {
        let theirs = event("moving target").to_ics(crate::time::now());
        let http = ScriptedHttp::new(move |request, _| {
            Ok(match request.method.as_str() {
                "PUT" => response(412, &[], ""),
                _ => response(200, &[("etag", "\"again\"")], &theirs),
            })
        });
        let outcome = run(
            &http,
            Action::Update {
                url: URL.into(),
                etag: Some("\"v1\"".into()),
                event: event("mine"),
            },
        );
        assert_eq!(outcome.errors.len(), 1);
        assert!(http.requests.borrow().len() <= 2 * MAX_ROUNDS);
    }
}
