//! `GET /_host/doctor`: the host's `calplanebot doctor` command, run in the
//! guest so that it meets Plane and CalDAV through the sync's own clients.
//! Only the host can ask (its scheduler token); to anyone else the path
//! does not exist.

use super::{ApiError, Context};
use crate::doctor::{self, Options};
use crate::http::{Request, Response};

pub const PATH: &str = "/_host/doctor";

pub fn check(ctx: &Context, request: &Request) -> Result<Response, ApiError> {
    let write_test = !request
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .any(|pair| pair == "write=0");
    let report = doctor::run(ctx.config, ctx.http, Options { write_test });
    Ok(Response::json(200, &report))
}
