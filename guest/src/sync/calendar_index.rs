//! What the service knows of each calendar between syncs: every event's
//! href, ETag and summary ([`Existing`]: UID, content hash, version,
//! workspace) and the server's sync token. A sync asks the server what
//! changed since the token (or lists the ETags) and fetches the data of
//! the changed events only, so a calendar that did not change costs one
//! small request, and a calendar of 20,000 events is never one answer.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::planner::Existing;
use super::records::EventRecord;
use crate::caldav::{CalDavClient, CalDavError, Member};
use crate::ical::{is_owned_uid, uid_for};
use crate::store::{KeyValue, StoreError};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    events: Vec<Existing>,
    /// UIDs changed elsewhere that no sync has made right yet: the token
    /// no longer reports them, so they are kept until [`settle`].
    #[serde(default)]
    unsettled: Vec<String>,
}

fn key(calendar_url: &str) -> String {
    format!("calendar-index:{calendar_url}")
}

/// A calendar as just read.
#[derive(Debug, Default)]
pub struct Read {
    pub events: Vec<Existing>,
    /// UIDs of owned events that changed since the last read otherwise than
    /// by the service's own writes: a client edited, moved, copied or
    /// deleted them, so their items must be looked at again.
    pub changed_elsewhere: HashSet<String>,
}

/// How an event's href names its item when the service put it there
/// (`plane-issue-{id}.ics`, see [`super::planner::event_url`]).
fn uid_of_href(url: &str) -> Option<String> {
    let name = url.rsplit('/').next()?.strip_suffix(".ics")?;
    let id = name.strip_prefix("plane-issue-")?;
    crate::plane::is_valid_id(id).then(|| uid_for(id))
}

/// Reads the calendar at `calendar_url`: what changed since the last read
/// (`fresh`: everything, without the saved token), with the data of
/// changed events fetched unless the store's record shows them to be the
/// service's own last write. Saves what it read for the next time.
pub fn read(
    client: &CalDavClient,
    store: &dyn KeyValue,
    calendar_url: &str,
    fresh: bool,
    workspace: &str,
    record: &dyn Fn(&str) -> Option<EventRecord>,
) -> Result<Read, CalDavError> {
    let saved: Saved = store
        .get(&key(calendar_url))
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let token = (!fresh).then(|| saved.token.clone()).flatten();
    let changes = client.changes(calendar_url, token.as_deref())?;
    let unchanged = changes.changed.is_empty()
        && changes.removed.is_empty()
        && !changes.complete
        && changes.token == saved.token;
    if unchanged {
        return Ok(Read {
            changed_elsewhere: saved.unsettled.into_iter().collect(),
            events: saved.events,
        });
    }
    let mut known: HashMap<String, Existing> = saved
        .events
        .into_iter()
        .map(|e| (e.url.clone(), e))
        .collect();
    let mut result = Read {
        changed_elsewhere: saved.unsettled.into_iter().collect(),
        ..Read::default()
    };
    let mut gone = Vec::new();
    if changes.complete {
        let listed: HashSet<&str> = changes.changed.iter().map(|m| m.url.as_str()).collect();
        gone.extend(
            known
                .keys()
                .filter(|url| !listed.contains(url.as_str()))
                .cloned(),
        );
    }
    gone.extend(changes.removed.iter().cloned());
    for url in gone {
        let Some(event) = known.remove(&url) else {
            continue;
        };
        if let Some(uid) = event.uid.filter(|uid| is_owned_uid(uid)) {
            // The service's own deletions (and removals of second copies)
            // leave the record elsewhere.
            if record(&uid).is_some_and(|r| r.url.as_deref() == Some(url.as_str())) {
                result.changed_elsewhere.insert(uid);
            }
        }
    }
    let mut to_fetch = Vec::new();
    for Member { url, etag } in changes.changed {
        let previous = known.get(&url);
        if etag.is_some() && previous.is_some_and(|p| p.etag == etag) {
            continue;
        }
        let uid = previous
            .and_then(|p| p.uid.clone())
            .or_else(|| uid_of_href(&url));
        let written = uid.as_deref().and_then(|uid| {
            record(uid).filter(|r| {
                etag.is_some() && r.etag == etag && r.url.as_deref() == Some(url.as_str())
            })
        });
        match (uid, written) {
            // The ETag of the service's own last write there: what it wrote.
            (Some(uid), Some(record)) => {
                let summary = Existing {
                    url: url.clone(),
                    etag,
                    uid: Some(uid),
                    hash: record.hash,
                    version: record.version,
                    workspace: Some(workspace.to_string()),
                };
                known.insert(url, summary);
            }
            _ => {
                known.remove(&url);
                to_fetch.push(url);
            }
        }
    }
    client.multiget(calendar_url, &to_fetch, &mut |event| {
        let summary = Existing::read(event.url, event.etag, &event.data);
        if let Some(uid) = summary.uid.as_deref().filter(|uid| is_owned_uid(uid)) {
            let ours = summary.hash.as_deref().is_some_and(|hash| {
                record(uid)
                    .is_some_and(|r| r.is_write_of(&summary.url, summary.etag.as_deref(), hash))
            });
            if !ours {
                result.changed_elsewhere.insert(uid.to_string());
            }
        }
        known.insert(summary.url.clone(), summary);
    })?;
    let mut events: Vec<Existing> = known.into_values().collect();
    events.sort_by(|a, b| a.url.cmp(&b.url));
    let mut unsettled: Vec<String> = result.changed_elsewhere.iter().cloned().collect();
    unsettled.sort();
    let saved = Saved {
        token: changes.token,
        events,
        unsettled,
    };
    if let Err(err) = save(store, calendar_url, &saved) {
        crate::log!(
            "WARN",
            "The calendar's index was not saved ({err}); the next sync reads it in full"
        );
    }
    result.events = saved.events;
    Ok(result)
}

fn save(store: &dyn KeyValue, calendar_url: &str, saved: &Saved) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(saved).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(&key(calendar_url), &bytes)
}

/// The events changed elsewhere were made right: forgets them.
pub fn settle(store: &dyn KeyValue, calendar_url: &str) -> Result<(), StoreError> {
    let Some(bytes) = store.get(&key(calendar_url))? else {
        return Ok(());
    };
    let Ok(mut saved) = serde_json::from_slice::<Saved>(&bytes) else {
        return Ok(());
    };
    if saved.unsettled.is_empty() {
        return Ok(());
    }
    saved.unsettled.clear();
    save(store, calendar_url, &saved)
}

/// Forgets what is known of a calendar (made anew at that URL).
pub fn forget(store: &dyn KeyValue, calendar_url: &str) -> Result<(), StoreError> {
    store.delete(&key(calendar_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_the_service_chose_name_their_item() {
        assert_eq!(
            uid_of_href("http://dav/c/plane-issue-ab-1.ics").as_deref(),
            Some("plane-issue-ab-1@calplanebot")
        );
        assert_eq!(uid_of_href("http://dav/c/meeting.ics"), None);
        assert_eq!(uid_of_href("http://dav/c/plane-issue-a%40b.ics"), None);
    }
}
