//! Plane REST API v1: listings with pagination, within the rate limit.
//!
//! Facts this relies on (Plane CE source and docs): every path ends with `/`;
//! the cursor loop ends on `next_page_results == false` (the last page still
//! has a `next_cursor`); offset pages over a changing set can repeat items,
//! so results are de-duplicated by id; 60 requests/minute per key, with
//! `X-RateLimit-Remaining`/`-Reset` on successes and `429` + `Retry-After`.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use serde_json::Value;

use super::model::{Label, Malformed, Member, Project, State, WorkItem};
use super::pacer::Pacer;
use crate::net::{Http, HttpRequest, HttpResponse, NetError};

/// Most retries of one request (429s, 5xx and connection failures).
const MAX_ATTEMPTS: u32 = 6;
/// Longest single wait, whatever a server asks for.
const MAX_WAIT: Duration = Duration::from_secs(90);

#[derive(Debug, Clone)]
pub struct PlaneSettings {
    /// API origin, e.g. `https://api.plane.so` (a path prefix is kept).
    pub base_url: String,
    pub token: String,
    pub workspace: String,
    pub per_page: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaneError {
    #[error("Plane rejected the request ({status}): {hint}")]
    Rejected { status: u16, hint: String },
    #[error("Plane answered {status} after {attempts} attempts")]
    Unavailable { status: u16, attempts: u32 },
    #[error("Plane unreachable: {0}")]
    Connection(NetError),
    #[error("Plane sent an unexpected response: {0}")]
    Malformed(String),
}

type Clock<'a> = &'a dyn Fn() -> DateTime<Utc>;

/// One page of a project's work items.
#[derive(Debug, Default)]
pub struct ItemPage {
    pub items: Vec<WorkItem>,
    pub malformed: Vec<Malformed>,
    /// How many items the whole listing holds now (the envelope's
    /// `total_count`).
    pub total_count: Option<u64>,
}

/// Whether a reader of pages wants the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    More,
    Stop,
}

pub struct PlaneClient<'a> {
    http: &'a dyn Http,
    settings: &'a PlaneSettings,
    /// Whether to wait out rate limits and failures (a sync) or give up at
    /// once (a webhook, which must answer quickly and can queue instead).
    patient: bool,
    /// The sync's share of the key's rate limit, and the clock it is kept by.
    budget: Option<(RefCell<Pacer>, Clock<'a>)>,
    /// Told of every wait before it begins (a sync's progress shows it).
    on_wait: Option<&'a dyn Fn(Duration)>,
}

impl<'a> PlaneClient<'a> {
    pub fn new(http: &'a dyn Http, settings: &'a PlaneSettings) -> Self {
        PlaneClient {
            http,
            settings,
            patient: true,
            budget: None,
            on_wait: None,
        }
    }

    /// Tells `listener` of every wait (rate limit, retry) before it begins.
    pub fn telling_waits(self, listener: &'a dyn Fn(Duration)) -> Self {
        PlaneClient {
            on_wait: Some(listener),
            ..self
        }
    }

    fn wait(&self, duration: Duration) {
        if let Some(listener) = self.on_wait {
            listener(duration);
        }
        self.http.sleep(duration);
    }

    /// A patient client that spends at most `percent` of the key's rate
    /// limit (`PLANE_RATE_BUDGET_PERCENT`), waiting when it is spent.
    pub fn budgeted(
        http: &'a dyn Http,
        settings: &'a PlaneSettings,
        percent: u8,
        clock: &'a dyn Fn() -> DateTime<Utc>,
    ) -> Self {
        PlaneClient {
            budget: Some((RefCell::new(Pacer::new(percent)), clock)),
            ..Self::new(http, settings)
        }
    }

    /// A client that never waits: one attempt per request, no pacing.
    pub fn impatient(http: &'a dyn Http, settings: &'a PlaneSettings) -> Self {
        PlaneClient {
            patient: false,
            ..Self::new(http, settings)
        }
    }

    /// The key's own user (`GET users/me/`): whether Plane is there and
    /// accepts the key, before any workspace is asked about.
    pub fn me(&self) -> Result<(), PlaneError> {
        let url = format!(
            "{}/api/v1/users/me/",
            self.settings.base_url.trim_end_matches('/')
        );
        self.get(&url).map(drop)
    }

    pub fn project(&self, project_id: &str) -> Result<Project, PlaneError> {
        let value = self.get(&self.url(&format!("projects/{project_id}/")))?;
        Project::from_json(&value)
            .ok_or_else(|| PlaneError::Malformed("project without an id".into()))
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/api/v1/workspaces/{}/{path}",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.workspace
        )
    }

    pub fn projects(&self) -> Result<Vec<Project>, PlaneError> {
        let values = self.list("projects/", "")?;
        Ok(values.iter().filter_map(Project::from_json).collect())
    }

    /// A project's work items page by page, most recently updated first
    /// (`order_by=-updated_at`: how a reader stops at what it has seen),
    /// until `each` says to stop. Items a shifting listing shows twice are
    /// passed once.
    pub fn work_item_pages(
        &self,
        project_id: &str,
        each: &mut dyn FnMut(ItemPage) -> Next,
    ) -> Result<(), PlaneError> {
        self.pages(
            &format!("projects/{project_id}/work-items/"),
            "&order_by=-updated_at&expand=state,assignees,labels",
            &mut |values, total_count| {
                let mut page = ItemPage {
                    total_count,
                    ..ItemPage::default()
                };
                for value in &values {
                    match WorkItem::from_json(value) {
                        Ok(item) => page.items.push(item),
                        Err(err) => page.malformed.push(err),
                    }
                }
                each(page)
            },
        )
    }

    /// One work item; `None` when Plane hides it (deleted, archived, draft).
    pub fn work_item(
        &self,
        project_id: &str,
        item_id: &str,
    ) -> Result<Option<WorkItem>, PlaneError> {
        let url = self.url(&format!(
            "projects/{project_id}/work-items/{item_id}/?expand=state,assignees,labels"
        ));
        match self.get(&url) {
            Ok(value) => WorkItem::from_json(&value)
                .map(Some)
                .map_err(|e| PlaneError::Malformed(e.to_string())),
            Err(PlaneError::Rejected { status: 404, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub fn states(&self, project_id: &str) -> Result<Vec<State>, PlaneError> {
        let values = self.list(&format!("projects/{project_id}/states/"), "")?;
        Ok(values.iter().filter_map(State::from_json).collect())
    }

    pub fn labels(&self, project_id: &str) -> Result<Vec<Label>, PlaneError> {
        let values = self.list(&format!("projects/{project_id}/labels/"), "")?;
        Ok(values.iter().filter_map(Label::from_json).collect())
    }

    /// Project members: a plain array, not paginated.
    pub fn members(&self, project_id: &str) -> Result<Vec<Member>, PlaneError> {
        let value = self.get(&self.url(&format!("projects/{project_id}/members/")))?;
        let values = match &value {
            Value::Array(values) => values.as_slice(),
            other => other
                .get("results")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default(),
        };
        Ok(values.iter().filter_map(Member::from_json).collect())
    }

    /// All pages of a listing, de-duplicated by id.
    fn list(&self, path: &str, extra_query: &str) -> Result<Vec<Value>, PlaneError> {
        let mut results = Vec::new();
        self.pages(path, extra_query, &mut |values, _| {
            results.extend(values);
            Next::More
        })?;
        Ok(results)
    }

    /// The pages of a listing in turn, each de-duplicated by id against the
    /// ones before, with the envelope's `total_count`, until `each` says to
    /// stop or the last page.
    fn pages(
        &self,
        path: &str,
        extra_query: &str,
        each: &mut dyn FnMut(Vec<Value>, Option<u64>) -> Next,
    ) -> Result<(), PlaneError> {
        let per_page = self.settings.per_page.max(1);
        let mut cursor = format!("{per_page}:0:0");
        let mut seen = HashSet::new();
        loop {
            let url = format!(
                "{}?per_page={per_page}&cursor={cursor}{extra_query}",
                self.url(path)
            );
            let mut page = self.get(&url)?;
            let total_count = page.get("total_count").and_then(Value::as_u64);
            let more = page
                .get("next_page_results")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let next = page
                .get("next_cursor")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let Some(Value::Array(items)) = page.get_mut("results").map(Value::take) else {
                return Err(PlaneError::Malformed(format!("{path}: no results list")));
            };
            let listed = items.len();
            let fresh: Vec<Value> = items
                .into_iter()
                .filter(|item| {
                    // Items without an id are kept, to be reported as malformed.
                    let id = item.get("id").map(Value::to_string);
                    id.is_none_or(|id| seen.insert(id))
                })
                .collect();
            if each(fresh, total_count) == Next::Stop
                || !more
                || listed == 0
                || next.is_empty()
                || next == cursor
            {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn get(&self, url: &str) -> Result<Value, PlaneError> {
        let response = self.send(&HttpRequest::new("GET", url))?;
        serde_json::from_slice(&response.body)
            .map_err(|err| PlaneError::Malformed(format!("not JSON: {err}")))
    }

    /// Sends with the API key, pacing by the rate-limit headers and retrying
    /// what is worth retrying.
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, PlaneError> {
        let request = request
            .clone()
            .header("x-api-key", self.settings.token.clone())
            .header("accept", "application/json");
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some((pacer, clock)) = &self.budget {
                let wait = pacer.borrow_mut().reserve(clock());
                if !wait.is_zero() {
                    crate::log!(
                        "INFO",
                        "Sync paced: waiting {}s to stay within PLANE_RATE_BUDGET_PERCENT of Plane's rate limit",
                        wait.as_secs().max(1)
                    );
                    self.wait(wait);
                }
            }
            let outcome = match self.http.send(&request) {
                // Not worth retrying: the host forbids it, or it is malformed.
                Err(err @ (NetError::Denied | NetError::Invalid(_))) => {
                    return Err(PlaneError::Connection(err));
                }
                other => other,
            };
            let retry_in = match &outcome {
                Ok(response) if (200..300).contains(&response.status) => {
                    if self.patient {
                        self.pace(response);
                    }
                    return outcome.map_err(PlaneError::Connection);
                }
                Ok(response) if response.status == 429 => retry_after(response),
                Ok(response) if response.status >= 500 => backoff(attempt),
                Ok(response) => return Err(rejected(response)),
                Err(NetError::Denied | NetError::Invalid(_)) => {
                    return Err(PlaneError::Connection(
                        outcome.err().unwrap_or(NetError::Denied),
                    ));
                }
                Err(_) => backoff(attempt),
            };
            if attempt >= MAX_ATTEMPTS || !self.patient {
                return match outcome {
                    Ok(response) => Err(PlaneError::Unavailable {
                        status: response.status,
                        attempts: attempt,
                    }),
                    Err(err) => Err(PlaneError::Connection(err)),
                };
            }
            let why = match &outcome {
                Ok(response) => format!("HTTP {}", response.status),
                Err(err) => err.to_string(),
            };
            crate::log!("DEBUG", "Plane request retried in {retry_in:?} after {why}");
            self.wait(retry_in);
        }
    }

    /// When the window's budget is spent, wait for its reset rather than
    /// collecting a 429.
    fn pace(&self, response: &HttpResponse) {
        let remaining = response
            .header("x-ratelimit-remaining")
            .and_then(|v| v.trim().parse::<i64>().ok());
        let reset = response
            .header("x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<i64>().ok());
        if let (Some((pacer, _)), Some(remaining)) = (&self.budget, remaining) {
            pacer
                .borrow_mut()
                .learn(u32::try_from(remaining).unwrap_or(0));
        }
        if let (Some(remaining), Some(reset)) = (remaining, reset)
            && remaining <= 0
        {
            let now = crate::time::now().timestamp();
            let wait = Duration::from_secs(u64::try_from(reset - now).unwrap_or(0) + 1);
            self.wait(wait.min(MAX_WAIT));
        }
    }
}

fn retry_after(response: &HttpResponse) -> Duration {
    let seconds = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(60);
    Duration::from_secs(seconds.max(1)).min(MAX_WAIT)
}

/// 1 s, 2 s, 4 s… capped.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(5)).min(MAX_WAIT)
}

fn rejected(response: &HttpResponse) -> PlaneError {
    let hint = match response.status {
        401 => "no valid API key was sent; set PLANE_API_TOKEN".to_string(),
        403 => "the API key is not valid or lacks access; check PLANE_API_TOKEN".to_string(),
        404 => "not found; check PLANE_BASE_URL and PLANE_WORKSPACE_SLUG".to_string(),
        status => {
            let detail = serde_json::from_slice::<Value>(&response.body)
                .ok()
                .and_then(|v| v.get("detail").or(v.get("error")).map(Value::to_string))
                .unwrap_or_default();
            format!("HTTP {status} {detail}").trim().to_string()
        }
    };
    PlaneError::Rejected {
        status: response.status,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::scripted::{ScriptedHttp, response};
    use serde_json::json;

    fn settings() -> PlaneSettings {
        PlaneSettings {
            base_url: "http://plane".into(),
            token: "s3cr3t-token".into(),
            workspace: "ws".into(),
            per_page: 2,
        }
    }

    fn page(ids: &[&str], more: bool, next: &str) -> String {
        json!({
            "next_cursor": next, "next_page_results": more, "prev_cursor": "2:-1:1",
            "results": ids.iter().map(|id| json!({"id": id, "name": id, "target_date": "2025-01-01"})).collect::<Vec<_>>(),
            "extra_stats": null, "total_results": 3
        })
        .to_string()
    }

    #[test]
    fn follows_next_page_results_and_deduplicates() {
        let http = ScriptedHttp::new(|request, index| {
            assert_eq!(
                request
                    .headers
                    .iter()
                    .find(|(n, _)| n == "x-api-key")
                    .map(|(_, v)| v.as_str()),
                Some("s3cr3t-token")
            );
            Ok(match index {
                0 => response(200, &[], &page(&["a", "b"], true, "2:1:0")),
                // Offset paging over a changing set repeats `b`; the last
                // page still has a next_cursor.
                1 => response(200, &[], &page(&["b", "c"], false, "2:2:0")),
                _ => panic!("read past the last page"),
            })
        });
        let settings = settings();
        let mut items = Vec::new();
        let mut malformed = Vec::new();
        PlaneClient::new(&http, &settings)
            .work_item_pages("p", &mut |page| {
                items.extend(page.items);
                malformed.extend(page.malformed);
                Next::More
            })
            .unwrap();
        assert_eq!(
            items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(malformed.is_empty());
        let urls: Vec<String> = http
            .requests
            .borrow()
            .iter()
            .map(|r| r.url.clone())
            .collect();
        assert!(urls[0].starts_with(
            "http://plane/api/v1/workspaces/ws/projects/p/work-items/?per_page=2&cursor=2:0:0"
        ));
        assert!(urls[0].contains("expand=state,assignees,labels"));
        assert!(urls[1].contains("cursor=2:1:0"));
    }

    #[test]
    fn waits_out_429_and_retries_5xx_and_connection_errors() {
        let http = ScriptedHttp::new(|_, index| match index {
            0 => Ok(response(429, &[("retry-after", "7")], "{}")),
            1 => Ok(response(502, &[], "bad gateway")),
            2 => Err(NetError::Connection("reset".into())),
            _ => Ok(response(200, &[], &page(&["a"], false, "2:1:0"))),
        });
        let settings = settings();
        let projects = PlaneClient::new(&http, &settings).projects().unwrap();
        assert_eq!(projects.len(), 1);
        assert_eq!(
            *http.sleeps.borrow(),
            [
                Duration::from_secs(7),
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );
    }

    #[test]
    fn paces_when_the_budget_is_spent() {
        let reset = (crate::time::now().timestamp() + 10).to_string();
        let http = ScriptedHttp::new(move |_, _| {
            Ok(response(
                200,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset),
                ],
                &page(&["a"], false, "2:1:0"),
            ))
        });
        let settings = settings();
        PlaneClient::new(&http, &settings).projects().unwrap();
        let slept = http.sleeps.borrow()[0];
        assert!(
            slept >= Duration::from_secs(9) && slept <= Duration::from_secs(12),
            "{slept:?}"
        );
    }

    #[test]
    fn auth_and_not_found_errors_are_not_retried_and_say_what_to_fix() {
        for (status, hint) in [
            (401, "PLANE_API_TOKEN"),
            (403, "PLANE_API_TOKEN"),
            (404, "PLANE_WORKSPACE_SLUG"),
        ] {
            let http =
                ScriptedHttp::new(move |_, _| Ok(response(status, &[], r#"{"detail": "x"}"#)));
            let settings = settings();
            let err = PlaneClient::new(&http, &settings).projects().unwrap_err();
            assert_eq!(http.requests.borrow().len(), 1);
            assert!(err.to_string().contains(hint), "{err}");
            assert!(!err.to_string().contains("s3cr3t"));
        }
    }

    #[test]
    fn gives_up_after_bounded_attempts() {
        let http = ScriptedHttp::new(|_, _| Ok(response(503, &[], "")));
        let settings = settings();
        let err = PlaneClient::new(&http, &settings).projects().unwrap_err();
        assert_eq!(
            err,
            PlaneError::Unavailable {
                status: 503,
                attempts: MAX_ATTEMPTS
            }
        );
        assert!(http.sleeps.borrow().iter().all(|s| *s <= MAX_WAIT));
    }

    #[test]
    fn a_hidden_item_is_none() {
        let http = ScriptedHttp::new(|_, _| Ok(response(404, &[], r#"{"detail": "Not found."}"#)));
        let settings = settings();
        assert_eq!(
            PlaneClient::new(&http, &settings)
                .work_item("p", "gone")
                .unwrap(),
            None
        );
    }
}
