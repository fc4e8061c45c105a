//! Plane's objects, read leniently: unknown fields are ignored, optional ones
//! may be missing, and `state`/`assignees`/`labels` come either as ids or as
//! expanded objects (with `expand=`), so both shapes are accepted.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub identifier: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub id: String,
    pub name: String,
    pub group: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub display_name: String,
}

/// A reference that Plane sends either as an id or expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref<T> {
    Id(String),
    Expanded(T),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub description_html: String,
    pub priority: String,
    pub target_date: Option<NaiveDate>,
    pub sequence_id: Option<i64>,
    /// Plane's `updated_at`: the version of the item this describes.
    pub updated_at: Option<DateTime<Utc>>,
    pub state: Option<Ref<State>>,
    pub assignees: Vec<Ref<Member>>,
    pub labels: Vec<Ref<Label>>,
}

/// An item that could not be read; reported, never fatal to the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("work item {}: {reason}", id.as_deref().unwrap_or("(no id)"))]
pub struct Malformed {
    pub id: Option<String>,
    pub reason: String,
}

/// A text field, without what no calendar or XML document can carry
/// (controls other than tab and line breaks, noncharacters such as
/// U+FFFF): dropped here, once, so that a name sent to the server is the
/// name it sends back.
fn text(value: &Value, key: &str) -> Option<String> {
    let raw = match value.get(key)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(
        raw.chars()
            .filter(|&c| matches!(c, '\n' | '\r') || crate::ical::is_line_char(c))
            .collect(),
    )
}

/// An id is a string (UUID) or, in older payloads, a number.
fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if is_valid_id(s) => Some(s.clone()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `id` can be a Plane id (a UUID; a number in older payloads).
/// Ids end up in request paths, hrefs and the event's UID and URL, so
/// nothing else is accepted: not `../`, `?`, `#`, nor a line break.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Project {
    pub fn from_json(value: &Value) -> Option<Project> {
        Some(Project {
            id: id_of(value.get("id")?)?,
            name: text(value, "name").unwrap_or_default(),
            identifier: text(value, "identifier").unwrap_or_default(),
        })
    }
}

impl State {
    pub fn from_json(value: &Value) -> Option<State> {
        Some(State {
            id: id_of(value.get("id")?)?,
            name: text(value, "name").unwrap_or_default(),
            group: text(value, "group").unwrap_or_default(),
        })
    }
}

impl Label {
    pub fn from_json(value: &Value) -> Option<Label> {
        Some(Label {
            id: id_of(value.get("id")?)?,
            name: text(value, "name").unwrap_or_default(),
        })
    }
}

impl Member {
    /// From a user object (`display_name`, else first and last name, else
    /// e-mail), or from a project-member object with a nested `member`.
    pub fn from_json(value: &Value) -> Option<Member> {
        let user = match value.get("member") {
            Some(member) if member.is_object() => member,
            _ => value,
        };
        let id = match value.get("member") {
            Some(Value::String(id)) => id.clone(),
            _ => id_of(user.get("id")?)?,
        };
        let full_name = [text(user, "first_name"), text(user, "last_name")]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let display_name = text(user, "display_name")
            .filter(|s| !s.is_empty())
            .or(Some(full_name).filter(|s| !s.is_empty()))
            .or_else(|| text(user, "email"))
            .unwrap_or_else(|| id.clone());
        Some(Member { id, display_name })
    }
}

fn reference<T>(value: &Value, expanded: fn(&Value) -> Option<T>) -> Result<Ref<T>, String> {
    match value {
        Value::Object(_) => expanded(value)
            .map(Ref::Expanded)
            .ok_or_else(|| "object without an id".into()),
        other => id_of(other)
            .map(Ref::Id)
            .ok_or_else(|| format!("unexpected {other}")),
    }
}

fn references<T>(
    value: Option<&Value>,
    expanded: fn(&Value) -> Option<T>,
    field: &str,
) -> Result<Vec<Ref<T>>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        // Plane has been seen to send `null` entries (a label deleted
        // meanwhile): they name nothing, so they are left out.
        Some(Value::Array(values)) => values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| reference(v, expanded).map_err(|e| format!("{field}: {e}")))
            .collect(),
        Some(_) => Err(format!("{field} is not a list")),
    }
}

impl WorkItem {
    pub fn from_json(value: &Value) -> Result<WorkItem, Malformed> {
        let id = value.get("id").and_then(id_of);
        let malformed = |reason: String| Malformed {
            id: id.clone(),
            reason,
        };
        let Some(item_id) = id.clone() else {
            return Err(match value.get("id") {
                None | Some(Value::Null) => malformed("no id".into()),
                Some(other) => malformed(format!("id {other} is not a Plane id")),
            });
        };
        if !value.is_object() {
            return Err(malformed("not an object".into()));
        }
        let target_date = match value.get("target_date") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(
                parse_date(s)
                    .ok_or_else(|| malformed(format!("target_date {s:?} is not a date")))?,
            ),
            Some(other) => return Err(malformed(format!("target_date {other} is not a date"))),
        };
        let state = match value.get("state") {
            None | Some(Value::Null) => None,
            Some(v) => {
                Some(reference(v, State::from_json).map_err(|e| malformed(format!("state: {e}")))?)
            }
        };
        let project_id = match value.get("project") {
            Some(Value::Object(project)) => project.get("id").and_then(id_of),
            Some(other) => id_of(other),
            None => None,
        }
        .or_else(|| value.get("project_id").and_then(id_of));
        Ok(WorkItem {
            id: item_id,
            project_id,
            name: text(value, "name").unwrap_or_default(),
            description_html: text(value, "description_html").unwrap_or_default(),
            priority: text(value, "priority").unwrap_or_else(|| "none".into()),
            target_date,
            sequence_id: value.get("sequence_id").and_then(Value::as_i64),
            updated_at: value
                .get("updated_at")
                .and_then(Value::as_str)
                .and_then(crate::ical::parse_version),
            state,
            assignees: references(value.get("assignees"), Member::from_json, "assignees")
                .map_err(malformed)?,
            labels: references(value.get("labels"), Label::from_json, "labels")
                .map_err(malformed)?,
        })
    }

    /// Ids that still need a lookup (Plane sent ids, not objects).
    /// Whether the state, the labels and the assignees (in that order) hold
    /// ids that still need a lookup.
    pub fn unresolved(&self) -> (bool, bool, bool) {
        (
            self.state.as_ref().is_some_and(Ref::is_id),
            self.labels.iter().any(Ref::is_id),
            self.assignees.iter().any(Ref::is_id),
        )
    }
}

impl<T> Ref<T> {
    pub fn is_id(&self) -> bool {
        matches!(self, Ref::Id(_))
    }
}

/// `YYYY-MM-DD`, also accepting a full timestamp (its date part).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let date = text.trim().get(..10)?;
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_expanded_shape() {
        let item = WorkItem::from_json(&json!({
            "id": "i1", "name": "A", "priority": "high", "target_date": "2025-12-27",
            "sequence_id": 4, "project": "p1", "updated_at": "2025-12-27T10:30:00+05:30",
            "state": {"id": "s1", "name": "Todo", "color": "#fff", "group": "unstarted"},
            "assignees": [{"id": "u1", "display_name": "ada", "first_name": "Ada", "avatar": ""}],
            "labels": [{"id": "l1", "name": "bug", "color": "#f00"}],
            "description_html": "<p>x</p>", "some_new_field": {"nested": true}
        }))
        .unwrap();
        assert_eq!(item.target_date, NaiveDate::from_ymd_opt(2025, 12, 27));
        assert_eq!(item.project_id.as_deref(), Some("p1"));
        assert_eq!(
            item.state,
            Some(Ref::Expanded(State {
                id: "s1".into(),
                name: "Todo".into(),
                group: "unstarted".into()
            }))
        );
        assert_eq!(
            item.assignees,
            [Ref::Expanded(Member {
                id: "u1".into(),
                display_name: "ada".into()
            })]
        );
        assert_eq!(
            item.labels,
            [Ref::Expanded(Label {
                id: "l1".into(),
                name: "bug".into()
            })]
        );
        assert_eq!(item.unresolved(), (false, false, false));
        assert_eq!(
            item.updated_at.map(crate::time::rfc3339),
            Some("2025-12-27T05:00:00Z".into())
        );
    }

    #[test]
    fn reads_the_id_shape_and_missing_fields() {
        let item = WorkItem::from_json(&json!({
            "id": "i2", "state": "s1", "assignees": ["u1"], "labels": ["l1", "l2"], "target_date": null
        }))
        .unwrap();
        assert_eq!(item.state, Some(Ref::Id("s1".into())));
        assert_eq!(item.labels.len(), 2);
        assert_eq!(item.priority, "none");
        assert_eq!(item.target_date, None);
        assert_eq!(item.unresolved(), (true, true, true));
    }

    #[test]
    fn malformed_items_say_why() {
        let err =
            WorkItem::from_json(&json!({"id": "i3", "target_date": "27/12/2025"})).unwrap_err();
        assert_eq!(err.id.as_deref(), Some("i3"));
        assert!(err.reason.contains("target_date"));
        assert!(WorkItem::from_json(&json!({"name": "no id"})).is_err());
        assert!(WorkItem::from_json(&json!({"id": "i4", "labels": "bug"})).is_err());
        assert!(WorkItem::from_json(&json!({"id": "i5", "target_date": 20251227})).is_err());
        let err =
            WorkItem::from_json(&json!({"id": "i6", "target_date": "2026-02-30"})).unwrap_err();
        assert_eq!(err.id.as_deref(), Some("i6"));
    }

    #[test]
    fn ids_are_plane_ids_or_nothing() {
        for bad in [
            "a\r\nATTENDEE:mailto:x@y",
            "../p",
            "a?b",
            "a#b",
            "a/b",
            "",
            "é",
        ] {
            let err = WorkItem::from_json(&json!({"id": bad})).unwrap_err();
            assert_eq!(err.id, None, "{bad:?}");
            assert!(Project::from_json(&json!({"id": bad})).is_none());
        }
        assert!(is_valid_id("0b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"));
        assert!(WorkItem::from_json(&json!({"id": 42})).is_ok());
        assert!(WorkItem::from_json(&json!({"id": -1})).is_err());
    }

    #[test]
    fn text_holds_nothing_xml_cannot_carry() {
        let p = Project::from_json(&json!({"id": "p", "name": "Web\u{FFFF}site\u{0}\u{FDD0}"}))
            .unwrap();
        assert_eq!(p.name, "Website");
    }

    #[test]
    fn null_entries_in_lists_name_nothing() {
        let item =
            WorkItem::from_json(&json!({"id": "i7", "labels": [null, {"id": "l1", "name": "bug"}], "assignees": [null]}))
                .unwrap();
        assert_eq!(item.labels.len(), 1);
        assert!(item.assignees.is_empty());
    }

    #[test]
    fn members_from_every_shape() {
        let m = Member::from_json(
            &json!({"id": "u", "first_name": "Ada", "last_name": "L", "display_name": ""}),
        )
        .unwrap();
        assert_eq!(m.display_name, "Ada L");
        let m =
            Member::from_json(&json!({"id": "pm", "member": {"id": "u2", "display_name": "bob"}}))
                .unwrap();
        assert_eq!((m.id.as_str(), m.display_name.as_str()), ("u2", "bob"));
        let m = Member::from_json(&json!({"id": "u3", "email": "c@x"})).unwrap();
        assert_eq!(m.display_name, "c@x");
    }
}
