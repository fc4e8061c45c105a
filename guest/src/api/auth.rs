//! Secrets in requests: the optional management token and the host's
//! scheduler marker, both compared in constant time.

use super::{ApiError, Context, ErrorCode, SCHEDULER_HEADER};
use crate::http::Request;

/// Compares without an early exit, so timing reveals nothing of `secret`.
pub fn constant_time_eq(secret: &str, given: &str) -> bool {
    secret.len() == given.len()
        && secret
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether the request carries the host's scheduler token.
pub fn is_scheduled(ctx: &Context, request: &Request) -> bool {
    match (
        ctx.config.scheduler_token(),
        request.header(SCHEDULER_HEADER),
    ) {
        (Some(token), Some(sent)) => constant_time_eq(token, sent),
        _ => false,
    }
}

/// With `CALPLANEBOT_API_TOKEN` set, the management endpoints need
/// `Authorization: Bearer <token>`; the host's scheduled requests pass.
pub fn require_token(ctx: &Context, request: &Request) -> Result<(), ApiError> {
    let Some(token) = ctx.config.get("CALPLANEBOT_API_TOKEN") else {
        return Ok(());
    };
    if is_scheduled(ctx, request) {
        return Ok(());
    }
    let given = request
        .header("authorization")
        .and_then(|h| {
            h.trim()
                .strip_prefix("Bearer ")
                .or_else(|| h.trim().strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(given) if constant_time_eq(token, given) => Ok(()),
        Some(_) => Err(
            ApiError::new(ErrorCode::Unauthorized, "The bearer token is not valid")
                .detail("field", "Authorization")
                .detail("reason", "invalid_token")
                .header("www-authenticate", "Bearer error=\"invalid_token\""),
        ),
        None => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "This endpoint requires a bearer token",
        )
        .detail("field", "Authorization")
        .detail("reason", "missing")
        .header("www-authenticate", "Bearer")),
    }
}

/// For the status page, which browsers open: the token also as the
/// password of HTTP Basic (any user name) or in the `calplanebot_token`
/// cookie. `true` when no token is configured.
pub fn page_token_ok(ctx: &Context, request: &Request) -> bool {
    let Some(token) = ctx.config.get("CALPLANEBOT_API_TOKEN") else {
        return true;
    };
    let authorization = request.header("authorization").unwrap_or("").trim();
    let bearer = authorization
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_string());
    let basic = authorization.strip_prefix("Basic ").and_then(|encoded| {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.split_once(':')
            .map(|(_, password)| password.to_string())
    });
    let cookie = request.header("cookie").and_then(|cookies| {
        cookies.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == "calplanebot_token").then(|| value.trim().to_string())
        })
    });
    [bearer, basic, cookie]
        .into_iter()
        .flatten()
        .any(|given| constant_time_eq(token, &given))
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equality() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert!(!constant_time_eq("", "a"));
    }
}
