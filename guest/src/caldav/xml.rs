//! Multistatus responses, read by namespace, never by prefix (Xandikos
//! writes `ns0:`/`ns1:`; Radicale and others use `D:`/`C:` or defaults).

use roxmltree::{Document, Node};

pub const DAV: &str = "DAV:";
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";

/// One `<response>`: its href, its own status if any, and the properties of
/// its successful propstats.
#[derive(Debug, Default, Clone)]
pub struct Entry {
    pub href: String,
    pub status: Option<u16>,
    pub display_name: Option<String>,
    pub is_calendar: bool,
    pub is_collection: bool,
    /// Component names of `supported-calendar-component-set`; empty = unknown.
    pub components: Vec<String>,
    pub etag: Option<String>,
    pub calendar_data: Option<String>,
    pub principal: Option<String>,
    pub calendar_home: Option<String>,
    /// The status of the first propstat that failed (a PROPPATCH refused).
    pub failed: Option<u16>,
}

fn is(node: &Node, namespace: &str, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(namespace)
}

fn child<'a, 'i>(node: &Node<'a, 'i>, namespace: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| is(c, namespace, name))
}

fn text(node: &Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
}

fn href_in(node: &Node) -> Option<String> {
    child(node, DAV, "href").map(|h| text(&h).trim().to_string())
}

/// `HTTP/1.1 404 Not Found` → 404.
fn status_code(node: &Node) -> Option<u16> {
    text(node).split_whitespace().nth(1)?.parse().ok()
}

/// Whether `c` may appear in an XML 1.0 document (§2.2 `Char`), minus the
/// noncharacters that §2.2 asks documents to avoid and parsers refuse.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && !crate::ical::is_noncharacter(c)
}

pub fn parse_multistatus(body: &str) -> Result<Vec<Entry>, String> {
    parse_multistatus_with_token(body).map(|(entries, _)| entries)
}

/// The entries, and the `sync-token` a sync-collection answer ends with
/// (RFC 6578 §6.4; Xandikos puts it after the responses, others before).
pub fn parse_multistatus_with_token(body: &str) -> Result<(Vec<Entry>, Option<String>), String> {
    match Document::parse(body) {
        Ok(document) => read_multistatus(&document),
        // Servers write what they were given: an event holding U+FFFF, say,
        // makes the whole answer invalid XML. Without such characters it
        // reads, and the event is rewritten without them.
        Err(err) if body.chars().any(|c| !is_xml_char(c)) => {
            let cleaned: String = body.chars().filter(|&c| is_xml_char(c)).collect();
            let document = Document::parse(&cleaned).map_err(|_| format!("invalid XML: {err}"))?;
            read_multistatus(&document)
        }
        Err(err) => Err(format!("invalid XML: {err}")),
    }
}

fn read_multistatus(document: &Document) -> Result<(Vec<Entry>, Option<String>), String> {
    let root = document.root_element();
    if !is(&root, DAV, "multistatus") {
        return Err(format!(
            "expected a multistatus, got <{}>",
            root.tag_name().name()
        ));
    }
    let mut entries = Vec::new();
    for response in root.children().filter(|c| is(c, DAV, "response")) {
        let mut entry = Entry {
            href: href_in(&response).unwrap_or_default(),
            status: child(&response, DAV, "status").and_then(|s| status_code(&s)),
            ..Entry::default()
        };
        for propstat in response.children().filter(|c| is(c, DAV, "propstat")) {
            let ok = child(&propstat, DAV, "status")
                .and_then(|s| status_code(&s))
                .is_none_or(|code| (200..300).contains(&code));
            let Some(prop) = child(&propstat, DAV, "prop") else {
                continue;
            };
            if ok {
                read_props(&prop, &mut entry);
            } else if entry.failed.is_none() {
                entry.failed = child(&propstat, DAV, "status").and_then(|s| status_code(&s));
            }
        }
        entries.push(entry);
    }
    let token = child(&root, DAV, "sync-token")
        .map(|t| text(&t).trim().to_string())
        .filter(|t| !t.is_empty());
    Ok((entries, token))
}

fn read_props(prop: &Node, entry: &mut Entry) {
    for property in prop.children().filter(Node::is_element) {
        let ns = property.tag_name().namespace().unwrap_or("");
        match (ns, property.tag_name().name()) {
            (DAV, "displayname") => entry.display_name = Some(text(&property).trim().to_string()),
            (DAV, "resourcetype") => {
                entry.is_collection = child(&property, DAV, "collection").is_some();
                entry.is_calendar = child(&property, CALDAV, "calendar").is_some();
            }
            (DAV, "getetag") => entry.etag = Some(text(&property).trim().to_string()),
            (DAV, "current-user-principal") => entry.principal = href_in(&property),
            (CALDAV, "calendar-home-set") => entry.calendar_home = href_in(&property),
            (CALDAV, "calendar-data") => entry.calendar_data = Some(text(&property)),
            (CALDAV, "supported-calendar-component-set") => {
                entry.components = property
                    .children()
                    .filter(|c| is(c, CALDAV, "comp"))
                    .filter_map(|c| c.attribute("name").map(str::to_ascii_uppercase))
                    .collect();
            }
            _ => {}
        }
    }
}

/// The href a `no-uid-conflict` precondition names (RFC 4791 §5.3.2.1),
/// if the server named one.
pub fn conflicting_href(body: &str) -> Option<String> {
    let document = Document::parse(body).ok()?;
    let conflict = document
        .descendants()
        .find(|n| is(n, CALDAV, "no-uid-conflict"))?;
    href_in(&conflict).filter(|h| !h.is_empty())
}

/// Text escaped for an XML element or attribute; characters XML cannot
/// carry are dropped.
pub fn escape(text: &str) -> String {
    let text: String = text.chars().filter(|&c| is_xml_char(c)).collect();
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prefixed_and_default_namespaces_alike() {
        let xandikos = r#"<?xml version="1.0"?><ns0:multistatus xmlns:ns0="DAV:" xmlns:ns1="urn:ietf:params:xml:ns:caldav">
          <ns0:response><ns0:href>/user/calendars/a/</ns0:href><ns0:propstat><ns0:status>HTTP/1.1 200 OK</ns0:status>
          <ns0:prop><ns0:displayname>Plane: A &amp; B</ns0:displayname><ns0:resourcetype><ns0:collection/><ns1:calendar/></ns0:resourcetype>
          <ns1:supported-calendar-component-set><ns1:comp name="VEVENT"/><ns1:comp name="VTODO"/></ns1:supported-calendar-component-set>
          </ns0:prop></ns0:propstat><ns0:propstat><ns0:status>HTTP/1.1 404 Not Found</ns0:status><ns0:prop><ns0:getetag/></ns0:prop></ns0:propstat>
          </ns0:response><ns0:sync-token>x</ns0:sync-token></ns0:multistatus>"#;
        let (entries, token) = parse_multistatus_with_token(xandikos).unwrap();
        assert_eq!(token.as_deref(), Some("x"));
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.href, "/user/calendars/a/");
        assert_eq!(e.display_name.as_deref(), Some("Plane: A & B"));
        assert!(e.is_calendar && e.is_collection);
        assert_eq!(e.components, ["VEVENT", "VTODO"]);
        assert_eq!(e.etag, None);

        let radicale = r#"<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response><href>/u/c/e.ics</href>
          <propstat><prop><getetag>"abc"</getetag><C:calendar-data>BEGIN:VCALENDAR&#13;
END:VCALENDAR&#13;
</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
          <response><href>/u/c/gone.ics</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>"#;
        let entries = parse_multistatus(radicale).unwrap();
        assert_eq!(entries[0].etag.as_deref(), Some("\"abc\""));
        assert_eq!(
            entries[0].calendar_data.as_deref(),
            Some("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
        );
        assert_eq!(entries[1].status, Some(404));
    }

    #[test]
    fn reads_discovery_properties() {
        let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav"><d:response><d:href>/</d:href>
          <d:propstat><d:prop><d:current-user-principal><d:href>/alice/</d:href></d:current-user-principal>
          <cal:calendar-home-set><d:href>/alice/cals/</d:href></cal:calendar-home-set></d:prop>
          <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
        let entry = &parse_multistatus(body).unwrap()[0];
        assert_eq!(entry.principal.as_deref(), Some("/alice/"));
        assert_eq!(entry.calendar_home.as_deref(), Some("/alice/cals/"));
    }

    #[test]
    fn a_noncharacter_does_not_make_the_answer_unreadable() {
        let body = "<multistatus xmlns=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><response><href>/c/bad.ics</href><propstat><prop><getetag>\"1\"</getetag><C:calendar-data>SUMMARY:a\u{FFFF}b\u{1}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><href>/c/good.ics</href><propstat><prop><getetag>\"2\"</getetag><C:calendar-data>SUMMARY:ok</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>";
        assert!(
            Document::parse(body).is_err(),
            "the parser refuses it as is"
        );
        let entries = parse_multistatus(body).unwrap();
        assert_eq!(entries[0].calendar_data.as_deref(), Some("SUMMARY:ab"));
        assert_eq!(entries[1].calendar_data.as_deref(), Some("SUMMARY:ok"));
        assert_eq!(escape("a\u{FFFE}<b>\u{0}"), "a&lt;b&gt;");
    }

    #[test]
    fn failed_propstats_and_uid_conflicts_are_read() {
        let body = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/c/</d:href><d:propstat><d:prop><d:displayname/></d:prop><d:status>HTTP/1.1 403 Forbidden</d:status></d:propstat></d:response></d:multistatus>"#;
        assert_eq!(parse_multistatus(body).unwrap()[0].failed, Some(403));
        let conflict = r#"<?xml version="1.0"?><ns0:error xmlns:ns0="DAV:" xmlns:ns1="urn:ietf:params:xml:ns:caldav"><ns1:no-uid-conflict><ns0:href>/user/calendars/c/x.ics</ns0:href></ns1:no-uid-conflict></ns0:error>"#;
        assert_eq!(
            conflicting_href(conflict).as_deref(),
            Some("/user/calendars/c/x.ics")
        );
        assert_eq!(conflicting_href("<error/>"), None);
    }

    #[test]
    fn rejects_what_is_not_a_multistatus() {
        assert!(parse_multistatus("<html/>").is_err());
        assert!(parse_multistatus("not xml").is_err());
    }
}
