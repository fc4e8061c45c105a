//! One project's sync: its calendar read by what changed, its items read
//! from Plane page by page (newest first), each page planned and written
//! as it comes, and deletions decided once the listing is through.
//!
//! Between full reconciliations (`SYNC_FULL_INTERVAL_SECONDS`) a project is
//! read incrementally: the pages up to the last sync's watermark, then the
//! listing's `total_count` compared with the items known plus the new ones
//! (deleted and archived items send no webhook on Community Edition; a
//! count that does not add up means something disappeared, and the project
//! is listed in full). A project is listed in full too when its calendar
//! changed otherwise than by the service, when the rendering of its items
//! changed (a renamed project, a new mapping, another `PLANE_WEB_URL`) and
//! when the store does not know it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::calendar_index;
use super::calendars::{self, CalendarError};
use super::executor::{self, Outcome as Writes};
use super::item_index::{self, ItemIndex};
use super::lease;
use super::planner::{self, Action, Existing, Plan, Scope};
use super::records::{self, EventRecord};
use super::run::{SyncEnv, current, resolve, target};
use crate::caldav::{CalDavClient, Calendar};
use crate::ical::{self, Issue, uid_for};
use crate::plane::{ItemPage, Next, PlaneClient, Project};

/// How far ahead of the service's clock an `updated_at` may be and still
/// move the watermark (one from further ahead would hide every change
/// until it is reached).
const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Events changed in the calendar (by a client, not the service) whose
/// items are each asked of Plane; more, and the project is listed in full.
const MAX_RECHECKS: usize = 10;

/// Where calendars live.
pub(super) struct Place<'a> {
    pub caldav: &'a CalDavClient<'a>,
    pub home: &'a str,
    pub projects: &'a [Project],
}

/// Everything one project's sync works with.
pub(super) struct Context<'a> {
    pub env: &'a SyncEnv<'a>,
    pub keeper: &'a lease::Keeper<'a>,
    pub plane: &'a PlaneClient<'a>,
    pub place: &'a Place<'a>,
    pub progress: &'a super::progress::Tracker<'a>,
}

/// How much of a project was read from Plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Every item.
    Full,
    /// The items changed since the last sync.
    Changes,
}

/// What one project's sync did.
#[derive(Debug)]
pub(super) struct Synced {
    pub writes: Writes,
    /// Plane items that could not be read (their events are left alone).
    pub unreadable: Vec<String>,
    pub reading: Reading,
}

pub(super) fn sync_project(
    cx: &Context,
    calendars: &mut Vec<Calendar>,
    project: &Project,
) -> Result<Synced, CalendarError> {
    let env = cx.env;
    let taken = calendars::taken_by_others(env.store, cx.place.projects, &project.id)?;
    let (calendar, created) = calendars::ensure(
        cx.place.caldav,
        env.store,
        cx.place.home,
        calendars,
        &taken,
        project,
    )?;
    let now = (env.clock)();
    let fingerprint = fingerprint(project, env);
    let known = item_index::load(env.store, &project.id);
    let due = known.as_ref().is_none_or(|k| {
        k.listed_in_full
            .is_none_or(|at| now - at >= env.config.full_interval)
    });
    let record = |uid: &str| records::event(env.store, uid).ok().flatten();
    let workspace = env.config.plane.workspace.as_str();
    // A calendar made a moment ago is empty: no need to read it (and what
    // was known of an earlier one at that URL is gone).
    let read = if created {
        if let Err(err) = calendar_index::forget(env.store, &calendar.url) {
            crate::log!(
                "WARN",
                "What was known of a calendar was not forgotten: {err}"
            );
        }
        calendar_index::Read::default()
    } else {
        calendar_index::read(
            cx.place.caldav,
            env.store,
            &calendar.url,
            due,
            workspace,
            &record,
        )?
    };
    let incremental = match &known {
        Some(known) if !due && !created && known.fingerprint == fingerprint => {
            if read.changed_elsewhere.len() <= MAX_RECHECKS {
                Some(known)
            } else {
                crate::log!(
                    "INFO",
                    "Project {} listed in full: {} of its events changed in the calendar",
                    project.name,
                    read.changed_elsewhere.len()
                );
                None
            }
        }
        _ => None,
    };
    let mut pass = Pass::new(
        cx,
        project,
        &calendar.url,
        &read,
        incremental.map(|k| &k.ids),
    );
    let mut reading = Reading::Full;
    if let Some(known) = incremental {
        let cutoff = known.watermark.map(|w| w - env.config.watermark_overlap);
        pass.read_pages(cutoff);
        let added = pass
            .listed
            .iter()
            .filter(|id| !known.ids.contains(*id))
            .count();
        let expected = (known.ids.len() + added) as u64;
        match pass.total_count {
            _ if pass.failed => {}
            Some(total) if total == expected && pass.consistent() => {
                reading = Reading::Changes;
                // An event for an item that is neither known nor changed
                // (a late webhook wrote it after the item was deleted):
                // Plane is asked about it before it goes.
                pass.plan_unlisted(&known.ids);
                pass.recheck(&known.ids);
            }
            total => {
                crate::log!(
                    "INFO",
                    "Project {} listed in full: Plane lists {} items, {expected} were expected{}",
                    project.name,
                    total.map_or("?".to_string(), |t| t.to_string()),
                    if pass.consistent() {
                        ""
                    } else {
                        ", or changed its order while listed"
                    }
                );
            }
        }
    }
    if reading == Reading::Full && !pass.failed {
        pass.restart();
        pass.read_pages(None);
        if !pass.failed {
            pass.plan_unlisted(&HashSet::new());
        }
    }
    let owned = pass.owned();
    let mut deletions = Plan {
        deletions: std::mem::take(&mut pass.deletions),
        ..Plan::default()
    };
    if !pass.failed {
        deletions.settle_deletions(owned, env.config.max_delete_percent);
        pass.execute(&deletions);
    }
    let failed = pass.failed;
    let guarded = deletions.guard.is_some();
    if let Some(guard) = deletions.guard {
        pass.writes.errors.push(guard);
    }
    // What was listed is remembered once the listing went through and no
    // deletion was withheld (else the next sync must list in full again).
    // A full listing that does not add up to Plane's own count (items
    // deleted while it paged) is not taken as complete.
    let complete = reading == Reading::Changes || pass.consistent() && pass.adds_up();
    if !failed && !guarded && complete {
        let written_all = pass.writes.errors.is_empty();
        let newest = pass.newest.filter(|&v| v <= now + MAX_CLOCK_SKEW);
        let events = Some(
            (read.events.len() as u64 + pass.writes.created).saturating_sub(pass.writes.deleted),
        );
        let index = match (reading, &known) {
            (Reading::Changes, Some(known)) => ItemIndex {
                ids: known.ids.union(&pass.listed).cloned().collect(),
                // A write that failed is tried again: the watermark stays
                // where it was until every write went through.
                watermark: if written_all {
                    known.watermark.max(newest)
                } else {
                    known.watermark
                },
                listed_in_full: known.listed_in_full,
                fingerprint,
                events,
            },
            _ => ItemIndex {
                ids: std::mem::take(&mut pass.listed),
                watermark: if written_all {
                    newest
                } else {
                    known.as_ref().and_then(|k| k.watermark)
                },
                listed_in_full: Some(now),
                fingerprint,
                events,
            },
        };
        let saved = item_index::save(env.store, &project.id, &index).and_then(|()| {
            if written_all && !read.changed_elsewhere.is_empty() {
                calendar_index::settle(env.store, &calendar.url)
            } else {
                Ok(())
            }
        });
        if let Err(err) = saved {
            pass.writes.errors.push(format!(
                "what was listed was not saved ({err}); the next sync lists it again"
            ));
        }
    }
    Ok(Synced {
        writes: pass.writes,
        unreadable: pass.unreadable_reports,
        reading,
    })
}

/// The content hash of a sample item of `project` as this build renders it
/// with this configuration: when it changes, every event may have to.
fn fingerprint(project: &Project, env: &SyncEnv) -> String {
    let sample = Issue {
        id: "fingerprint".into(),
        sequence_id: Some(1),
        name: "Sample".into(),
        description_html: "<p>Sample <strong>text</strong></p><ul><li>one</li></ul>".into(),
        priority: "high".into(),
        target_date: NaiveDate::from_ymd_opt(2026, 1, 1),
        state_name: Some("Done".into()),
        state_group: Some("completed".into()),
        assignees: vec!["Assignee".into()],
        labels: vec!["Label".into()],
        project_name: project.name.clone(),
        project_identifier: project.identifier.clone(),
        url: format!(
            "{}/{}/projects/{}/issues/fingerprint/",
            env.config.web_url, env.config.plane.workspace, project.id
        ),
        workspace: env.config.plane.workspace.clone(),
        version: None,
    };
    ical::event_for(&sample)
        .map(|event| event.content_hash())
        .unwrap_or_default()
}

/// One reading of a project's items against its calendar.
struct Pass<'a> {
    cx: &'a Context<'a>,
    project: &'a Project,
    calendar_url: &'a str,
    events: &'a [Existing],
    by_uid: HashMap<&'a str, Vec<&'a Existing>>,
    /// UIDs of events a client changed since the last sync: planned
    /// whatever their item's version.
    changed_elsewhere: &'a HashSet<String>,
    /// The items the last sync listed, when this is an incremental read:
    /// one not among them is planned whatever its version.
    known: Option<&'a HashSet<String>>,
    /// The `updated_at` of the last item read, to check that Plane lists
    /// newest first (a read that stops at the watermark relies on it).
    last_version: Option<DateTime<Utc>>,
    unordered: bool,
    /// Items listed without an id (counted by Plane, not by id here).
    anonymous: usize,
    /// The last page's `total_count`.
    last_total: Option<u64>,
    /// Ids of the items read.
    listed: HashSet<String>,
    /// Ids of the items planned.
    planned: HashSet<String>,
    /// UIDs of the items that could not be read.
    unreadable: HashSet<String>,
    unreadable_reports: Vec<String>,
    newest: Option<DateTime<Utc>>,
    /// The first page's `total_count`.
    total_count: Option<u64>,
    deletions: Vec<Action>,
    writes: Writes,
    /// Plane could not be read through, or the lease or the CalDAV server
    /// was lost: nothing is deleted and nothing is remembered as listed.
    failed: bool,
}

impl<'a> Pass<'a> {
    fn new(
        cx: &'a Context<'a>,
        project: &'a Project,
        calendar_url: &'a str,
        read: &'a calendar_index::Read,
        known: Option<&'a HashSet<String>>,
    ) -> Self {
        let events = read.events.as_slice();
        let mut by_uid: HashMap<&str, Vec<&Existing>> = HashMap::new();
        for event in events {
            if let Some(uid) = event.uid.as_deref().filter(|uid| ical::is_owned_uid(uid)) {
                by_uid.entry(uid).or_default().push(event);
            }
        }
        Pass {
            cx,
            project,
            calendar_url,
            events,
            by_uid,
            changed_elsewhere: &read.changed_elsewhere,
            known,
            last_version: None,
            unordered: false,
            anonymous: 0,
            last_total: None,
            listed: HashSet::new(),
            planned: HashSet::new(),
            unreadable: HashSet::new(),
            unreadable_reports: Vec::new(),
            newest: None,
            total_count: None,
            deletions: Vec::new(),
            writes: Writes::default(),
            failed: false,
        }
    }

    /// Forgets what an incremental read found, before a full one.
    fn restart(&mut self) {
        self.listed.clear();
        self.planned.clear();
        self.known = None;
        self.last_version = None;
        self.unordered = false;
        self.anonymous = 0;
        self.unreadable.clear();
        self.unreadable_reports.clear();
        self.deletions.clear();
    }

    /// Whether every page gave the same `total_count` and listed items
    /// newest first.
    fn consistent(&self) -> bool {
        !self.unordered && self.last_total == self.total_count
    }

    /// Whether the items read are as many as Plane says it lists.
    fn adds_up(&self) -> bool {
        self.total_count == Some((self.listed.len() + self.anonymous) as u64)
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            calendar_url: self.calendar_url,
            workspace: &self.cx.env.config.plane.workspace,
            unreadable: &self.unreadable,
        }
    }

    fn record(&self, uid: &str) -> Option<EventRecord> {
        records::event(self.cx.env.store, uid).ok().flatten()
    }

    /// Reads the project's pages, newest first, planning and writing each;
    /// with a `cutoff`, stops at the first page reaching items older than it.
    fn read_pages(&mut self, cutoff: Option<DateTime<Utc>>) {
        self.total_count = None;
        self.last_total = None;
        let plane = self.cx.plane;
        let project_id = self.project.id.clone();
        let read = plane.work_item_pages(&project_id, &mut |page| self.page(page, cutoff));
        if let Err(err) = read {
            self.failed = true;
            self.writes.errors.push(format!("PLANE_API_ERROR: {err}"));
        }
    }

    fn page(&mut self, page: ItemPage, cutoff: Option<DateTime<Utc>>) -> Next {
        if self.failed || self.cx.keeper.is_lost() {
            self.failed = true;
            return Next::Stop;
        }
        self.total_count = self.total_count.or(page.total_count);
        self.last_total = page.total_count;
        self.cx
            .progress
            .items_read(page.items.len() + page.malformed.len(), page.total_count);
        // More items gone than any new ones could make up for: listed in
        // full, before anything is planned from this read.
        if let (Some(known), Some(total)) = (self.known, page.total_count)
            && total < known.len() as u64
        {
            return Next::Stop;
        }
        let mut reached = false;
        let mut items = Vec::new();
        for item in page.items {
            self.listed.insert(item.id.clone());
            if let Some(version) = item.updated_at {
                self.unordered |= self.last_version.is_some_and(|last| version > last);
                self.last_version = Some(version);
            }
            let known = self.known.is_none_or(|known| known.contains(&item.id));
            if let (Some(cutoff), Some(version)) = (cutoff, item.updated_at)
                && version < cutoff
            {
                reached = true;
                if known && !self.changed_elsewhere.contains(&uid_for(&item.id)) {
                    continue;
                }
            }
            self.newest = self.newest.max(item.updated_at);
            self.planned.insert(item.id.clone());
            items.push(item);
        }
        for malformed in page.malformed {
            self.unreadable_reports
                .push(format!("{malformed}; its event is left as it is"));
            match &malformed.id {
                Some(id) => {
                    self.listed.insert(id.clone());
                    self.unreadable.insert(uid_for(id));
                }
                None => self.anonymous += 1,
            }
        }
        let issues = match resolve(self.cx.plane, self.project, &items, self.cx.env.config) {
            Ok(issues) => issues,
            Err(err) => {
                self.failed = true;
                self.writes.errors.push(format!("PLANE_API_ERROR: {err}"));
                return Next::Stop;
            }
        };
        let targets: Vec<_> = issues.iter().map(|issue| target(issue, false)).collect();
        let existing: Vec<Existing> = items
            .iter()
            .flat_map(|item| self.copies_of(&uid_for(&item.id)))
            .collect();
        self.plan_and_execute(&targets, &existing);
        if self.failed || reached {
            Next::Stop
        } else {
            Next::More
        }
    }

    /// The calendar's events holding `uid` (more than one when a client
    /// left copies).
    fn copies_of(&self, uid: &str) -> Vec<Existing> {
        self.by_uid
            .get(uid)
            .into_iter()
            .flatten()
            .map(|e| (*e).clone())
            .collect()
    }

    /// Plans `targets` against `existing`, writes what the plan says now and
    /// keeps its deletions for the end.
    fn plan_and_execute(&mut self, targets: &[planner::Target], existing: &[Existing]) {
        if targets.is_empty() && existing.is_empty() {
            return;
        }
        let record = |uid: &str| self.record(uid);
        let mut plan = planner::plan(&self.scope(), targets, existing, &record);
        self.deletions.append(&mut plan.deletions);
        self.execute(&plan);
    }

    /// Once the listing is through: the owned events of items neither
    /// listed nor `known` to be listed.
    fn plan_unlisted(&mut self, known: &HashSet<String>) {
        let unlisted: Vec<Existing> = self
            .events
            .iter()
            .filter(|event| {
                event
                    .uid
                    .as_deref()
                    .and_then(ical::item_id_of)
                    .is_some_and(|id| !self.listed.contains(id) && !known.contains(id))
            })
            .cloned()
            .collect();
        self.plan_and_execute(&[], &unlisted);
    }

    /// Events changed in the calendar by someone else, of items `known` to
    /// Plane but not on the pages read: each item asked of Plane, and its
    /// event made right.
    fn recheck(&mut self, known: &HashSet<String>) {
        let changed_elsewhere = self.changed_elsewhere;
        let mut changed: Vec<&String> = changed_elsewhere
            .iter()
            .filter(|uid| {
                ical::item_id_of(uid)
                    .is_some_and(|id| known.contains(id) && !self.planned.contains(id))
            })
            .collect();
        changed.sort();
        if !changed.is_empty() {
            crate::log!(
                "INFO",
                "Project {}: {} events changed in the calendar; their items asked of Plane",
                self.project.name,
                changed.len()
            );
        }
        for uid in changed {
            if self.failed {
                return;
            }
            match current(self.cx.plane, self.project, self.cx.env.config, uid) {
                Ok(target) => {
                    let existing = self.copies_of(uid);
                    self.plan_and_execute(std::slice::from_ref(&target), &existing);
                }
                Err(err) => {
                    self.failed = true;
                    self.writes.errors.push(format!("PLANE_API_ERROR: {err}"));
                }
            }
        }
    }

    /// The calendar's events that belong to this deployment.
    fn owned(&self) -> usize {
        let scope = self.scope();
        let record = |uid: &str| self.record(uid);
        self.by_uid
            .iter()
            .filter(|(uid, found)| {
                !self.unreadable.contains(**uid)
                    && found
                        .iter()
                        .any(|event| planner::is_ours(&scope, uid, event, &record))
            })
            .count()
    }

    fn execute(&mut self, plan: &Plan) {
        let env = self.cx.env;
        let plane = self.cx.plane;
        let project = self.project;
        let recheck = |uid: &str| current(plane, project, env.config, uid);
        let writer = executor::Writer {
            client: self.cx.place.caldav,
            store: env.store,
            now: (env.clock)(),
        };
        let keeper = self.cx.keeper;
        let writes = executor::execute(&writer, plan, &recheck, &|| !keeper.is_lost());
        if writes.connection_lost || keeper.is_lost() {
            self.failed = true;
        }
        self.writes.add(&writes);
    }
}
