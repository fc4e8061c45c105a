//! From what should be (events for Plane's items) and what is (the
//! calendar's events), the writes that make them equal. Pure.
//!
//! Versions decide between writers: an item's event is never replaced by
//! an older version of the item than the calendar's copy or the store's
//! record already holds (a webhook may have written in between the listing
//! and the calendar read). Deleting, and creating what was removed before,
//! are decided from a listing that may be minutes old, so those actions ask
//! Plane about the single item before they are carried out.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

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

/// An event found in the calendar.
#[derive(Debug, Clone)]
pub struct Existing {
    pub url: String,
    pub etag: Option<String>,
    pub stored: Stored,
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

/// `desired` holds the listed items that have an event; `listed_items` is
/// how many work items Plane listed for the project (with or without a
/// date): zero while the calendar holds owned events looks like an outage
/// or a permissions change, not like everything being deleted at once, so
/// nothing is deleted then. `record` looks up what the store remembers of
/// an event; it is asked only about items that would be written.
pub fn plan(
    calendar_url: &str,
    desired: &[Target],
    existing: &[Existing],
    listed_items: usize,
    record: &dyn Fn(&str) -> Option<EventRecord>,
) -> Plan {
    let mut owned: HashMap<&str, &Existing> = HashMap::new();
    let mut duplicates = Vec::new();
    for event in existing {
        let Some(uid) = event.stored.uid.as_deref().filter(|uid| is_owned_uid(uid)) else {
            continue;
        };
        match owned.entry(uid) {
            Entry::Vacant(slot) => {
                slot.insert(event);
            }
            // Two copies of one UID: the one where the service puts it
            // stays, the other goes.
            Entry::Occupied(mut slot) if event.url == event_url(calendar_url, uid) => {
                duplicates.push(slot.insert(event));
            }
            Entry::Occupied(_) => duplicates.push(event),
        }
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
        let same = found
            .stored
            .event
            .as_ref()
            .is_some_and(|e| e.content_hash() == event.content_hash());
        if same {
            result.unchanged += 1;
            // Plane changed something the event does not show: no write,
            // but the store learns the version, so that an older delivery
            // arriving late cannot pass for news.
            if is_newer(target.version, found.stored.version)
                && record(&target.uid)
                    .is_none_or(|r| !r.is_deletion() && is_newer(target.version, r.version))
            {
                let remembered = EventRecord::written(
                    &found.url,
                    found.etag.clone(),
                    event.content_hash(),
                    target.version,
                );
                result.remember.push((target.uid.clone(), remembered));
            }
            continue;
        }
        let seen = record(&target.uid);
        let newest = seen
            .as_ref()
            .and_then(|r| r.version)
            .into_iter()
            .chain(found.stored.version)
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
    let mut deletions: Vec<Action> = owned
        .iter()
        .filter(|(uid, _)| !wanted.contains(*uid))
        .map(|(uid, found)| (uid.to_string(), *found, true))
        .chain(
            duplicates
                .into_iter()
                .map(|d| (d.stored.uid.clone().unwrap_or_default(), d, false)),
        )
        .map(|(uid, found, confirm)| Action::Delete {
            url: found.url.clone(),
            etag: found.etag.clone(),
            uid,
            confirm,
        })
        .collect();
    deletions.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    if listed_items == 0 && !owned.is_empty() {
        result.guard = Some(format!(
            "Plane listed no work items for a project whose calendar holds {} events; deletions skipped",
            owned.len()
        ));
    } else {
        result.actions.extend(deletions);
    }
    result
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
            stored: Stored {
                uid: Some(target.uid.clone()),
                event: target.event.clone(),
                version: target.version,
            },
        }
    }

    fn no_record(_: &str) -> Option<EventRecord> {
        None
    }

    #[test]
    fn creates_into_an_empty_calendar() {
        let plan = plan(
            CAL,
            &[target("a", "A"), target("b", "B")],
            &[],
            2,
            &no_record,
        );
        assert_eq!(plan.actions.len(), 2);
        assert!(
            matches!(&plan.actions[0], Action::Create { url, confirm: false, .. } if url == "http://dav/cal/plane-issue-a.ics")
        );
    }

    #[test]
    fn unchanged_events_cost_nothing() {
        let events = [target("a", "A"), target("b", "B")];
        let found: Vec<_> = events.iter().map(existing).collect();
        let plan = plan(CAL, &events, &found, 2, &|_| panic!("no record needed"));
        assert!(plan.actions.is_empty() && plan.remember.is_empty());
        assert_eq!(plan.unchanged, 2);
    }

    #[test]
    fn a_changed_item_is_one_update_with_its_etag() {
        let before = target("a", "A");
        let after = target_at("a", "A renamed", "2026-01-02T00:00:00Z");
        let plan = plan(
            CAL,
            std::slice::from_ref(&after),
            &[existing(&before)],
            1,
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
        let plan1 = plan(
            CAL,
            std::slice::from_ref(&listed),
            &[existing(&newer)],
            1,
            &no_record,
        );
        assert!(plan1.actions.is_empty());
        assert_eq!(plan1.superseded, 1);

        // The event is of v1, but a webhook saw v3 with the same content
        // and recorded it: v2 is still older.
        let v1 = target_at("a", "A v3", "2026-01-01T00:00:00Z");
        let record = EventRecord::written("u", None, "h".into(), newer.version);
        let plan2 = plan(CAL, &[listed], &[existing(&v1)], 1, &|_| {
            Some(record.clone())
        });
        assert!(plan2.actions.is_empty());
        assert_eq!(plan2.superseded, 1);
    }

    #[test]
    fn a_newer_version_with_the_same_content_is_remembered_not_written() {
        let on_calendar = target_at("a", "A", "2026-01-01T00:00:00Z");
        let listed = target_at("a", "A", "2026-01-05T00:00:00Z");
        let plan = plan(
            CAL,
            std::slice::from_ref(&listed),
            &[existing(&on_calendar)],
            1,
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
        let p = plan(CAL, std::slice::from_ref(&listed), &[], 1, &|_| {
            Some(removed_later.clone())
        });
        assert!(p.actions.is_empty());
        let removed_before = EventRecord::removed(parse_version("2026-01-01T00:00:00Z"));
        let p = plan(CAL, std::slice::from_ref(&listed), &[], 1, &|_| {
            Some(removed_before.clone())
        });
        assert!(matches!(
            p.actions[0],
            Action::Create { confirm: false, .. }
        ));
        let deleted = EventRecord::removed(None);
        let p = plan(CAL, std::slice::from_ref(&listed), &[], 1, &|_| {
            Some(deleted.clone())
        });
        assert!(matches!(p.actions[0], Action::Create { confirm: true, .. }));
    }

    #[test]
    fn unreadable_owned_events_are_rewritten() {
        let wanted = target("a", "A");
        let mut found = existing(&wanted);
        found.stored.event = None;
        found.stored.version = None;
        let plan = plan(CAL, &[wanted], &[found], 1, &no_record);
        assert!(matches!(plan.actions[0], Action::Update { .. }));
    }

    #[test]
    fn deletes_only_owned_events_that_are_no_longer_wanted_after_asking() {
        let kept = target("a", "A");
        let gone = target("b", "B");
        let foreign = Existing {
            url: "http://dav/cal/meeting.ics".into(),
            etag: None,
            stored: Stored {
                uid: Some("meeting@example.com".into()),
                ..Stored::default()
            },
        };
        let unparsable = Existing {
            url: "http://dav/cal/x.ics".into(),
            etag: None,
            stored: Stored::default(),
        };
        let plan = plan(
            CAL,
            std::slice::from_ref(&kept),
            &[existing(&kept), existing(&gone), foreign, unparsable],
            1,
            &no_record,
        );
        assert_eq!(plan.actions.len(), 1);
        assert!(
            matches!(&plan.actions[0], Action::Delete { uid, confirm: true, .. } if *uid == uid_for("b"))
        );
    }

    #[test]
    fn zero_listed_items_withholds_deletions() {
        let plan = plan(CAL, &[], &[existing(&target("a", "A"))], 0, &no_record);
        assert!(plan.actions.is_empty());
        assert!(plan.guard.unwrap().contains("deletions skipped"));
        // Items listed but none dated: deleting is right.
        let plan2 = super::plan(CAL, &[], &[existing(&target("a", "A"))], 3, &no_record);
        assert_eq!(plan2.actions.len(), 1);
        assert!(plan2.guard.is_none());
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
            let plan = plan(CAL, std::slice::from_ref(&wanted), &found, 1, &no_record);
            assert_eq!(plan.actions.len(), 1, "{found:?}");
            assert!(
                matches!(&plan.actions[0], Action::Delete { url, confirm: false, .. } if url == "http://dav/cal/copy.ics")
            );
        }
    }

    #[test]
    fn event_urls_are_path_safe() {
        assert_eq!(
            event_url(CAL, &uid_for("a/b c")),
            "http://dav/cal/plane-issue-a_b_c.ics"
        );
    }
}
