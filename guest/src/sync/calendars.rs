//! One calendar per project, `Plane: {project name}`. The mapping is kept
//! in the store so a renamed project keeps its calendar (which is renamed
//! too) and two projects never share one.

use std::collections::HashSet;

use crate::caldav::{CalDavClient, CalDavError, Calendar};
use crate::plane::Project;
use crate::store::{KeyValue, StoreError};

fn mapping_key(project_id: &str) -> String {
    format!("calendar:project:{project_id}")
}

/// `Plane: {name}`, with whitespace runs (line breaks included) made one
/// space and the ends trimmed: servers hand names back trimmed and with
/// line breaks normalised, and the name sent must be the name read back,
/// or every sync would rename the calendar again.
pub fn display_name(project: &Project) -> String {
    let name = project
        .name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!("{NAME_PREFIX} {name}").trim_end().to_string()
}

/// How every name [`display_name`] gives begins.
pub const NAME_PREFIX: &str = "Plane:";

/// The calendar mapped to a project, if any (for the webhook path).
pub fn mapped(store: &dyn KeyValue, project_id: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .get(&mapping_key(project_id))?
        .and_then(|b| String::from_utf8(b).ok()))
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error(transparent)]
    CalDav(#[from] CalDavError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Finds or creates the project's calendar. `calendars` is the home's
/// listing, kept current; `taken` the calendars mapped to other projects.
/// Returns the calendar and whether it was just created (so empty).
pub fn ensure(
    client: &CalDavClient,
    store: &dyn KeyValue,
    home: &str,
    calendars: &mut Vec<Calendar>,
    taken: &HashSet<String>,
    project: &Project,
) -> Result<(Calendar, bool), CalendarError> {
    let wanted = display_name(project);
    let known = mapped(store, &project.id)?;
    if let Some(calendar) = known
        .as_ref()
        .and_then(|url| calendars.iter_mut().find(|c| &c.url == url))
    {
        if calendar.display_name.as_deref() != Some(wanted.as_str()) {
            client.rename_calendar(&calendar.url, &wanted)?;
            crate::log!("INFO", "Calendar renamed to {wanted:?}");
            calendar.display_name = Some(wanted);
        }
        return Ok((calendar.clone(), false));
    }
    let own_url = format!("{home}plane-{}/", path_segment(&project.id));
    // A calendar found by name is adopted (the original CalPlaneBot's, or
    // one made by hand), unless the service made it for another project:
    // the same name in another workspace syncing into this account, or an
    // older project of the same name.
    let made_for_another = |url: &str| {
        url.strip_prefix(home)
            .is_some_and(|name| name.starts_with("plane-") && url != own_url)
    };
    if let Some(calendar) = calendars.iter().find(|c| {
        c.display_name.as_deref() == Some(wanted.as_str())
            && !taken.contains(&c.url)
            && !made_for_another(&c.url)
    }) {
        store.set(&mapping_key(&project.id), calendar.url.as_bytes())?;
        return Ok((calendar.clone(), false));
    }
    let url = own_url;
    let description = format!(
        "Work items of the Plane project {} with a due date",
        project.name
    );
    let created = client.make_calendar(&url, &wanted, &description)?;
    if !created {
        // The path is ours (named by project id) but the mapping was lost:
        // take it back and give it the right name.
        client.rename_calendar(&url, &wanted)?;
    } else {
        crate::log!("INFO", "Calendar created: {wanted:?}");
    }
    store.set(&mapping_key(&project.id), url.as_bytes())?;
    let calendar = Calendar {
        url,
        display_name: Some(wanted),
    };
    calendars.push(calendar.clone());
    Ok((calendar, created))
}

fn path_segment(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Calendars mapped to any of `projects`, except `except`.
pub fn taken_by_others(
    store: &dyn KeyValue,
    projects: &[Project],
    except: &str,
) -> Result<HashSet<String>, StoreError> {
    let mut taken = HashSet::new();
    for project in projects.iter().filter(|p| p.id != except) {
        if let Some(url) = mapped(store, &project.id)? {
            taken.insert(url);
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_sent_is_the_name_a_server_sends_back() {
        let named = |name: &str| {
            display_name(&Project {
                id: "p".into(),
                name: name.into(),
                identifier: "P".into(),
            })
        };
        assert_eq!(named("Website "), "Plane: Website");
        assert_eq!(named("a\r\nb\rc  d\te"), "Plane: a b c d e");
        assert_eq!(named("Web"), "Plane: Web");
        assert_eq!(named(" \r\n"), "Plane:");
    }
}
