//! How far the running sync is, for `/webhooks/status`'s `progress` object
//! and `calplanebot sync`'s progress bar. Kept in the store, so a status
//! request served by any instance or replica sees it; written at most
//! about once a second (and at each project's end), so a sync of thousands
//! of items adds a few dozen store writes, not one per item.

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{KeyValue, StoreError};

const KEY: &str = "sync:progress";
/// The least time between two writes of the progress.
const WRITE_EVERY: chrono::Duration = chrono::Duration::seconds(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Applying queued webhook changes, listing projects, finding calendars.
    Starting,
    /// Reading items and writing events, one project at a time.
    Projects,
    /// Saving the outcome.
    Finishing,
}

/// The documented `progress` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub sync_id: String,
    pub phase: Phase,
    pub projects_done: u64,
    pub projects_total: u64,
    /// Items read from Plane so far.
    pub items_done: u64,
    /// Items Plane lists in the projects reached so far (a project's count
    /// is known once its first page is read).
    pub items_total: u64,
    /// Events created, updated and deleted so far.
    pub writes: u64,
    #[serde(with = "super::status::rfc3339")]
    pub started_at: DateTime<Utc>,
    /// Set while the sync waits on Plane's rate limit.
    #[serde(default, with = "optional_rfc3339")]
    pub waiting_on_plane_until: Option<DateTime<Utc>>,
}

mod optional_rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_str(&crate::time::rfc3339(*at)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<String>::deserialize(d)?
            .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
            .map(|t| t.with_timezone(&Utc)))
    }
}

/// The progress a status request shows: that of the sync holding the lease.
pub fn current(store: &dyn KeyValue, holder: &str) -> Result<Option<Progress>, StoreError> {
    Ok(store
        .get(KEY)?
        .and_then(|bytes| serde_json::from_slice::<Progress>(&bytes).ok())
        .filter(|progress| progress.sync_id == holder))
}

/// The running sync's side: counts kept in memory, saved now and then.
pub struct Tracker<'a> {
    store: &'a dyn KeyValue,
    clock: &'a dyn Fn() -> DateTime<Utc>,
    state: RefCell<State>,
}

struct State {
    progress: Progress,
    saved_at: Option<DateTime<Utc>>,
    /// Items Plane lists in the projects done.
    done_total: u64,
    /// The largest count Plane gave for the project being read.
    project_total: u64,
}

impl<'a> Tracker<'a> {
    pub fn start(
        store: &'a dyn KeyValue,
        clock: &'a dyn Fn() -> DateTime<Utc>,
        sync_id: &str,
    ) -> Self {
        let progress = Progress {
            sync_id: sync_id.to_string(),
            phase: Phase::Starting,
            projects_done: 0,
            projects_total: 0,
            items_done: 0,
            items_total: 0,
            writes: 0,
            started_at: clock(),
            waiting_on_plane_until: None,
        };
        let tracker = Tracker {
            store,
            clock,
            state: RefCell::new(State {
                progress,
                saved_at: None,
                done_total: 0,
                project_total: 0,
            }),
        };
        tracker.save(true);
        tracker
    }

    pub fn projects_listed(&self, total: usize) {
        self.change(true, |p| {
            p.phase = Phase::Projects;
            p.projects_total = total as u64;
        });
    }

    /// A page of items read, with the count Plane gave for the project
    /// (a project read twice, by its changes and then in full, counts once).
    pub fn items_read(&self, count: usize, project_total: Option<u64>) {
        {
            let mut state = self.state.borrow_mut();
            state.project_total = state.project_total.max(project_total.unwrap_or(0));
            let total = state.done_total + state.project_total;
            let p = &mut state.progress;
            p.items_done += count as u64;
            p.items_total = total.max(p.items_done);
            p.waiting_on_plane_until = None;
        }
        self.save(false);
    }

    pub fn project_done(&self, writes: u64) {
        {
            let mut state = self.state.borrow_mut();
            state.done_total += state.project_total;
            state.project_total = 0;
            state.progress.projects_done += 1;
            state.progress.writes += writes;
            state.progress.waiting_on_plane_until = None;
        }
        self.save(true);
    }

    pub fn waiting_on_plane(&self, until: DateTime<Utc>) {
        self.change(true, |p| p.waiting_on_plane_until = Some(until));
    }

    pub fn finishing(&self) {
        self.change(true, |p| {
            p.phase = Phase::Finishing;
            p.waiting_on_plane_until = None;
        });
    }

    fn change(&self, save_now: bool, edit: impl FnOnce(&mut Progress)) {
        edit(&mut self.state.borrow_mut().progress);
        self.save(save_now);
    }

    /// A failed write is not worth failing the sync for: the progress is
    /// only shown.
    fn save(&self, now: bool) {
        let at = (self.clock)();
        let mut state = self.state.borrow_mut();
        if !now && state.saved_at.is_some_and(|last| at - last < WRITE_EVERY) {
            return;
        }
        if let Ok(bytes) = serde_json::to_vec(&state.progress)
            && self.store.set(KEY, &bytes).is_ok()
        {
            state.saved_at = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn progress_is_saved_now_and_then_and_shown_only_for_the_lease_holder() {
        let store = MemoryStore::default();
        let now = std::cell::Cell::new(crate::time::now());
        let clock = || now.get();
        let tracker = Tracker::start(&store, &clock, "s1");
        tracker.projects_listed(2);
        now.set(now.get() + chrono::Duration::seconds(2));
        tracker.items_read(100, Some(250));
        // Within the second: counted, not yet saved.
        tracker.items_read(100, Some(250));
        let saved = current(&store, "s1").unwrap().unwrap();
        assert_eq!((saved.items_done, saved.items_total), (100, 250));
        now.set(now.get() + chrono::Duration::seconds(2));
        tracker.items_read(50, None);
        let saved = current(&store, "s1").unwrap().unwrap();
        assert_eq!((saved.items_done, saved.items_total), (250, 250));
        tracker.project_done(7);
        let saved = current(&store, "s1").unwrap().unwrap();
        assert_eq!(
            (saved.projects_done, saved.projects_total, saved.writes),
            (1, 2, 7)
        );
        assert_eq!(saved.phase, Phase::Projects);
        assert!(current(&store, "another").unwrap().is_none());
    }
}
