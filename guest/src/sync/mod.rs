//! The sync: plan from Plane's items and the calendars' events, then
//! execute with conditional writes. One at a time, under a lease.

mod calendar_index;
pub mod calendars;
mod executor;
mod item;
pub mod item_index;
pub mod lease;
pub mod missed_webhooks;
mod planner;
pub mod progress;
mod project;
pub mod queue;
pub mod records;
mod run;
pub mod schedule;
pub mod status;

pub use executor::Applied;
pub use item::{ItemError, apply_change, apply_project, drain_queue, version_in};
pub use planner::{Action, Existing, Plan, Target, plan};
pub use run::{SyncEnv, record_not_started, run};
