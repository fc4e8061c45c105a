//! Outbound HTTP from the guest, through an allow-list and with timeouts.
//!
//! `wasmtime-wasi-http`'s default lets a guest reach any host, loopback
//! included; here only the configured service origins and `--allow-host`
//! entries are reachable, and everything else fails with
//! `HTTP-request-denied`.

use std::time::Duration;

use http_body_util::BodyExt;
use url::Url;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// Scheme, host and port must all match (from a URL).
    Origin {
        scheme: String,
        host: String,
        port: u16,
    },
    /// Any scheme; the port must match when one is given.
    Host { host: String, port: Option<u16> },
}

#[derive(Debug, thiserror::Error)]
#[error("invalid --allow-host {0:?}: expected host, host:port or a URL")]
pub struct InvalidAllowEntry(String);

impl Allowed {
    pub fn from_url(url: &Url) -> Option<Self> {
        Some(Allowed::Origin {
            scheme: url.scheme().to_string(),
            host: normalize_host(url.host_str()?),
            port: url.port_or_known_default()?,
        })
    }

    pub fn parse(entry: &str) -> Result<Self, InvalidAllowEntry> {
        let invalid = || InvalidAllowEntry(entry.to_string());
        if entry.contains("://") {
            let url = Url::parse(entry).map_err(|_| invalid())?;
            return Self::from_url(&url).ok_or_else(invalid);
        }
        let url = Url::parse(&format!("http://{entry}")).map_err(|_| invalid())?;
        let host = normalize_host(url.host_str().ok_or_else(invalid)?);
        if url.path() != "/" || url.query().is_some() {
            return Err(invalid());
        }
        Ok(Allowed::Host {
            host,
            port: url.port(),
        })
    }

    fn permits(&self, scheme: &str, host: &str, port: u16) -> bool {
        match self {
            Allowed::Origin {
                scheme: s,
                host: h,
                port: p,
            } => s == scheme && h == host && *p == port,
            Allowed::Host { host: h, port: p } => h == host && p.is_none_or(|p| p == port),
        }
    }
}

/// The allow-list and timeouts in force for one guest instance.
pub struct OutboundPolicy {
    pub allowed: Vec<Allowed>,
    pub connect_timeout: Duration,
    /// Longest wait for the response head once connected.
    pub response_timeout: Duration,
}

/// Lower case, IPv6 brackets removed: `[::1]` and `::1` are one host.
fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

impl OutboundPolicy {
    pub fn permits(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let Some(host) = uri.host().map(normalize_host) else {
            return false;
        };
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        self.allowed.iter().any(|a| a.permits(&scheme, &host, port))
    }

    fn capped(&self, options: Option<RequestOptions>) -> RequestOptions {
        let cap =
            |asked: Option<Duration>, limit: Duration| Some(asked.map_or(limit, |a| a.min(limit)));
        let options = options.unwrap_or_default();
        RequestOptions {
            connect_timeout: cap(options.connect_timeout, self.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout, self.response_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout, self.response_timeout),
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send> {
        if !self.permits(request.uri()) {
            tracing::warn!(
                method = %request.method(),
                destination = %origin_of(request.uri()),
                "outbound request refused: destination not on the allow-list"
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let options = self.capped(options);
        let overall = self.connect_timeout + self.response_timeout;
        Box::new(async move {
            let send = wasmtime_wasi_http::default_send_request(request, Some(options));
            match tokio::time::timeout(overall, send).await {
                Ok(Ok((response, io))) => Ok((
                    response.map(BodyExt::boxed_unsync),
                    Box::new(io) as IoFuture,
                )),
                Ok(Err(err)) => Err(err),
                Err(_) => Err(Error::ConnectionReadTimeout),
            }
        })
    }
}

/// The scheme and authority only: paths and queries may carry tokens.
fn origin_of(uri: &http::Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map(|a| a.as_str()).unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        OutboundPolicy {
            allowed: entries.iter().map(|e| Allowed::parse(e).unwrap()).collect(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
        }
    }

    fn permits(policy: &OutboundPolicy, uri: &str) -> bool {
        policy.permits(&uri.parse().unwrap())
    }

    #[test]
    fn nothing_configured_allows_nothing() {
        assert!(!permits(&policy(&[]), "http://127.0.0.1:80/"));
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let p = policy(&[
            "https://plane.example.com/api",
            "http://127.0.0.1:5232/user/",
        ]);
        assert!(permits(&p, "https://plane.example.com/api/v1/x"));
        assert!(permits(&p, "https://PLANE.example.com:443/"));
        assert!(!permits(&p, "http://plane.example.com/"));
        assert!(!permits(&p, "https://plane.example.com:8443/"));
        assert!(permits(&p, "http://127.0.0.1:5232/other"));
        assert!(!permits(&p, "http://127.0.0.1:5233/"));
        assert!(!permits(&p, "https://evil.example.com/"));
        assert!(!permits(&p, "https://plane.example.com.evil.com/"));
    }

    #[test]
    fn bare_hosts_match_any_scheme_and_optionally_a_port() {
        let p = policy(&["example.org", "localhost:9000", "[::1]:8080"]);
        assert!(permits(&p, "http://example.org/"));
        assert!(permits(&p, "https://example.org:444/"));
        assert!(permits(&p, "http://localhost:9000/"));
        assert!(!permits(&p, "http://localhost:9001/"));
        assert!(permits(&p, "http://[::1]:8080/"));
    }

    #[test]
    fn malformed_entries_are_rejected() {
        assert!(Allowed::parse("host/path").is_err());
        assert!(Allowed::parse("").is_err());
        assert!(Allowed::parse("http://").is_err());
    }

    #[test]
    fn guest_timeouts_are_capped() {
        let p = policy(&[]);
        let options = p.capped(Some(RequestOptions {
            connect_timeout: Some(Duration::from_secs(600)),
            first_byte_timeout: Some(Duration::from_millis(5)),
            between_bytes_timeout: None,
        }));
        assert_eq!(options.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(options.first_byte_timeout, Some(Duration::from_millis(5)));
        assert_eq!(options.between_bytes_timeout, Some(Duration::from_secs(1)));
    }
}
