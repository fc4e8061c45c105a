//! An in-memory Plane API v1, as the project's Plane notes describe it:
//! the paginated envelope (`next_page_results`, offset cursors over a set
//! that may change between pages), `expand=` objects, archived and deleted
//! items hidden from lists and 404 on GET, `updated_at` with an offset.
//! Each change bumps the item's version and yields the webhook deliveries
//! Plane CE would send for it.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde_json::{Value, json};

use calplanebot_guest::net::{HttpRequest, HttpResponse};

pub const ORIGIN: &str = "http://plane";
pub const WORKSPACE: &str = "ws";

pub const GROUPS: [&str; 4] = ["backlog", "started", "completed", "cancelled"];

#[derive(Clone, Debug)]
pub struct Item {
    pub id: String,
    pub project: String,
    pub sequence: i64,
    pub name: String,
    pub target_date: Option<NaiveDate>,
    pub group: &'static str,
    pub archived: bool,
    pub deleted: bool,
    pub updated_at: DateTime<Utc>,
    /// Counts the item's changes; a delivery names the change it is for.
    pub change: u32,
}

impl Item {
    pub fn is_listed(&self) -> bool {
        !self.archived && !self.deleted
    }
}

#[derive(Default)]
pub struct FakePlane {
    pub projects: Vec<(String, String)>,
    pub items: Vec<Item>,
}

fn response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn query<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?.1.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Plane writes some timestamps with the server's offset.
fn plane_time(at: DateTime<Utc>, sequence: i64) -> String {
    if sequence % 2 == 0 {
        let india = FixedOffset::east_opt(5 * 3600 + 1800).expect("valid offset");
        at.with_timezone(&india)
            .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
            .to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

impl FakePlane {
    pub fn item_json(&self, item: &Item) -> Value {
        json!({
            "id": item.id, "name": item.name, "sequence_id": item.sequence,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": plane_time(item.updated_at, item.sequence),
            "description_html": "<p>x</p>", "priority": "none",
            "target_date": item.target_date.map(|d| d.to_string()),
            "project": item.project, "archived_at": if item.archived { json!("2026-01-02") } else { Value::Null },
            "is_draft": false,
            "state": {"id": format!("{}-{}", item.project, item.group), "name": item.group, "group": item.group, "color": "#888"},
            "labels": [], "assignees": [],
        })
    }

    pub fn handle(&self, request: &HttpRequest) -> HttpResponse {
        let not_found = || response(404, &json!({"detail": "Not found."}));
        let path = request
            .url
            .strip_prefix(ORIGIN)
            .unwrap_or(&request.url)
            .split('?')
            .next()
            .unwrap_or("");
        let Some(rest) = path.strip_prefix(&format!("/api/v1/workspaces/{WORKSPACE}/")) else {
            return not_found();
        };
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match segments.as_slice() {
            ["projects"] => self.page(
                &request.url,
                self.projects
                    .iter()
                    .map(|(id, name)| json!({"id": id, "name": name, "identifier": name.to_uppercase()}))
                    .collect(),
            ),
            ["projects", pid] => self
                .projects
                .iter()
                .find(|(id, _)| id == pid)
                .map(|(id, name)| response(200, &json!({"id": id, "name": name, "identifier": name.to_uppercase()})))
                .unwrap_or_else(not_found),
            ["projects", pid, "work-items"] => {
                // Plane's default order, newest first, or by `order_by`.
                let mut listed: Vec<&Item> = self
                    .items
                    .iter()
                    .rev()
                    .filter(|i| i.project == *pid && i.is_listed())
                    .collect();
                if query(&request.url, "order_by") == Some("-updated_at") {
                    listed.sort_by_key(|i| std::cmp::Reverse(i.updated_at));
                }
                let items = listed.into_iter().map(|i| self.item_json(i)).collect();
                self.page(&request.url, items)
            }
            ["projects", pid, "work-items", id] => self
                .items
                .iter()
                .find(|i| i.id == *id && i.project == *pid && i.is_listed())
                .map(|i| response(200, &self.item_json(i)))
                .unwrap_or_else(not_found),
            _ => not_found(),
        }
    }

    fn page(&self, url: &str, results: Vec<Value>) -> HttpResponse {
        let per_page: usize = query(url, "per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let page: usize = query(url, "cursor")
            .and_then(|c| c.split(':').nth(1)?.parse().ok())
            .unwrap_or(0);
        let start = (page * per_page).min(results.len());
        let end = (start + per_page).min(results.len());
        response(
            200,
            &json!({
                "next_cursor": format!("{per_page}:{}:0", page + 1),
                "prev_cursor": format!("{per_page}:{}:1", page as i64 - 1),
                "next_page_results": end < results.len(),
                "prev_page_results": page > 0,
                "total_count": results.len(), "count": end - start,
                "extra_stats": null,
                "results": results[start..end].to_vec(),
            }),
        )
    }

    /// Applies `change` to the item and bumps its version past `now`.
    pub fn change(&mut self, index: usize, now: DateTime<Utc>, change: impl FnOnce(&mut Item)) {
        let item = &mut self.items[index];
        change(item);
        item.updated_at = now.max(item.updated_at + Duration::microseconds(1));
        item.change += 1;
    }
}
