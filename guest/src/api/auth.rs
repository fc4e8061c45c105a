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
