//! The WebAssembly binding: exports `wasi:http/incoming-handler` and adapts
//! WASI's request, response and key-value types to the crate's own.

mod keyvalue;
mod server;

use crate::api::{self, Context};
use crate::config::Config;

struct Component;

wasip2::http::proxy::export!(Component);

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(
        request: wasip2::http::types::IncomingRequest,
        response_out: wasip2::http::types::ResponseOutparam,
    ) {
        let now = crate::time::now();
        let config = Config::from_env();
        let response = match (server::read_request(request), keyvalue::WasiStore::open()) {
            (Ok(request), Ok(store)) => {
                let ctx = Context {
                    store: &store,
                    config: &config,
                    now,
                };
                api::handle(&ctx, &request)
            }
            (Err(err), _) => {
                api::ApiError::new(api::ErrorCode::InternalError, err).into_response(now)
            }
            (_, Err(err)) => api::ApiError::from(err).into_response(now),
        };
        server::send_response(response_out, response);
    }
}
