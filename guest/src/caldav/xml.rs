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

pub fn parse_multistatus(body: &str) -> Result<Vec<Entry>, String> {
    let document = Document::parse(body).map_err(|err| format!("invalid XML: {err}"))?;
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
            }
        }
        entries.push(entry);
    }
    Ok(entries)
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

/// Text escaped for an XML element or attribute.
pub fn escape(text: &str) -> String {
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
        let entries = parse_multistatus(xandikos).unwrap();
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
    fn rejects_what_is_not_a_multistatus() {
        assert!(parse_multistatus("<html/>").is_err());
        assert!(parse_multistatus("not xml").is_err());
    }
}
