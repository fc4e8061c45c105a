//! The mapping rules: which items become events, and what each property is.

use chrono::{Days, NaiveDate};

use super::event::{Event, Status, uid_for};
use super::html::to_plain_text;
use super::text::{clean_text, content_line_value};

/// Plain text longer than this is cut (with a note): calendar clients show
/// descriptions in small panes and some servers limit event size.
pub const MAX_DESCRIPTION_CHARS: usize = 8000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Urgent,
    High,
    Medium,
    Low,
    None,
}

impl Priority {
    /// Plane's priority names; anything else is treated as no priority.
    pub fn parse(value: &str) -> Option<Priority> {
        match value.trim().to_ascii_lowercase().as_str() {
            "urgent" => Some(Priority::Urgent),
            "high" => Some(Priority::High),
            "medium" => Some(Priority::Medium),
            "low" => Some(Priority::Low),
            "none" | "" => Some(Priority::None),
            _ => None,
        }
    }

    /// RFC 7986 §5.9 COLOR takes a CSS3 color name.
    pub fn color(self) -> &'static str {
        match self {
            Priority::Urgent => "red",
            Priority::High => "orange",
            Priority::Medium => "yellow",
            Priority::Low => "blue",
            Priority::None => "gray",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Priority::Urgent => "Urgent",
            Priority::High => "High",
            Priority::Medium => "Medium",
            Priority::Low => "Low",
            Priority::None => "None",
        }
    }
}

/// A work item with everything the mapping needs resolved to names.
#[derive(Debug, Clone, Default)]
pub struct Issue {
    pub id: String,
    pub sequence_id: Option<i64>,
    pub name: String,
    pub description_html: String,
    /// As Plane sent it (`urgent|high|medium|low|none`, or something new).
    pub priority: String,
    pub target_date: Option<NaiveDate>,
    pub state_name: Option<String>,
    /// `backlog|unstarted|started|completed|cancelled|triage`.
    pub state_group: Option<String>,
    pub assignees: Vec<String>,
    pub labels: Vec<String>,
    pub project_name: String,
    pub project_identifier: String,
    /// The item in Plane's web app.
    pub url: String,
    /// The Plane workspace (slug) the item belongs to: recorded in the
    /// event, so that a deployment deletes only its own workspace's events.
    pub workspace: String,
    /// Plane's `updated_at` for the state described.
    pub version: Option<chrono::DateTime<chrono::Utc>>,
}

/// The event for an item, or `None` when it has no due date (such items
/// are not on the calendar).
pub fn event_for(issue: &Issue) -> Option<Event> {
    let start = issue.target_date?;
    // 9999-12-31 has no next day in chrono's range; such a date is not a
    // real due date, so the item is left off the calendar.
    let end = start.checked_add_days(Days::new(1))?;
    let status = match issue.state_group.as_deref() {
        Some("completed" | "cancelled") => Status::Cancelled,
        _ => Status::Confirmed,
    };
    let priority = Priority::parse(&issue.priority);
    Some(Event {
        uid: uid_for(&issue.id),
        summary: clean_text(&summary(issue)),
        description: clean_text(&description(issue, priority)),
        start,
        end,
        status,
        categories: issue
            .labels
            .iter()
            .map(|l| clean_text(l.trim()))
            .filter(|l| !l.is_empty())
            .collect(),
        color: Some(priority.unwrap_or(Priority::None).color().to_string()),
        url: Some(content_line_value(&issue.url).replace(' ', "%20")).filter(|u| !u.is_empty()),
        workspace: Some(content_line_value(&issue.workspace)).filter(|w| !w.is_empty()),
    })
}

fn summary(issue: &Issue) -> String {
    let name = issue.name.trim();
    let name = if name.is_empty() { "(untitled)" } else { name };
    match issue.sequence_id {
        Some(sequence) => format!("[{sequence}] {name}"),
        None => name.to_string(),
    }
}

fn list(values: &[String]) -> String {
    if values.is_empty() {
        "none".to_string()
    } else {
        values.join(", ")
    }
}

fn description(issue: &Issue, priority: Option<Priority>) -> String {
    let mut text = to_plain_text(&issue.description_html);
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        text = text.chars().take(MAX_DESCRIPTION_CHARS).collect::<String>();
        text.push_str("\n… (truncated; the full description is in Plane)");
    }
    let priority = match priority {
        Some(p) => p.label().to_string(),
        None => issue.priority.trim().to_string(),
    };
    let project = if issue.project_identifier.is_empty() {
        issue.project_name.clone()
    } else {
        format!("{} ({})", issue.project_name, issue.project_identifier)
    };
    let metadata = [
        format!("Priority: {priority}"),
        format!(
            "State: {}",
            issue.state_name.as_deref().unwrap_or("unknown")
        ),
        format!("Assignees: {}", list(&issue.assignees)),
        format!("Labels: {}", list(&issue.labels)),
        format!("Project: {project}"),
        format!("Link: {}", issue.url),
    ]
    .join("\n");
    if text.is_empty() {
        metadata
    } else {
        format!("{text}\n\n{metadata}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn issue() -> Issue {
        Issue {
            id: "7d3c".into(),
            sequence_id: Some(42),
            name: "Ship it".into(),
            description_html: "<p>Do the <b>thing</b></p>".into(),
            priority: "high".into(),
            target_date: NaiveDate::from_ymd_opt(2025, 12, 27),
            state_name: Some("In Progress".into()),
            state_group: Some("started".into()),
            assignees: vec!["Ada".into(), "Linus".into()],
            labels: vec!["bug".into(), "ui".into()],
            project_name: "Website".into(),
            project_identifier: "WEB".into(),
            url: "https://app.plane.so/ws/projects/p1/issues/7d3c".into(),
            version: None,
            workspace: "acme".into(),
        }
    }

    #[test]
    fn maps_every_property() {
        let event = event_for(&issue()).unwrap();
        assert_eq!(event.uid, "plane-issue-7d3c@calplanebot");
        assert_eq!(event.summary, "[42] Ship it");
        assert_eq!(event.start, NaiveDate::from_ymd_opt(2025, 12, 27).unwrap());
        assert_eq!(event.end, NaiveDate::from_ymd_opt(2025, 12, 28).unwrap());
        assert_eq!(event.status, Status::Confirmed);
        assert_eq!(event.categories, ["bug", "ui"]);
        assert_eq!(event.color.as_deref(), Some("orange"));
        assert_eq!(
            event.url.as_deref(),
            Some("https://app.plane.so/ws/projects/p1/issues/7d3c")
        );
        assert_eq!(
            event.description,
            "Do the thing\n\nPriority: High\nState: In Progress\nAssignees: Ada, Linus\n\
             Labels: bug, ui\nProject: Website (WEB)\nLink: https://app.plane.so/ws/projects/p1/issues/7d3c"
        );
    }

    #[test]
    fn no_target_date_means_no_event() {
        let mut item = issue();
        item.target_date = None;
        assert!(event_for(&item).is_none());
    }

    #[test]
    fn dates_at_the_edges() {
        let cases = [
            ((2024, 2, 29), (2024, 3, 1)),
            ((2025, 12, 31), (2026, 1, 1)),
            ((2099, 6, 15), (2099, 6, 16)),
            ((1970, 1, 1), (1970, 1, 2)),
            ((2023, 2, 28), (2023, 3, 1)),
        ];
        for ((y, m, d), (ey, em, ed)) in cases {
            let mut item = issue();
            item.target_date = NaiveDate::from_ymd_opt(y, m, d);
            let event = event_for(&item).unwrap();
            assert_eq!(event.end, NaiveDate::from_ymd_opt(ey, em, ed).unwrap());
        }
    }

    #[test]
    fn state_groups_map_to_status() {
        for (group, status) in [
            ("backlog", Status::Confirmed),
            ("unstarted", Status::Confirmed),
            ("started", Status::Confirmed),
            ("completed", Status::Cancelled),
            ("cancelled", Status::Cancelled),
            ("triage", Status::Confirmed),
        ] {
            let mut item = issue();
            item.state_group = Some(group.into());
            assert_eq!(event_for(&item).unwrap().status, status, "{group}");
        }
        let mut item = issue();
        item.state_group = None;
        item.state_name = None;
        let event = event_for(&item).unwrap();
        assert_eq!(event.status, Status::Confirmed);
        assert!(event.description.contains("State: unknown"));
    }

    #[test]
    fn every_priority_has_a_color() {
        for (priority, color, label) in [
            ("urgent", "red", "Urgent"),
            ("high", "orange", "High"),
            ("medium", "yellow", "Medium"),
            ("low", "blue", "Low"),
            ("none", "gray", "None"),
            ("", "gray", "None"),
            ("URGENT", "red", "Urgent"),
            ("blocker", "gray", "blocker"),
        ] {
            let mut item = issue();
            item.priority = priority.into();
            let event = event_for(&item).unwrap();
            assert_eq!(event.color.as_deref(), Some(color), "{priority}");
            assert!(
                event.description.contains(&format!("Priority: {label}")),
                "{priority}"
            );
        }
    }

    #[test]
    fn names_of_every_kind() {
        let long = "x".repeat(1000);
        for (name, summary) in [
            ("", "[42] (untitled)"),
            ("   ", "[42] (untitled)"),
            (long.as_str(), &*format!("[42] {long}")),
            ("🚀 Launch 🎉", "[42] 🚀 Launch 🎉"),
            ("تحديث الصفحة", "[42] تحديث الصفحة"),
            (
                "END:VEVENT\r\nBEGIN:VEVENT",
                "[42] END:VEVENT\nBEGIN:VEVENT",
            ),
            ("a\u{0}b\u{7}c\td", "[42] abc\td"),
        ] {
            let mut item = issue();
            item.name = name.into();
            assert_eq!(event_for(&item).unwrap().summary, summary);
        }
        let mut item = issue();
        item.sequence_id = None;
        assert_eq!(event_for(&item).unwrap().summary, "Ship it");
    }

    #[test]
    fn labels_and_assignees_from_none_to_many() {
        let mut item = issue();
        item.labels.clear();
        item.assignees.clear();
        let event = event_for(&item).unwrap();
        assert!(event.categories.is_empty());
        assert!(event.description.contains("Assignees: none"));
        assert!(event.description.contains("Labels: none"));

        item.labels = vec!["one".into()];
        item.assignees = vec!["Solo".into()];
        let event = event_for(&item).unwrap();
        assert_eq!(event.categories, ["one"]);
        assert!(event.description.contains("Assignees: Solo\n"));

        item.labels = (0..200).map(|i| format!("label-{i}")).collect();
        item.assignees = (0..200).map(|i| format!("User {i}")).collect();
        let event = event_for(&item).unwrap();
        assert_eq!(event.categories.len(), 200);
        assert!(event.description.contains("User 199"));
    }

    #[test]
    fn descriptions_empty_and_huge() {
        let mut item = issue();
        item.description_html = String::new();
        assert!(
            event_for(&item)
                .unwrap()
                .description
                .starts_with("Priority: High")
        );

        item.description_html = (0..10_000).map(|i| format!("<p>line {i}</p>")).collect();
        let description = event_for(&item).unwrap().description;
        assert!(description.contains("line 0\n"));
        assert!(description.contains("(truncated; the full description is in Plane)"));
        assert!(description.ends_with("Link: https://app.plane.so/ws/projects/p1/issues/7d3c"));
    }
}
