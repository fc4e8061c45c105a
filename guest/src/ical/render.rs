//! RFC 5545 text for an [`Event`]: CRLF line ends, lines folded at 75
//! octets without splitting a UTF-8 character (§3.1), TEXT escaped (§3.3.11).

use chrono::{DateTime, Utc};

use super::event::{Event, HASH_PROPERTY, VERSION_PROPERTY, WORKSPACE_PROPERTY};
use super::text::content_line_value;
use super::version;

const PRODID: &str = "-//calplanebot//calplanebot//EN";
const MAX_LINE_OCTETS: usize = 75;

impl Event {
    /// The iCalendar object for this event. `dtstamp` is when it was
    /// rendered and `version` the Plane `updated_at` it was rendered from;
    /// neither is part of the content hash.
    pub fn to_ics(&self, dtstamp: DateTime<Utc>, version: Option<DateTime<Utc>>) -> String {
        let mut out = String::new();
        // Whatever a value's source, nothing it holds can end its line and
        // start another property (an ATTENDEE, say, that a scheduling
        // server would mail).
        let mut line = |name: &str, value: &str| {
            fold_into(&mut out, &format!("{name}:{}", content_line_value(value)))
        };
        line("BEGIN", "VCALENDAR");
        line("VERSION", "2.0");
        line("PRODID", PRODID);
        line("CALSCALE", "GREGORIAN");
        line("BEGIN", "VEVENT");
        line("UID", &escape(&self.uid));
        line("DTSTAMP", &dtstamp.format("%Y%m%dT%H%M%SZ").to_string());
        line(
            "DTSTART;VALUE=DATE",
            &self.start.format("%Y%m%d").to_string(),
        );
        line("DTEND;VALUE=DATE", &self.end.format("%Y%m%d").to_string());
        line("SUMMARY", &escape(&self.summary));
        line("DESCRIPTION", &escape(&self.description));
        line("STATUS", self.status.as_str());
        // A due date is not time spent: don't block free/busy.
        line("TRANSP", "TRANSPARENT");
        if !self.categories.is_empty() {
            let categories: Vec<String> = self.categories.iter().map(|c| escape(c)).collect();
            line("CATEGORIES", &categories.join(","));
        }
        if let Some(color) = &self.color {
            line("COLOR", &escape(color));
        }
        if let Some(url) = &self.url {
            line("URL", url);
        }
        if let Some(workspace) = &self.workspace {
            line(WORKSPACE_PROPERTY, &escape(workspace));
        }
        line(HASH_PROPERTY, &self.content_hash());
        if let Some(version) = version {
            line(VERSION_PROPERTY, &version::format(version));
        }
        line("END", "VEVENT");
        line("END", "VCALENDAR");
        out
    }
}

/// §3.3.11: backslash, semicolon, comma and line breaks are escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded: at most 75 octets per physical line, each
/// continuation starting with a space, never inside a UTF-8 sequence.
fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut limit = MAX_LINE_OCTETS;
    loop {
        if rest.len() <= limit {
            out.push_str(rest);
            out.push_str("\r\n");
            return;
        }
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        // The leading space counts towards the next line's 75 octets.
        limit = MAX_LINE_OCTETS - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ical::{Issue, event_for, read};
    use chrono::{NaiveDate, TimeZone};

    fn stamp() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 12, 27, 10, 30, 0).unwrap()
    }

    fn sample(name: &str, description: &str, labels: &[&str]) -> Event {
        let issue = Issue {
            id: "abc".into(),
            sequence_id: Some(7),
            name: name.into(),
            description_html: description.into(),
            priority: "urgent".into(),
            target_date: NaiveDate::from_ymd_opt(2024, 2, 29),
            state_name: Some("Done".into()),
            state_group: Some("completed".into()),
            assignees: vec![],
            labels: labels.iter().map(|l| l.to_string()).collect(),
            project_name: "P".into(),
            project_identifier: "P".into(),
            url: "https://plane.example/ws/projects/p/issues/abc".into(),
            version: None,
            workspace: "acme".into(),
        };
        event_for(&issue).unwrap()
    }

    fn assert_valid_lines(ics: &str) {
        assert!(ics.ends_with("\r\n"));
        for line in ics.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "line of {} octets: {line:?}", line.len());
            assert!(!line.contains('\n') && !line.contains('\r'));
            assert!(!line.chars().any(|c| c.is_control() && c != '\t'));
        }
    }

    #[test]
    fn renders_an_all_day_event() {
        let ics = sample("Plan", "<p>x</p>", &["bug"]).to_ics(stamp(), None);
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.contains("\r\nUID:plane-issue-abc@calplanebot\r\n"));
        assert!(ics.contains("\r\nDTSTAMP:20251227T103000Z\r\n"));
        assert!(ics.contains("\r\nDTSTART;VALUE=DATE:20240229\r\n"));
        assert!(ics.contains("\r\nDTEND;VALUE=DATE:20240301\r\n"));
        assert!(ics.contains("\r\nSUMMARY:[7] Plan\r\n"));
        assert!(ics.contains("\r\nSTATUS:CANCELLED\r\n"));
        assert!(ics.contains("\r\nCATEGORIES:bug\r\n"));
        assert!(ics.contains("\r\nCOLOR:red\r\n"));
        assert!(ics.contains("\r\nX-CALPLANEBOT-HASH:"));
        assert!(!ics.contains("T000000"));
        assert_valid_lines(&ics);
    }

    #[test]
    fn hash_ignores_dtstamp() {
        let event = sample("Plan", "", &[]);
        let later = stamp() + chrono::Duration::days(3);
        assert_ne!(event.to_ics(stamp(), None), event.to_ics(later, None));
        assert_eq!(
            read(&event.to_ics(stamp(), None))
                .event
                .unwrap()
                .content_hash(),
            read(&event.to_ics(later, None))
                .event
                .unwrap()
                .content_hash()
        );
    }

    #[test]
    fn hostile_text_is_escaped_folded_and_reads_back_unchanged() {
        let long = "é".repeat(1000);
        for (name, description, labels) in [
            (
                "END:VEVENT\r\nBEGIN:VEVENT\nUID:evil",
                "<p>a;b,c\\d</p>",
                vec!["x,y", "a;b", "back\\slash"],
            ),
            (long.as_str(), "🚀🎉 emoji 👩‍👩‍👧", vec!["🐛"]),
            ("مرحبا بالعالم", "<p>שלום עולם</p>", vec!["עברית"]),
            ("\u{1}\u{8}ctrl\u{7f}", "tab\there", vec![]),
            ("", "", vec![]),
        ] {
            let event = sample(name, description, &labels);
            let ics = event.to_ics(stamp(), None);
            assert_valid_lines(&ics);
            assert_eq!(
                ics.split("\r\n").filter(|l| *l == "BEGIN:VEVENT").count(),
                1
            );
            assert_eq!(
                ics.split("\r\n").filter(|l| l.starts_with("UID:")).count(),
                1
            );
            let back = read(&ics).event.expect("parses");
            assert_eq!(back, event);
            assert_eq!(back.content_hash(), event.content_hash());
        }
    }

    #[test]
    fn the_version_is_recorded_and_read_back_but_not_hashed() {
        let event = sample("Plan", "", &[]);
        let version = chrono::DateTime::parse_from_rfc3339("2026-01-01T05:30:00.123456+05:30")
            .unwrap()
            .with_timezone(&Utc);
        let ics = event.to_ics(stamp(), Some(version));
        assert!(ics.contains("\r\nX-CALPLANEBOT-UPDATED-AT:2026-01-01T00:00:00.123456Z\r\n"));
        let back = read(&ics);
        assert_eq!(back.version, Some(version));
        assert_eq!(back.event.unwrap().content_hash(), event.content_hash());
        assert_eq!(read(&event.to_ics(stamp(), None)).version, None);
    }

    #[test]
    fn folding_never_splits_a_character() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "€".repeat(200));
        fold_into(&mut out, &line);
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75);
        }
        assert_eq!(out.replace("\r\n ", "").trim_end(), line);
    }
}
