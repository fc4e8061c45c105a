//! One change from a webhook, applied at once: render and upsert the item's
//! event, or remove it. Idempotent: a change whose content is already on
//! the calendar (by the content hash) costs no write.

use serde_json::Value;

use super::SyncEnv;
use super::calendars;
use super::executor::{self, Applied, Known};
use super::planner::event_url;
use super::queue::{self, QueuedChange};
use super::records::{self, EventRecord};
use super::run::resolve;
use super::status;
use crate::caldav::{CalDavClient, CalDavError, Credentials};
use crate::ical::{Event, event_for, uid_for};
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
    if matches!(change, Change::Deleted | Change::Archived) || is_hidden(data) {
        return remove(env, &clients, &uid, project_id);
    }
    let project_id = project_id.ok_or(ItemError::Missing("data.project"))?;
    let item = match WorkItem::from_json(data).ok().filter(|_| is_complete(data)) {
        Some(item) => Some(item),
        None => clients.plane.work_item(project_id, item_id)?,
    };
    let Some(item) = item else {
        // Plane hides it: deleted, archived or a draft.
        return remove(env, &clients, &uid, Some(project_id));
    };
    let project = project(env, &clients, project_id)?;
    let issues = resolve(
        &clients.plane,
        &project,
        std::slice::from_ref(&item),
        env.config,
    )?;
    match issues.first().and_then(event_for) {
        Some(event) => upsert(env, &clients, &project, &event, change),
        None => remove(env, &clients, &uid, Some(project_id)),
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
    event: &Event,
    change: Change,
) -> Result<Applied, ItemError> {
    let calendar = calendar(env, clients, project)?;
    let hash = event.content_hash();
    let record = records::event(env.store, &event.uid)?.filter(|r| r.url.starts_with(&calendar));
    if record.as_ref().is_some_and(|r| r.hash == hash) {
        return Ok(Applied::Unchanged);
    }
    let (url, known) = match record {
        Some(record) => (record.url, Known::Version(record.etag)),
        None if change == Change::Created => (event_url(&calendar, &event.uid), Known::Absent),
        None => (event_url(&calendar, &event.uid), Known::Unknown),
    };
    let (applied, etag) =
        executor::apply(&clients.caldav, &url, Some(event), known, (env.clock)())?;
    records::remember_event(env.store, &event.uid, &EventRecord { url, etag, hash })?;
    status::count(env.store, applied)?;
    Ok(applied)
}

fn remove(
    env: &SyncEnv,
    clients: &Clients,
    uid: &str,
    project_id: Option<&str>,
) -> Result<Applied, ItemError> {
    let mapped = match project_id {
        Some(id) => calendars::mapped(env.store, id)?
            .into_iter()
            .collect::<Vec<_>>(),
        None => Vec::new(),
    };
    // A delete carries only the item's id: look in every known calendar.
    let candidates = if mapped.is_empty() {
        let mut all = Vec::new();
        for project in records::projects(env.store)? {
            all.extend(calendars::mapped(env.store, &project.id)?);
        }
        all
    } else {
        mapped
    };
    let record = records::event(env.store, uid)?;
    let mut result = Applied::Unchanged;
    for calendar in candidates {
        let (url, known) = match &record {
            Some(r) if r.url.starts_with(&calendar) => {
                (r.url.clone(), Known::Version(r.etag.clone()))
            }
            _ => (event_url(&calendar, uid), Known::Unknown),
        };
        let (applied, _) = executor::apply(&clients.caldav, &url, None, known, (env.clock)())?;
        if applied == Applied::Deleted {
            status::count(env.store, applied)?;
            result = applied;
        }
    }
    records::forget_event(env.store, uid)?;
    Ok(result)
}

/// Applies queued changes, oldest first, until one cannot be applied
/// because a server is still unreachable. Returns how many were applied.
pub fn drain_queue(env: &SyncEnv) -> Result<usize, StoreError> {
    let mut applied = 0;
    for change in queue::pending(env.store)? {
        let Some(action) = parse_action(&change) else {
            queue::done(env.store, &change)?;
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
                println!("WARN Queued changes kept: {reason}");
                break;
            }
            Err(ItemError::Store(err)) => return Err(err),
            Err(other) => {
                println!("WARN Queued change of {} dropped: {other}", change.item_id);
                queue::done(env.store, &change)?;
            }
            Ok(_) => {
                applied += 1;
                queue::done(env.store, &change)?;
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
