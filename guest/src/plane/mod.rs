//! The Plane REST API v1 client and its data model.

mod client;
mod model;
mod pacer;

pub use client::{ItemPage, Next, PlaneClient, PlaneError, PlaneSettings};
pub use model::{Label, Malformed, Member, Project, Ref, State, WorkItem, is_valid_id, parse_date};
pub use pacer::{PLANE_LIMIT_PER_MINUTE, Pacer};
