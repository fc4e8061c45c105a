//! Property: whatever text an item holds (noncharacters, controls, CR/LF,
//! very long lines, every character RFC 5545 escapes), its rendered event is
//! well-formed iCalendar that reads back as exactly the event the mapping
//! made, with the same content hash, and that no text can add a property.

use calplanebot_guest::ical::{Issue, event_for, is_noncharacter, read};
use chrono::{NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

/// Text built from the characters that break naive renderers, mixed with
/// arbitrary ones.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\\".to_string()),
        Just(";".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\u{FFFF}".to_string()),
        Just("\u{FFFE}".to_string()),
        Just("\u{FDD0}".to_string()),
        Just("\u{10FFFF}".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{7F}".to_string()),
        Just("\t".to_string()),
        Just("\r\nATTENDEE:mailto:victim@example.com\r\n".to_string()),
        Just("END:VEVENT\r\nBEGIN:VEVENT".to_string()),
        Just("é".repeat(80)),
        Just("👩‍👩‍👧".to_string()),
        any::<char>().prop_map(String::from),
        "[a-z ]{0,20}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

fn issue(name: String, description: String, labels: Vec<String>, id: String) -> Issue {
    Issue {
        id,
        sequence_id: Some(1),
        name,
        description_html: description,
        priority: "high".into(),
        target_date: NaiveDate::from_ymd_opt(2026, 3, 1),
        state_name: Some("Todo".into()),
        state_group: Some("unstarted".into()),
        assignees: vec!["Ada".into()],
        labels,
        project_name: "P".into(),
        project_identifier: "P".into(),
        url: "https://plane.example/ws/projects/p/issues/i/".into(),
        version: None,
        workspace: "ws".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rendering_and_reading_round_trip(
        name in hostile_text(),
        description in hostile_text(),
        labels in proptest::collection::vec(hostile_text(), 0..4),
        id in "[a-f0-9-]{1,36}",
    ) {
        let event = event_for(&issue(name, description, labels, id)).expect("dated");
        let stamp = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let ics = event.to_ics(stamp, None);
        prop_assert!(ics.ends_with("\r\n"));
        let lines: Vec<&str> = ics.split("\r\n").filter(|l| !l.is_empty()).collect();
        for line in &lines {
            prop_assert!(line.len() <= 75, "{} octets: {:?}", line.len(), line);
            prop_assert!(!line.contains('\r') && !line.contains('\n'));
            prop_assert!(!line.chars().any(|c| (c.is_control() && c != '\t') || is_noncharacter(c)));
        }
        let starts = |name: &str| lines.iter().filter(|l| l.starts_with(name)).count();
        prop_assert_eq!(starts("BEGIN:VEVENT"), 1);
        prop_assert_eq!(starts("UID:"), 1);
        prop_assert_eq!(starts("ATTENDEE"), 0);
        prop_assert_eq!(starts("ORGANIZER"), 0);
        let back = read(&ics).event.expect("reads back");
        prop_assert_eq!(back.content_hash(), event.content_hash());
        prop_assert_eq!(back, event);
    }
}
