//! One full sync: Plane's projects and items → the calendars.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::calendars::CalendarError;
use super::executor::Outcome as Writes;
use super::lease;
use super::planner::Target;
use super::progress;
use super::project::{Context, Place, Reading, sync_project};
use super::records;
use super::status::{self, LastSync, Outcome, Reachability};
use crate::caldav::{CalDavClient, CalDavError};
use crate::config::SyncConfig;
use crate::ical::{self, Issue, item_id_of, uid_for};
use crate::net::Http;
use crate::plane::{Label, Member, PlaneClient, PlaneError, Project, Ref, State, WorkItem};
use crate::store::KeyValue;

#[derive(Clone, Copy)]
pub struct SyncEnv<'a> {
    pub store: &'a dyn KeyValue,
    pub http: &'a dyn Http,
    pub config: &'a SyncConfig,
    pub clock: &'a dyn Fn() -> DateTime<Utc>,
}

impl<'a> SyncEnv<'a> {
    /// An environment on the platform's wall clock.
    pub fn new(store: &'a dyn KeyValue, http: &'a dyn Http, config: &'a SyncConfig) -> Self {
        SyncEnv {
            store,
            http,
            config,
            clock: &crate::time::now,
        }
    }
}

#[derive(Default)]
struct Tally {
    writes: Writes,
    errors: Vec<String>,
    projects: u64,
}

const LEASE_LOST: &str = "the sync lease was lost (another sync took over)";

/// Runs a sync under the lease `sync_id` already holds, keeping it for as
/// long as the sync works, records its outcome and releases the lease.
pub fn run(env: &SyncEnv, sync_id: &str) -> LastSync {
    crate::log::in_sync(sync_id, || run_logged(env, sync_id))
}

fn run_logged(env: &SyncEnv, sync_id: &str) -> LastSync {
    let started = (env.clock)();
    let keeper = lease::Keeper::new(
        env.http,
        env.store,
        sync_id,
        env.config.lease_ttl,
        env.clock,
    );
    let leased = SyncEnv {
        http: &keeper,
        ..*env
    };
    let previous = status::last_sync(env.store).ok().flatten();
    let progress = progress::Tracker::start(env.store, env.clock, sync_id);
    let mut tally = Tally::default();
    let mut outcome = sync_all(&leased, &keeper, &progress, &mut tally);
    progress.finishing();
    if keeper.is_lost() {
        outcome = Err(LEASE_LOST.into());
    }
    let failed = outcome.is_err();
    if let Err(reason) = outcome {
        tally.errors.insert(0, reason);
    }
    let finished = (env.clock)();
    let writes = &tally.writes;
    let report = LastSync {
        sync_id: sync_id.to_string(),
        timestamp: finished,
        duration_seconds: (finished - started).num_milliseconds() as f64 / 1000.0,
        status: match (failed, tally.errors.is_empty()) {
            (true, _) => Outcome::Failed,
            (false, true) => Outcome::Success,
            (false, false) => Outcome::Partial,
        },
        events_processed: writes.created
            + writes.updated
            + writes.deleted
            + writes.unchanged
            + writes.superseded,
        errors: tally.errors.clone(),
        peak_memory_bytes: crate::memory::linear_memory_bytes(),
    };
    crate::log!(
        "INFO",
        "Sync completed: {} created, {} updated, {} deleted, {} left at a newer version{}",
        writes.created,
        writes.updated,
        writes.deleted,
        writes.superseded,
        report
            .peak_memory_bytes
            .map(|b| format!("; guest memory {:.1} MiB", b as f64 / 1048576.0))
            .unwrap_or_default()
    );
    for error in &report.errors {
        crate::log!("WARN", "Sync problem: {error}");
    }
    if let Some(previous) = previous {
        let previous_start = previous.timestamp
            - chrono::Duration::milliseconds((previous.duration_seconds * 1000.0) as i64);
        crate::log!(
            "DEBUG",
            "Changes written by this sync: {} (items changed since {})",
            writes.written_versions.len(),
            crate::time::rfc3339(previous_start)
        );
        let noted = super::missed_webhooks::note_sync_writes(
            env.store,
            &writes.written_versions,
            previous_start,
            // Items this sync read before their webhook arrived are not
            // missed: only changes older than the sync's start count.
            started,
            env.config.missed_webhooks,
        );
        if let Err(err) = noted {
            crate::log!("WARN", "Changes found only by the sync not noted: {err}");
        }
    }
    finish(
        env.store,
        &report,
        [
            writes.created,
            writes.updated,
            writes.deleted,
            writes.unchanged,
        ],
        tally.projects,
    );
    report
}

/// Records a sync that could not start (e.g. not configured) as failed.
pub fn record_not_started(store: &dyn KeyValue, sync_id: &str, reason: &str) -> LastSync {
    let report = LastSync {
        sync_id: sync_id.to_string(),
        timestamp: crate::time::now(),
        duration_seconds: 0.0,
        status: Outcome::Failed,
        events_processed: 0,
        errors: vec![reason.to_string()],
        peak_memory_bytes: None,
    };
    finish(store, &report, [0, 0, 0, 0], 0);
    report
}

/// Saves the outcome, adds its counts to the metrics, releases the lease.
fn finish(store: &dyn KeyValue, report: &LastSync, counts: [u64; 4], projects: u64) {
    let saved = status::record(store, report, counts, projects);
    if let Err(err) = saved.and_then(|()| lease::release(store, &report.sync_id)) {
        crate::log!("ERROR", "Sync state not saved: {err}");
    }
}

/// Notes how the last contact with a server went, for `/api/v1/health`.
fn contact<T, E>(env: &SyncEnv, caldav: bool, result: Result<T, E>) -> Result<T, E> {
    let reachability = if result.is_ok() {
        Reachability::Healthy
    } else {
        Reachability::Unhealthy
    };
    let _ = status::record_contact(env.store, caldav, reachability);
    result
}

/// Each project in turn: its calendar read and its items listed moments
/// apart, planned and written (see [`super::project`]). A project whose
/// calendar or items cannot be read is reported and the others go on; only
/// a CalDAV server that stopped answering altogether ends the sync.
fn sync_all(
    env: &SyncEnv,
    keeper: &lease::Keeper,
    progress: &progress::Tracker,
    tally: &mut Tally,
) -> Result<(), String> {
    let show_wait = |wait: std::time::Duration| {
        let until = (env.clock)() + chrono::Duration::from_std(wait).unwrap_or_default();
        progress.waiting_on_plane(until);
        let _ = crate::metrics::count_plane_wait(env.store, wait.as_secs_f64());
    };
    let plane = PlaneClient::budgeted(
        env.http,
        &env.config.plane,
        env.config.rate_budget_percent,
        env.clock,
    )
    .telling_waits(&show_wait);
    let credentials = env.config.credentials();
    let caldav = CalDavClient::new(env.http, &env.config.caldav_url, &credentials);

    match super::drain_queue(env) {
        Ok(0) => {}
        Ok(applied) => crate::log!("INFO", "Queued changes applied: {applied}"),
        Err(err) => tally.errors.push(format!("queue: {err}")),
    }
    let projects =
        contact(env, false, plane.projects()).map_err(|e| format!("PLANE_API_ERROR: {e}"))?;
    if let Err(err) = records::remember_projects(env.store, &projects) {
        tally.errors.push(format!("project index not saved: {err}"));
    }
    let home = contact(env, true, caldav.discover_home()).map_err(caldav_error)?;
    let mut calendars = contact(env, true, caldav.calendars(&home)).map_err(caldav_error)?;
    crate::log!("INFO", "Sync started: {} projects", projects.len());
    progress.projects_listed(projects.len());
    let place = Place {
        caldav: &caldav,
        home: &home,
        projects: &projects,
    };
    let cx = Context {
        env,
        keeper,
        plane: &plane,
        place: &place,
        progress,
    };
    let mut incremental = 0;
    for project in &projects {
        if keeper.is_lost() {
            return Err(LEASE_LOST.into());
        }
        let name = &project.name;
        let connection_lost = match sync_project(&cx, &mut calendars, project) {
            Ok(synced) => {
                tally.projects += 1;
                incremental += u64::from(synced.reading == Reading::Changes);
                tally.errors.extend(
                    synced
                        .unreadable
                        .iter()
                        .map(|e| format!("project {name}: {e}")),
                );
                tally.errors.extend(
                    synced
                        .writes
                        .errors
                        .iter()
                        .map(|e| format!("project {name}: {e}")),
                );
                if synced
                    .writes
                    .errors
                    .iter()
                    .any(|e| e.starts_with("PLANE_API_ERROR"))
                {
                    let _ = status::record_contact(env.store, false, Reachability::Unhealthy);
                }
                let writes = &synced.writes;
                progress.project_done(writes.created + writes.updated + writes.deleted);
                tally.writes.add(&Writes {
                    errors: Vec::new(),
                    ..synced.writes
                });
                synced.writes.connection_lost
            }
            Err(CalendarError::CalDav(CalDavError::Connection(err))) => {
                progress.project_done(0);
                tally
                    .errors
                    .push(format!("project {name}: CALDAV_CONNECTION_ERROR: {err}"));
                true
            }
            Err(err) => {
                progress.project_done(0);
                tally.errors.push(format!("project {name}: {err}"));
                false
            }
        };
        // One calendar that cannot be read in time (a huge one, say) must
        // not stop the others: the sync goes on while the server answers.
        if connection_lost && !caldav.answers(&home) {
            let _ = status::record_contact(env.store, true, Reachability::Unhealthy);
            return Err("CALDAV_CONNECTION_ERROR: the CalDAV server became unreachable".into());
        }
    }
    crate::log!(
        "INFO",
        "Projects read by what changed: {incremental} of {}",
        projects.len()
    );
    Ok(())
}

fn caldav_error(err: CalDavError) -> String {
    match err {
        CalDavError::Connection(_) => format!("CALDAV_CONNECTION_ERROR: {err}"),
        other => other.to_string(),
    }
}

/// What an issue's event should be; `fresh` when Plane was just asked.
pub(super) fn target(issue: &Issue, fresh: bool) -> Target {
    Target {
        uid: uid_for(&issue.id),
        event: ical::event_for(issue),
        version: issue.version,
        fresh,
    }
}

/// The item's state as Plane has it now, by its event's UID.
pub(super) fn current(
    plane: &PlaneClient,
    project: &Project,
    config: &SyncConfig,
    uid: &str,
) -> Result<Target, String> {
    let gone = || Target {
        uid: uid.to_string(),
        event: None,
        version: None,
        fresh: true,
    };
    let Some(item_id) = item_id_of(uid) else {
        return Ok(gone());
    };
    match plane.work_item(&project.id, item_id) {
        Ok(Some(item)) => {
            let issues = resolve(plane, project, std::slice::from_ref(&item), config)
                .map_err(|e| e.to_string())?;
            Ok(issues
                .first()
                .map(|issue| target(issue, true))
                .unwrap_or_else(gone))
        }
        Ok(None) => Ok(gone()),
        Err(err) => Err(err.to_string()),
    }
}

/// Names for every state, label and assignee; looked up only when Plane
/// sent ids instead of objects.
pub(super) fn resolve(
    plane: &PlaneClient,
    project: &Project,
    items: &[WorkItem],
    config: &SyncConfig,
) -> Result<Vec<Issue>, PlaneError> {
    let needs = items.iter().fold((false, false, false), |acc, item| {
        let (s, l, a) = item.unresolved();
        (acc.0 || s, acc.1 || l, acc.2 || a)
    });
    let states: HashMap<String, State> = if needs.0 {
        plane
            .states(&project.id)?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect()
    } else {
        HashMap::new()
    };
    let labels: HashMap<String, Label> = if needs.1 {
        plane
            .labels(&project.id)?
            .into_iter()
            .map(|l| (l.id.clone(), l))
            .collect()
    } else {
        HashMap::new()
    };
    let members: HashMap<String, Member> = if needs.2 {
        plane
            .members(&project.id)?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect()
    } else {
        HashMap::new()
    };
    Ok(items
        .iter()
        .map(|item| issue(item, project, config, &states, &labels, &members))
        .collect())
}

pub fn issue(
    item: &WorkItem,
    project: &Project,
    config: &SyncConfig,
    states: &HashMap<String, State>,
    labels: &HashMap<String, Label>,
    members: &HashMap<String, Member>,
) -> Issue {
    let state = match &item.state {
        Some(Ref::Expanded(state)) => Some(state.clone()),
        Some(Ref::Id(id)) => states.get(id).cloned(),
        None => None,
    };
    let name_of = |r: &Ref<Label>| match r {
        Ref::Expanded(label) => Some(label.name.clone()),
        Ref::Id(id) => labels.get(id).map(|l| l.name.clone()),
    };
    let member_of = |r: &Ref<Member>| match r {
        Ref::Expanded(member) => Some(member.display_name.clone()),
        Ref::Id(id) => members.get(id).map(|m| m.display_name.clone()),
    };
    Issue {
        id: item.id.clone(),
        sequence_id: item.sequence_id,
        name: item.name.clone(),
        description_html: item.description_html.clone(),
        priority: item.priority.clone(),
        target_date: item.target_date,
        state_name: state.as_ref().map(|s| s.name.clone()),
        state_group: state.map(|s| s.group),
        assignees: item.assignees.iter().filter_map(member_of).collect(),
        labels: item.labels.iter().filter_map(name_of).collect(),
        project_name: project.name.clone(),
        project_identifier: project.identifier.clone(),
        url: format!(
            "{}/{}/projects/{}/issues/{}/",
            config.web_url, config.plane.workspace, project.id, item.id
        ),
        workspace: config.plane.workspace.clone(),
        version: item.updated_at,
    }
}
