//! From what should be (events for Plane's items) and what is (the
//! calendar's events), the writes that make them equal. Pure.
//!
//! Versions decide between writers: an item's event is never replaced by
//! an older version of the item than the calendar's copy or the store's
//! record already holds (a webhook may have written in between the listing
//! and the calendar read). Deleting, and creating what was removed before,
//! are decided from a listing that may be minutes old, so those actions ask
//! Plane about the single item before they are carried out.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::EventRecord;
use crate::ical::{Event, Stored, is_older, is_owned_uid};

/// What an item's event should be: `event` `None` means no event (the item
/// is gone, hidden or has no date); `version` is the item's `updated_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub uid: String,
    pub event: Option<Event>,
    pub version: Option<DateTime<Utc>>,
    /// Read from Plane a moment ago (not from a listing or a delivery that
    /// may be minutes old).
    pub fresh: bool,
}

/// An event found in the calendar, as much of it as a plan needs (kept
/// between syncs for every event of a calendar, so it stays small).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Existing {
    pub url: String,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
    /// The content hash of the properties the service owns; `None` when it
    /// is not an event the service would write.
    #[serde(default)]
    pub hash: Option<String>,
    /// The Plane version it was written from.
    #[serde(default)]
    pub version: Option<DateTime<Utc>>,
    /// The Plane workspace it was written for.
    #[serde(default)]
    pub workspace: Option<String>,
}

impl Existing {
    /// The summary of an event as a server returned it.
    pub fn read(url: String, etag: Option<String>, ics: &str) -> Self {
        Self::of(url, etag, crate::ical::read(ics))
    }

    pub fn of(url: String, etag: Option<String>, stored: Stored) -> Self {
        Existing {
            url,
            etag,
            hash: stored.event.as_ref().map(Event::content_hash),
            uid: stored.uid,
            version: stored.version,
            workspace: stored.workspace,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `confirm`: the item's event was removed before; ask Plane first.
    Create {
        url: String,
        target: Target,
        confirm: bool,
    },
    /// `confirm`: the store holds the item for gone; ask Plane first.
    Update {
        url: String,
        etag: Option<String>,
        target: Target,
        confirm: bool,
    },
    /// `confirm`: ask Plane first whether the item is really gone (`false`
    /// for a second copy of an event that stays).
    Delete {
        url: String,
        etag: Option<String>,
        uid: String,
        confirm: bool,
    },
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unchanged: usize,
    /// Items whose calendar copy or record is of a newer version than the
    /// listing: left as they are.
    pub superseded: usize,
    /// Records to move forward without a write: the calendar already shows
    /// a newer version's content.
    pub remember: Vec<(String, EventRecord)>,
    /// The events of items no longer wanted, to be deleted (after asking
    /// Plane) unless the deletion policy withholds them: see
    /// [`Plan::settle_deletions`].
    pub deletions: Vec<Action>,
    /// The calendar's events this plan found that belong to this
    /// deployment: the measure of the deletion policy.
    pub owned: usize,
    /// Why deletions were withheld, if they were.
    pub guard: Option<String>,
}

/// Where a new event goes: `plane-issue-{id}.ics` in the calendar.
pub fn event_url(calendar_url: &str, uid: &str) -> String {
    let name: String = uid
        .trim_end_matches("@calplanebot")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{calendar_url}{name}.ics")
}

/// Deletions withheld when a calendar would lose more than this many of
/// its events at once and more than `SYNC_MAX_DELETE_PERCENT` of them.
pub const MIN_GUARDED_DELETIONS: usize = 10;

/// The calendar a plan is made for, and the rules that apply to it.
pub struct Scope<'a> {
    pub calendar_url: &'a str,
    /// This deployment's Plane workspace: only events that record it (or
    /// that the store remembers writing there) are ever deleted.
    pub workspace: &'a str,
    /// UIDs of items Plane listed but that could not be read: their events
    /// are left as they are, neither rewritten nor deleted.
    pub unreadable: &'a HashSet<String>,
}

/// `desired` holds the listed items that have an event. `record` looks up
/// what the store remembers of an event; it is asked only about events
/// that differ from their item, that are not where the service puts them,
/// or whose ownership the event itself does not say.
pub fn plan(
    scope: &Scope,
    desired: &[Target],
    existing: &[Existing],
    record: &dyn Fn(&str) -> Option<EventRecord>,
) -> Plan {
    let calendar_url = scope.calendar_url;
    let mut copies: HashMap<&str, Vec<&Existing>> = HashMap::new();
    for event in existing {
        let Some(uid) = event.uid.as_deref().filter(|uid| is_owned_uid(uid)) else {
            continue;
        };
        if !scope.unreadable.contains(uid) {
            copies.entry(uid).or_default().push(event);
        }
    }
    // Copies of one UID at several hrefs (planted by a client, or left by
    // a server that does not check): the one [`keeper`] picks stays and is
    // made right, the others go.
    let mut owned: HashMap<&str, &Existing> = HashMap::new();
    let mut duplicates = Vec::new();
    for (uid, mut found) in copies {
        if found.len() > 1 {
            let recorded = record(uid).and_then(|r| r.url);
            let copies: Vec<(&str, Option<DateTime<Utc>>)> =
                found.iter().map(|e| (e.url.as_str(), e.version)).collect();
            let keep = keeper(&event_url(calendar_url, uid), recorded.as_deref(), &copies);
            found.swap(0, keep);
        }
        let mut found = found.into_iter();
        if let Some(keeper) = found.next() {
            owned.insert(uid, keeper);
        }
        duplicates.extend(found);
    }
    let mut result = Plan::default();
    let mut wanted = HashSet::new();
    for target in desired {
        let Some(event) = &target.event else { continue };
        wanted.insert(target.uid.as_str());
        let Some(found) = owned.get(target.uid.as_str()) else {
            plan_create(&mut result, calendar_url, target, record(&target.uid));
            continue;
        };
        let hash = event.content_hash();
        let same_content = found.hash.as_deref() == Some(hash.as_str());
        let elsewhere = found.url != event_url(calendar_url, &target.uid);
        let seen = (!same_content || elsewhere)
            .then(|| record(&target.uid))
            .flatten();
        // The server may have changed what the service wrote (dropped an
        // optional property, say): the same ETag as the service's own
        // write of this content means the event is still that write.
        let as_written = seen
            .as_ref()
            .is_some_and(|r| r.is_write_of(&found.url, found.etag.as_deref(), &hash));
        if same_content || as_written {
            result.unchanged += 1;
            let newer = is_newer(target.version, found.version);
            // Plane changed something the event does not show: no write,
            // but the store learns the version, so that an older delivery
            // arriving late cannot pass for news; and it learns where an
            // event lives that is not where the service would put it, so
            // that webhooks find it.
            let moved = elsewhere
                && seen
                    .as_ref()
                    .is_none_or(|r| !r.is_deletion() && r.url.as_deref() != Some(&found.url));
            let learn = newer && {
                let seen = seen.clone().or_else(|| record(&target.uid));
                seen.is_none_or(|r| !r.is_deletion() && is_newer(target.version, r.version))
            };
            if learn || moved {
                let version = target.version.max(found.version);
                let remembered =
                    EventRecord::written(&found.url, found.etag.clone(), hash, version);
                result.remember.push((target.uid.clone(), remembered));
            }
            continue;
        }
        let seen = seen.or_else(|| record(&target.uid));
        let newest = seen
            .as_ref()
            .and_then(|r| r.version)
            .into_iter()
            .chain(found.version)
            .max();
        if is_older(target.version, newest) {
            result.superseded += 1;
            continue;
        }
        result.actions.push(Action::Update {
            url: found.url.clone(),
            etag: found.etag.clone(),
            target: target.clone(),
            confirm: seen.is_some_and(|r| r.is_deletion()),
        });
    }
    let is_ours = |uid: &str, found: &Existing| is_ours(scope, uid, found, record);
    let mut gone: Vec<Action> = owned
        .iter()
        .filter(|(uid, found)| !wanted.contains(*uid) && is_ours(uid, found))
        .map(|(uid, found)| delete(found, uid, true))
        .collect();
    gone.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    let mut copies: Vec<Action> = duplicates
        .into_iter()
        .filter(|d| d.workspace.as_deref().is_none_or(|w| w == scope.workspace))
        .map(|d| delete(d, d.uid.as_deref().unwrap_or_default(), false))
        .collect();
    copies.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    // Second copies go whatever their number (the item keeps its event),
    // and first: a server that checks UIDs refuses to update a copy while
    // another exists (Radicale answers 409).
    result.actions.splice(0..0, copies);
    result.owned = owned
        .iter()
        .filter(|(uid, found)| wanted.contains(*uid) || is_ours(uid, found))
        .count();
    result.deletions = gone;
    result
}

/// Whether the event `found` of `uid` belongs to this deployment: it
/// records this workspace, or (written before events recorded it) the
/// store remembers writing it there.
pub fn is_ours(
    scope: &Scope,
    uid: &str,
    found: &Existing,
    record: &dyn Fn(&str) -> Option<EventRecord>,
) -> bool {
    match &found.workspace {
        Some(workspace) => workspace == scope.workspace,
        None => record(uid).is_some_and(|r| r.url.as_deref() == Some(found.url.as_str())),
    }
}

/// Why the deletion policy withholds `deletions` of a calendar's `owned`
/// events, if it does: more than [`MIN_GUARDED_DELETIONS`] and more than
/// `max_delete_percent` of them at once.
pub fn withheld(deletions: usize, owned: usize, max_delete_percent: u8) -> Option<String> {
    let percent = usize::from(max_delete_percent.min(100));
    (deletions > MIN_GUARDED_DELETIONS && deletions * 100 > percent * owned).then(|| {
        format!(
            "deletions withheld: {deletions} of the calendar's {owned} events would be deleted at once, \
             more than SYNC_MAX_DELETE_PERCENT={percent}%; if the items really are gone, raise \
             SYNC_MAX_DELETE_PERCENT for one sync"
        )
    })
}

impl Plan {
    /// Moves the deletions into the actions, unless the policy withholds
    /// them for a calendar of `owned` events (then says why in `guard`).
    pub fn settle_deletions(&mut self, owned: usize, max_delete_percent: u8) {
        self.guard = withheld(self.deletions.len(), owned, max_delete_percent);
        let deletions = std::mem::take(&mut self.deletions);
        if self.guard.is_none() {
            self.actions.extend(deletions);
        }
    }
}

/// Of several copies of one event (href and the version each holds), the
/// one that stays: of those holding the newest version (one a webhook wrote
/// since the listing, say, must not give way to an older copy), the one
/// where the service puts events, else where the store says it wrote last,
/// else the first.
pub fn keeper(
    canonical: &str,
    recorded: Option<&str>,
    copies: &[(&str, Option<DateTime<Utc>>)],
) -> usize {
    let newest = copies.iter().map(|(_, version)| *version).max().flatten();
    let candidates: Vec<usize> = (0..copies.len())
        .filter(|&i| newest.is_none() || copies[i].1 == newest)
        .collect();
    let find = |wanted: Option<&str>| {
        candidates
            .iter()
            .copied()
            .find(|&i| Some(copies[i].0) == wanted)
    };
    find(Some(canonical))
        .or_else(|| find(recorded))
        .or_else(|| candidates.first().copied())
        .unwrap_or(0)
}

fn delete(found: &Existing, uid: &str, confirm: bool) -> Action {
    Action::Delete {
        url: found.url.clone(),
        etag: found.etag.clone(),
        uid: uid.to_string(),
        confirm,
    }
}

/// Whether `version` is known and newer than `than` (or `than` unknown).
fn is_newer(version: Option<DateTime<Utc>>, than: Option<DateTime<Utc>>) -> bool {
    version.is_some() && (than.is_none() || is_older(than, version))
}

/// An item listed with a date but without an event: created, unless its
/// event was removed for a version at least as new as the listing's; when
/// the removal's version is unknown (a deletion), Plane is asked first.
fn plan_create(
    result: &mut Plan,
    calendar_url: &str,
    target: &Target,
    record: Option<EventRecord>,
) {
    let removed = record.filter(EventRecord::is_removed);
    let confirm = match &removed {
        Some(removal) if is_older(target.version, removal.version) => {
            result.superseded += 1;
            return;
        }
        Some(removal) => removal.version.is_none() || target.version.is_none(),
        None => false,
    };
    result.actions.push(Action::Create {
        url: event_url(calendar_url, &target.uid),
        target: target.clone(),
        confirm,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ical::{Issue, event_for, parse_version, uid_for};
    use chrono::NaiveDate;

    const CAL: &str = "http://dav/cal/";

    fn target_at(id: &str, name: &str, version: &str) -> Target {
        let event = event_for(&Issue {
            id: id.into(),
            name: name.into(),
            priority: "none".into(),
            target_date: NaiveDate::from_ymd_opt(2025, 1, 1),
            url: format!("https://plane/{id}"),
            workspace: WORKSPACE.into(),
            ..Issue::default()
        });
        Target {
            uid: uid_for(id),
            event,
            version: parse_version(version),
            fresh: false,
        }
    }

    fn target(id: &str, name: &str) -> Target {
        target_at(id, name, "2026-01-01T00:00:00Z")
    }

    fn existing(target: &Target) -> Existing {
        Existing {
            url: event_url(CAL, &target.uid),
            etag: Some(format!("\"{}\"", target.uid)),
            uid: Some(target.uid.clone()),
            hash: target.event.as_ref().map(Event::content_hash),
            version: target.version,
            workspace: Some(WORKSPACE.into()),
        }
    }

    const WORKSPACE: &str = "ws";

    fn plan_in(
        desired: &[Target],
        existing: &[Existing],
        record: &dyn Fn(&str) -> Option<EventRecord>,
    ) -> Plan {
        plan_with(50, &HashSet::new(), desired, existing, record)
    }

    fn plan_with(
        max_delete_percent: u8,
        unreadable: &HashSet<String>,
        desired: &[Target],
        existing: &[Existing],
        record: &dyn Fn(&str) -> Option<EventRecord>,
    ) -> Plan {
        let scope = Scope {
            calendar_url: CAL,
            workspace: WORKSPACE,
            unreadable,
        };
        let mut plan = plan(&scope, desired, existing, record);
        plan.settle_deletions(plan.owned, max_delete_percent);
        plan
    }

    fn no_record(_: &str) -> Option<EventRecord> {
        None
    }

    #[test]
    fn creates_into_an_empty_calendar() {
        let plan = plan_in(&[target("a", "A"), target("b", "B")], &[], &no_record);
        assert_eq!(plan.actions.len(), 2);
        assert!(
            matches!(&plan.actions[0], Action::Create { url, confirm: false, .. } if url == "http://dav/cal/plane-issue-a.ics")
        );
    }

    #[test]
    fn unchanged_events_cost_nothing() {
        let events = [target("a", "A"), target("b", "B")];
        let found: Vec<_> = events.iter().map(existing).collect();
        let plan = plan_in(&events, &found, &|_| panic!("no record needed"));
        assert!(plan.actions.is_empty() && plan.remember.is_empty());
        assert_eq!(plan.unchanged, 2);
    }

    #[test]
    fn a_changed_item_is_one_update_with_its_etag() {
        let before = target("a", "A");
        let after = target_at("a", "A renamed", "2026-01-02T00:00:00Z");
        let plan = plan_in(
            std::slice::from_ref(&after),
            &[existing(&before)],
            &no_record,
        );
        assert_eq!(
            plan.actions,
            [Action::Update {
                url: event_url(CAL, &before.uid),
                etag: Some(format!("\"{}\"", before.uid)),
                target: after,
                confirm: false,
            }]
        );
    }

    #[test]
    fn an_older_listing_never_replaces_a_newer_event_or_record() {
        let newer = target_at("a", "A v3", "2026-01-03T00:00:00Z");
        let listed = target_at("a", "A v2", "2026-01-02T00:00:00Z");
        let plan1 = plan_in(
            std::slice::from_ref(&listed),
            &[existing(&newer)],
            &no_record,
        );
        assert!(plan1.actions.is_empty());
        assert_eq!(plan1.superseded, 1);

        // The event is of v1, but a webhook saw v3 with the same content
        // and recorded it: v2 is still older.
        let v1 = target_at("a", "A v3", "2026-01-01T00:00:00Z");
        let record = EventRecord::written("u", None, "h".into(), newer.version);
        let plan2 = plan_in(&[listed], &[existing(&v1)], &|_| Some(record.clone()));
        assert!(plan2.actions.is_empty());
        assert_eq!(plan2.superseded, 1);
    }

    #[test]
    fn a_newer_version_with_the_same_content_is_remembered_not_written() {
        let on_calendar = target_at("a", "A", "2026-01-01T00:00:00Z");
        let listed = target_at("a", "A", "2026-01-05T00:00:00Z");
        let plan = plan_in(
            std::slice::from_ref(&listed),
            &[existing(&on_calendar)],
            &no_record,
        );
        assert!(plan.actions.is_empty());
        assert_eq!(plan.remember.len(), 1);
        assert_eq!(plan.remember[0].1.version, listed.version);
    }

    #[test]
    fn what_was_removed_is_created_again_only_from_a_newer_version_or_after_asking() {
        let listed = target_at("a", "A", "2026-01-02T00:00:00Z");
        let removed_later = EventRecord::removed(parse_version("2026-01-03T00:00:00Z"));
        let p = plan_in(std::slice::from_ref(&listed), &[], &|_| {
            Some(removed_later.clone())
        });
        assert!(p.actions.is_empty());
        let removed_before = EventRecord::removed(parse_version("2026-01-01T00:00:00Z"));
        let p = plan_in(std::slice::from_ref(&listed), &[], &|_| {
            Some(removed_before.clone())
        });
        assert!(matches!(
            p.actions[0],
            Action::Create { confirm: false, .. }
        ));
        let deleted = EventRecord::removed(None);
        let p = plan_in(std::slice::from_ref(&listed), &[], &|_| {
            Some(deleted.clone())
        });
        assert!(matches!(p.actions[0], Action::Create { confirm: true, .. }));
    }

    #[test]
    fn unreadable_owned_events_are_rewritten() {
        let wanted = target("a", "A");
        let mut found = existing(&wanted);
        found.hash = None;
        found.version = None;
        let plan = plan_in(&[wanted], &[found], &no_record);
        assert!(matches!(plan.actions[0], Action::Update { .. }));
    }

    #[test]
    fn deletes_only_owned_events_that_are_no_longer_wanted_after_asking() {
        let kept = target("a", "A");
        let gone = target("b", "B");
        let foreign = Existing {
            url: "http://dav/cal/meeting.ics".into(),
            etag: None,
            uid: Some("meeting@example.com".into()),
            hash: None,
            version: None,
            workspace: None,
        };
        let unparsable = Existing::of("http://dav/cal/x.ics".into(), None, Stored::default());
        let plan = plan_in(
            std::slice::from_ref(&kept),
            &[existing(&kept), existing(&gone), foreign, unparsable],
            &no_record,
        );
        assert_eq!(plan.actions.len(), 1);
        assert!(
            matches!(&plan.actions[0], Action::Delete { uid, confirm: true, .. } if *uid == uid_for("b"))
        );
    }

    fn calendar_of(count: usize) -> (Vec<Target>, Vec<Existing>) {
        let targets: Vec<Target> = (0..count)
            .map(|i| target(&format!("i{i}"), &format!("I{i}")))
            .collect();
        let found = targets.iter().map(existing).collect();
        (targets, found)
    }

    fn deletions(plan: &Plan) -> usize {
        plan.actions
            .iter()
            .filter(|a| matches!(a, Action::Delete { .. }))
            .count()
    }

    #[test]
    fn deletions_follow_the_policy() {
        // A project's last item gone: its event goes.
        let (_, found) = calendar_of(1);
        let p = plan_in(&[], &found, &no_record);
        assert_eq!((deletions(&p), p.guard.is_none()), (1, true));
        // Ten at once always go, even all of a calendar.
        let (_, found) = calendar_of(10);
        assert_eq!(deletions(&plan_in(&[], &found, &no_record)), 10);
        // 47 of 52: withheld and said, naming the count.
        let (targets, found) = calendar_of(52);
        let p = plan_in(&targets[..5], &found, &no_record);
        assert_eq!(deletions(&p), 0);
        let guard = p.guard.unwrap();
        assert!(guard.contains("47 of the calendar's 52"), "{guard}");
        // 26 of 52 is half, not more than half: they go.
        let p = plan_in(&targets[..26], &found, &no_record);
        assert_eq!((deletions(&p), p.guard), (26, None));
        // 500 listed dropping to 3: withheld.
        let (targets, found) = calendar_of(500);
        assert_eq!(deletions(&plan_in(&targets[..3], &found, &no_record)), 0);
        // Nothing listed at all: withheld too, as more than 10 would go.
        assert!(plan_in(&[], &found, &no_record).guard.is_some());
        // The share is configurable; 100 never withholds.
        let none = HashSet::new();
        let p = plan_with(100, &none, &targets[..3], &found, &no_record);
        assert_eq!((deletions(&p), p.guard), (497, None));
        let p = plan_with(0, &none, &targets[..489], &found, &no_record);
        assert!(p.guard.is_some(), "11 deletions are more than 0%");
    }

    #[test]
    fn unreadable_items_keep_their_events() {
        let (targets, found) = calendar_of(3);
        let unreadable: HashSet<String> = [targets[1].uid.clone()].into();
        let p = plan_with(50, &unreadable, &[targets[0].clone()], &found, &no_record);
        assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
        assert!(matches!(&p.actions[0], Action::Delete { uid, .. } if *uid == targets[2].uid));
    }

    #[test]
    fn only_this_workspaces_events_are_deleted() {
        let (_, mut found) = calendar_of(3);
        found[0].workspace = Some("other".into());
        found[0].hash = Some("written for another workspace".into());
        // Written before events said their workspace: ours only if the
        // store remembers writing it there.
        found[1].workspace = None;
        found[2].workspace = None;
        let mine = found[2].clone();
        let record = move |uid: &str| {
            (uid == mine.uid.as_deref().unwrap())
                .then(|| EventRecord::written(&mine.url, None, "h".into(), None))
        };
        let p = plan_in(&[], &found, &record);
        assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
        assert!(matches!(&p.actions[0], Action::Delete { url, .. } if *url == found[2].url));
    }

    #[test]
    fn an_event_elsewhere_is_updated_in_place_and_its_place_remembered() {
        let wanted = target("a", "A");
        let mut found = existing(&wanted);
        found.url = format!("{CAL}plane-issue-a%40calplanebot.ics");
        let p = plan_in(std::slice::from_ref(&wanted), &[found.clone()], &no_record);
        assert!(p.actions.is_empty());
        assert_eq!(p.remember.len(), 1);
        assert_eq!(p.remember[0].1.url.as_deref(), Some(found.url.as_str()));
        // Once remembered, nothing more to learn.
        let known = p.remember[0].1.clone();
        let p = plan_in(std::slice::from_ref(&wanted), &[found.clone()], &|_| {
            Some(known.clone())
        });
        assert!(p.actions.is_empty() && p.remember.is_empty());
        let renamed = target_at("a", "A2", "2026-02-01T00:00:00Z");
        let p = plan_in(&[renamed], &[found.clone()], &no_record);
        assert!(matches!(&p.actions[0], Action::Update { url, .. } if *url == found.url));
    }

    #[test]
    fn an_event_the_server_changed_after_the_services_write_is_not_rewritten() {
        let wanted = target("a", "A");
        let mut found = existing(&wanted);
        // The server dropped COLOR from what the service wrote.
        found.hash = Some("without COLOR".into());
        let hash = wanted.event.as_ref().unwrap().content_hash();
        let ours = EventRecord::written(&found.url, found.etag.clone(), hash.clone(), None);
        let p = plan_in(std::slice::from_ref(&wanted), &[found.clone()], &|_| {
            Some(ours.clone())
        });
        assert_eq!((p.actions.len(), p.unchanged), (0, 1));
        // Someone edited it since (another ETag): Plane's content again.
        let theirs = EventRecord::written(&found.url, Some("\"old\"".into()), hash, None);
        let p = plan_in(std::slice::from_ref(&wanted), &[found], &|_| {
            Some(theirs.clone())
        });
        assert!(matches!(p.actions[0], Action::Update { .. }));
    }

    #[test]
    fn a_second_copy_of_an_owned_uid_is_removed_without_asking() {
        let wanted = target("a", "A");
        let mut copy = existing(&wanted);
        copy.url = "http://dav/cal/copy.ics".into();
        for found in [
            [existing(&wanted), copy.clone()],
            [copy.clone(), existing(&wanted)],
        ] {
            let plan = plan_in(std::slice::from_ref(&wanted), &found, &no_record);
            assert_eq!(plan.actions.len(), 1, "{found:?}");
            assert!(
                matches!(&plan.actions[0], Action::Delete { url, confirm: false, .. } if url == "http://dav/cal/copy.ics")
            );
        }
    }

    #[test]
    fn of_two_copies_elsewhere_the_one_last_written_stays() {
        let wanted = target("a", "A");
        let mut first = existing(&wanted);
        first.url = "http://dav/cal/a-copy.ics".into();
        let mut second = existing(&wanted);
        second.url = "http://dav/cal/z-moved.ics".into();
        let written = EventRecord::written(&second.url, None, "h".into(), None);
        let p = plan_in(std::slice::from_ref(&wanted), &[first, second], &|_| {
            Some(written.clone())
        });
        assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
        assert!(
            matches!(&p.actions[0], Action::Delete { url, confirm: false, .. } if url == "http://dav/cal/a-copy.ics")
        );
    }

    #[test]
    fn of_two_copies_the_newer_stays_even_away_from_the_services_href() {
        let listed = target_at("a", "A v2", "2026-01-02T00:00:00Z");
        let at_home = existing(&target_at("a", "A v1", "2026-01-01T00:00:00Z"));
        let mut newer = existing(&target_at("a", "A v3", "2026-01-03T00:00:00Z"));
        newer.url = "http://dav/cal/plane-issue-a%40calplanebot.ics".into();
        let written = EventRecord::written(&newer.url, None, "h".into(), newer.version);
        let p = plan_in(std::slice::from_ref(&listed), &[at_home, newer], &|_| {
            Some(written.clone())
        });
        assert_eq!(p.superseded, 1);
        assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
        assert!(
            matches!(&p.actions[0], Action::Delete { url, confirm: false, .. } if url == "http://dav/cal/plane-issue-a.ics")
        );
    }

    #[test]
    fn event_urls_are_path_safe() {
        assert_eq!(
            event_url(CAL, &uid_for("a/b c")),
            "http://dav/cal/plane-issue-a_b_c.ics"
        );
    }
}
