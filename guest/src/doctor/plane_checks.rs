//! Plane: reachable, the API key accepted, the workspace there, and what
//! the key can see.

use super::Check;
use crate::config::{Config, SyncConfig, web_url_for};
use crate::net::Http;
use crate::plane::{Next, PlaneClient, PlaneError, Project};

/// The projects found, for the calendar check; `None` when Plane could
/// not be read.
pub fn run(http: &dyn Http, sync: &SyncConfig, checks: &mut Vec<Check>) -> Option<Vec<Project>> {
    let plane = PlaneClient::impatient(http, &sync.plane);
    let shown = super::without_credentials(&sync.plane.base_url);
    let base = &shown;
    match plane.me() {
        Err(PlaneError::Connection(err)) => {
            checks.push(Check::fail(
                "Plane reachable",
                format!("{base} did not answer: {err}"),
                "check PLANE_BASE_URL (Plane Cloud: https://api.plane.so; self-hosted: the address you open Plane at) and that this machine can reach it",
            ));
            return None;
        }
        Err(PlaneError::Rejected { status: 401, .. }) => {
            checks.push(reachable(base));
            checks.push(Check::fail(
                "Plane API key",
                "Plane asked for an API key (401): none reached it",
                "set PLANE_API_TOKEN to a personal access token (Plane: Profile settings → Personal access tokens)",
            ));
            return None;
        }
        Err(PlaneError::Rejected { status: 403, .. }) => {
            checks.push(reachable(base));
            checks.push(Check::fail(
                "Plane API key",
                "Plane refused PLANE_API_TOKEN (403): the key is not valid (mistyped, revoked or from another Plane)",
                "create a personal access token in this Plane (Profile settings → Personal access tokens) and set PLANE_API_TOKEN to it",
            ));
            return None;
        }
        Err(PlaneError::Rejected { status: 404, .. }) => {
            checks.push(Check::fail(
                "Plane reachable",
                format!("{base} answered, but has no Plane API at /api/v1/ (404)"),
                "set PLANE_BASE_URL to Plane's address without /api/v1 (Plane Cloud: https://api.plane.so)",
            ));
            return None;
        }
        Err(err) => {
            checks.push(Check::fail(
                "Plane reachable",
                format!("{base}: {err}"),
                "check PLANE_BASE_URL, and Plane's own health",
            ));
            return None;
        }
        Ok(()) => {
            checks.push(reachable(base));
            checks.push(Check::pass("Plane API key", "PLANE_API_TOKEN accepted"));
        }
    }
    let workspace = &sync.plane.workspace;
    let projects = match plane.projects() {
        Ok(projects) => projects,
        Err(PlaneError::Rejected {
            status: status @ (403 | 404),
            ..
        }) => {
            checks.push(Check::fail(
                "Plane workspace",
                format!(
                    "no workspace {workspace:?} that this key's user belongs to (HTTP {status})"
                ),
                "set PLANE_WORKSPACE_SLUG to the part of Plane's web address after the host (https://app.plane.so/<slug>/), and make sure the key's user is a member",
            ));
            return None;
        }
        Err(err) => {
            checks.push(Check::fail(
                "Plane workspace",
                format!("the projects of {workspace:?} could not be listed: {err}"),
                "run doctor again; if it persists, check Plane's logs",
            ));
            return None;
        }
    };
    checks.push(Check::pass(
        "Plane workspace",
        format!("{workspace:?}: {} projects visible", projects.len()),
    ));
    checks.push(items(&plane, &projects));
    Some(projects)
}

fn reachable(base: &str) -> Check {
    Check::pass("Plane reachable", format!("{base} answered"))
}

/// Each project's first page: Plane's count, and how many of the items
/// read have a due date (only those become events).
fn items(plane: &PlaneClient, projects: &[Project]) -> Check {
    // One request per project, within Plane's 60 a minute and the budget
    // of a `serve` running beside it.
    const SAMPLED: usize = 10;
    let (mut total, mut read, mut dated) = (0u64, 0u64, 0u64);
    let mut failed = Vec::new();
    for project in projects.iter().take(SAMPLED) {
        let outcome = plane.work_item_pages(&project.id, &mut |page| {
            total += page.total_count.unwrap_or(page.items.len() as u64);
            read += page.items.len() as u64;
            dated += page
                .items
                .iter()
                .filter(|i| i.target_date.is_some())
                .count() as u64;
            Next::Stop
        });
        if outcome.is_err() {
            failed.push(project.name.clone());
        }
    }
    let mut found = if projects.len() > SAMPLED {
        format!(
            "{total} work items in the first {SAMPLED} of {} projects",
            projects.len()
        )
    } else {
        format!("{total} work items in {} projects", projects.len())
    };
    if read > 0 {
        let of = if read == total {
            "of them".to_string()
        } else {
            format!("of the {read} newest read")
        };
        found.push_str(&format!("; {dated} {of} have a due date and become events"));
    }
    if failed.is_empty() {
        Check::pass("Plane work items", found)
    } else {
        Check::fail(
            "Plane work items",
            format!("{found}; could not list: {}", failed.join(", ")),
            "make the key's user a member of those projects, or check Plane's logs",
        )
    }
}

/// Links in events must open Plane's web app, not its API.
pub fn web_url(config: &Config, sync: &SyncConfig) -> Check {
    let set = config.get("PLANE_WEB_URL").is_some();
    let url = &sync.web_url;
    let host = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', ':']).next().unwrap_or(""))
        .unwrap_or("");
    let looks_like_api = host.starts_with("api.") || url.ends_with("/api") || url.contains("/api/");
    match (looks_like_api, set) {
        (true, _) => Check::fail(
            "Plane web address",
            format!(
                "links in events would open {url}, which looks like Plane's API, not its web app"
            ),
            format!(
                "set PLANE_WEB_URL to the address you open Plane at (Plane Cloud: https://app.plane.so; from PLANE_BASE_URL it would be {})",
                web_url_for(&sync.plane.base_url)
            ),
        ),
        (false, true) => Check::pass("Plane web address", format!("links in events open {url}")),
        (false, false) => Check::pass(
            "Plane web address",
            format!(
                "links in events open {url} (from PLANE_BASE_URL; set PLANE_WEB_URL if that is not Plane's web app)"
            ),
        ),
    }
}
