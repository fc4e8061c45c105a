//! The WebAssembly binding: exports `wasi:http/incoming-handler` and adapts
//! WASI's request, response, key-value and outbound HTTP to the crate's own.

mod bindings;
mod config_store;
mod keyvalue;
mod outbound;
mod server;

use crate::api::{self, Context, Deferred};
use crate::config::Config;
use crate::store::KeyValue;
use crate::sync;

/// WASI header fields as (lower-case name, value) pairs.
fn header_pairs(fields: &wasip2::http::types::Fields) -> Vec<(String, String)> {
    fields
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect()
}

struct Component;

wasip2::http::proxy::export!(Component);

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(
        request: wasip2::http::types::IncomingRequest,
        response_out: wasip2::http::types::ResponseOutparam,
    ) {
        let now = crate::time::now();
        // The configuration store's values win over the environment's.
        let config = Config::from_vars(std::env::vars().chain(config_store::variables()));
        let store = match keyvalue::WasiStore::open() {
            Ok(store) => store,
            Err(err) => {
                server::send_response(response_out, api::ApiError::from(err).into_response(now));
                return;
            }
        };
        let mut head = server::read_head(&request);
        if let Some(refused) = api::refuse_early(&config, &head, now) {
            server::send_response(response_out, refused);
            return;
        }
        let reply = match server::read_body(request, &mut head).map(|()| head) {
            Ok(request) => {
                let ctx = Context {
                    store: &store,
                    config: &config,
                    now,
                    http: &outbound::WasiHttp,
                };
                api::handle(&ctx, &request)
            }
            Err(err) => api::ApiError::new(api::ErrorCode::InternalError, err)
                .into_response(now)
                .into(),
        };
        server::send_response(response_out, reply.response);
        if let Some(work) = reply.deferred {
            run_deferred(work, &store, &config);
        }
    }
}

/// Work that continues after the response was sent, within the host's
/// background time limit.
fn run_deferred(work: Deferred, store: &dyn KeyValue, config: &Config) {
    match work {
        Deferred::Sync { sync_id } => match config.sync() {
            Ok(settings) => {
                let env = sync::SyncEnv::new(store, &outbound::WasiHttp, &settings);
                sync::run(&env, &sync_id);
                api::sweep_rate_limits(store, crate::time::now());
            }
            Err(reason) => {
                crate::log!("ERROR", "Sync not started: {reason}");
                sync::record_not_started(store, &sync_id, &reason);
            }
        },
    }
}
