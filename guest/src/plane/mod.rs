//! The Plane REST API v1 client and its data model.

mod client;
mod model;

pub use client::{PlaneClient, PlaneError, PlaneSettings};
pub use model::{Label, Malformed, Member, Project, Ref, State, WorkItem, is_valid_id, parse_date};
