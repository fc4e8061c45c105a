//! Reading a calendar by what changed: its members and their ETags (RFC 6578
//! `sync-collection` where the server has it, else a PROPFIND), then the
//! data of the members that changed, in bounded `calendar-multiget`s (RFC
//! 4791 §7.9). Never one answer holding every event's data: Radicale refuses
//! a calendar-query over 10,000 events, and 9,500 events of 3.5 KB are a
//! 40 MB answer.

use super::client::{
    CalDavClient, CalDavError, PROPFIND_ETAGS, RemoteEvent, served, status_error, xml_body,
};
use super::xml;
use crate::net::{HttpRequest, join, path_of};

/// Events asked for in one multiget: at a few KB each, an answer of a few
/// hundred KB.
pub const MULTIGET_CHUNK: usize = 100;
/// Truncated sync-collection answers (RFC 6578 §3.6) followed in one read;
/// then the members are listed by PROPFIND instead.
const MAX_SYNC_ROUNDS: usize = 50;

/// A member of a calendar and its ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Absolute URL.
    pub url: String,
    pub etag: Option<String>,
}

/// What a listing found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Members added or changed since the token; every member when
    /// `complete`.
    pub changed: Vec<Member>,
    /// Members removed since the token (absolute URLs).
    pub removed: Vec<String>,
    /// Every member is listed: what is not listed is not there.
    pub complete: bool,
    /// The token to list from next time; `None` when the server has no
    /// sync-collection.
    pub token: Option<String>,
}

fn sync_collection_body(token: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:"><d:sync-token>{}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#,
        xml::escape(token)
    )
}

fn multiget_body(urls: &[String]) -> String {
    let hrefs: String = urls
        .iter()
        .map(|url| format!("<d:href>{}</d:href>", xml::escape(path_of(url))))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>{hrefs}</c:calendar-multiget>"#
    )
}

fn is_collection_itself(calendar_url: &str, member_url: &str) -> bool {
    path_of(member_url).trim_end_matches('/') == path_of(calendar_url).trim_end_matches('/')
}

/// Whether `url` lies inside the calendar: a server's answer naming hrefs
/// elsewhere (another calendar, another origin) is not taken as a member,
/// so nothing is ever written or deleted there on its word.
fn is_inside(calendar_url: &str, url: &str) -> bool {
    url.len() > calendar_url.len() && url.starts_with(calendar_url)
}

impl CalDavClient<'_> {
    /// The calendar's members changed since `token`, or all of them when
    /// there is no token, the server no longer accepts it (Radicale 403,
    /// Xandikos 412 `valid-sync-token`) or has no sync-collection.
    pub fn changes(&self, calendar_url: &str, token: Option<&str>) -> Result<Changes, CalDavError> {
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            match self.sync_collection(calendar_url, token) {
                Err(CalDavError::Status { status, .. }) => {
                    crate::log!(
                        "INFO",
                        "Calendar listed in full: its sync token was refused (HTTP {status})"
                    );
                }
                Err(CalDavError::Malformed(why)) => {
                    crate::log!(
                        "WARN",
                        "Calendar listed in full: its changes were unreadable ({why})"
                    );
                }
                other => return other,
            }
        }
        match self.sync_collection(calendar_url, "") {
            // A server without RFC 6578 refuses the REPORT (403, 405, 501,
            // or 400 for an unknown report): list the members instead.
            Err(CalDavError::Status { .. } | CalDavError::Malformed(_)) => {
                self.propfind_members(calendar_url)
            }
            other => other,
        }
    }

    fn sync_collection(&self, calendar_url: &str, token: &str) -> Result<Changes, CalDavError> {
        let mut changes = Changes {
            complete: token.is_empty(),
            ..Changes::default()
        };
        let mut token = token.to_string();
        for _ in 0..MAX_SYNC_ROUNDS {
            // RFC 6578 §3.2: the report is defined for Depth 0.
            let request = xml_body(
                HttpRequest::new("REPORT", calendar_url).header("depth", "0"),
                &sync_collection_body(&token),
            );
            let response = self.send(request)?;
            if response.status != 207 {
                return Err(status_error("REPORT", calendar_url, response.status));
            }
            let (entries, next) = xml::parse_multistatus_with_token(&response.text())
                .map_err(CalDavError::Malformed)?;
            let mut truncated = false;
            for entry in entries {
                let url = join(calendar_url, &entry.href);
                if entry.href.is_empty() || is_collection_itself(calendar_url, &url) {
                    // §3.6: a 507 on the collection itself says "more to come".
                    truncated |= entry.status == Some(507);
                    continue;
                }
                if !is_inside(calendar_url, &url) {
                    continue;
                }
                match entry.status {
                    // Removed since the token (Radicale also lists members
                    // removed before an initial sync this way).
                    Some(404 | 410) => changes.removed.push(url),
                    Some(status) if !(200..300).contains(&status) => {}
                    _ if entry.is_collection => {}
                    _ => changes.changed.push(Member {
                        url,
                        etag: entry.etag,
                    }),
                }
            }
            let next = next.ok_or_else(|| {
                CalDavError::Malformed("a sync-collection answer without a sync-token".into())
            })?;
            if !truncated {
                changes.token = Some(next);
                return Ok(changes);
            }
            if next == token {
                return Err(CalDavError::Malformed(
                    "a truncated sync-collection answer gave back the same token".into(),
                ));
            }
            token = next;
        }
        Err(CalDavError::Malformed(
            "the sync-collection answer stayed truncated".into(),
        ))
    }

    fn propfind_members(&self, calendar_url: &str) -> Result<Changes, CalDavError> {
        let entries = self.xml_request("PROPFIND", calendar_url, "1", PROPFIND_ETAGS)?;
        let changed = entries
            .into_iter()
            .filter(|e| !e.is_collection && !e.href.is_empty())
            .filter(|e| e.status.is_none_or(|s| (200..300).contains(&s)))
            .map(|e| Member {
                url: join(calendar_url, &e.href),
                etag: e.etag,
            })
            .filter(|m| is_inside(calendar_url, &m.url))
            .collect();
        Ok(Changes {
            changed,
            complete: true,
            ..Changes::default()
        })
    }

    /// The events at `urls` with their data, [`MULTIGET_CHUNK`] at a time;
    /// the ones that no longer exist are left out. When a chunk's answer
    /// cannot be read (one event holding what XML cannot carry), that
    /// chunk's events are fetched one by one, so one bad event does not
    /// hide the others.
    pub fn multiget(
        &self,
        calendar_url: &str,
        urls: &[String],
        each: &mut dyn FnMut(RemoteEvent),
    ) -> Result<(), CalDavError> {
        for chunk in urls.chunks(MULTIGET_CHUNK) {
            self.multiget_chunk(calendar_url, chunk, each)?;
        }
        Ok(())
    }

    /// One multiget; a chunk the server refuses, or whose answer does not
    /// arrive (too large, too slow), is split in halves down to GETs of
    /// single events, so one event cannot keep a calendar from being read.
    fn multiget_chunk(
        &self,
        calendar_url: &str,
        chunk: &[String],
        each: &mut dyn FnMut(RemoteEvent),
    ) -> Result<(), CalDavError> {
        // RFC 4791 §7.9: no Depth header.
        let request = xml_body(
            HttpRequest::new("REPORT", calendar_url),
            &multiget_body(chunk),
        );
        let response = match self.send(request) {
            Ok(response) if response.status == 207 => response,
            // A server that stopped answering is not asked for halves.
            Err(CalDavError::Connection(err))
                if chunk.len() == 1 || !self.answers(calendar_url) =>
            {
                return Err(CalDavError::Connection(err));
            }
            Ok(_) | Err(CalDavError::Connection(_)) if chunk.len() > 1 => {
                let (first, second) = chunk.split_at(chunk.len() / 2);
                self.multiget_chunk(calendar_url, first, each)?;
                return self.multiget_chunk(calendar_url, second, each);
            }
            Ok(_) => return self.get_each(chunk, each),
            Err(err) => return Err(err),
        };
        match xml::parse_multistatus(&response.text()) {
            Ok(entries) => served(calendar_url, entries)
                .filter(|event| is_inside(calendar_url, &event.url))
                .for_each(&mut *each),
            Err(why) => {
                crate::log!(
                    "WARN",
                    "Events read one by one: a multiget answer is unreadable ({why})"
                );
                self.get_each(chunk, each)?;
            }
        }
        Ok(())
    }

    fn get_each(
        &self,
        urls: &[String],
        each: &mut dyn FnMut(RemoteEvent),
    ) -> Result<(), CalDavError> {
        for url in urls {
            match self.get(url) {
                Ok(Some(event)) => each(event),
                Ok(None) => {}
                // One event the server will not serve is left out, not the
                // calendar: an event that is not read is never deleted (it
                // is not known to be ours), only not updated.
                Err(CalDavError::Status { status, .. }) => {
                    crate::log!(
                        "WARN",
                        "An event of a calendar could not be read (HTTP {status})"
                    );
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::{Credentials, Scheme};
    use crate::net::scripted::{ScriptedHttp, response};

    fn members(entries: &[(&str, &str)], token: &str) -> String {
        let responses: String = entries
            .iter()
            .map(|(href, etag)| match *etag {
                "404" => format!("<d:response><d:href>{href}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>"),
                "507" => format!("<d:response><d:href>{href}</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>"),
                etag => format!("<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:getetag>{etag}</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"),
            })
            .collect();
        format!(
            r#"<d:multistatus xmlns:d="DAV:">{responses}<d:sync-token>{token}</d:sync-token></d:multistatus>"#
        )
    }

    #[test]
    fn a_refused_token_falls_back_to_a_full_listing() {
        let http = ScriptedHttp::new(|request, _| {
            let body = String::from_utf8_lossy(&request.body).into_owned();
            Ok(if body.contains("<d:sync-token>old</d:sync-token>") {
                response(
                    412,
                    &[],
                    "<error xmlns=\"DAV:\"><valid-sync-token/></error>",
                )
            } else {
                response(
                    207,
                    &[],
                    &members(
                        &[
                            ("/c/", "\"c\""),
                            ("/c/a.ics", "\"1\""),
                            ("/c/b.ics", "404"),
                            // Hrefs outside the calendar are not its members.
                            ("/other/x.ics", "\"2\""),
                            ("http://evil.example/c/y.ics", "\"3\""),
                        ],
                        "t2",
                    ),
                )
            })
        });
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = CalDavClient::new(&http, "http://dav/", &credentials);
        let changes = client.changes("http://dav/c/", Some("old")).unwrap();
        assert!(changes.complete);
        assert_eq!(changes.token.as_deref(), Some("t2"));
        assert_eq!(
            changes.changed,
            [Member {
                url: "http://dav/c/a.ics".into(),
                etag: Some("\"1\"".into())
            }]
        );
        assert_eq!(changes.removed, ["http://dav/c/b.ics"]);
        assert_eq!(http.methods(), ["REPORT", "REPORT"]);
    }

    #[test]
    fn a_truncated_answer_is_followed_and_a_server_without_sync_is_listed() {
        let http = ScriptedHttp::new(|request, _| {
            let body = String::from_utf8_lossy(&request.body).into_owned();
            Ok(if body.contains("<d:sync-token>t1</d:sync-token>") {
                response(
                    207,
                    &[],
                    &members(&[("/c/", "507"), ("/c/a.ics", "\"1\"")], "t2"),
                )
            } else {
                response(207, &[], &members(&[("/c/b.ics", "404")], "t3"))
            })
        });
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = CalDavClient::new(&http, "http://dav/", &credentials);
        let changes = client.changes("http://dav/c/", Some("t1")).unwrap();
        assert!(!changes.complete);
        assert_eq!(changes.token.as_deref(), Some("t3"));
        assert_eq!(changes.changed.len(), 1);
        assert_eq!(changes.removed, ["http://dav/c/b.ics"]);

        let legacy = ScriptedHttp::new(|request, _| {
            Ok(match request.method.as_str() {
                "REPORT" => response(403, &[], ""),
                _ => response(
                    207,
                    &[],
                    &members(&[("/c/", "\"c\""), ("/c/a.ics", "\"1\"")], "x"),
                ),
            })
        });
        let client = CalDavClient::new(&legacy, "http://dav/", &credentials);
        let changes = client.changes("http://dav/c/", None).unwrap();
        assert!(changes.complete);
        assert_eq!(changes.token, None);
        assert_eq!(changes.changed.len(), 1);
    }

    #[test]
    fn an_unreadable_multiget_falls_back_to_one_event_at_a_time() {
        let http = ScriptedHttp::new(move |request, _| {
            Ok(match request.method.as_str() {
                "REPORT" => response(207, &[], "<multistatus xmlns=\"DAV:\"><response>"),
                // One event the server refuses to serve.
                _ if request.url.ends_with("/c/a.ics") => response(500, &[], ""),
                _ => response(200, &[("etag", "\"e\"")], "BEGIN:VCALENDAR"),
            })
        });
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = CalDavClient::new(&http, "http://dav/", &credentials);
        let urls: Vec<String> = ["a", "b"]
            .iter()
            .map(|n| format!("http://dav/c/{n}.ics"))
            .collect();
        let mut read = Vec::new();
        client
            .multiget("http://dav/c/", &urls, &mut |event| read.push(event.url))
            .unwrap();
        assert_eq!(read, ["http://dav/c/b.ics"]);
    }

    #[test]
    fn a_refused_multiget_is_split_down_to_what_the_server_serves() {
        let http = ScriptedHttp::new(|request, _| {
            let body = String::from_utf8_lossy(&request.body).into_owned();
            let hrefs: Vec<&str> = body
                .split("<d:href>")
                .skip(1)
                .filter_map(|rest| rest.split_once("</d:href>").map(|(h, _)| h))
                .collect();
            Ok(match request.method.as_str() {
                // Too large an answer for more than two events at once.
                "REPORT" if hrefs.len() > 2 => response(413, &[], ""),
                "REPORT" => {
                    let responses: String = hrefs
                        .iter()
                        .map(|h| format!("<d:response><d:href>{h}</d:href><d:propstat><d:prop><d:getetag>\"1\"</d:getetag><c:calendar-data>BEGIN:VCALENDAR</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"))
                        .collect();
                    response(
                        207,
                        &[],
                        &format!(
                            "<d:multistatus xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">{responses}</d:multistatus>"
                        ),
                    )
                }
                _ => response(200, &[("etag", "\"e\"")], "BEGIN:VCALENDAR"),
            })
        });
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = CalDavClient::new(&http, "http://dav/", &credentials);
        let urls: Vec<String> = (0..7).map(|n| format!("http://dav/c/{n}.ics")).collect();
        let mut read = Vec::new();
        client
            .multiget("http://dav/c/", &urls, &mut |event| read.push(event.url))
            .unwrap();
        read.sort();
        assert_eq!(read, urls);
        assert!(
            !http.methods().contains(&"GET".to_string()),
            "{:?}",
            http.methods()
        );
    }

    #[test]
    fn multigets_are_chunked() {
        let http = ScriptedHttp::new(|request, _| {
            let body = String::from_utf8_lossy(&request.body).into_owned();
            let hrefs = body.matches("<d:href>").count();
            assert!(hrefs <= MULTIGET_CHUNK, "{hrefs} hrefs in one multiget");
            assert!(request.headers.iter().all(|(n, _)| n != "depth"));
            Ok(response(207, &[], "<d:multistatus xmlns:d=\"DAV:\"/>"))
        });
        let credentials = Credentials::new("u", "p", Scheme::Basic);
        let client = CalDavClient::new(&http, "http://dav/", &credentials);
        let urls: Vec<String> = (0..250).map(|n| format!("http://dav/c/{n}.ics")).collect();
        client
            .multiget("http://dav/c/", &urls, &mut |_| {})
            .unwrap();
        assert_eq!(http.methods().len(), 3);
    }
}
