//! CalDAV operations. Per-server differences (measured on Radicale 3.9 and
//! Xandikos 0.4, see the project's CalDAV notes) are handled here:
//! MKCALENDAR on an existing path is 409 or 403; PUT answers 201 or 204;
//! DELETE answers 200 (with a body) or 204; a stale If-Match is 412 on both.
//! ETags are opaque: sent back exactly as received, never computed.

use super::auth::Credentials;
use super::xml::{self, Entry};
use crate::net::{Http, HttpRequest, HttpResponse, NetError, Origin, join, path_of};

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
    /// The server holds the event's UID under another href it did not
    /// name, or in another calendar (RFC 4791 §5.3.2.1 `no-uid-conflict`).
    #[error("CalDAV PUT {path} refused: the server already holds this UID elsewhere")]
    UidConflict {
        path: String,
        /// The href holding it, when the server named one.
        existing: Option<String>,
    },
    #[error(
        "CALDAV_URL {from} redirects to {to}, which is {why}; set CALDAV_URL to the server's own URL"
    )]
    Redirect {
        from: String,
        to: String,
        why: &'static str,
    },
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
    /// The UID is already stored under another href: Radicale answers 409,
    /// Xandikos 412 with `no-uid-conflict` (RFC 4791 §5.3.2.1), which names
    /// that href when the server tells.
    UidConflict {
        existing: Option<String>,
    },
}

/// Redirects followed while finding the calendar home (RFC 6764 §5:
/// `/.well-known/caldav` is usually a redirect).
const MAX_REDIRECTS: usize = 5;

pub struct CalDavClient<'a> {
    http: &'a dyn Http,
    base_url: String,
    credentials: &'a Credentials,
}

const PROPFIND_DISCOVERY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:current-user-principal/><c:calendar-home-set/><d:resourcetype/></d:prop></d:propfind>"#;

const PROPFIND_CALENDARS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:resourcetype/><d:displayname/><c:supported-calendar-component-set/></d:prop></d:propfind>"#;

pub(super) const PROPFIND_ETAGS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:resourcetype/></d:prop></d:propfind>"#;

impl<'a> CalDavClient<'a> {
    pub fn new(http: &'a dyn Http, base_url: &str, credentials: &'a Credentials) -> Self {
        CalDavClient {
            http,
            base_url: base_url.to_string(),
            credentials,
        }
    }

    /// Sends with authentication, answering one Digest challenge if needed.
    pub(super) fn send(&self, request: HttpRequest) -> Result<HttpResponse, CalDavError> {
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

    pub(super) fn xml_request(
        &self,
        method: &str,
        url: &str,
        depth: &str,
        body: &str,
    ) -> Result<Vec<Entry>, CalDavError> {
        let request = xml_body(HttpRequest::new(method, url).header("depth", depth), body);
        let response = self.send(request)?;
        if response.status != 207 {
            return Err(status_error(method, url, response.status));
        }
        xml::parse_multistatus(&response.text()).map_err(CalDavError::Malformed)
    }

    /// The calendar home of the configured user: `current-user-principal`
    /// → `calendar-home-set` (RFC 5397, RFC 4791 §6.2.1). When the URL given
    /// is already a home (or a server answers neither), it is used as is.
    /// Redirects are followed only within the configured origin (or from
    /// `http://host` to `https://host`), so they cannot carry credentials
    /// elsewhere; a home on another origin is reachable only where the host
    /// allows it.
    pub fn discover_home(&self) -> Result<String, CalDavError> {
        let (base, entries) = self.propfind_following(&self.base_url)?;
        let first = entries.into_iter().next().unwrap_or_default();
        if let Some(home) = first.calendar_home {
            return Ok(join(&base, &home));
        }
        let Some(principal) = first.principal else {
            return Ok(base);
        };
        let principal_url = join(&base, &principal);
        let (principal_url, entries) = self.propfind_following(&principal_url)?;
        Ok(entries
            .into_iter()
            .find_map(|e| e.calendar_home)
            .map(|home| join(&principal_url, &home))
            .unwrap_or(principal_url))
    }

    /// A discovery PROPFIND that follows redirects; also the URL that
    /// answered, against which its hrefs resolve.
    fn propfind_following(&self, url: &str) -> Result<(String, Vec<Entry>), CalDavError> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let response = self.send(xml_body(
                HttpRequest::new("PROPFIND", &url).header("depth", "0"),
                PROPFIND_DISCOVERY,
            ))?;
            match response.status {
                207 => {
                    let entries =
                        xml::parse_multistatus(&response.text()).map_err(CalDavError::Malformed)?;
                    return Ok((url, entries));
                }
                301 | 302 | 303 | 307 | 308 => {
                    let location = response.header("location").unwrap_or("").trim();
                    if location.is_empty() {
                        return Err(status_error("PROPFIND", &url, response.status));
                    }
                    let next = join(&url, location);
                    check_redirect(&self.base_url, &url, &next)?;
                    url = next;
                }
                status => return Err(status_error("PROPFIND", &url, status)),
            }
        }
        Err(CalDavError::Redirect {
            from: path_of(&self.base_url).to_string(),
            to: path_of(&url).to_string(),
            why: "more than 5 redirects away",
        })
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
        let entries = self.xml_request("PROPPATCH", url, "0", &body)?;
        // A 207 may still refuse the property (RFC 4918 §9.2.1).
        match entries.iter().find_map(|e| e.failed) {
            Some(status) => Err(status_error("PROPPATCH", url, status)),
            None => Ok(()),
        }
    }

    /// Whether the server answers at all (whatever the status): tells a
    /// calendar that could not be read in time from a server that is down.
    pub fn answers(&self, url: &str) -> bool {
        let probe = xml_body(
            HttpRequest::new("PROPFIND", url).header("depth", "0"),
            PROPFIND_DISCOVERY,
        );
        !matches!(self.send(probe), Err(CalDavError::Connection(_)))
    }

    /// The events of a calendar with this UID (RFC 4791 §7.8.6: a
    /// calendar-query on the UID property), wherever they are stored.
    pub fn find_by_uid(
        &self,
        calendar_url: &str,
        uid: &str,
    ) -> Result<Vec<RemoteEvent>, CalDavError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="UID"><c:text-match collation="i;octet">{}</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"#,
            xml::escape(uid)
        );
        let entries = self.xml_request("REPORT", calendar_url, "1", &body)?;
        // text-match is a substring match (§9.7.5): keep exact UIDs only.
        Ok(served(calendar_url, entries)
            .filter(|e| crate::ical::read(&e.data).uid.as_deref() == Some(uid))
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
        let uid_conflict = || {
            let body = response.text();
            body.contains("no-uid-conflict")
                .then(|| WriteOutcome::UidConflict {
                    existing: xml::conflicting_href(&body).map(|href| join(url, &href)),
                })
        };
        match response.status {
            200..=299 => {
                // A server that stored something else than it was sent
                // (SabreDAV normalising, or dropping a property) must not
                // answer an ETag (RFC 4791 §5.3.4): the stored version's
                // is read back, so that the next sync can tell the
                // service's own write from a change made since.
                let etag = match response.header("etag") {
                    Some(etag) => Some(etag.to_string()),
                    // Best effort: the write itself succeeded. The ETag is
                    // taken only if what is there still carries this
                    // write's DTSTAMP (a client's edit in between would
                    // otherwise pass for the service's write).
                    None => self
                        .get(url)
                        .ok()
                        .flatten()
                        .filter(|stored| same_dtstamp(ics, &stored.data))
                        .and_then(|stored| stored.etag),
                };
                Ok(WriteOutcome::Done { etag })
            }
            // Radicale answers a UID already stored under another href with
            // a bare 409; Xandikos with a 412 naming `no-uid-conflict`.
            409 => Ok(uid_conflict().unwrap_or(WriteOutcome::UidConflict { existing: None })),
            412 => Ok(uid_conflict().unwrap_or(WriteOutcome::PreconditionFailed)),
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
            // A 207 reports the resources that could not be deleted
            // (RFC 4918 §9.6.1).
            207 => {
                let entries =
                    xml::parse_multistatus(&response.text()).map_err(CalDavError::Malformed)?;
                match entries
                    .iter()
                    .find_map(|e| e.status.filter(|s| !(200..300).contains(s)).or(e.failed))
                {
                    Some(404 | 410) => Ok(WriteOutcome::NotFound),
                    Some(412) => Ok(WriteOutcome::PreconditionFailed),
                    Some(status) => Err(status_error("DELETE", url, status)),
                    None => Ok(WriteOutcome::Done { etag: None }),
                }
            }
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
        // If-Match compares strongly (RFC 9110 §13.1.1): a weak ETag never
        // matches, and every write would fail until it gave up. `*` at
        // least keeps "only if it still exists".
        Precondition::Matches(etag) if etag.trim_start().starts_with("W/") => {
            request.header("if-match", "*")
        }
        Precondition::Matches(etag) => request.header("if-match", etag.clone()),
    }
}

/// The events a calendar REPORT served with their data (entries with a
/// failed status or no data are not events).
pub(super) fn served(
    calendar_url: &str,
    entries: Vec<Entry>,
) -> impl Iterator<Item = RemoteEvent> + '_ {
    entries
        .into_iter()
        .filter(|e| e.status.is_none_or(|s| (200..300).contains(&s)))
        .filter_map(move |e| {
            Some(RemoteEvent {
                url: join(calendar_url, &e.href),
                etag: e.etag,
                data: e.calendar_data?,
            })
        })
}

/// Whether two iCalendar texts carry the same DTSTAMP value.
fn same_dtstamp(sent: &str, stored: &str) -> bool {
    let dtstamp = |ics: &str| {
        ics.lines()
            .find_map(|line| line.strip_prefix("DTSTAMP:"))
            .map(|value| value.trim().to_string())
    };
    dtstamp(sent).is_some() && dtstamp(sent) == dtstamp(stored)
}

pub(super) fn xml_body(request: HttpRequest, body: &str) -> HttpRequest {
    request
        .header("content-type", "application/xml; charset=utf-8")
        .body(body.as_bytes().to_vec())
}

/// Whether following a discovery redirect from `from` to `to` is safe: the
/// configured origin, or the same host upgraded to HTTPS.
fn check_redirect(configured: &str, from: &str, to: &str) -> Result<(), CalDavError> {
    let refuse = |why| CalDavError::Redirect {
        from: path_of(from).to_string(),
        to: to.to_string(),
        why,
    };
    let (Some(origin), Some(target)) = (Origin::of(configured), Origin::of(to)) else {
        return Err(refuse("not an absolute URL"));
    };
    // Only `http://host[:80]` → `https://host[:443]`, compared as whole
    // authorities: no user info, no other port, no other host.
    let authority = |origin: &Origin, scheme: &str, port: &str| {
        origin
            .as_str()
            .strip_prefix(scheme)
            .filter(|a| !a.contains('@'))
            .map(|a| a.strip_suffix(port).unwrap_or(a).to_ascii_lowercase())
    };
    let upgraded = matches!(
        (authority(&origin, "http://", ":80"), authority(&target, "https://", ":443")),
        (Some(from), Some(to)) if from == to
    );
    if origin == target || upgraded {
        Ok(())
    } else {
        Err(refuse("another origin than CALDAV_URL's"))
    }
}

fn with_slash(mut url: String) -> String {
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}

pub(super) fn status_error(method: &str, url: &str, status: u16) -> CalDavError {
    CalDavError::Status {
        method: method.to_string(),
        path: path_of(url).to_string(),
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::Scheme;
    use crate::net::scripted::{ScriptedHttp, response};

    const HOME: &str = r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response><d:href>/u/</d:href><d:propstat><d:prop><c:calendar-home-set><d:href>/u/</d:href></c:calendar-home-set></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;

    fn client_for<'a>(
        http: &'a ScriptedHttp,
        credentials: &'a Credentials,
        url: &str,
    ) -> CalDavClient<'a> {
        CalDavClient::new(http, url, credentials)
    }

    fn header<'r>(request: &'r HttpRequest, name: &str) -> Option<&'r str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn discovery_follows_a_well_known_redirect_within_the_origin() {
        let http = ScriptedHttp::new(|request, _| {
            Ok(match request.url.as_str() {
                "http://dav:5232/.well-known/caldav" => response(301, &[("location", "/")], ""),
                "http://dav:5232/" => response(207, &[], HOME),
                other => panic!("unexpected {other}"),
            })
        });
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = client_for(&http, &credentials, "http://dav:5232/.well-known/caldav");
        assert_eq!(client.discover_home().unwrap(), "http://dav:5232/u/");
        assert_eq!(http.methods(), ["PROPFIND", "PROPFIND"]);
    }

    #[test]
    fn redirects_elsewhere_or_in_circles_are_refused_with_what_to_fix() {
        for location in [
            "http://evil.example/",
            "https://dav.other:5232/",
            "http://dav:9999/",
        ] {
            let http =
                ScriptedHttp::new(move |_, _| Ok(response(302, &[("location", location)], "")));
            let credentials = Credentials::new("u", "p", Scheme::Basic);
            let client = client_for(&http, &credentials, "http://dav:5232/.well-known/caldav");
            let err = client.discover_home().unwrap_err();
            assert!(matches!(err, CalDavError::Redirect { .. }), "{err}");
            assert!(err.to_string().contains("CALDAV_URL"), "{err}");
            assert_eq!(
                http.requests.borrow().len(),
                1,
                "credentials never sent there"
            );
        }
        let http = ScriptedHttp::new(|_, _| Ok(response(308, &[("location", "/loop")], "")));
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = client_for(&http, &credentials, "http://dav/");
        assert!(matches!(
            client.discover_home(),
            Err(CalDavError::Redirect { .. })
        ));
        assert_eq!(http.requests.borrow().len(), MAX_REDIRECTS + 1);
        // The same host upgraded to HTTPS is followed.
        let http = ScriptedHttp::new(|request, _| {
            Ok(if request.url.starts_with("http://") {
                response(301, &[("location", "https://dav/dav/")], "")
            } else {
                response(207, &[], HOME)
            })
        });
        let client = client_for(&http, &credentials, "http://dav/.well-known/caldav");
        assert_eq!(client.discover_home().unwrap(), "https://dav/u/");
        for (configured, location) in [
            ("http://[::1]/", "https://[::2]/"),
            ("http://dav/", "https://dav:8443/"),
            ("http://dav/", "https://u@dav/"),
        ] {
            let http =
                ScriptedHttp::new(move |_, _| Ok(response(301, &[("location", location)], "")));
            let client = client_for(&http, &credentials, configured);
            assert!(
                matches!(client.discover_home(), Err(CalDavError::Redirect { .. })),
                "{configured} → {location}"
            );
        }
    }

    #[test]
    fn a_uid_stored_elsewhere_is_a_conflict_not_a_failed_precondition() {
        let xandikos = r#"<?xml version="1.0"?><ns0:error xmlns:ns0="DAV:" xmlns:ns1="urn:ietf:params:xml:ns:caldav"><ns1:no-uid-conflict><ns0:href>/c/x.ics</ns0:href></ns1:no-uid-conflict></ns0:error>"#;
        let http = ScriptedHttp::new(move |_, index| {
            Ok(match index {
                0 => response(409, &[], ""),
                1 => response(412, &[], xandikos),
                _ => response(412, &[], ""),
            })
        });
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = client_for(&http, &credentials, "http://dav/");
        let put = || {
            client
                .put("http://dav/c/e.ics", "X", &Precondition::Absent)
                .unwrap()
        };
        assert_eq!(put(), WriteOutcome::UidConflict { existing: None });
        assert_eq!(
            put(),
            WriteOutcome::UidConflict {
                existing: Some("http://dav/c/x.ics".into())
            }
        );
        assert_eq!(put(), WriteOutcome::PreconditionFailed);
    }

    #[test]
    fn an_etag_the_put_did_not_give_is_read_back() {
        let http = ScriptedHttp::new(|request, _| {
            Ok(match request.method.as_str() {
                "PUT" => response(201, &[], ""),
                _ => response(
                    200,
                    &[("etag", "\"stored\"")],
                    "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n",
                ),
            })
        });
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = client_for(&http, &credentials, "http://dav/");
        let sent = "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\nCOLOR:red\r\n";
        let outcome = client
            .put("http://dav/c/e.ics", sent, &Precondition::Absent)
            .unwrap();
        assert_eq!(
            outcome,
            WriteOutcome::Done {
                etag: Some("\"stored\"".into())
            }
        );
        assert_eq!(http.methods(), ["PUT", "GET"]);
        // Edited by someone else in between: no ETag is better than theirs.
        let edited = ScriptedHttp::new(|request, _| {
            Ok(match request.method.as_str() {
                "PUT" => response(201, &[], ""),
                _ => response(
                    200,
                    &[("etag", "\"theirs\"")],
                    "BEGIN:VEVENT\r\nDTSTAMP:20260102T090000Z\r\n",
                ),
            })
        });
        let client = client_for(&edited, &credentials, "http://dav/");
        let outcome = client
            .put("http://dav/c/e.ics", sent, &Precondition::Absent)
            .unwrap();
        assert_eq!(outcome, WriteOutcome::Done { etag: None });
    }

    #[test]
    fn a_weak_etag_is_not_sent_where_it_can_never_match() {
        let http = ScriptedHttp::new(|_, _| Ok(response(204, &[("etag", "W/\"2\"")], "")));
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = client_for(&http, &credentials, "http://dav/");
        client
            .put(
                "http://dav/c/e.ics",
                "X",
                &Precondition::Matches("W/\"1\"".into()),
            )
            .unwrap();
        client.delete("http://dav/c/e.ics", Some("\"2\"")).unwrap();
        let requests = http.requests.borrow();
        assert_eq!(header(&requests[0], "if-match"), Some("*"));
        assert_eq!(header(&requests[1], "if-match"), Some("\"2\""));
    }

    #[test]
    fn refusals_inside_a_207_are_errors() {
        let refused = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/c/e.ics</d:href><d:status>HTTP/1.1 423 Locked</d:status></d:response></d:multistatus>"#;
        let proppatch = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/c/</d:href><d:propstat><d:prop><d:displayname/></d:prop><d:status>HTTP/1.1 403 Forbidden</d:status></d:propstat></d:response></d:multistatus>"#;
        let http = ScriptedHttp::new(move |request, _| {
            Ok(match request.method.as_str() {
                "DELETE" => response(207, &[], refused),
                _ => response(207, &[], proppatch),
            })
        });
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = client_for(&http, &credentials, "http://dav/");
        assert!(matches!(
            client.delete("http://dav/c/e.ics", None),
            Err(CalDavError::Status { status: 423, .. })
        ));
        assert!(matches!(
            client.rename_calendar("http://dav/c/", "Plane: X"),
            Err(CalDavError::Status { status: 403, .. })
        ));
    }
}
