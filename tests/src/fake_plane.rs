//! A fake Plane API v1, faithful to what the service relies on (see the
//! project's notes on Plane): `X-API-Key` auth (401 missing, 403 invalid),
//! the pagination envelope with `"<per_page>:<page>:<is_prev>"` cursors and
//! a non-empty `next_cursor` on the last page, `expand=`, deleted/archived/
//! draft items hidden from lists and 404 on GET, a sliding-window rate limit
//! with `X-RateLimit-*` headers and `429` + `Retry-After`, offset pagination
//! over the live set (an item removed while a listing pages moves every
//! later item one place up, so the next page skips one), and knobs to change
//! the data between syncs or in the middle of a listing.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{Value, json};

pub const TOKEN: &str = "plane-test-token";
pub const WORKSPACE: &str = "acme";

#[derive(Debug, Clone)]
pub struct FakeProject {
    pub id: String,
    pub name: String,
    pub identifier: String,
}

#[derive(Debug, Clone)]
pub struct FakeItem {
    pub id: String,
    pub project_id: String,
    pub sequence_id: i64,
    pub name: String,
    pub description_html: String,
    pub priority: String,
    pub target_date: Option<String>,
    pub state_id: String,
    pub label_ids: Vec<String>,
    pub assignee_ids: Vec<String>,
    pub deleted: bool,
    pub archived: bool,
    pub is_draft: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone)]
pub struct FakeState {
    pub id: String,
    pub name: String,
    pub group: String,
}

/// One page of a project's work-item listing, as it was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedPage {
    pub project_id: String,
    /// As in the cursor: the first page is 0.
    pub page: usize,
    pub item_ids: Vec<String>,
}

/// A change made to an item right after a page of its project's listing
/// was served.
struct PageHook {
    project_id: String,
    page: usize,
    item_id: String,
    change: Box<dyn FnOnce(&mut FakeItem) + Send>,
}

#[derive(Default)]
struct Data {
    workspace: String,
    /// Mixed into project ids, so that two fake Planes (two workspaces)
    /// never hand out the same UUIDs; 0 for the default workspace.
    id_space: u16,
    projects: Vec<FakeProject>,
    items: Vec<FakeItem>,
    states: Vec<(String, FakeState)>,
    labels: Vec<(String, String, String)>,
    members: Vec<(String, String, String)>,
    /// Projects whose item listing comes back empty (a permissions change).
    empty_listing: Vec<String>,
    rate_limit: usize,
    window: Duration,
    recent: VecDeque<Instant>,
    requests: u32,
    throttled: u32,
    next_sequence: i64,
    /// How long every answer takes (a slow Plane).
    delay: Duration,
    /// Requests still to be answered `500` (Plane failing for a while).
    failures: u32,
    /// JSON fields that replace what an item's object would say, by item id.
    raw_fields: HashMap<String, Vec<(String, Value)>>,
    page_hooks: Vec<PageHook>,
    /// (project, page, status): pages of a listing answered with an error.
    failing_pages: Vec<(String, usize, u16)>,
    /// Requests answered with one of `failing_pages`' errors.
    page_failures: u32,
    served: Vec<ServedPage>,
}

#[derive(Clone)]
pub struct FakePlane {
    pub addr: SocketAddr,
    data: Arc<Mutex<Data>>,
}

/// A work item's description as teams write them: a heading, `paragraphs`
/// paragraphs of about 220 bytes and a list (14 paragraphs: ~3.5 KB).
pub fn realistic_description(paragraphs: usize) -> String {
    let paragraph = "<p>The release checklist covers the migration of the billing tables, \
        the rollout of the new onboarding flow to the first cohort of customers, and the \
        follow-up with support about the tickets the beta produced.</p>";
    format!(
        "<h2>Release</h2>{}<ul><li>check the dashboards</li><li>write the notes</li></ul>",
        paragraph.repeat(paragraphs)
    )
}

/// The fixed states every project gets, by group.
pub const STATE_GROUPS: &[(&str, &str)] = &[
    ("backlog", "Backlog"),
    ("unstarted", "Todo"),
    ("started", "In Progress"),
    ("completed", "Done"),
    ("cancelled", "Cancelled"),
];

/// Now, as Plane writes it: microseconds and an offset like some of
/// Plane's (`+05:30`), to exercise parsing. Strictly increasing, as a
/// database's `auto_now` is for one row's successive saves.
fn timestamp() -> String {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = chrono::Utc::now().timestamp_micros();
    let micros = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .map_or(now, |last| now.max(last + 1));
    plane_time(micros)
}

fn plane_time(micros: i64) -> String {
    let india = chrono::FixedOffset::east_opt(5 * 3600 + 1800).expect("a valid offset");
    chrono::DateTime::from_timestamp_micros(micros)
        .expect("a time in range")
        .with_timezone(&india)
        .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
        .to_string()
}

impl FakePlane {
    /// Workspace [`WORKSPACE`].
    pub fn start() -> FakePlane {
        Self::start_for(WORKSPACE)
    }

    /// A Plane whose workspace slug is `workspace`; any other slug is 404.
    pub fn start_for(workspace: &str) -> FakePlane {
        let id_space = if workspace == WORKSPACE {
            0
        } else {
            // FNV-1a, folded to 16 bits and never 0.
            let hash = workspace.bytes().fold(0x811c_9dc5_u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            ((hash >> 16) as u16 ^ hash as u16).max(1)
        };
        let data = Arc::new(Mutex::new(Data {
            workspace: workspace.to_string(),
            id_space,
            rate_limit: 60,
            window: Duration::from_secs(60),
            next_sequence: 1,
            ..Data::default()
        }));
        let shared = data.clone();
        let addr = crate::loopback_server::spawn(
            || true,
            move |request| {
                let shared = shared.clone();
                async move {
                    let delay = shared.lock().unwrap().delay;
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    respond(&shared, request)
                }
            },
        );
        FakePlane { addr, data }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        f(&mut self.data.lock().unwrap())
    }

    /// A project with the five standard states, labels `bug` and `feature`
    /// and two members.
    pub fn add_project(&self, name: &str, identifier: &str) -> String {
        self.with(|d| {
            let id = format!(
                "{:08x}-{:04x}-4000-8000-{:012x}",
                d.projects.len() + 1,
                d.id_space,
                d.projects.len() + 1
            );
            for (group, state_name) in STATE_GROUPS {
                d.states.push((
                    id.clone(),
                    FakeState {
                        id: format!("{id}-state-{group}"),
                        name: state_name.to_string(),
                        group: group.to_string(),
                    },
                ));
            }
            for label in ["bug", "feature"] {
                d.labels
                    .push((id.clone(), format!("{id}-label-{label}"), label.to_string()));
            }
            for (user, name) in [("ada", "Ada Lovelace"), ("linus", "Linus")] {
                d.members
                    .push((id.clone(), format!("user-{user}"), name.to_string()));
            }
            d.projects.push(FakeProject {
                id: id.clone(),
                name: name.to_string(),
                identifier: identifier.to_string(),
            });
            id
        })
    }

    pub fn rename_project(&self, project_id: &str, name: &str) {
        self.with(|d| {
            if let Some(p) = d.projects.iter_mut().find(|p| p.id == project_id) {
                p.name = name.to_string();
            }
        })
    }

    /// Adds an item in state `group` and returns its id.
    pub fn add_item(&self, project_id: &str, name: &str, target_date: Option<&str>) -> String {
        self.with(|d| {
            let sequence = d.next_sequence;
            d.next_sequence += 1;
            let id = format!("{project_id}-item-{sequence:05}");
            let now = timestamp();
            d.items.push(FakeItem {
                id: id.clone(),
                project_id: project_id.to_string(),
                sequence_id: sequence,
                name: name.to_string(),
                description_html: format!("<p>Details of <strong>{name}</strong></p>"),
                priority: "medium".into(),
                target_date: target_date.map(str::to_string),
                state_id: format!("{project_id}-state-unstarted"),
                label_ids: vec![format!("{project_id}-label-bug")],
                assignee_ids: vec!["user-ada".into()],
                deleted: false,
                archived: false,
                is_draft: false,
                created_at: now.clone(),
                updated_at: now,
            });
            id
        })
    }

    /// Changes an item (and bumps `updated_at`).
    pub fn update_item(&self, item_id: &str, change: impl FnOnce(&mut FakeItem)) {
        self.with(|d| {
            let item = d
                .items
                .iter_mut()
                .find(|i| i.id == item_id)
                .expect("known item");
            change(item);
            item.updated_at = timestamp();
        })
    }

    /// Makes every item look last edited in the past, `step` apart in the
    /// order they were added, the newest `step` ago: a workspace whose
    /// items were not all touched in the last minutes.
    pub fn backdate_items(&self, step: Duration) {
        let now = chrono::Utc::now().timestamp_micros();
        let step = i64::try_from(step.as_micros()).expect("a step in range");
        self.with(|d| {
            let count = d.items.len() as i64;
            for (i, item) in d.items.iter_mut().enumerate() {
                item.updated_at = plane_time(now - (count - i as i64) * step);
            }
        })
    }

    pub fn set_state(&self, item_id: &str, group: &str) {
        self.update_item(item_id, |item| {
            item.state_id = format!("{}-state-{group}", item.project_id)
        });
    }

    pub fn delete_item(&self, item_id: &str) {
        self.update_item(item_id, |item| item.deleted = true);
    }

    pub fn archive_item(&self, item_id: &str) {
        self.update_item(item_id, |item| item.archived = true);
    }

    pub fn set_empty_listing(&self, project_id: &str, empty: bool) {
        self.with(|d| {
            d.empty_listing.retain(|p| p != project_id);
            if empty {
                d.empty_listing.push(project_id.to_string());
            }
        })
    }

    /// Requests allowed per `window` (Plane's default: 60 per minute).
    pub fn set_rate_limit(&self, limit: usize, window: Duration) {
        self.with(|d| {
            d.rate_limit = limit;
            d.window = window;
            d.recent.clear();
        })
    }

    /// Spends the whole window's budget, as another client of the same key
    /// would: the next request gets a 429.
    pub fn exhaust_rate_limit(&self) {
        self.with(|d| {
            let now = Instant::now();
            while d.recent.len() < d.rate_limit {
                d.recent.push_back(now);
            }
        })
    }

    /// Every answer from now on takes `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.with(|d| d.delay = delay)
    }

    /// The next `count` requests get `500`, as from a Plane that is failing.
    pub fn fail_next(&self, count: u32) {
        self.with(|d| d.failures = count)
    }

    pub fn requests(&self) -> u32 {
        self.with(|d| d.requests)
    }

    /// From now on every object of the item (listings, single GET, webhook
    /// data) carries `value` as its field `key`, whatever the item says:
    /// for data the fake's model cannot express (an impossible date, a
    /// `null` in a list). Does not bump `updated_at`.
    pub fn set_raw_field(&self, item_id: &str, key: &str, value: Value) {
        self.with(|d| {
            let fields = d.raw_fields.entry(item_id.to_string()).or_default();
            fields.retain(|(k, _)| k != key);
            fields.push((key.to_string(), value));
        })
    }

    pub fn clear_raw_fields(&self, item_id: &str) {
        self.with(|d| {
            d.raw_fields.remove(item_id);
        })
    }

    /// Once, right after page `page` (0 is the first) of the project's
    /// work-item listing has been served, applies `change` to the item
    /// (bumping `updated_at`), as another user editing Plane while the
    /// service pages through it.
    pub fn on_page_served(
        &self,
        project_id: &str,
        page: usize,
        item_id: &str,
        change: impl FnOnce(&mut FakeItem) + Send + 'static,
    ) {
        self.with(|d| {
            d.page_hooks.push(PageHook {
                project_id: project_id.to_string(),
                page,
                item_id: item_id.to_string(),
                change: Box::new(change),
            })
        })
    }

    /// Archives the item right after page `page` of its project's listing.
    pub fn archive_after_page(&self, project_id: &str, page: usize, item_id: &str) {
        self.on_page_served(project_id, page, item_id, |item| item.archived = true);
    }

    /// Deletes the item right after page `page` of its project's listing.
    pub fn delete_after_page(&self, project_id: &str, page: usize, item_id: &str) {
        self.on_page_served(project_id, page, item_id, |item| item.deleted = true);
    }

    /// Until cleared, page `page` (0 is the first) of the project's
    /// work-item listing is answered with `status`.
    pub fn fail_listing_page(&self, project_id: &str, page: usize, status: u16) {
        self.with(|d| d.failing_pages.push((project_id.to_string(), page, status)))
    }

    pub fn clear_listing_failures(&self) {
        self.with(|d| d.failing_pages.clear())
    }

    /// How many requests got an error from [`FakePlane::fail_listing_page`].
    pub fn listing_failures_answered(&self) -> u32 {
        self.with(|d| d.page_failures)
    }

    /// The work-item listing pages served (answered 200) since the last
    /// [`FakePlane::clear_served`], in order.
    pub fn served_pages(&self) -> Vec<ServedPage> {
        self.with(|d| d.served.clone())
    }

    pub fn clear_served(&self) {
        self.with(|d| d.served.clear())
    }

    pub fn throttled(&self) -> u32 {
        self.with(|d| d.throttled)
    }

    /// The `data` of a CE webhook for an item: the REST object with state,
    /// labels and assignees expanded, plus the fields only webhooks carry.
    pub fn webhook_data(&self, item_id: &str) -> Value {
        self.with(|d| {
            let item = d
                .items
                .iter()
                .find(|i| i.id == item_id)
                .expect("known item");
            let mut data = item_json(d, item, "state,labels,assignees");
            data["description"] = json!({"type": "doc", "content": []});
            data["cycle"] = Value::Null;
            data["module"] = Value::Null;
            data
        })
    }

    pub fn items(&self) -> Vec<FakeItem> {
        self.with(|d| d.items.clone())
    }
}

fn json_response(status: u16, body: &Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn respond(
    data: &Mutex<Data>,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let mut d = data.lock().unwrap();
    d.requests += 1;
    match request
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
    {
        None => {
            return json_response(
                401,
                &json!({"detail": "Authentication credentials were not provided."}),
            );
        }
        Some(key) if key != TOKEN => {
            return json_response(403, &json!({"detail": "Given API token is not valid"}));
        }
        Some(_) => {}
    }
    if d.failures > 0 {
        d.failures -= 1;
        return json_response(
            500,
            &json!({"error": "Something went wrong please try again later"}),
        );
    }
    // Sliding window per key.
    let now = Instant::now();
    let window = d.window;
    while d
        .recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        d.recent.pop_front();
    }
    let reset_in = d
        .recent
        .front()
        .map(|t| window.saturating_sub(now.duration_since(*t)))
        .unwrap_or(window);
    let reset_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + reset_in.as_secs()
        + 1;
    if d.recent.len() >= d.rate_limit {
        d.throttled += 1;
        let mut response = json_response(
            429,
            &json!({"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}),
        );
        response.headers_mut().insert(
            "retry-after",
            (reset_in.as_secs() + 1).to_string().parse().unwrap(),
        );
        return response;
    }
    d.recent.push_back(now);
    let remaining = d.rate_limit - d.recent.len();
    let listing = (request.method() == hyper::Method::GET)
        .then(|| listing_page(&d, request.uri()))
        .flatten();
    if let Some((pid, page, _)) = &listing
        && let Some(&(_, _, status)) = d
            .failing_pages
            .iter()
            .find(|(p, n, _)| p == pid && n == page)
    {
        d.page_failures += 1;
        return json_response(
            status,
            &json!({"error": "Something went wrong please try again later"}),
        );
    }
    let mut response = route(&d, request.method().as_str(), request.uri());
    if let Some((project_id, page, item_ids)) = listing
        && response.status() == hyper::StatusCode::OK
    {
        d.served.push(ServedPage {
            project_id: project_id.clone(),
            page,
            item_ids,
        });
        run_page_hooks(&mut d, &project_id, page);
    }
    response.headers_mut().insert(
        "x-ratelimit-remaining",
        remaining.to_string().parse().unwrap(),
    );
    response
        .headers_mut()
        .insert("x-ratelimit-reset", reset_at.to_string().parse().unwrap());
    response
}

fn query(uri: &hyper::Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.replace("%3A", ":").replace("%2C", ","))
    })
}

fn route(d: &Data, method: &str, uri: &hyper::Uri) -> hyper::Response<Full<Bytes>> {
    let not_found = || json_response(404, &json!({"detail": "Not found."}));
    if method != "GET" {
        return json_response(
            405,
            &json!({"detail": format!("Method \"{method}\" not allowed.")}),
        );
    }
    let path = uri.path();
    // The key's own user, in any workspace.
    if path == "/api/v1/users/me/" {
        return json_response(
            200,
            &json!({"id": "7f9f2c3e-5a0b-4c1d-9e8f-0a1b2c3d4e5f", "first_name": "Sync", "last_name": "Bot",
                    "email": "bot@plane.test", "display_name": "syncbot", "avatar": "", "avatar_url": null}),
        );
    }
    let Some(rest) = path.strip_prefix(&format!("/api/v1/workspaces/{}/", d.workspace)) else {
        return not_found();
    };
    if !rest.ends_with('/') {
        return not_found();
    }
    if let Some(order) = query(uri, "order_by") {
        let field = order.trim_start_matches('-');
        if !["created_at", "updated_at", "sequence_id", "name"].contains(&field) {
            return json_response(
                500,
                &json!({"error": "Something went wrong please try again later"}),
            );
        }
    }
    let expand = query(uri, "expand").unwrap_or_default();
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["projects"] => paginate(uri, d.projects.iter().map(project_json).collect()),
        ["projects", pid] => d.projects.iter().find(|p| p.id == *pid).map(|p| json_response(200, &project_json(p))).unwrap_or_else(not_found),
        ["projects", pid, "work-items" | "issues"] => {
            if !d.projects.iter().any(|p| p.id == *pid) {
                return not_found();
            }
            let items = listed(d, pid, uri).into_iter().map(|i| item_json(d, i, &expand)).collect();
            paginate(uri, items)
        }
        ["projects", pid, "work-items" | "issues", id] => d
            .items
            .iter()
            .find(|i| i.id == *id && i.project_id == *pid && !i.deleted && !i.archived && !i.is_draft)
            .map(|i| json_response(200, &item_json(d, i, &expand)))
            .unwrap_or_else(not_found),
        ["projects", pid, "states"] => paginate(
            uri,
            d.states
                .iter()
                .filter(|(p, _)| p == pid)
                .map(|(_, s)| json!({"id": s.id, "name": s.name, "group": s.group, "color": "#888", "project": pid}))
                .collect(),
        ),
        ["projects", pid, "labels"] => paginate(
            uri,
            d.labels
                .iter()
                .filter(|(p, _, _)| p == pid)
                .map(|(_, id, name)| json!({"id": id, "name": name, "color": "#f00", "project": pid}))
                .collect(),
        ),
        ["projects", pid, "members"] => json_response(
            200,
            &Value::Array(
                d.members
                    .iter()
                    .filter(|(p, _, _)| p == pid)
                    .map(|(_, id, name)| json!({"id": id, "display_name": name, "first_name": name, "last_name": "", "email": format!("{id}@example.com"), "avatar": ""}))
                    .collect(),
            ),
        ),
        _ => not_found(),
    }
}

/// The items a project's listing shows, in the order asked for
/// (`order_by=-updated_at`, else Plane's default `-created_at`).
fn listed<'a>(d: &'a Data, pid: &str, uri: &hyper::Uri) -> Vec<&'a FakeItem> {
    if d.empty_listing.iter().any(|p| p == pid) {
        return Vec::new();
    }
    let mut visible: Vec<&FakeItem> = d
        .items
        .iter()
        .filter(|i| i.project_id == pid && !i.deleted && !i.archived && !i.is_draft)
        .collect();
    // Default order `-created_at`: newest first.
    visible.reverse();
    if query(uri, "order_by").as_deref() == Some("-updated_at") {
        let at = |i: &FakeItem| chrono::DateTime::parse_from_rfc3339(&i.updated_at).ok();
        visible.sort_by_key(|i| std::cmp::Reverse(at(i)));
    }
    visible
}

/// For a request of a page of a project's work-item listing: the project,
/// the page, and the ids that page holds right now.
fn listing_page(d: &Data, uri: &hyper::Uri) -> Option<(String, usize, Vec<String>)> {
    let rest = uri
        .path()
        .strip_prefix(&format!("/api/v1/workspaces/{}/projects/", d.workspace))?;
    let (pid, tail) = rest.split_once('/')?;
    if !matches!(tail, "work-items/" | "issues/") {
        return None;
    }
    let per_page = query(uri, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=1000).contains(n))
        .unwrap_or(1000);
    let page = page_of(uri);
    let ids = listed(d, pid, uri)
        .into_iter()
        .skip(page * per_page)
        .take(per_page)
        .map(|i| i.id.clone())
        .collect();
    Some((pid.to_string(), page, ids))
}

fn page_of(uri: &hyper::Uri) -> usize {
    query(uri, "cursor")
        .and_then(|c| c.split(':').nth(1).and_then(|p| p.parse().ok()))
        .unwrap_or(0)
}

fn run_page_hooks(d: &mut Data, project_id: &str, page: usize) {
    let (due, rest): (Vec<PageHook>, Vec<PageHook>) = std::mem::take(&mut d.page_hooks)
        .into_iter()
        .partition(|h| h.project_id == project_id && h.page == page);
    d.page_hooks = rest;
    for hook in due {
        if let Some(item) = d.items.iter_mut().find(|i| i.id == hook.item_id) {
            (hook.change)(item);
            item.updated_at = timestamp();
        }
    }
}

fn project_json(p: &FakeProject) -> Value {
    json!({"id": p.id, "name": p.name, "identifier": p.identifier, "description": "", "network": 2, "workspace": "ws-uuid", "archived_at": null})
}

fn item_json(d: &Data, item: &FakeItem, expand: &str) -> Value {
    let expanded = |field: &str| expand.split(',').any(|f| f == field);
    let state = if expanded("state") {
        d.states
            .iter()
            .find(|(_, s)| s.id == item.state_id)
            .map(|(_, s)| json!({"id": s.id, "name": s.name, "color": "#888", "group": s.group}))
            .unwrap_or(Value::Null)
    } else {
        json!(item.state_id)
    };
    let labels: Vec<Value> = item
        .label_ids
        .iter()
        .map(|id| {
            if expanded("labels") {
                let name = d
                    .labels
                    .iter()
                    .find(|(_, l, _)| l == id)
                    .map(|(_, _, n)| n.clone())
                    .unwrap_or_default();
                json!({"id": id, "name": name, "color": "#f00", "parent": null, "sort_order": 1.0})
            } else {
                json!(id)
            }
        })
        .collect();
    let assignees: Vec<Value> = item
        .assignee_ids
        .iter()
        .map(|id| {
            if expanded("assignees") {
                let name = d.members.iter().find(|(_, m, _)| m == id).map(|(_, _, n)| n.clone()).unwrap_or_default();
                json!({"id": id, "first_name": name, "last_name": "", "email": format!("{id}@example.com"), "avatar": "", "avatar_url": null, "display_name": name})
            } else {
                json!(id)
            }
        })
        .collect();
    let mut object = json!({
        "id": item.id, "created_at": item.created_at, "updated_at": item.updated_at,
        "name": item.name, "description_html": item.description_html, "priority": item.priority,
        "start_date": null, "target_date": item.target_date, "sequence_id": item.sequence_id,
        "sort_order": 65535.0, "completed_at": null, "archived_at": null, "is_draft": item.is_draft,
        "project": item.project_id, "workspace": "ws-uuid", "parent": null,
        "state": state, "assignees": assignees, "labels": labels,
        "estimate_point": null, "type_id": null, "created_by": "user-ada", "updated_by": null,
    });
    for (key, value) in d.raw_fields.get(&item.id).into_iter().flatten() {
        object[key.as_str()] = value.clone();
    }
    object
}

/// Plane's paginated envelope over `results` (CE: default and max 1000).
fn paginate(uri: &hyper::Uri, results: Vec<Value>) -> hyper::Response<Full<Bytes>> {
    let per_page: usize = match query(uri, "per_page").map(|v| v.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return json_response(
                400,
                &json!({"error": "Invalid per_page value. Cannot exceed 1000."}),
            );
        }
    };
    let page = page_of(uri);
    let total = results.len();
    let total_pages = total.div_ceil(per_page).max(1);
    let start = (page * per_page).min(total);
    let end = (start + per_page).min(total);
    json_response(
        200,
        &json!({
            "grouped_by": null, "sub_grouped_by": null, "total_count": total,
            "next_cursor": format!("{per_page}:{}:0", page + 1),
            "prev_cursor": format!("{per_page}:{}:1", page as i64 - 1),
            "next_page_results": end < total,
            "prev_page_results": page > 0,
            "count": end - start, "total_pages": total_pages, "total_results": total,
            "extra_stats": null,
            "results": results[start..end].to_vec(),
        }),
    )
}
