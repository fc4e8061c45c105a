//! The calendar event as the service owns it.

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

/// Where the content hash is recorded in each event, so that it survives a
/// lost store.
pub const HASH_PROPERTY: &str = "X-CALPLANEBOT-HASH";

/// Where the Plane `updated_at` an event was rendered from is recorded, so
/// that no writer replaces it with an older version of the item.
pub const VERSION_PROPERTY: &str = "X-CALPLANEBOT-UPDATED-AT";

/// The Plane workspace an event was written for: events of another
/// workspace in the same calendar account are never deleted.
pub const WORKSPACE_PROPERTY: &str = "X-CALPLANEBOT-WORKSPACE";

const UID_PREFIX: &str = "plane-issue-";
const UID_SUFFIX: &str = "@calplanebot";

/// `plane-issue-{id}@calplanebot`: the UID never changes for an item.
pub fn uid_for(item_id: &str) -> String {
    format!("{UID_PREFIX}{item_id}{UID_SUFFIX}")
}

/// The work item an owned UID stands for. UIDs are read from calendars
/// anyone with access may write to, and the id goes into Plane request
/// paths: only a well-formed id counts.
pub fn item_id_of(uid: &str) -> Option<&str> {
    uid.strip_prefix(UID_PREFIX)?
        .strip_suffix(UID_SUFFIX)
        .filter(|id| crate::plane::is_valid_id(id))
}

/// Events with another UID belong to someone else and are never touched.
pub fn is_owned_uid(uid: &str) -> bool {
    item_id_of(uid).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Confirmed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Confirmed => "CONFIRMED",
            Status::Cancelled => "CANCELLED",
        }
    }
}

/// An all-day event: `start` is the due date, `end` the day after
/// (RFC 5545 §3.6.1: DTEND of a DATE event is exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub status: Status,
    pub categories: Vec<String>,
    /// An RFC 7986 COLOR: a CSS3 color name.
    pub color: Option<String>,
    pub url: Option<String>,
    /// The Plane workspace's slug ([`WORKSPACE_PROPERTY`]).
    pub workspace: Option<String>,
}

impl Event {
    /// A hash of the owned content, independent of DTSTAMP and of how the
    /// text is serialized. 32 hex digits (128 bits) are plenty to tell
    /// versions of one event apart.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let categories = self.categories.join("\u{1e}");
        for field in [
            self.uid.as_str(),
            &self.summary,
            &self.description,
            &self.start.to_string(),
            &self.end.to_string(),
            self.status.as_str(),
            &categories,
            self.color.as_deref().unwrap_or(""),
            self.url.as_deref().unwrap_or(""),
            self.workspace.as_deref().unwrap_or(""),
        ] {
            hasher.update(field.as_bytes());
            hasher.update([0x1f]);
        }
        hex(&hasher.finalize()[..16])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_uids_have_the_service_form() {
        assert!(is_owned_uid(&uid_for("0b6f7a3e")));
        assert!(!is_owned_uid("plane-issue-@calplanebot"));
        assert!(!is_owned_uid("meeting-42@example.com"));
        assert!(!is_owned_uid("plane-issue-1@calplanebot.evil"));
        assert_eq!(item_id_of(&uid_for("0b6f")), Some("0b6f"));
        assert_eq!(item_id_of("plane-issue-@calplanebot"), None);
        for planted in [
            "plane-issue-../../../../users/me?x=@calplanebot",
            "plane-issue-a/b@calplanebot",
            "plane-issue-a\r\nX@calplanebot",
        ] {
            assert!(!is_owned_uid(planted), "{planted:?}");
            assert_eq!(item_id_of(planted), None);
        }
    }
}
