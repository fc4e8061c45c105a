//! What the service remembers between syncs besides the calendars
//! themselves: the last write to each event made by a webhook (so a burst
//! of deliveries with the same content costs one write), and the projects
//! seen by the last full sync (for webhooks that carry only ids).

use serde::{Deserialize, Serialize};

use crate::plane::Project;
use crate::store::{KeyValue, StoreError};

const PROJECTS: &str = "projects:index";

/// The event at `url` was written with content `hash` and got `etag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub url: String,
    pub etag: Option<String>,
    pub hash: String,
}

fn event_key(uid: &str) -> String {
    format!("event:{uid}")
}

pub fn event(store: &dyn KeyValue, uid: &str) -> Result<Option<EventRecord>, StoreError> {
    Ok(store
        .get(&event_key(uid))?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

pub fn remember_event(
    store: &dyn KeyValue,
    uid: &str,
    record: &EventRecord,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(&event_key(uid), &bytes)
}

/// Called whenever anything else writes the event: the record no longer
/// describes it. Reads first: a delete is a durable write, and most events
/// have no record.
pub fn forget_event(store: &dyn KeyValue, uid: &str) -> Result<(), StoreError> {
    let key = event_key(uid);
    if store.get(&key)?.is_some() {
        store.delete(&key)?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct ProjectEntry {
    id: String,
    name: String,
    identifier: String,
}

pub fn remember_projects(store: &dyn KeyValue, projects: &[Project]) -> Result<(), StoreError> {
    let entries: Vec<ProjectEntry> = projects
        .iter()
        .map(|p| ProjectEntry {
            id: p.id.clone(),
            name: p.name.clone(),
            identifier: p.identifier.clone(),
        })
        .collect();
    let bytes = serde_json::to_vec(&entries).map_err(|e| StoreError::Other(e.to_string()))?;
    store.set(PROJECTS, &bytes)
}

pub fn projects(store: &dyn KeyValue) -> Result<Vec<Project>, StoreError> {
    let entries: Vec<ProjectEntry> = store
        .get(PROJECTS)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    Ok(entries
        .into_iter()
        .map(|e| Project {
            id: e.id,
            name: e.name,
            identifier: e.identifier,
        })
        .collect())
}

/// Adds or replaces one project in the index (a project webhook, or a
/// project fetched for a work item webhook).
pub fn remember_project(store: &dyn KeyValue, project: &Project) -> Result<(), StoreError> {
    let mut all = projects(store)?;
    all.retain(|p| p.id != project.id);
    all.push(project.clone());
    remember_projects(store, &all)
}
