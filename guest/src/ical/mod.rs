//! Work item → iCalendar: the mapping rules, and reading events back.
//!
//! [`Event`] holds exactly the properties the service owns. It is rendered to
//! RFC 5545 text ([`render`]) and parsed back from what a server returns
//! ([`parse`]), so "is the calendar's copy what we would write?" is a
//! comparison of two `Event`s' hashes, whatever the server did to folding,
//! property order or escaping.

mod event;
mod html;
mod mapping;
mod parse;
mod render;
mod text;
mod version;

pub use event::{
    Event, HASH_PROPERTY, Status, VERSION_PROPERTY, WORKSPACE_PROPERTY, is_owned_uid, item_id_of,
    uid_for,
};
pub use mapping::{Issue, Priority, event_for};
pub use parse::{Stored, read};
pub use text::{is_line_char, is_noncharacter};
pub use version::{is_older, parse as parse_version};
