//! In-memory stand-ins for everything the guest talks to, and a scheduler
//! that interleaves the guest's real code deterministically.

pub mod caldav;
pub mod plane;
pub mod rng;
pub mod scheduler;
pub mod store;
