//! The commands besides `serve` that run the guest once in this process:
//! `doctor` and `sync`.

pub mod doctor;
pub mod sync;
