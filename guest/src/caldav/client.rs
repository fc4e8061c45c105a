//! CalDAV operations. Per-server differences (measured on Radicale 3.9 and
//! Xandikos 0.4, see the project's CalDAV notes) are handled here:
//! MKCALENDAR on an existing path is 409 or 403; PUT answers 201 or 204;
//! DELETE answers 200 (with a body) or 204; a stale If-Match is 412 on both.
//! ETags are opaque: sent back exactly as received, never computed.

use super::auth::Credentials;
use super::xml::{self, Entry};
use crate::net::{Http, HttpRequest, HttpResponse, NetError, join, path_of};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalDavError {
    #[error("CalDAV server unreachable: {0}")]
    Connection(NetError),
    #[error(
        "CalDAV server refused the credentials (HTTP {0}); check CALDAV_USERNAME, CALDAV_PASSWORD and CALDAV_AUTH_TYPE"
    )]
    Unauthorized(u16),
    #[error("CalDAV {method} {path} failed with HTTP {status}")]
    Status {
        method: String,
        path: String,
        status: u16,
    },
    #[error("CalDAV server sent an unreadable response: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Absolute URL, ending with `/`.
    pub url: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEvent {
    /// Absolute URL.
    pub url: String,
    pub etag: Option<String>,
    pub data: String,
}

/// The condition a write is made under (RFC 7232).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Create only: `If-None-Match: *`.
    Absent,
    /// Replace or delete only this version: `If-Match`.
    Matches(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Done {
        etag: Option<String>,
    },
    /// 412: the resource is not in the state the precondition describes.
    PreconditionFailed,
    NotFound,
}

pub struct CalDavClient<'a> {
    http: &'a dyn Http,
    base_url: String,
    credentials: &'a Credentials,
}

const PROPFIND_DISCOVERY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:current-user-principal/><c:calendar-home-set/><d:resourcetype/></d:prop></d:propfind>"#;

const PROPFIND_CALENDARS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:resourcetype/><d:displayname/><c:supported-calendar-component-set/></d:prop></d:propfind>"#;

const REPORT_EVENTS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter></c:calendar-query>"#;

impl<'a> CalDavClient<'a> {
    pub fn new(http: &'a dyn Http, base_url: &str, credentials: &'a Credentials) -> Self {
        CalDavClient {
            http,
            base_url: base_url.to_string(),
            credentials,
        }
    }

    /// Sends with authentication, answering one Digest challenge if needed.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, CalDavError> {
        let path = path_of(&request.url).to_string();
        for _ in 0..2 {
            let mut attempt = request.clone();
            if let Some(authorization) = self.credentials.authorization(&request.method, &path) {
                attempt = attempt.header("authorization", authorization);
            }
            let response = self.http.send(&attempt).map_err(CalDavError::Connection)?;
            if response.status == 401 {
                let challenge = response.header("www-authenticate").unwrap_or("");
                if self.credentials.accept_challenge(challenge) {
                    continue;
                }
            }
            if response.status == 401 || response.status == 403 && request.method == "PROPFIND" {
                return Err(CalDavError::Unauthorized(response.status));
            }
            return Ok(response);
        }
        Err(CalDavError::Unauthorized(401))
    }

    fn xml_request(
        &self,
        method: &str,
        url: &str,
        depth: &str,
        body: &str,
    ) -> Result<Vec<Entry>, CalDavError> {
        let request = HttpRequest::new(method, url)
            .header("depth", depth)
            .header("content-type", "application/xml; charset=utf-8")
            .body(body.as_bytes().to_vec());
        let response = self.send(request)?;
        if response.status != 207 {
            return Err(status_error(method, url, response.status));
        }
        xml::parse_multistatus(&response.text()).map_err(CalDavError::Malformed)
    }

    /// The calendar home of the configured user: `current-user-principal`
    /// → `calendar-home-set` (RFC 5397, RFC 4791 §6.2.1). When the URL given
    /// is already a home (or a server answers neither), it is used as is.
    pub fn discover_home(&self) -> Result<String, CalDavError> {
        let entries = self.xml_request("PROPFIND", &self.base_url, "0", PROPFIND_DISCOVERY)?;
        let first = entries.into_iter().next().unwrap_or_default();
        if let Some(home) = first.calendar_home {
            return Ok(join(&self.base_url, &home));
        }
        let Some(principal) = first.principal else {
            return Ok(self.base_url.clone());
        };
        let principal_url = join(&self.base_url, &principal);
        let entries = self.xml_request("PROPFIND", &principal_url, "0", PROPFIND_DISCOVERY)?;
        Ok(entries
            .into_iter()
            .find_map(|e| e.calendar_home)
            .map(|home| join(&principal_url, &home))
            .unwrap_or(principal_url))
    }

    /// The calendars in a home that can hold events.
    pub fn calendars(&self, home: &str) -> Result<Vec<Calendar>, CalDavError> {
        let entries = self.xml_request("PROPFIND", home, "1", PROPFIND_CALENDARS)?;
        Ok(entries
            .into_iter()
            .filter(|e| e.is_calendar)
            .filter(|e| e.components.is_empty() || e.components.iter().any(|c| c == "VEVENT"))
            .map(|e| Calendar {
                url: with_slash(join(home, &e.href)),
                display_name: e.display_name.filter(|n| !n.is_empty()),
            })
            .collect())
    }

    /// MKCALENDAR (RFC 4791 §5.3.1) for events only. `Ok(false)` when the
    /// path is taken (409 on Radicale, 403 or 405 elsewhere).
    pub fn make_calendar(
        &self,
        url: &str,
        display_name: &str,
        description: &str,
    ) -> Result<bool, CalDavError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>{}</d:displayname><c:calendar-description>{}</c:calendar-description><c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"#,
            xml::escape(display_name),
            xml::escape(description)
        );
        let request = HttpRequest::new("MKCALENDAR", url)
            .header("content-type", "application/xml; charset=utf-8")
            .body(body.into_bytes());
        let response = self.send(request)?;
        match response.status {
            200..=299 => Ok(true),
            403 | 405 | 409 => Ok(false),
            status => Err(status_error("MKCALENDAR", url, status)),
        }
    }

    /// Sets a calendar's display name (PROPPATCH, RFC 4918 §9.2).
    pub fn rename_calendar(&self, url: &str, display_name: &str) -> Result<(), CalDavError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>{}</d:displayname></d:prop></d:set></d:propertyupdate>"#,
            xml::escape(display_name)
        );
        self.xml_request("PROPPATCH", url, "0", &body).map(drop)
    }

    /// Every event of a calendar, with ETag and data, in one REPORT.
    pub fn events(&self, calendar_url: &str) -> Result<Vec<RemoteEvent>, CalDavError> {
        let entries = self.xml_request("REPORT", calendar_url, "1", REPORT_EVENTS)?;
        Ok(entries
            .into_iter()
            .filter(|e| e.status.is_none_or(|s| (200..300).contains(&s)))
            .filter_map(|e| {
                Some(RemoteEvent {
                    url: join(calendar_url, &e.href),
                    etag: e.etag,
                    data: e.calendar_data?,
                })
            })
            .collect())
    }

    /// One event, or `None` if it does not exist.
    pub fn get(&self, url: &str) -> Result<Option<RemoteEvent>, CalDavError> {
        let response = self.send(HttpRequest::new("GET", url).header("accept", "text/calendar"))?;
        match response.status {
            200 => Ok(Some(RemoteEvent {
                url: url.to_string(),
                etag: response.header("etag").map(str::to_string),
                data: response.text(),
            })),
            404 | 410 => Ok(None),
            status => Err(status_error("GET", url, status)),
        }
    }

    pub fn put(
        &self,
        url: &str,
        ics: &str,
        condition: &Precondition,
    ) -> Result<WriteOutcome, CalDavError> {
        let request = conditional(HttpRequest::new("PUT", url), condition)
            .header("content-type", "text/calendar; charset=utf-8")
            .body(ics.as_bytes().to_vec());
        let response = self.send(request)?;
        match response.status {
            200..=299 => Ok(WriteOutcome::Done {
                etag: response.header("etag").map(str::to_string),
            }),
            // 412 is a failed precondition; Radicale answers a UID already
            // stored under another href with 409, Xandikos with 412.
            412 | 409 => Ok(WriteOutcome::PreconditionFailed),
            404 => Ok(WriteOutcome::NotFound),
            status => Err(status_error("PUT", url, status)),
        }
    }

    pub fn delete(&self, url: &str, etag: Option<&str>) -> Result<WriteOutcome, CalDavError> {
        let request = match etag {
            Some(etag) => conditional(
                HttpRequest::new("DELETE", url),
                &Precondition::Matches(etag.to_string()),
            ),
            None => HttpRequest::new("DELETE", url),
        };
        let response = self.send(request)?;
        match response.status {
            200..=299 => Ok(WriteOutcome::Done { etag: None }),
            412 => Ok(WriteOutcome::PreconditionFailed),
            404 | 410 => Ok(WriteOutcome::NotFound),
            status => Err(status_error("DELETE", url, status)),
        }
    }
}

fn conditional(request: HttpRequest, condition: &Precondition) -> HttpRequest {
    match condition {
        Precondition::Absent => request.header("if-none-match", "*"),
        Precondition::Matches(etag) => request.header("if-match", etag.clone()),
    }
}

fn with_slash(mut url: String) -> String {
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}

fn status_error(method: &str, url: &str, status: u16) -> CalDavError {
    CalDavError::Status {
        method: method.to_string(),
        path: path_of(url).to_string(),
        status,
    }
}
