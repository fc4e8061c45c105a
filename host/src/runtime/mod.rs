//! Running the guest: the engine and its sandbox limits, the per-request
//! store state, and the invocation of one request.

mod engine;
#[cfg(test)]
mod host_worlds;
mod invoke;
mod limits;
mod run_clock;
mod state;

pub use engine::{Limits, new_engine, new_linker, start_epoch_ticker};
pub use invoke::{HostEnv, HostResponse, Runtime, error_response};
pub use run_clock::RunClock;
pub use state::GuestState;
