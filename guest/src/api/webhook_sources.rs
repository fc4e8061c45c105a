//! `WEBHOOK_SOURCE_IPS` (API reference, best practices: "restrict webhook
//! sources to known IPs"): a delivery from any other address is refused
//! with `403 FORBIDDEN` from its head alone, before its body is read or any
//! work is done. calplanebot's host applies the same list before it reads the
//! body; this check holds on every other host (Spin, `wasmtime serve`).

use std::net::IpAddr;

use super::{ApiError, ErrorCode, rate_limit};
use crate::config::Config;
use crate::http::Request;

/// `Err` when `request` (its head) may not be delivered.
pub fn admit(config: &Config, request: &Request) -> Result<(), ApiError> {
    if super::normalize(&request.path) != super::webhook::PATH {
        return Ok(());
    }
    let sources = match config.webhook_sources() {
        Ok(None) => return Ok(()),
        Ok(Some(sources)) => sources,
        Err(reason) => {
            // Fails closed: a list that cannot be read admits no one.
            crate::log!("ERROR", "Webhook refused: {reason}");
            return Err(forbidden());
        }
    };
    let client = rate_limit::client_of(request);
    let allowed = client
        .parse::<IpAddr>()
        .is_ok_and(|ip| sources.iter().any(|net| net.contains(&ip)));
    if allowed {
        return Ok(());
    }
    crate::log!(
        "WARNING",
        "Webhook refused: {client} is not in WEBHOOK_SOURCE_IPS"
    );
    Err(forbidden())
}

fn forbidden() -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        "Webhooks are not accepted from this address",
    )
    .detail("reason", "source_not_allowed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sources: Option<&str>) -> Config {
        Config::from_vars(sources.map(|s| ("WEBHOOK_SOURCE_IPS".to_string(), s.to_string())))
    }

    fn delivery(from: &str) -> Request {
        let mut request = Request::new("POST", "/webhooks/plane");
        request
            .headers
            .push(("calplanebot-client-addr".into(), from.into()));
        request
    }

    #[test]
    fn only_listed_sources_may_deliver_and_unset_allows_all() {
        let listed = config(Some("203.0.113.4, 198.51.100.0/24 2001:db8::/32"));
        for ok in ["203.0.113.4", "198.51.100.77", "2001:db8::9"] {
            assert!(admit(&listed, &delivery(ok)).is_ok(), "{ok}");
        }
        for refused in ["203.0.113.5", "192.0.2.1", "2001:db9::1", "unknown"] {
            let error = admit(&listed, &delivery(refused)).unwrap_err();
            assert_eq!(error.code, ErrorCode::Forbidden, "{refused}");
        }
        assert!(admit(&config(None), &delivery("192.0.2.1")).is_ok());
    }

    #[test]
    fn other_routes_are_not_concerned_and_a_bad_list_admits_no_one() {
        let listed = config(Some("203.0.113.4"));
        let mut health = delivery("192.0.2.1");
        health.path = "/health".into();
        assert!(admit(&listed, &health).is_ok());
        let broken = config(Some("203.0.113.4, not-an-address"));
        assert!(admit(&broken, &delivery("203.0.113.4")).is_err());
        assert!(broken.webhook_sources().unwrap_err().contains("entry 2"));
    }
}
