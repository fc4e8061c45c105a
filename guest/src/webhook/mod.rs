//! Plane webhooks: signature verification and the payload formats.

mod payload;
mod signature;

pub use payload::{Change, Entity, PayloadError, parse};
pub use signature::{SignatureError, verify};
