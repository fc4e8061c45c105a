//! Support for the end-to-end tests: the real host binary serving real
//! components, driven over real sockets.

pub mod components;
pub mod host;
