//! Reading an event back from iCalendar text as a server returns it:
//! unfolded (§3.1), parameters skipped, TEXT unescaped (§3.3.11).

use chrono::{DateTime, NaiveDate, Utc};

use super::event::{Event, Status, VERSION_PROPERTY, WORKSPACE_PROPERTY};

/// The content lines of the first VEVENT, unfolded, as (name, params, value).
fn vevent_lines(ics: &str) -> Vec<(String, String, String)> {
    let unfolded = ics
        .replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "")
        .replace("\n\t", "");
    let mut inside = false;
    let mut lines = Vec::new();
    for raw in unfolded.lines() {
        let raw = raw.trim_end_matches('\r');
        let Some((name, params, value)) = split_content_line(raw) else {
            continue;
        };
        match (name.as_str(), value.to_ascii_uppercase().as_str()) {
            ("BEGIN", "VEVENT") => inside = true,
            ("END", "VEVENT") => break,
            // Nested components (VALARM) are not ours to read.
            ("BEGIN", _) if inside => inside = false,
            _ if inside => lines.push((name, params, value)),
            _ => {}
        }
    }
    lines
}

/// `NAME;PARAM=x;P2="a:b":value` → (NAME, params, value). The value starts
/// at the first colon outside double quotes.
fn split_content_line(line: &str) -> Option<(String, String, String)> {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => {
                let head = &line[..i];
                let (name, params) = head.split_once(';').unwrap_or((head, ""));
                return Some((
                    name.trim().to_ascii_uppercase(),
                    params.to_string(),
                    line[i + 1..].to_string(),
                ));
            }
            _ => {}
        }
    }
    None
}

fn unescape(value: &str) -> String {
    split_escaped(value, None).pop().unwrap_or_default()
}

/// Unescapes TEXT, splitting on unescaped `separator` when given.
fn split_escaped(value: &str, separator: Option<char>) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        let current = parts.last_mut().expect("never empty");
        match c {
            '\\' => match chars.next() {
                Some('n' | 'N') => current.push('\n'),
                Some(other) => current.push(other),
                None => {}
            },
            c if Some(c) == separator => parts.push(String::new()),
            c => current.push(c),
        }
    }
    parts
}

fn date(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y%m%d").ok()
}

/// What an event stored on a server says, read in one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    pub uid: Option<String>,
    /// The owned properties; `None` when it is not an all-day event with a
    /// UID (then it differs from anything the service would write).
    pub event: Option<Event>,
    /// The Plane version it was written from ([`VERSION_PROPERTY`]).
    pub version: Option<DateTime<Utc>>,
    /// The Plane workspace it was written for ([`WORKSPACE_PROPERTY`]).
    pub workspace: Option<String>,
}

/// Reads the first event in `ics`.
pub fn read(ics: &str) -> Stored {
    let mut uid = None;
    let mut version = None;
    let (mut summary, mut description) = (String::new(), String::new());
    let (mut start, mut end) = (None, None);
    let mut status = Some(Status::Confirmed);
    let mut categories = Vec::new();
    let (mut color, mut url, mut workspace) = (None, None, None);
    let mut all_day = true;
    for (name, _, value) in vevent_lines(ics) {
        match name.as_str() {
            "UID" => uid = Some(unescape(&value)),
            "SUMMARY" => summary = unescape(&value),
            "DESCRIPTION" => description = unescape(&value),
            "DTSTART" => {
                start = date(&value).or_else(|| {
                    all_day = false;
                    None
                })
            }
            "DTEND" => {
                end = date(&value).or_else(|| {
                    all_day = false;
                    None
                })
            }
            "STATUS" => {
                status = match value.trim().to_ascii_uppercase().as_str() {
                    "CANCELLED" => Some(Status::Cancelled),
                    "CONFIRMED" => Some(Status::Confirmed),
                    _ => None,
                }
            }
            "CATEGORIES" => categories.extend(
                split_escaped(&value, Some(','))
                    .into_iter()
                    .filter(|c| !c.is_empty()),
            ),
            "COLOR" => color = Some(unescape(&value)),
            "URL" => url = Some(value.trim().to_string()),
            name if name == VERSION_PROPERTY => version = super::version::parse(&value),
            name if name == WORKSPACE_PROPERTY => workspace = Some(unescape(&value)),
            _ => {}
        }
    }
    let event = match (&uid, start, end, status, all_day) {
        (Some(uid), Some(start), Some(end), Some(status), true) => Some(Event {
            uid: uid.clone(),
            summary,
            description,
            start,
            end,
            status,
            categories,
            color,
            url,
            workspace: workspace.clone(),
        }),
        _ => None,
    };
    Stored {
        uid,
        event,
        version,
        workspace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_servers_rewrite() {
        // Re-serialised: LF line ends, other folding, other order, VALARM,
        // quoted parameter with a colon, lower-case name.
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nsummary;LANGUAGE=\"en:x\":[1] a\\, b\nDTEND;VALUE=DATE:20250102\n\
                   UID:plane-issue-1@calplanebot\nDTSTART;VALUE=DATE:2025\n 0101\nCATEGORIES:x\\,y,z\nCATEGORIES:w\n\
                   DESCRIPTION:line1\\nline2\\;\nBEGIN:VALARM\nDESCRIPTION:alarm\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n";
        let stored = read(ics);
        let event = stored.event.unwrap();
        assert_eq!(event.uid, "plane-issue-1@calplanebot");
        assert_eq!(event.summary, "[1] a, b");
        assert_eq!(event.description, "line1\nline2;");
        assert_eq!(event.start, NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        assert_eq!(event.categories, ["x,y", "z", "w"]);
        assert_eq!(stored.uid.as_deref(), Some("plane-issue-1@calplanebot"));
        assert_eq!(stored.version, None);
    }

    #[test]
    fn timed_or_incomplete_events_are_not_ours() {
        let timed = "BEGIN:VEVENT\r\nUID:u\r\nDTSTART:20250101T000000Z\r\nDTEND:20250101T010000Z\r\nEND:VEVENT\r\n";
        assert!(read(timed).event.is_none());
        assert_eq!(read(timed).uid.as_deref(), Some("u"));
        assert!(
            read("BEGIN:VEVENT\r\nUID:u\r\nEND:VEVENT\r\n")
                .event
                .is_none()
        );
        assert_eq!(read("garbage"), Stored::default());
    }
}
