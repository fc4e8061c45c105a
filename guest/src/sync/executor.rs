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
enum Known {
    Absent,
    Version(Option<String>),
    Unknown,
}

#[derive(Debug, PartialEq, Eq)]
enum Applied {
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
        match apply(client, url, desired, known, now) {
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

fn apply(
    client: &CalDavClient,
    url: &str,
    desired: Option<&Event>,
    mut known: Known,
    now: DateTime<Utc>,
) -> Result<Applied, CalDavError> {
    let ics = desired.map(|event| event.to_ics(now));
    for _ in 0..MAX_ROUNDS {
        known = match (desired.zip(ics.as_deref()), known) {
            (Some((_, ics)), Known::Absent) => match client.put(url, ics, &Precondition::Absent)? {
                WriteOutcome::Done { .. } => return Ok(Applied::Created),
                WriteOutcome::PreconditionFailed | WriteOutcome::NotFound => Known::Unknown,
            },
            (Some((_, ics)), Known::Version(etag)) => {
                let condition = match etag {
                    Some(etag) => Precondition::Matches(etag),
                    // A server that gave no ETag: nothing to condition on.
                    None => Precondition::Matches("*".into()),
                };
                match client.put(url, ics, &condition)? {
                    WriteOutcome::Done { .. } => return Ok(Applied::Updated),
                    WriteOutcome::PreconditionFailed => Known::Unknown,
                    WriteOutcome::NotFound => Known::Absent,
                }
            }
            (None, Known::Version(etag)) => match client.delete(url, etag.as_deref())? {
                WriteOutcome::Done { .. } => return Ok(Applied::Deleted),
                WriteOutcome::NotFound => return Ok(Applied::Unchanged),
                WriteOutcome::PreconditionFailed => Known::Unknown,
            },
            (None, Known::Absent) => return Ok(Applied::Unchanged),
            (_, Known::Unknown) => match client.get(url)? {
                None => Known::Absent,
                Some(remote) => {
                    let same = desired
                        .zip(parse_event(&remote.data))
                        .is_some_and(|(want, have)| want.content_hash() == have.content_hash());
                    if same {
                        return Ok(Applied::Unchanged);
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
