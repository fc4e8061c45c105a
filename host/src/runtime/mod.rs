//! Running the guest: the engine and its sandbox limits, the per-request
//! store state, and the invocation of one request.

mod engine;
mod invoke;
mod limits;
mod state;

pub use engine::{Limits, new_engine, new_linker, start_epoch_ticker};
pub use invoke::{HostEnv, Runtime};
pub use state::GuestState;
