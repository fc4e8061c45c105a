//! The sync: plan from Plane's items and the calendars' events, then
//! execute with conditional writes. One at a time, under a lease.

mod calendars;
mod executor;
pub mod lease;
mod planner;
mod run;
pub mod status;

pub use planner::{Action, Existing, Plan, plan};
pub use run::{SyncEnv, record_not_started, run};
