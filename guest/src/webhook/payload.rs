//! The webhook formats: Plane CE's `{"event","action","webhook_id",
//! "workspace_id","data","activity"}` (actions `created|updated|deleted`,
//! older `create|update|delete`) and Plane Cloud's v2 (`event` like
//! `workitem.updated`, flat `data` with `*_id` fields, `event_id`).

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Deleted,
    Archived,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
            Change::Archived => "archived",
        }
    }

    fn parse(action: &str) -> Option<Change> {
        match action.to_ascii_lowercase().as_str() {
            "created" | "create" => Some(Change::Created),
            "updated" | "update" => Some(Change::Updated),
            "deleted" | "delete" => Some(Change::Deleted),
            "archived" | "archive" => Some(Change::Archived),
            _ => None,
        }
    }
}

/// What a webhook is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    /// A work item; `data` as sent (CE: rich object; v2: flat ids).
    WorkItem {
        id: String,
        project_id: Option<String>,
        data: Value,
    },
    Project {
        id: String,
        data: Value,
    },
    /// Cycles, modules, comments…: acknowledged and ignored.
    Other {
        event: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("required field {0} is missing")]
    Missing(&'static str),
    #[error("{field} is not a date (expected YYYY-MM-DD)")]
    BadDate { field: &'static str },
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    #[error("{field} is not a Plane id")]
    InvalidId { field: &'static str },
}

fn string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses a webhook body into the change, the entity, and the delivery's
/// stable id when the format has one (v2 `event_id`).
pub fn parse(body: &[u8]) -> Result<(Change, Entity, Option<String>), PayloadError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(PayloadError::NotJson("not a JSON object".into()));
    }
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let event = text("event").ok_or(PayloadError::Missing("event"))?;
    // v2 puts the action in the event name: `workitem.updated`.
    let (kind, action) = match event.split_once('.') {
        Some((kind, action)) => (kind.to_string(), Some(action.to_string())),
        None => (event.clone(), None),
    };
    let action = text("action")
        .or(action)
        .ok_or(PayloadError::Missing("action"))?;
    let change = Change::parse(&action).ok_or(PayloadError::UnknownAction(action))?;
    let data = value
        .get("data")
        .cloned()
        .ok_or(PayloadError::Missing("data"))?;
    let event_id = value.get("event_id").and_then(string);
    let kind = kind.to_ascii_lowercase();
    let entity = match kind.as_str() {
        "issue" | "work_item" | "workitem" | "work-item" => {
            let id =
                plane_id(data.get("id"), "data.id")?.ok_or(PayloadError::Missing("data.id"))?;
            check_date(&data, "target_date", "data.target_date")?;
            let project_id = match data.get("project") {
                Some(Value::Object(project)) => plane_id(project.get("id"), "data.project.id")?,
                other => plane_id(other, "data.project")?,
            };
            let project_id = match project_id {
                Some(id) => Some(id),
                None => match plane_id(data.get("project_id"), "data.project_id")? {
                    Some(id) => Some(id),
                    None => plane_id(value.get("project_id"), "project_id")?,
                },
            };
            Entity::WorkItem {
                id,
                project_id,
                data,
            }
        }
        "project" => {
            let id =
                plane_id(data.get("id"), "data.id")?.ok_or(PayloadError::Missing("data.id"))?;
            Entity::Project { id, data }
        }
        _ => Entity::Other { event },
    };
    Ok((change, entity, event_id))
}

/// An id where one is expected: absent, or a valid Plane id. Ids are used
/// in request paths, hrefs and event properties, so anything else is
/// refused here, at the boundary, before it reaches any of them.
fn plane_id(value: Option<&Value>, field: &'static str) -> Result<Option<String>, PayloadError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(value) => string(value)
            .filter(|id| crate::plane::is_valid_id(id))
            .map(Some)
            .ok_or(PayloadError::InvalidId { field }),
    }
}

fn check_date(data: &Value, key: &str, field: &'static str) -> Result<(), PayloadError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.is_empty() || crate::plane::parse_date(s).is_some() => Ok(()),
        Some(_) => Err(PayloadError::BadDate { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_ce_issue_events() {
        let body = br#"{"event": "issue", "action": "updated", "webhook_id": "w", "workspace_id": "ws", "data": {"id": "i1", "project": "p1", "name": "x", "target_date": "2025-12-27", "state": {"id": "s", "name": "Todo", "group": "unstarted"}}, "activity": {}}"#;
        let (change, entity, event_id) = parse(body).unwrap();
        assert_eq!(change, Change::Updated);
        assert!(
            matches!(entity, Entity::WorkItem { ref id, ref project_id, .. } if id == "i1" && project_id.as_deref() == Some("p1"))
        );
        assert_eq!(event_id, None);
        let (change, entity, _) =
            parse(br#"{"event": "issue", "action": "delete", "data": {"id": "i1"}}"#).unwrap();
        assert_eq!(change, Change::Deleted);
        assert!(matches!(
            entity,
            Entity::WorkItem {
                project_id: None,
                ..
            }
        ));
    }

    #[test]
    fn plane_cloud_v2_events() {
        let body = br#"{"version": "v2", "event": "workitem.archived", "event_id": "e-1", "entity_id": "i1", "data": {"id": "i1", "project_id": "p1", "state_id": "s1", "label_ids": []}}"#;
        let (change, entity, event_id) = parse(body).unwrap();
        assert_eq!(change, Change::Archived);
        assert!(
            matches!(entity, Entity::WorkItem { ref project_id, .. } if project_id.as_deref() == Some("p1"))
        );
        assert_eq!(event_id.as_deref(), Some("e-1"));
    }

    #[test]
    fn projects_and_others() {
        let (_, entity, _) = parse(
            br#"{"event": "project", "action": "created", "data": {"id": "p1", "name": "New"}}"#,
        )
        .unwrap();
        assert!(matches!(entity, Entity::Project { .. }));
        let (_, entity, _) =
            parse(br#"{"event": "cycle", "action": "created", "data": {"id": "c1"}}"#).unwrap();
        assert_eq!(
            entity,
            Entity::Other {
                event: "cycle".into()
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert!(matches!(parse(b"not json"), Err(PayloadError::NotJson(_))));
        assert!(matches!(parse(b"[1]"), Err(PayloadError::NotJson(_))));
        assert_eq!(
            parse(br#"{"action": "created", "data": {"id": "x"}}"#),
            Err(PayloadError::Missing("event"))
        );
        assert_eq!(
            parse(br#"{"event": "issue", "data": {"id": "x"}}"#),
            Err(PayloadError::Missing("action"))
        );
        assert_eq!(
            parse(br#"{"event": "issue", "action": "created"}"#),
            Err(PayloadError::Missing("data"))
        );
        assert_eq!(
            parse(br#"{"event": "issue", "action": "created", "data": {}}"#),
            Err(PayloadError::Missing("data.id"))
        );
        assert_eq!(
            parse(br#"{"event": "issue", "action": "created", "data": {"id": "x", "target_date": "27/12/2025"}}"#),
            Err(PayloadError::BadDate { field: "data.target_date" })
        );
        assert_eq!(
            parse(br#"{"event": "issue", "action": "created", "data": {"id": "x", "target_date": 5}}"#),
            Err(PayloadError::BadDate { field: "data.target_date" })
        );
        assert!(matches!(
            parse(br#"{"event": "issue", "action": "exploded", "data": {"id": "x"}}"#),
            Err(PayloadError::UnknownAction(_))
        ));
    }

    #[test]
    fn ids_that_are_not_plane_ids_are_refused() {
        for (body, field) in [
            (
                r#"{"event": "issue", "action": "updated", "data": {"id": "a\r\nATTENDEE:mailto:x@y"}}"#,
                "data.id",
            ),
            (
                r#"{"event": "issue", "action": "updated", "data": {"id": "a", "project": "../p"}}"#,
                "data.project",
            ),
            (
                r#"{"event": "issue", "action": "updated", "data": {"id": "a", "project": {"id": "p?x=1"}}}"#,
                "data.project.id",
            ),
            (
                r#"{"event": "issue", "action": "updated", "data": {"id": "a", "project_id": "p#x"}}"#,
                "data.project_id",
            ),
            (
                r#"{"event": "project", "action": "updated", "data": {"id": ["p"]}}"#,
                "data.id",
            ),
        ] {
            assert_eq!(
                parse(body.as_bytes()),
                Err(PayloadError::InvalidId { field }),
                "{body}"
            );
        }
    }
}
