//! From what should be (events for Plane's items) and what is (the
//! calendar's events), the writes that make them equal. Pure.

use std::collections::{HashMap, HashSet};

use crate::ical::{Event, is_owned_uid};

/// An event found in the calendar.
#[derive(Debug, Clone)]
pub struct Existing {
    pub url: String,
    pub etag: Option<String>,
    pub uid: Option<String>,
    /// The owned properties as read back; `None` if they could not be read
    /// (then the event differs from anything we would write).
    pub event: Option<Event>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create {
        url: String,
        event: Event,
    },
    Update {
        url: String,
        etag: Option<String>,
        event: Event,
    },
    Delete {
        url: String,
        etag: Option<String>,
        uid: String,
    },
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unchanged: usize,
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

/// `listed_items` is how many work items Plane listed for the project (with
/// or without a date): zero while the calendar holds owned events looks
/// like an outage or a permissions change, not like everything being
/// deleted at once, so nothing is deleted then.
pub fn plan(
    calendar_url: &str,
    desired: &[Event],
    existing: &[Existing],
    listed_items: usize,
) -> Plan {
    let mut owned: HashMap<&str, &Existing> = HashMap::new();
    let mut duplicates = Vec::new();
    for event in existing {
        let Some(uid) = event.uid.as_deref().filter(|uid| is_owned_uid(uid)) else {
            continue;
        };
        if owned.insert(uid, event).is_some() {
            duplicates.push(event);
        }
    }
    let mut result = Plan::default();
    let mut wanted = HashSet::new();
    for event in desired {
        wanted.insert(event.uid.as_str());
        match owned.get(event.uid.as_str()) {
            Some(found)
                if found
                    .event
                    .as_ref()
                    .is_some_and(|e| e.content_hash() == event.content_hash()) =>
            {
                result.unchanged += 1;
            }
            Some(found) => result.actions.push(Action::Update {
                url: found.url.clone(),
                etag: found.etag.clone(),
                event: event.clone(),
            }),
            None => result.actions.push(Action::Create {
                url: event_url(calendar_url, &event.uid),
                event: event.clone(),
            }),
        }
    }
    let mut deletions: Vec<Action> = owned
        .iter()
        .filter(|(uid, _)| !wanted.contains(*uid))
        .map(|(uid, found)| (uid.to_string(), *found))
        .chain(
            duplicates
                .into_iter()
                .map(|d| (d.uid.clone().unwrap_or_default(), d)),
        )
        .map(|(uid, found)| Action::Delete {
            url: found.url.clone(),
            etag: found.etag.clone(),
            uid,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ical::{Issue, event_for, uid_for};
    use chrono::NaiveDate;

    const CAL: &str = "http://dav/cal/";

    fn event(id: &str, name: &str) -> Event {
        event_for(&Issue {
            id: id.into(),
            name: name.into(),
            priority: "none".into(),
            target_date: NaiveDate::from_ymd_opt(2025, 1, 1),
            url: format!("https://plane/{id}"),
            ..Issue::default()
        })
        .unwrap()
    }

    fn existing(event: &Event) -> Existing {
        Existing {
            url: event_url(CAL, &event.uid),
            etag: Some(format!("\"{}\"", event.uid)),
            uid: Some(event.uid.clone()),
            event: Some(event.clone()),
        }
    }

    #[test]
    fn creates_into_an_empty_calendar() {
        let plan = plan(CAL, &[event("a", "A"), event("b", "B")], &[], 2);
        assert_eq!(plan.actions.len(), 2);
        assert!(
            matches!(&plan.actions[0], Action::Create { url, .. } if url == "http://dav/cal/plane-issue-a.ics")
        );
    }

    #[test]
    fn unchanged_events_cost_nothing() {
        let events = [event("a", "A"), event("b", "B")];
        let found: Vec<_> = events.iter().map(existing).collect();
        let plan = plan(CAL, &events, &found, 2);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.unchanged, 2);
    }

    #[test]
    fn a_changed_item_is_one_update_with_its_etag() {
        let before = event("a", "A");
        let after = event("a", "A renamed");
        let plan = plan(CAL, std::slice::from_ref(&after), &[existing(&before)], 1);
        assert_eq!(
            plan.actions,
            [Action::Update {
                url: event_url(CAL, &before.uid),
                etag: Some(format!("\"{}\"", before.uid)),
                event: after
            }]
        );
    }

    #[test]
    fn unreadable_owned_events_are_rewritten() {
        let wanted = event("a", "A");
        let mut found = existing(&wanted);
        found.event = None;
        let plan = plan(CAL, &[wanted], &[found], 1);
        assert!(matches!(plan.actions[0], Action::Update { .. }));
    }

    #[test]
    fn deletes_only_owned_events_that_are_no_longer_wanted() {
        let kept = event("a", "A");
        let gone = event("b", "B");
        let foreign = Existing {
            url: "http://dav/cal/meeting.ics".into(),
            etag: None,
            uid: Some("meeting@example.com".into()),
            event: None,
        };
        let unparsable = Existing {
            url: "http://dav/cal/x.ics".into(),
            etag: None,
            uid: None,
            event: None,
        };
        let plan = plan(
            CAL,
            std::slice::from_ref(&kept),
            &[existing(&kept), existing(&gone), foreign, unparsable],
            1,
        );
        assert_eq!(plan.actions.len(), 1);
        assert!(matches!(&plan.actions[0], Action::Delete { uid, .. } if *uid == uid_for("b")));
    }

    #[test]
    fn zero_listed_items_withholds_deletions() {
        let plan = plan(CAL, &[], &[existing(&event("a", "A"))], 0);
        assert!(plan.actions.is_empty());
        assert!(plan.guard.unwrap().contains("deletions skipped"));
        // Items listed but none dated: deleting is right.
        let plan2 = super::plan(CAL, &[], &[existing(&event("a", "A"))], 3);
        assert_eq!(plan2.actions.len(), 1);
        assert!(plan2.guard.is_none());
    }

    #[test]
    fn a_second_copy_of_an_owned_uid_is_removed() {
        let wanted = event("a", "A");
        let mut copy = existing(&wanted);
        copy.url = "http://dav/cal/copy.ics".into();
        let plan = plan(
            CAL,
            std::slice::from_ref(&wanted),
            &[existing(&wanted), copy],
            1,
        );
        assert_eq!(plan.actions.len(), 1);
        assert!(
            matches!(&plan.actions[0], Action::Delete { url, .. } if url == "http://dav/cal/copy.ics")
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
