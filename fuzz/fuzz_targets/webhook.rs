//! The webhook parser, the signature check, and the whole
//! `POST /webhooks/plane` handler on arbitrary bytes: none may panic, and
//! every answer must be a well-formed response.
#![no_main]

use std::time::Duration;

use calplanebot_guest::api::{self, Context};
use calplanebot_guest::config::Config;
use calplanebot_guest::http::Request;
use calplanebot_guest::net::{Http, HttpRequest, HttpResponse, NetError};
use calplanebot_guest::store::memory::MemoryStore;
use calplanebot_guest::webhook;
use libfuzzer_sys::fuzz_target;

/// No server answers: changes get queued.
struct Offline;

impl Http for Offline {
    fn send(&self, _: &HttpRequest) -> Result<HttpResponse, NetError> {
        Err(NetError::Connection("offline".into()))
    }

    fn sleep(&self, _: Duration) {}
}

fuzz_target!(|input: &[u8]| {
    // First byte: how much of the rest is the signature header.
    let (split, rest) = match input.split_first() {
        Some((split, rest)) => (*split as usize % (rest.len() + 1), rest),
        None => (0, input),
    };
    let (signature, body) = rest.split_at(split);
    let signature = String::from_utf8_lossy(signature);

    let _ = webhook::parse(body);
    let _ = webhook::verify(body, Some(&signature), &["secret", "previous"]);

    let store = MemoryStore::default();
    let config = Config::from_vars([
        ("PLANE_WEBHOOK_SECRET".to_string(), "secret".to_string()),
        ("PLANE_BASE_URL".to_string(), "http://plane.invalid".to_string()),
        ("PLANE_API_TOKEN".to_string(), "t".to_string()),
        ("PLANE_WORKSPACE_SLUG".to_string(), "ws".to_string()),
        ("CALDAV_URL".to_string(), "http://dav.invalid/".to_string()),
    ]);
    let ctx = Context { store: &store, config: &config, now: calplanebot_guest::time::now(), http: &Offline };
    let mut request = Request::new("POST", "/webhooks/plane");
    request.headers.push(("content-type".into(), "application/json".into()));
    request.headers.push(("x-plane-signature".into(), signature.into_owned()));
    request.body = body.to_vec();
    let reply = api::handle(&ctx, &request);
    let status = reply.response.status;
    assert!((200..600).contains(&status));
    let json: serde_json::Value = serde_json::from_slice(&reply.response.body).expect("JSON response");
    if status >= 400 {
        assert_eq!(json["status"], "error");
        assert!(json["error_code"].is_string());
    }
});
