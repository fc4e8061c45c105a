//! An in-memory CalDAV server answering exactly what the service's client
//! sends, with the semantics both real servers share (see the project's
//! CalDAV notes): discovery, MKCALENDAR (409 when taken), PROPPATCH, the
//! calendar-query, sync-collection (403 for a token it never gave) and
//! calendar-multiget REPORTs, a PROPFIND of a calendar's ETags, GET,
//! conditional PUT and DELETE (412 on a failed
//! precondition, If-Match on a missing resource included), and 409 for a
//! UID already stored under another href. Every change is reported, so the
//! model can check what each write replaced.

use std::collections::BTreeMap;

use calplanebot_guest::net::{HttpRequest, HttpResponse};

pub const ORIGIN: &str = "http://dav";
const HOME: &str = "/user/";

#[derive(Default)]
struct Calendar {
    name: String,
    /// href → (ETag, data)
    events: BTreeMap<String, (String, String)>,
    /// For sync-collection (RFC 6578): the revision of the calendar, and
    /// of each href's last change (kept after a deletion).
    revision: u64,
    changed: BTreeMap<String, u64>,
}

impl Calendar {
    fn touch(&mut self, name: &str) {
        self.revision += 1;
        self.changed.insert(name.to_string(), self.revision);
    }

    /// A sync-collection answer since `token` (empty: every member); `None`
    /// for a token this calendar never gave (Radicale answers 403).
    fn changes_since(&self, path: &str, token: &str) -> Option<String> {
        let since = match token {
            "" => None,
            token => Some(
                token
                    .strip_prefix("rev-")?
                    .parse::<u64>()
                    .ok()
                    .filter(|&r| r <= self.revision)?,
            ),
        };
        let mut out = String::new();
        for (name, &revision) in &self.changed {
            if since.is_some_and(|since| revision <= since) {
                continue;
            }
            match self.events.get(name) {
                Some((etag, _)) => out.push_str(&prop_response(
                    &format!("{path}{name}"),
                    &format!("<d:getetag>{}</d:getetag>", escape(etag)),
                )),
                None if since.is_some() => out.push_str(&format!(
                    "<d:response><d:href>{path}{name}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>"
                )),
                None => {}
            }
        }
        out.push_str(&format!(
            "<d:sync-token>rev-{}</d:sync-token>",
            self.revision
        ));
        Some(out)
    }
}

#[derive(Default)]
pub struct FakeCalDav {
    calendars: BTreeMap<String, Calendar>,
    next_etag: u64,
}

/// What a request changed.
pub enum Change {
    Put {
        href: String,
        before: Option<String>,
        after: String,
    },
    Delete {
        href: String,
        before: String,
    },
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse::new(status, headers, body)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn multistatus(responses: &str) -> HttpResponse {
    response(
        207,
        &[("content-type", "application/xml")],
        &format!(
            r#"<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">{responses}</d:multistatus>"#
        ),
    )
}

fn prop_response(href: &str, props: &str) -> String {
    format!(
        "<d:response><d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `calendar path`, `event name` of an event href.
fn split(path: &str) -> Option<(String, String)> {
    let (calendar, name) = path.rsplit_once('/')?;
    (!name.is_empty()).then(|| (format!("{calendar}/"), name.to_string()))
}

fn uid(data: &str) -> Option<String> {
    calplanebot_guest::ical::read(data).uid
}

impl FakeCalDav {
    pub fn handle(&mut self, request: &HttpRequest) -> (HttpResponse, Option<Change>) {
        let path = request
            .url
            .strip_prefix(ORIGIN)
            .unwrap_or(&request.url)
            .to_string();
        let body = String::from_utf8_lossy(&request.body).into_owned();
        match request.method.as_str() {
            "PROPFIND" if header(request, "depth") == Some("0") => (
                multistatus(&prop_response(
                    &path,
                    &format!(
                        "<d:current-user-principal><d:href>{HOME}</d:href></d:current-user-principal><c:calendar-home-set><d:href>{HOME}</d:href></c:calendar-home-set><d:resourcetype><d:collection/></d:resourcetype>"
                    ),
                )),
                None,
            ),
            "PROPFIND" if self.calendars.contains_key(&path) => {
                let calendar = &self.calendars[&path];
                let mut out = prop_response(
                    &path,
                    "<d:resourcetype><d:collection/><c:calendar/></d:resourcetype>",
                );
                for (name, (etag, _)) in &calendar.events {
                    out.push_str(&prop_response(
                        &format!("{path}{name}"),
                        &format!("<d:getetag>{}</d:getetag><d:resourcetype/>", escape(etag)),
                    ));
                }
                (multistatus(&out), None)
            }
            "PROPFIND" => {
                let mut out =
                    prop_response(HOME, "<d:resourcetype><d:collection/></d:resourcetype>");
                for (href, calendar) in &self.calendars {
                    out.push_str(&prop_response(
                        href,
                        &format!(
                            "<d:resourcetype><d:collection/><c:calendar/></d:resourcetype><d:displayname>{}</d:displayname>",
                            escape(&calendar.name)
                        ),
                    ));
                }
                (multistatus(&out), None)
            }
            "MKCALENDAR" => {
                if self.calendars.contains_key(&path) {
                    return (response(409, &[], ""), None);
                }
                let name = between(&body, "<d:displayname>", "</d:displayname>");
                self.calendars.insert(
                    path,
                    Calendar {
                        name,
                        ..Calendar::default()
                    },
                );
                (response(201, &[], ""), None)
            }
            "PROPPATCH" => match self.calendars.get_mut(&path) {
                Some(calendar) => {
                    calendar.name = between(&body, "<d:displayname>", "</d:displayname>");
                    (multistatus(&prop_response(&path, "<d:displayname/>")), None)
                }
                None => (response(404, &[], ""), None),
            },
            "REPORT" if body.contains("sync-collection") => match self.calendars.get(&path) {
                Some(calendar) => {
                    let token = between(&body, "<d:sync-token>", "</d:sync-token>");
                    match calendar.changes_since(&path, &token) {
                        Some(out) => (multistatus(&out), None),
                        None => (
                            response(
                                403,
                                &[],
                                "<error xmlns=\"DAV:\"><valid-sync-token/></error>",
                            ),
                            None,
                        ),
                    }
                }
                None => (response(404, &[], ""), None),
            },
            "REPORT" if body.contains("calendar-multiget") => match self.calendars.get(&path) {
                Some(calendar) => {
                    let mut out = String::new();
                    for href in body
                        .split("<d:href>")
                        .skip(1)
                        .filter_map(|rest| rest.split_once("</d:href>"))
                        .map(|(href, _)| href)
                    {
                        let name = href.strip_prefix(path.as_str()).unwrap_or(href);
                        match calendar.events.get(name) {
                            Some((etag, data)) => out.push_str(&prop_response(
                                href,
                                &format!(
                                    "<d:getetag>{}</d:getetag><c:calendar-data>{}</c:calendar-data>",
                                    escape(etag),
                                    escape(data)
                                ),
                            )),
                            None => out.push_str(&format!(
                                "<d:response><d:href>{href}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>"
                            )),
                        }
                    }
                    (multistatus(&out), None)
                }
                None => (response(404, &[], ""), None),
            },
            "REPORT" => match self.calendars.get(&path) {
                Some(calendar) => {
                    // A calendar-query on the UID (RFC 4791 §9.7.5
                    // text-match: a substring).
                    let wanted_uid = body
                        .contains("prop-filter name=\"UID\"")
                        .then(|| between(&body, "collation=\"i;octet\">", "</c:text-match>"));
                    let mut out = String::new();
                    for (name, (etag, data)) in &calendar.events {
                        if let Some(wanted) = &wanted_uid
                            && !uid(data).is_some_and(|u| u.contains(wanted.as_str()))
                        {
                            continue;
                        }
                        out.push_str(&prop_response(
                            &format!("{path}{name}"),
                            &format!(
                                "<d:getetag>{}</d:getetag><c:calendar-data>{}</c:calendar-data>",
                                escape(etag),
                                escape(data)
                            ),
                        ));
                    }
                    (multistatus(&out), None)
                }
                None => (response(404, &[], ""), None),
            },
            "GET" => match self.event(&path) {
                Some((etag, data)) => (
                    response(
                        200,
                        &[("etag", &etag), ("content-type", "text/calendar")],
                        &data,
                    ),
                    None,
                ),
                None => (response(404, &[], ""), None),
            },
            "PUT" => self.put(&path, request, body),
            "DELETE" => self.delete(&path, request),
            _ => (response(405, &[], ""), None),
        }
    }

    fn event(&self, path: &str) -> Option<(String, String)> {
        let (calendar, name) = split(path)?;
        self.calendars.get(&calendar)?.events.get(&name).cloned()
    }

    fn precondition_holds(current: Option<&(String, String)>, request: &HttpRequest) -> bool {
        if header(request, "if-none-match") == Some("*") && current.is_some() {
            return false;
        }
        match header(request, "if-match") {
            None => true,
            Some("*") => current.is_some(),
            Some(etag) => current.is_some_and(|(have, _)| have == etag),
        }
    }

    fn put(
        &mut self,
        path: &str,
        request: &HttpRequest,
        body: String,
    ) -> (HttpResponse, Option<Change>) {
        let Some((calendar, name)) = split(path) else {
            return (response(400, &[], ""), None);
        };
        let Some(cal) = self.calendars.get_mut(&calendar) else {
            return (response(409, &[], ""), None);
        };
        let current = cal.events.get(&name).cloned();
        if !Self::precondition_holds(current.as_ref(), request) {
            return (response(412, &[], ""), None);
        }
        let new_uid = uid(&body);
        let taken = cal
            .events
            .iter()
            .any(|(other, (_, data))| *other != name && uid(data) == new_uid);
        if taken {
            // RFC 4791 §5.3.2.1 no-uid-conflict (Radicale's answer).
            return (response(409, &[], ""), None);
        }
        self.next_etag += 1;
        let etag = format!("\"{}\"", self.next_etag);
        cal.events
            .insert(name.clone(), (etag.clone(), body.clone()));
        cal.touch(&name);
        let status = if current.is_some() { 204 } else { 201 };
        let change = Change::Put {
            href: path.to_string(),
            before: current.map(|(_, data)| data),
            after: body,
        };
        (response(status, &[("etag", &etag)], ""), Some(change))
    }

    fn delete(&mut self, path: &str, request: &HttpRequest) -> (HttpResponse, Option<Change>) {
        let Some((calendar, name)) = split(path) else {
            return (response(400, &[], ""), None);
        };
        let Some(cal) = self.calendars.get_mut(&calendar) else {
            return (response(404, &[], ""), None);
        };
        let Some(current) = cal.events.get(&name).cloned() else {
            return (response(404, &[], ""), None);
        };
        if !Self::precondition_holds(Some(&current), request) {
            return (response(412, &[], ""), None);
        }
        cal.events.remove(&name);
        cal.touch(&name);
        let change = Change::Delete {
            href: path.to_string(),
            before: current.1,
        };
        (response(204, &[], ""), Some(change))
    }

    /// Owned events: (calendar, name, data), in a stable order.
    fn owned(&self) -> Vec<(String, String, String)> {
        self.calendars
            .iter()
            .flat_map(|(path, calendar)| {
                calendar.events.iter().filter_map(move |(name, (_, data))| {
                    uid(data)
                        .filter(|u| u.starts_with("plane-issue-"))
                        .map(|_| (path.clone(), name.clone(), data.clone()))
                })
            })
            .collect()
    }

    /// A calendar client moves an owned event to `{uid}.ics`, where the
    /// original CalPlaneBot stores events. Returns the UID.
    pub fn move_event(&mut self, pick: usize) -> Option<String> {
        let owned = self.owned();
        let (calendar, name, data) = owned.get(pick % owned.len().max(1))?.clone();
        let uid = uid(&data)?;
        let target = format!("{}.ics", uid.replace('@', "%40"));
        if target == name {
            return None;
        }
        self.next_etag += 1;
        let etag = format!("\"{}\"", self.next_etag);
        let cal = self.calendars.get_mut(&calendar)?;
        cal.events.remove(&name);
        cal.touch(&name);
        cal.events.insert(target.clone(), (etag, data));
        cal.touch(&target);
        Some(uid)
    }

    /// A second copy of an owned event, edited, at another href: what a
    /// client or a server without the UID check can leave. Returns the UID.
    pub fn plant_copy(&mut self, pick: usize) -> Option<String> {
        let owned = self.owned();
        let (calendar, _, data) = owned.get(pick % owned.len().max(1))?.clone();
        let uid = uid(&data)?;
        self.next_etag += 1;
        let etag = format!("\"{}\"", self.next_etag);
        let edited = data.replacen("SUMMARY:", "SUMMARY:(copy) ", 1);
        let name = format!("copy-{}.ics", self.next_etag);
        let cal = self.calendars.get_mut(&calendar)?;
        cal.events.insert(name.clone(), (etag, edited));
        cal.touch(&name);
        Some(uid)
    }

    /// Every event in every calendar: (href, data).
    pub fn all_events(&self) -> Vec<(String, String)> {
        self.calendars
            .iter()
            .flat_map(|(path, calendar)| {
                calendar
                    .events
                    .iter()
                    .map(move |(name, (_, data))| (format!("{path}{name}"), data.clone()))
            })
            .collect()
    }
}

fn between(text: &str, start: &str, end: &str) -> String {
    text.split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(inside, _)| inside.to_string())
        .unwrap_or_default()
}
