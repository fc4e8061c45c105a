//! Support for the end-to-end tests: the real host binary serving real
//! components, a real CalDAV server, and a fake Plane, over real sockets.

pub mod caldav_server;
pub mod chromium;
pub mod components;
pub mod counting_proxy;
pub mod fake_plane;
pub mod host;
pub mod loopback_server;
pub mod plane_json;
pub mod redis_server;
pub mod repository;
pub mod wasmtime_cli;
pub mod webhook_delivery;
pub mod world;
