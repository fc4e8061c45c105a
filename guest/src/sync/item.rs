//! One change from a webhook, applied at once: render and upsert the item's
//! event, or remove it. Idempotent: a change whose content is already on
//! the calendar (by the content hash) costs no write; and ordered: a change
//! older than the item's state already applied (Plane retries deliveries
//! minutes later, and sends one per changed field, in parallel) is dropped.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::SyncEnv;
use super::calendars;
use super::executor::{self, Applied, Known};
use super::planner::{Target, event_url, keeper};
use super::queue::{self, QueuedChange};
use super::records::{self, EventRecord};
use super::run::{resolve, target};
use super::status;
use crate::caldav::{CalDavClient, CalDavError, Credentials};
use crate::ical::{parse_version, uid_for};
use crate::plane::{PlaneClient, PlaneError, Project, WorkItem};
use crate::store::StoreError;
use crate::webhook::Change;

const HOME_KEY: &str = "caldav:home";

#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    /// Worth retrying later: the change is queued.
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Plane(PlaneError),
    #[error("{0}")]
    CalDav(CalDavError),
    /// Left to the next full sync, which asks Plane for every item: a
    /// removal at no known version where no record guards it.
    #[error("{0}")]
    LeftToFullSync(&'static str),
    #[error("{0} is required for this change")]
    Missing(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PlaneError> for ItemError {
    fn from(err: PlaneError) -> Self {
        match err {
            PlaneError::Connection(_) | PlaneError::Unavailable { .. } => {
                ItemError::Unreachable(format!("Plane: {err}"))
            }
            PlaneError::Rejected { status: 429, .. } => {
                ItemError::Unreachable(format!("Plane: {err}"))
            }
            other => ItemError::Plane(other),
        }
    }
}

impl From<CalDavError> for ItemError {
    fn from(err: CalDavError) -> Self {
        match err {
            CalDavError::Connection(_) => ItemError::Unreachable(format!("CalDAV: {err}")),
            CalDavError::Status { status, .. } if status >= 500 => {
                ItemError::Unreachable(format!("CalDAV: {err}"))
            }
            other => ItemError::CalDav(other),
        }
    }
}

impl From<executor::WriteError> for ItemError {
    fn from(err: executor::WriteError) -> Self {
        match err {
            // Other writers kept changing the event or its record: worth
            // another try later, not an error Plane would never retry.
            executor::WriteError::CalDav(CalDavError::Status { status: 412, .. })
            | executor::WriteError::Store(StoreError::Other(_)) => {
                ItemError::Unreachable(format!("busy: {err}"))
            }
            executor::WriteError::CalDav(err) => err.into(),
            executor::WriteError::Store(err) => err.into(),
        }
    }
}

impl From<calendars::CalendarError> for ItemError {
    fn from(err: calendars::CalendarError) -> Self {
        match err {
            calendars::CalendarError::CalDav(err) => err.into(),
            calendars::CalendarError::Store(err) => err.into(),
        }
    }
}

struct Clients<'a> {
    plane: PlaneClient<'a>,
    caldav: CalDavClient<'a>,
}

impl<'a> Clients<'a> {
    fn writer(&'a self, env: &'a SyncEnv) -> executor::Writer<'a> {
        executor::Writer {
            client: &self.caldav,
            store: env.store,
            now: (env.clock)(),
        }
    }

    /// A webhook must answer quickly: Plane is asked once, without waiting.
    fn new(env: &'a SyncEnv, credentials: &'a Credentials) -> Self {
        Clients {
            plane: PlaneClient::impatient(env.http, &env.config.plane),
            caldav: CalDavClient::new(env.http, &env.config.caldav_url, credentials),
        }
    }
}

/// CE sends the whole item with `state`, `labels` and `assignees`
/// expanded; v2 sends ids only (`state_id`…), and then the item is fetched.
fn is_complete(data: &Value) -> bool {
    data.get("name").is_some_and(Value::is_string)
        && data
            .get("state")
            .is_some_and(|s| s.is_object() || s.is_null())
}

/// Archived or draft items are not on the calendar.
fn is_hidden(data: &Value) -> bool {
    data.get("archived_at").is_some_and(|v| !v.is_null())
        || data
            .get("is_draft")
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

/// How far ahead of this service's clock a delivered `updated_at` may be
/// (clock skew between Plane and this service).
const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// The item's `updated_at` in a webhook's `data`, when it has a plausible
/// one. A delivery's version is a claim: one from the future (a forged
/// unsigned webhook, or a wildly wrong clock) would otherwise outrank every
/// real change of the item, the full sync's included, so it counts as
/// unknown.
pub fn version_in(data: &Value, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    data.get("updated_at")
        .and_then(Value::as_str)
        .and_then(parse_version)
        .filter(|version| *version <= now + MAX_CLOCK_SKEW)
}

pub fn apply_change(
    env: &SyncEnv,
    change: Change,
    item_id: &str,
    project_id: Option<&str>,
    data: &Value,
) -> Result<Applied, ItemError> {
    let credentials = env.config.credentials();
    let clients = Clients::new(env, &credentials);
    let uid = uid_for(item_id);
    let version = version_in(data, (env.clock)());
    let removal = matches!(change, Change::Deleted | Change::Archived) || is_hidden(data);
    // A removal without a version may be a retried delivery older than
    // the item's current state: unless Plane cannot be asked (CE deletions
    // carry no project), it asks Plane below.
    if removal && (version.is_some() || project_id.is_none()) {
        return remove(env, &clients, &uid, project_id, version);
    }
    let project_id = project_id.ok_or(ItemError::Missing("data.project"))?;
    let record = records::event(env.store, &uid)?;
    // The event was removed for an item Plane no longer had: a delivery
    // from before that must not bring it back, so Plane is asked.
    let gone_before = record.as_ref().is_some_and(EventRecord::is_deletion);
    // Where records do not outlive the request there is no tombstone to
    // stop a late delivery from bringing back a removed or older state:
    // Plane, asked now, says what the item is.
    let forgetful = !env.store.durability()?.persists;
    let given = WorkItem::from_json(data)
        .ok()
        .filter(|_| !removal && !gone_before && !forgetful && is_complete(data))
        .map(|item| WorkItem {
            updated_at: version,
            ..item
        });
    let fetched = given.is_none();
    let item = match given {
        Some(item) => Some(item),
        None => clients.plane.work_item(project_id, item_id)?,
    };
    let Some(item) = item else {
        // Plane hides it (deleted, archived or a draft) now, whatever the
        // delivery's version: removed at a version unknown but current.
        // Unless someone wrote the event while Plane was asked: then which
        // answer is newer is not known, and the next full sync settles it.
        if fetched && records::event(env.store, &uid)? != record {
            return Ok(Applied::Superseded);
        }
        return remove(env, &clients, &uid, Some(project_id), None);
    };
    let project = project(env, &clients, project_id)?;
    let issues = resolve(
        &clients.plane,
        &project,
        std::slice::from_ref(&item),
        env.config,
    )?;
    let Some(target) = issues.first().map(|issue| target(issue, fetched)) else {
        return remove(env, &clients, &uid, Some(project_id), version);
    };
    match &target.event {
        Some(_) => upsert(env, &clients, &project, &target, change, record),
        None => remove(env, &clients, &uid, Some(project_id), target.version),
    }
}

/// A project was created or renamed: make its calendar exist under the
/// right name.
pub fn apply_project(env: &SyncEnv, project_id: &str, data: &Value) -> Result<Applied, ItemError> {
    let credentials = env.config.credentials();
    let clients = Clients::new(env, &credentials);
    let project = match Project::from_json(data).filter(|p| !p.name.is_empty()) {
        Some(project) => project,
        None => clients.plane.project(project_id)?,
    };
    records::remember_project(env.store, &project)?;
    match calendars::mapped(env.store, &project.id)? {
        Some(url) => {
            clients
                .caldav
                .rename_calendar(&url, &calendars::display_name(&project))?;
            Ok(Applied::Updated)
        }
        None => {
            calendar(env, &clients, &project)?;
            Ok(Applied::Created)
        }
    }
}

/// The project's name and identifier: from the last full sync's index, else
/// from Plane.
fn project(env: &SyncEnv, clients: &Clients, project_id: &str) -> Result<Project, ItemError> {
    if let Some(project) = records::projects(env.store)?
        .into_iter()
        .find(|p| p.id == project_id)
    {
        return Ok(project);
    }
    let project = clients.plane.project(project_id)?;
    records::remember_project(env.store, &project)?;
    Ok(project)
}

/// The calendar home, discovered once and remembered.
fn home(env: &SyncEnv, clients: &Clients) -> Result<String, ItemError> {
    if let Some(home) = env
        .store
        .get(HOME_KEY)?
        .and_then(|b| String::from_utf8(b).ok())
    {
        return Ok(home);
    }
    let home = clients.caldav.discover_home()?;
    env.store.set(HOME_KEY, home.as_bytes())?;
    Ok(home)
}

fn calendar(env: &SyncEnv, clients: &Clients, project: &Project) -> Result<String, ItemError> {
    if let Some(url) = calendars::mapped(env.store, &project.id)? {
        return Ok(url);
    }
    let home = home(env, clients)?;
    let mut listed = clients.caldav.calendars(&home)?;
    let known = records::projects(env.store)?;
    let taken = calendars::taken_by_others(env.store, &known, &project.id)?;
    let (calendar, _) = calendars::ensure(
        &clients.caldav,
        env.store,
        &home,
        &mut listed,
        &taken,
        project,
    )?;
    Ok(calendar.url)
}

fn upsert(
    env: &SyncEnv,
    clients: &Clients,
    project: &Project,
    target: &Target,
    change: Change,
    record: Option<EventRecord>,
) -> Result<Applied, ItemError> {
    let Some(event) = &target.event else {
        return Err(ItemError::Missing("data.target_date"));
    };
    let calendar = calendar(env, clients, project)?;
    let hash = event.content_hash();
    let here = record.filter(|r| r.url.as_deref().is_some_and(|u| u.starts_with(&calendar)));
    let (url, known) = match here {
        // The same content as the service last wrote there: most likely a
        // duplicate delivery. One GET makes sure (another writer may have
        // landed since, or a removal have half-finished) instead of a PUT.
        Some(record) if record.hash.as_deref() == Some(hash.as_str()) => {
            (record.url.unwrap_or_default(), Known::Unknown)
        }
        Some(record) => (record.url.unwrap_or_default(), Known::Version(record.etag)),
        None if change == Change::Created => (event_url(&calendar, &target.uid), Known::Absent),
        None => {
            let found = clients.caldav.find_by_uid(&calendar, &target.uid)?;
            match keep_of(&calendar, &target.uid, None, &found) {
                Some(url) => (url, Known::Unknown),
                None => (event_url(&calendar, &target.uid), Known::Absent),
            }
        }
    };
    // The webhook's state is the newest this path knows: on a conflict the
    // versions decide, with no second opinion from Plane.
    let write = |url: &str, known| clients.writer(env).write(url, target, known, &|| None);
    let applied = match write(&url, known) {
        // The UID is stored under another href (put there by the original
        // CalPlaneBot, which names events `{uid}.ics`, or moved by a
        // client): the event is updated where it is.
        Err(executor::WriteError::CalDav(CalDavError::UidConflict { existing, path })) => {
            let found = clients.caldav.find_by_uid(&calendar, &target.uid)?;
            let Some(keep) = keep_of(&calendar, &target.uid, Some(&url), &found) else {
                return Err(ItemError::CalDav(CalDavError::UidConflict {
                    path,
                    existing,
                }));
            };
            // Second copies first: a server that checks UIDs refuses to
            // update one copy while another exists.
            for copy in found.iter().filter(|e| e.url != keep) {
                clients
                    .writer(env)
                    .remove_copy(&copy.url, copy.etag.as_deref())?;
            }
            write(&keep, Known::Unknown)?
        }
        other => other?,
    };
    status::count(env.store, applied)?;
    Ok(applied)
}

/// Of the copies of an event a calendar-query found, the one to write (the
/// one a full sync would keep).
fn keep_of(
    calendar: &str,
    uid: &str,
    recorded: Option<&str>,
    found: &[crate::caldav::RemoteEvent],
) -> Option<String> {
    let copies: Vec<_> = found
        .iter()
        .map(|e| (e.url.as_str(), crate::ical::read(&e.data).version))
        .collect();
    let keep = keeper(&event_url(calendar, uid), recorded, &copies);
    found.get(keep).map(|e| e.url.clone())
}

/// Where a calendar holds events with this UID, by a calendar-query.
fn located(clients: &Clients, calendar: &str, uid: &str) -> Result<Vec<String>, ItemError> {
    Ok(clients
        .caldav
        .find_by_uid(calendar, uid)?
        .into_iter()
        .map(|event| event.url)
        .collect())
}

fn remove(
    env: &SyncEnv,
    clients: &Clients,
    uid: &str,
    project_id: Option<&str>,
    version: Option<DateTime<Utc>>,
) -> Result<Applied, ItemError> {
    // A removal at no known version deletes whatever version is there;
    // only the record (written by whoever wrote since) tells it from a
    // newer state. Without records the full sync, which lists Plane
    // afresh, removes it instead.
    let forgetful = !env.store.durability()?.persists;
    if version.is_none() && forgetful {
        return Err(ItemError::LeftToFullSync(
            "a removal at no known version, on a store that keeps no records",
        ));
    }
    let record = records::event(env.store, uid)?;
    let mapped = match project_id {
        Some(id) => calendars::mapped(env.store, id)?
            .into_iter()
            .collect::<Vec<_>>(),
        None => Vec::new(),
    };
    let recorded_url = record.as_ref().and_then(|r| r.url.clone());
    // A delete carries only the item's id: every known calendar, the one
    // the store says holds its event first, until one held it (a client
    // may have moved it to another).
    let searching = mapped.is_empty();
    let candidates = if searching {
        let mut all = Vec::new();
        for project in records::projects(env.store)? {
            all.extend(calendars::mapped(env.store, &project.id)?);
        }
        if let Some(url) = &recorded_url {
            all.sort_by_key(|calendar| !url.starts_with(calendar.as_str()));
        }
        all
    } else {
        mapped
    };
    let target = Target {
        uid: uid.to_string(),
        event: None,
        version,
        fresh: false,
    };
    // Where the store forgets between requests it maps no calendar: the
    // calendars are looked up again (the project's, or for a removal that
    // names no project, every calendar of the home the service uses).
    let candidates = if candidates.is_empty() && forgetful {
        match project_id {
            Some(id) => vec![calendar(env, clients, &project(env, clients, id)?)?],
            None => {
                let home = home(env, clients)?;
                clients
                    .caldav
                    .calendars(&home)?
                    .into_iter()
                    .filter(|c| {
                        c.display_name
                            .as_deref()
                            .is_some_and(|n| n.starts_with(calendars::NAME_PREFIX))
                    })
                    .map(|c| c.url)
                    .collect()
            }
        }
    } else {
        candidates
    };
    let mut result = Applied::Unchanged;
    if candidates.is_empty() {
        // No calendar yet: the removal is still remembered, so an older
        // change arriving later does not bring the event back.
        records::remember_event(env.store, uid, &EventRecord::removed(version))?;
    }
    for calendar in candidates {
        let recorded = record.as_ref().and_then(|r| {
            r.url
                .as_deref()
                .filter(|u| u.starts_with(&calendar))
                .map(|u| (u, r))
        });
        let mut deleted_here = false;
        if let Some((url, r)) = recorded {
            let known = Known::Version(r.etag.clone());
            match clients.writer(env).write(url, &target, known, &|| None)? {
                Applied::Deleted => deleted_here = true,
                // A newer version of the item wrote that event: it stays.
                Applied::Superseded => return Ok(Applied::Superseded),
                _ => {}
            }
        }
        if !deleted_here {
            // Not where the store says (or it says nothing): wherever the
            // calendar holds the UID (every copy), or nowhere, which is
            // still remembered.
            let found = located(clients, &calendar, uid)?;
            // Looked at again after the record is read: someone may have
            // written it since the query (where the store knows of no
            // event at all; a write would have been recorded).
            let places = if found.is_empty() && recorded_url.is_none() {
                vec![(event_url(&calendar, uid), Known::Unknown)]
            } else {
                found.into_iter().map(|url| (url, Known::Unknown)).collect()
            };
            for (url, known) in places {
                match clients.writer(env).write(&url, &target, known, &|| None)? {
                    Applied::Deleted => deleted_here = true,
                    Applied::Superseded => return Ok(Applied::Superseded),
                    _ => {}
                }
            }
        }
        if deleted_here {
            status::count(env.store, Applied::Deleted)?;
            result = Applied::Deleted;
            if searching {
                break;
            }
        }
    }
    Ok(result)
}

/// Applies queued changes, oldest first, until one cannot be applied
/// because a server is still unreachable. Returns how many were applied.
pub fn drain_queue(env: &SyncEnv) -> Result<usize, StoreError> {
    let mut applied = 0;
    for queued in queue::pending(env.store)? {
        let change = &queued.change;
        // Entries queued before ids were checked at the boundary are
        // checked here, as a delivery would be now.
        let valid_ids = crate::plane::is_valid_id(&change.item_id)
            && change
                .project_id
                .as_deref()
                .is_none_or(crate::plane::is_valid_id);
        let Some(action) = parse_action(change).filter(|_| valid_ids) else {
            queue::done(env.store, &queued)?;
            continue;
        };
        match apply_change(
            env,
            action,
            &change.item_id,
            change.project_id.as_deref(),
            &change.data,
        ) {
            Err(ItemError::Unreachable(reason)) => {
                crate::log!("WARN", "Queued changes kept: {reason}");
                break;
            }
            Err(ItemError::Store(err)) => return Err(err),
            Err(other) => {
                crate::log!(
                    "WARN",
                    "Queued change of {} dropped: {other}",
                    change.item_id
                );
                queue::done(env.store, &queued)?;
            }
            Ok(_) => {
                applied += 1;
                queue::done(env.store, &queued)?;
            }
        }
    }
    Ok(applied)
}

fn parse_action(change: &QueuedChange) -> Option<Change> {
    [
        Change::Created,
        Change::Updated,
        Change::Deleted,
        Change::Archived,
    ]
    .into_iter()
    .find(|c| c.as_str() == change.action)
}
