//! Carries out a [`Plan`] with conditional writes, and records each write.
//! A failed precondition (412) means someone else changed the event since
//! it was read: the item is asked for again, the event re-read, and the
//! write made only if it is not older than what is there now.

use chrono::{DateTime, Utc};

use super::planner::{Action, Plan, Target};
use super::records::{self, EventRecord};
use crate::caldav::{CalDavClient, CalDavError, Precondition, WriteOutcome};
use crate::ical::{is_older, read};
use crate::store::{KeyValue, StoreError};

/// Re-reads allowed for one event before giving up on it this round.
const MAX_ROUNDS: usize = 4;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// Left alone: the calendar already holds a newer version of the item.
    pub superseded: u64,
    pub errors: Vec<String>,
    /// Set when the CalDAV server became unreachable mid-way.
    pub connection_lost: bool,
    /// The Plane versions of the events created or updated.
    pub written_versions: Vec<chrono::DateTime<chrono::Utc>>,
}

impl Outcome {
    pub fn add(&mut self, more: &Outcome) {
        self.created += more.created;
        self.updated += more.updated;
        self.deleted += more.deleted;
        self.unchanged += more.unchanged;
        self.superseded += more.superseded;
        self.errors.extend(more.errors.iter().cloned());
        self.connection_lost |= more.connection_lost;
        self.written_versions
            .extend(more.written_versions.iter().copied());
    }
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
    /// Not written: the event is of a newer version of the item.
    Superseded,
}

/// Asks Plane for an item's current state (by UID); `Err` when Plane could
/// not say.
pub type Recheck<'a> = dyn Fn(&str) -> Result<Target, String> + 'a;

pub fn execute(
    writer: &Writer,
    plan: &Plan,
    recheck: &Recheck,
    keep_going: &dyn Fn() -> bool,
) -> Outcome {
    let mut outcome = Outcome {
        unchanged: plan.unchanged as u64,
        superseded: plan.superseded as u64,
        ..Outcome::default()
    };
    for (uid, record) in &plan.remember {
        if let Err(err) = records::remember_event(writer.store, uid, record) {
            outcome.errors.push(err.to_string());
        }
    }
    for action in &plan.actions {
        if !keep_going() {
            outcome.errors.push("sync lease lost; stopping".into());
            return outcome;
        }
        // `removal` is false for a second copy of an event, whose removal
        // is not the item's.
        let (url, target, known, confirm, removal) = match action {
            Action::Create {
                url,
                target,
                confirm,
            } => (url, target.clone(), Known::Absent, *confirm, true),
            Action::Update {
                url,
                etag,
                target,
                confirm,
            } => (
                url,
                target.clone(),
                Known::Version(etag.clone()),
                *confirm,
                true,
            ),
            Action::Delete {
                url,
                etag,
                uid,
                confirm,
            } => {
                let gone = Target {
                    uid: uid.clone(),
                    event: None,
                    version: None,
                    fresh: false,
                };
                (url, gone, Known::Version(etag.clone()), *confirm, *confirm)
            }
        };
        let target = match confirmed(&target, confirm, recheck) {
            Ok(target) => target,
            Err(err) => {
                outcome.errors.push(err);
                continue;
            }
        };
        // Plane still has the item the listing left out (a listing that
        // came back empty, or paged past it): its event is most likely
        // right as it is, so it is read before anything is written.
        let known = match (&action, &target.event) {
            (Action::Delete { .. }, Some(_)) => Known::Unknown,
            _ => known,
        };
        let on_conflict = || recheck(&target.uid).ok();
        let written = match (removal, &known) {
            (false, Known::Version(etag)) => writer
                .remove_copy(url, etag.as_deref())
                .map(|deleted| {
                    if deleted {
                        Applied::Deleted
                    } else {
                        Applied::Unchanged
                    }
                })
                .map_err(WriteError::from),
            _ => writer.write(url, &target, known, &on_conflict),
        };
        match written {
            Ok(applied) => {
                if matches!(applied, Applied::Created | Applied::Updated)
                    && let Some(version) = target.version
                {
                    outcome.written_versions.push(version);
                }
                outcome.count(applied)
            }
            Err(WriteError::CalDav(CalDavError::Connection(err))) => {
                outcome.errors.push(format!("CalDAV unreachable: {err}"));
                outcome.connection_lost = true;
                return outcome;
            }
            Err(err) => outcome.errors.push(err.to_string()),
        }
    }
    outcome
}

/// `target`, or when it must be confirmed, Plane's word on the item now.
fn confirmed(target: &Target, confirm: bool, recheck: &Recheck) -> Result<Target, String> {
    if !confirm {
        return Ok(target.clone());
    }
    recheck(&target.uid).map_err(|err| match target.event {
        Some(_) => format!(
            "{} not written: Plane could not confirm the item exists ({err})",
            target.uid
        ),
        None => format!(
            "{} not deleted: Plane could not confirm it is gone ({err})",
            target.uid
        ),
    })
}

impl Outcome {
    fn count(&mut self, applied: Applied) {
        match applied {
            Applied::Created => self.created += 1,
            Applied::Updated => self.updated += 1,
            Applied::Deleted => self.deleted += 1,
            Applied::Unchanged => self.unchanged += 1,
            Applied::Superseded => self.superseded += 1,
        }
    }
}

/// Whether what the store records of an item beats `target`: a newer
/// version, or the item gone from Plane (unless Plane was asked just now).
fn outranks(record: &EventRecord, target: &Target) -> bool {
    is_older(target.version, record.version)
        || record.is_deletion() && target.event.is_some() && !target.fresh
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    CalDav(#[from] CalDavError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes events for the sync and for webhooks alike.
pub struct Writer<'a> {
    pub client: &'a CalDavClient<'a>,
    pub store: &'a dyn KeyValue,
    /// The DTSTAMP of what is written.
    pub now: DateTime<Utc>,
}

impl Writer<'_> {
    /// Makes the item's event at `url` be `target`'s (or absent), and
    /// records it. Removing an event that is not there leaves no trace on
    /// the server for a conditional request to catch, so the record is the
    /// meeting point: it is replaced only if no other writer recorded
    /// anything since this one looked; if one did, the server is looked at
    /// again, and a stale write made meanwhile is undone.
    pub fn write(
        &self,
        url: &str,
        target: &Target,
        mut known: Known,
        on_conflict: &dyn Fn() -> Option<Target>,
    ) -> Result<Applied, WriteError> {
        let mut target = target.clone();
        for _ in 0..MAX_ROUNDS {
            let seen = records::read_event(self.store, &target.uid)?;
            // What the caller knew may be older than the record: another
            // writer put the event there since.
            if matches!(known, Known::Absent)
                && seen
                    .record
                    .as_ref()
                    .is_some_and(|r| r.url.as_deref() == Some(url))
            {
                known = Known::Unknown;
            }
            let deleted = seen.record.as_ref().is_some_and(EventRecord::is_deletion);
            if seen.record.as_ref().is_some_and(|r| outranks(r, &target)) {
                return Ok(Applied::Superseded);
            }
            let (applied, etag, written) = self.apply(url, &target, known, on_conflict)?;
            // After a conflict, what was written is Plane's answer, not
            // what this writer came with: that is what the record says.
            target = written;
            let mine = match (applied, &target.event) {
                (Applied::Superseded, _) => return Ok(applied),
                (_, Some(event)) => {
                    EventRecord::written(url, etag.clone(), event.content_hash(), target.version)
                }
                // A removal keeps the stronger word that the item is gone.
                (_, None) if deleted => EventRecord::removed(None),
                (_, None) => EventRecord::removed(target.version),
            };
            if records::replace_event(self.store, &target.uid, &seen, &mine)? {
                return Ok(applied);
            }
            let now = records::read_event(self.store, &target.uid)?.record;
            match now {
                Some(theirs) if outranks(&theirs, &target) => {
                    // Their removal may have looked before this write landed.
                    if theirs.is_removed() && target.event.is_some() {
                        let removal = Target {
                            event: None,
                            version: theirs.version,
                            ..target.clone()
                        };
                        self.apply(url, &removal, Known::Version(etag), &|| None)?;
                    }
                    return Ok(Applied::Superseded);
                }
                // A removal for an item Plane did not have, while someone
                // wrote it meanwhile: who asked Plane last is not known, so
                // an event written after this removal stays and the next
                // full sync settles it (it may linger; a current event must
                // not be deleted). But if that write is the one this removal
                // deleted (nothing is there now), the record must not claim
                // it: it records the removal, which the full sync confirms
                // with Plane before giving the item an event again.
                Some(_)
                    if target.event.is_none()
                        && target.version.is_none()
                        && !now.as_ref().is_some_and(EventRecord::is_removed) =>
                {
                    let deleted_theirs = applied == Applied::Deleted
                        && now.as_ref().and_then(|r| r.url.as_deref()) == Some(url)
                        && self.client.get(url)?.is_none();
                    if deleted_theirs {
                        let current = records::read_event(self.store, &target.uid)?;
                        // Only if nobody wrote since: a later write stands.
                        if current.record == now
                            && records::replace_event(self.store, &target.uid, &current, &mine)?
                        {
                            return Ok(Applied::Deleted);
                        }
                    }
                    return Ok(Applied::Superseded);
                }
                // An older or equal write was recorded meanwhile, and may
                // have landed after this one: look again.
                _ => known = Known::Unknown,
            }
        }
        Err(WriteError::Store(StoreError::Other(format!(
            "the record of {} kept changing",
            target.uid
        ))))
    }

    /// Makes the event at `url` be `target`'s (or absent), starting from
    /// what is `known` about it, never replacing a newer version of the
    /// item. `on_conflict` may return the item's state afresh from Plane
    /// after a 412. Returns what was done, the new ETag when the server sent
    /// one, and the state written (Plane's answer after a conflict).
    pub fn apply(
        &self,
        url: &str,
        target: &Target,
        mut known: Known,
        on_conflict: &dyn Fn() -> Option<Target>,
    ) -> Result<(Applied, Option<String>, Target), CalDavError> {
        let mut target = target.clone();
        let render = |target: &Target| {
            target
                .event
                .as_ref()
                .map(|e| e.to_ics(self.now, target.version))
        };
        let mut ics = render(&target);
        let conflict = |target: &mut Target, ics: &mut Option<String>| {
            if let Some(fresh) = on_conflict() {
                *ics = render(&fresh);
                *target = fresh;
            }
            Known::Unknown
        };
        for _ in 0..MAX_ROUNDS {
            known = match (ics.as_deref(), known) {
                (Some(body), Known::Absent) => {
                    match self.client.put(url, body, &Precondition::Absent)? {
                        WriteOutcome::Done { etag } => return Ok((Applied::Created, etag, target)),
                        WriteOutcome::PreconditionFailed | WriteOutcome::NotFound => {
                            conflict(&mut target, &mut ics)
                        }
                        WriteOutcome::UidConflict { existing } => {
                            return Err(uid_conflict(url, existing));
                        }
                    }
                }
                (Some(body), Known::Version(etag)) => {
                    let condition = match etag {
                        Some(etag) => Precondition::Matches(etag),
                        // A server that gave no ETag: nothing to condition on.
                        None => Precondition::Matches("*".into()),
                    };
                    match self.client.put(url, body, &condition)? {
                        WriteOutcome::Done { etag } => return Ok((Applied::Updated, etag, target)),
                        WriteOutcome::PreconditionFailed => conflict(&mut target, &mut ics),
                        WriteOutcome::NotFound => Known::Absent,
                        WriteOutcome::UidConflict { existing } => {
                            return Err(uid_conflict(url, existing));
                        }
                    }
                }
                (None, Known::Version(etag)) => match self.client.delete(url, etag.as_deref())? {
                    WriteOutcome::Done { .. } => return Ok((Applied::Deleted, None, target)),
                    WriteOutcome::NotFound => return Ok((Applied::Unchanged, None, target)),
                    WriteOutcome::PreconditionFailed | WriteOutcome::UidConflict { .. } => {
                        conflict(&mut target, &mut ics)
                    }
                },
                (None, Known::Absent) => return Ok((Applied::Unchanged, None, target)),
                (_, Known::Unknown) => {
                    let remote = self.client.get(url)?;
                    let stored = remote.as_ref().map(|r| read(&r.data));
                    if self.is_superseded(&target, stored.as_ref()) {
                        return Ok((Applied::Superseded, remote.and_then(|r| r.etag), target));
                    }
                    match (remote, stored) {
                        (None, _) => Known::Absent,
                        (Some(remote), Some(stored)) => {
                            let same = target.event.as_ref().is_some_and(|want| {
                                let hash = want.content_hash();
                                stored
                                    .event
                                    .as_ref()
                                    .is_some_and(|have| have.content_hash() == hash)
                                    || self.is_as_written(
                                        url,
                                        remote.etag.as_deref(),
                                        &hash,
                                        &target.uid,
                                    )
                            });
                            if same {
                                return Ok((Applied::Unchanged, remote.etag, target));
                            }
                            Known::Version(remote.etag)
                        }
                        (Some(remote), None) => Known::Version(remote.etag),
                    }
                }
            };
        }
        Err(CalDavError::Status {
            method: "PUT".into(),
            path: crate::net::path_of(url).to_string(),
            status: 412,
        })
    }

    /// Deletes a second copy of an event, but only as it was read: a copy
    /// that changed or moved since (a client, or a webhook writing it) may
    /// be the one holding the item now, and stays for the next sync to
    /// judge (a server that lists no ETags gets an unconditional DELETE:
    /// the copy that stays is rewritten right after). The item's own event
    /// and record are not touched. Returns whether it was deleted.
    pub fn remove_copy(&self, url: &str, etag: Option<&str>) -> Result<bool, CalDavError> {
        Ok(matches!(
            self.client.delete(url, etag)?,
            WriteOutcome::Done { .. }
        ))
    }

    /// Whether the event at `url` is still the service's own write of this
    /// content ([`EventRecord::is_write_of`]).
    fn is_as_written(&self, url: &str, etag: Option<&str>, hash: &str, uid: &str) -> bool {
        records::event(self.store, uid)
            .ok()
            .flatten()
            .is_some_and(|r| r.is_write_of(url, etag, hash))
    }

    /// After a conflict: whether what is there now, or what the store
    /// remembers of the item, is newer than `target`. An item whose event
    /// was removed because Plane no longer had it is not given one again
    /// unless Plane was asked just now.
    fn is_superseded(&self, target: &Target, stored: Option<&crate::ical::Stored>) -> bool {
        if is_older(target.version, stored.and_then(|s| s.version)) {
            return true;
        }
        let record = records::event(self.store, &target.uid).ok().flatten();
        record.is_some_and(|r| outranks(&r, target))
    }
}

fn uid_conflict(url: &str, existing: Option<String>) -> CalDavError {
    CalDavError::UidConflict {
        path: crate::net::path_of(url).to_string(),
        existing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::{Credentials, Scheme};
    use crate::ical::{Issue, event_for, parse_version, uid_for};
    use crate::net::scripted::{ScriptedHttp, response};
    use crate::store::memory::MemoryStore;
    use chrono::NaiveDate;

    const URL: &str = "http://dav/cal/plane-issue-a.ics";

    fn target_at(name: &str, version: &str) -> Target {
        Target {
            uid: uid_for("a"),
            event: event_for(&Issue {
                id: "a".into(),
                name: name.into(),
                priority: "low".into(),
                target_date: NaiveDate::from_ymd_opt(2026, 1, 1),
                ..Issue::default()
            }),
            version: parse_version(version),
            fresh: false,
        }
    }

    fn target(name: &str) -> Target {
        target_at(name, "2026-01-02T00:00:00Z")
    }

    fn ics(target: &Target) -> String {
        let event = target.event.as_ref().unwrap();
        event.to_ics(crate::time::now(), target.version)
    }

    fn run_with(http: &ScriptedHttp, action: Action, recheck: &Recheck) -> (Outcome, MemoryStore) {
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = CalDavClient::new(http, "http://dav/", &credentials);
        let plan = Plan {
            actions: vec![action],
            ..Plan::default()
        };
        let store = MemoryStore::default();
        let writer = Writer {
            client: &client,
            store: &store,
            now: crate::time::now(),
        };
        let outcome = execute(&writer, &plan, recheck, &|| true);
        (outcome, store)
    }

    fn run(http: &ScriptedHttp, action: Action) -> Outcome {
        run_with(
            http,
            action,
            &|_| Err("Plane not asked in this test".into()),
        )
        .0
    }

    fn update_of_v1(target: Target) -> Action {
        Action::Update {
            url: URL.into(),
            etag: Some("\"v1\"".into()),
            target,
            confirm: false,
        }
    }

    fn deletion_of_v1() -> Action {
        Action::Delete {
            url: URL.into(),
            etag: Some("\"v1\"".into()),
            uid: uid_for("a"),
            confirm: true,
        }
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
        // Edited in a calendar app: same version, other content.
        let theirs = ics(&target("edited elsewhere"));
        let http = ScriptedHttp::new(move |request, index| {
            Ok(match (index, request.method.as_str()) {
                (0, "PUT") => response(412, &[], ""),
                (1, "GET") => response(200, &[("etag", "\"v2\"")], &theirs),
                (2, "PUT") => response(204, &[("etag", "\"v3\"")], ""),
                other => panic!("unexpected {other:?}"),
            })
        });
        let (outcome, store) =
            run_with(&http, update_of_v1(target("mine")), &|_| Ok(target("mine")));
        assert_eq!(outcome.updated, 1);
        assert!(outcome.errors.is_empty());
        let requests = http.requests.borrow();
        assert_eq!(header(&requests[0], "if-match"), Some("\"v1\""));
        assert_eq!(header(&requests[2], "if-match"), Some("\"v2\""));
        let record = records::event(&store, &uid_for("a")).unwrap().unwrap();
        assert_eq!(record.etag.as_deref(), Some("\"v3\""));
        assert_eq!(record.version, target("mine").version);
    }

    #[test]
    fn a_conflict_with_a_newer_version_leaves_it_alone() {
        let newer = ics(&target_at("from a webhook", "2026-01-03T00:00:00Z"));
        let http = ScriptedHttp::new(move |request, index| {
            Ok(match (index, request.method.as_str()) {
                (0, "PUT") => response(412, &[], ""),
                (1, "GET") => response(200, &[("etag", "\"v2\"")], &newer),
                other => panic!("unexpected {other:?}"),
            })
        });
        let (outcome, _) = run_with(
            &http,
            update_of_v1(target("stale listing")),
            // Plane cannot be reached: the version alone decides.
            &|_| Err("unreachable".into()),
        );
        assert_eq!((outcome.updated, outcome.superseded), (0, 1));
    }

    #[test]
    fn a_conflict_asks_plane_and_writes_its_current_state() {
        let theirs = ics(&target_at("edited elsewhere", "2026-01-01T00:00:00Z"));
        let http = ScriptedHttp::new(move |request, index| {
            Ok(match (index, request.method.as_str()) {
                (0, "PUT") => response(412, &[], ""),
                (1, "GET") => response(200, &[("etag", "\"v2\"")], &theirs),
                (2, "PUT") => {
                    assert!(String::from_utf8_lossy(&request.body).contains("current"));
                    response(204, &[("etag", "\"v3\"")], "")
                }
                other => panic!("unexpected {other:?}"),
            })
        });
        let (outcome, store) = run_with(&http, update_of_v1(target("listed")), &|_| {
            Ok(target_at("current", "2026-01-04T00:00:00Z"))
        });
        assert_eq!(outcome.updated, 1);
        // The record tells what was written: Plane's answer, not the listing.
        let record = records::event(&store, &uid_for("a")).unwrap().unwrap();
        assert_eq!(record.version, parse_version("2026-01-04T00:00:00Z"));
        let current = target_at("current", "2026-01-04T00:00:00Z");
        assert_eq!(record.hash, current.event.map(|e| e.content_hash()));
    }

    #[test]
    fn a_deletion_asks_plane_first_and_keeps_what_plane_still_has() {
        // The event is read first: it may be right as it is.
        let http = ScriptedHttp::new(|request, _| {
            Ok(match request.method.as_str() {
                "GET" => response(200, &[("etag", "\"1\"")], &ics(&target("v1"))),
                "PUT" => response(204, &[("etag", "\"2\"")], ""),
                other => panic!("never deleted ({other})"),
            })
        });
        let (outcome, _) = run_with(&http, deletion_of_v1(), &|_| {
            Ok(target("created after the listing"))
        });
        assert_eq!(outcome.updated, 1);
        assert_eq!(http.methods(), ["GET", "PUT"]);
        let same = ScriptedHttp::new(|request, _| {
            assert_eq!(request.method, "GET", "nothing written");
            Ok(response(200, &[("etag", "\"1\"")], &ics(&target("v1"))))
        });
        let (outcome, _) = run_with(&same, deletion_of_v1(), &|_| Ok(target("v1")));
        assert_eq!((outcome.updated, outcome.unchanged), (0, 1));

        let http = ScriptedHttp::new(|_, _| panic!("nothing sent when Plane cannot say"));
        let (outcome, _) = run_with(
            &http,
            deletion_of_v1(),
            &|_| Err("Plane unreachable".into()),
        );
        assert_eq!(outcome.deleted, 0);
        assert!(outcome.errors[0].contains("not deleted"));
    }

    #[test]
    fn a_confirmed_deletion_leaves_a_tombstone() {
        let http = ScriptedHttp::new(|_, _| Ok(response(204, &[], "")));
        let gone = Target {
            uid: uid_for("a"),
            event: None,
            version: None,
            fresh: true,
        };
        let (outcome, store) = run_with(&http, deletion_of_v1(), &|_| Ok(gone.clone()));
        assert_eq!(outcome.deleted, 1);
        assert!(
            records::event(&store, &uid_for("a"))
                .unwrap()
                .unwrap()
                .is_removed()
        );
    }

    #[test]
    fn a_create_that_finds_the_event_already_right_writes_nothing_more() {
        let wanted = target("same");
        let stored = ics(&wanted);
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
                target: wanted,
                confirm: false,
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
                confirm: false,
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
                    "PUT" => response(put, &[("etag", "\"1\"")], ""),
                    _ => response(delete, &[], "<multistatus xmlns=\"DAV:\"/>"),
                })
            });
            let create = Action::Create {
                url: URL.into(),
                target: target("x"),
                confirm: false,
            };
            assert_eq!(run(&http, create).created, 1);
            let delete = Action::Delete {
                url: URL.into(),
                etag: None,
                uid: "u".into(),
                confirm: false,
            };
            assert_eq!(run(&http, delete).deleted, 1);
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
                target: target("x"),
                confirm: false,
            },
        );
        assert!(outcome.connection_lost);
        assert_eq!(outcome.errors.len(), 1);
    }

    #[test]
    fn a_server_that_keeps_changing_the_event_is_an_error_not_a_loop() {
        let theirs = ics(&target_at("moving target", "2026-01-01T00:00:00Z"));
        let http = ScriptedHttp::new(move |request, _| {
            Ok(match request.method.as_str() {
                "PUT" => response(412, &[], ""),
                _ => response(200, &[("etag", "\"again\"")], &theirs),
            })
        });
        let outcome = run(&http, update_of_v1(target("mine")));
        assert_eq!(outcome.errors.len(), 1);
        assert!(http.requests.borrow().len() <= 2 * MAX_ROUNDS);
    }
}
