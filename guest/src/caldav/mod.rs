//! The CalDAV client (RFC 4791 over WebDAV, RFC 4918): discovery, calendars,
//! and conditional event writes, with the per-server differences handled.

mod auth;
mod client;
mod listing;
mod xml;

pub use auth::{Credentials, Scheme};
pub use client::{CalDavClient, CalDavError, Calendar, Precondition, RemoteEvent, WriteOutcome};
pub use listing::{Changes, MULTIGET_CHUNK, Member};
