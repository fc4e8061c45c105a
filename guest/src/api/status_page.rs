//! `GET /status`: one self-contained HTML page for people (no scripts, no
//! external assets, refreshes itself): health, the last and next sync, a
//! running sync's progress, each project's calendar, the queue, recent
//! problems in plain words with what to do. It shows nothing a calendar
//! does not already hold; with `CALPLANEBOT_API_TOKEN` set it asks for the
//! token first (HTTP Basic, any user name; or the `calplanebot_token`
//! cookie).

use std::fmt::Write;

use super::auth::page_token_ok;
use super::html::escape;
use super::{ApiError, Context};
use crate::http::{Request, Response};
use crate::sync::calendars::display_name;
use crate::sync::{item_index, lease, missed_webhooks, progress, queue, records, status};
use crate::time::rfc3339;

/// Seconds between the page's own reloads.
const REFRESH_SECONDS: u32 = 30;

pub fn page(ctx: &Context, request: &Request) -> Result<Response, ApiError> {
    if !page_token_ok(ctx, request) {
        return Ok(Response::html(
            401,
            layout(
                "Sign in",
                "<p>This status page needs the management token (CALPLANEBOT_API_TOKEN): give it as the password, with any user name.</p>",
            ),
        )
        .with_header("www-authenticate", r#"Basic realm="calplanebot status", charset="UTF-8""#));
    }
    let mut body = String::new();
    let store = ctx.store;
    let last = status::last_sync(store)?;
    let state = status::state(store, last.as_ref(), ctx.now)?;
    let _ = write!(
        body,
        "<section><h2>Health</h2><dl><dt>Service</dt><dd class=ok>running, version {}</dd><dt>Plane</dt><dd>{}</dd><dt>CalDAV</dt><dd>{}</dd><dt>Sync</dt><dd>{state}</dd></dl></section>",
        escape(&crate::version()),
        escape(&status::reachability(store, false)?),
        escape(&status::reachability(store, true)?),
    );
    body.push_str("<section><h2>Syncs</h2><dl>");
    match &last {
        Some(last) => {
            let outcome = format!("{:?}", last.status).to_lowercase();
            let _ = write!(
                body,
                "<dt>Last sync</dt><dd class={}>{outcome} at {}, {:.1} s, {} events processed</dd>",
                if outcome == "success" { "ok" } else { "bad" },
                rfc3339(last.timestamp),
                last.duration_seconds,
                last.events_processed
            );
            if ctx.config.sync_enabled() {
                let next = last.timestamp
                    + chrono::Duration::seconds(ctx.config.sync_interval_seconds() as i64);
                let _ = write!(body, "<dt>Next sync</dt><dd>{}</dd>", rfc3339(next));
            }
        }
        None => body.push_str("<dt>Last sync</dt><dd>none yet</dd>"),
    }
    let running = match lease::active(store, ctx.now)? {
        Some(lease) => progress::current(store, &lease.holder)?,
        None => None,
    };
    if let Some(p) = running {
        let _ = write!(
            body,
            "<dt>Running</dt><dd>since {}: projects {} of {}, items {} of {}, {} writes{}</dd>",
            rfc3339(p.started_at),
            p.projects_done,
            p.projects_total,
            p.items_done,
            p.items_total,
            p.writes,
            p.waiting_on_plane_until
                .map(|at| format!(", waiting on Plane's rate limit until {}", rfc3339(at)))
                .unwrap_or_default()
        );
    }
    let _ = write!(
        body,
        "<dt>Queue</dt><dd>{} webhook changes waiting</dd></dl></section>",
        queue::len(store)?
    );
    let window = ctx.config.missed_webhook_window();
    let silence = missed_webhooks::silence(store, ctx.now, window)?;
    let _ = write!(
        body,
        "<section><h2>Webhooks</h2><p>Last received: {}</p>",
        silence
            .last_webhook
            .map(rfc3339)
            .unwrap_or_else(|| "none yet".into())
    );
    if let Some(warning) = silence.warning(window) {
        let _ = write!(body, "<p class=bad>{}</p>", escape(&warning));
    }
    body.push_str("</section>");
    projects(ctx, &mut body)?;
    problems(last.as_ref(), &mut body);
    body.push_str(
        "<p class=links><a href=\"/docs\">API docs</a> · <a href=\"/metrics\">metrics</a> · <a href=\"/api/v1/health\">health (JSON)</a></p>",
    );
    Ok(Response::html(200, layout("calplanebot status", &body))
        .with_header("refresh", REFRESH_SECONDS.to_string())
        .with_header("cache-control", "no-store"))
}

fn projects(ctx: &Context, body: &mut String) -> Result<(), ApiError> {
    let projects = records::projects(ctx.store)?;
    let _ = write!(body, "<section><h2>Projects ({})</h2>", projects.len());
    if projects.is_empty() {
        body.push_str("<p>None synced yet.</p></section>");
        return Ok(());
    }
    body.push_str("<table><thead><tr><th>Project</th><th>Calendar</th><th>Events</th><th>Last change</th></tr></thead><tbody>");
    for project in &projects {
        let index = item_index::load(ctx.store, &project.id);
        let events = index
            .as_ref()
            .and_then(|i| i.events)
            .map_or_else(|| "–".to_string(), |n| n.to_string());
        let changed = index
            .as_ref()
            .and_then(|i| i.watermark)
            .map_or_else(|| "–".to_string(), rfc3339);
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{events}</td><td>{changed}</td></tr>",
            escape(&project.name),
            escape(&display_name(project)),
        );
    }
    body.push_str("</tbody></table></section>");
    Ok(())
}

/// The last sync's problems, each with what to do about it.
fn problems(last: Option<&status::LastSync>, body: &mut String) {
    let Some(last) = last.filter(|l| !l.errors.is_empty()) else {
        return;
    };
    body.push_str("<section><h2>Recent problems</h2><ul>");
    for error in last.errors.iter().take(20) {
        let _ = write!(
            body,
            "<li><span class=bad>{}</span><br><small>{}</small></li>",
            escape(error),
            escape(advice(error))
        );
    }
    body.push_str("</ul></section>");
}

fn advice(error: &str) -> &'static str {
    if error.contains("not configured") {
        "Set the keys named (calplanebot config lists them), then run calplanebot doctor."
    } else if error.contains("PLANE_API_ERROR") {
        "Plane refused or did not answer: check PLANE_BASE_URL and PLANE_API_TOKEN with calplanebot doctor."
    } else if error.contains("CALDAV_CONNECTION_ERROR") || error.contains("CalDAV") {
        "The CalDAV server did not answer as expected: check CALDAV_URL and the credentials with calplanebot doctor."
    } else if error.contains("withheld") || error.contains("SYNC_MAX_DELETE_PERCENT") {
        "Many deletions at once were held back: if the items really are gone, raise SYNC_MAX_DELETE_PERCENT for one sync."
    } else if error.contains("lease") {
        "Another sync took over; this resolves itself at the next sync."
    } else {
        "The next sync tries again; if it stays, run calplanebot doctor and read the log."
    }
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\"><meta http-equiv=refresh content={REFRESH_SECONDS}><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;line-height:1.4;color:#1b1b1b}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}table{border-collapse:collapse;width:100%;display:block;overflow-x:auto}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;white-space:nowrap}.ok{color:#186a3b}.bad{color:#a61b1b}.links{margin-top:2rem}small{color:#555}@media(max-width:30rem){dl{grid-template-columns:1fr}}";

#[cfg(test)]
mod tests {
    use crate::api::tests::call_on;
    use crate::plane::Project;
    use crate::store::memory::MemoryStore;

    #[test]
    fn the_page_escapes_what_plane_names_and_has_no_scripts() {
        let store = MemoryStore::default();
        let project = Project {
            id: "3fa85f64-5717-4562-b3fc-2c963f66afa6".into(),
            name: "<script>alert(1)</script> & co".into(),
            identifier: "X".into(),
        };
        crate::sync::records::remember_projects(&store, &[project]).unwrap();
        let response = call_on(&store, "GET", "/status");
        assert_eq!(response.status, 200);
        let html = String::from_utf8(response.body).unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
        assert!(html.contains("Projects (1)"));
    }
}
