//! Outbound HTTP from the guest, through an allow-list and with timeouts.
//!
//! `wasmtime-wasi-http`'s default lets a guest reach any host, loopback
//! included; here only the configured service origins and `--allow-host`
//! entries are reachable, and everything else fails with
//! `HTTP-request-denied`.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use url::Url;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::runtime::RunClock;

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// Scheme, host and port must all match (from a URL).
    Origin {
        scheme: String,
        host: String,
        port: u16,
    },
    /// Any scheme; the given port, or else the scheme's default port only
    /// (as Spin's `allowed_outbound_hosts` does).
    Host { host: String, port: Option<u16> },
}

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid --allow-host {0:?}: expected host, host:port, [IPv6]:port or a URL's origin, without credentials"
)]
pub struct InvalidAllowEntry(String);

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

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
        if let Some((_, host)) = entry.rsplit_once('@') {
            // Never echoed: what precedes the `@` is a credential.
            return Err(InvalidAllowEntry(format!("<credentials>@{host}")));
        }
        if entry.contains("://") {
            let url = Url::parse(entry).map_err(|_| invalid())?;
            if default_port(url.scheme()).is_none() {
                return Err(invalid());
            }
            return Self::from_url(&url).ok_or_else(invalid);
        }
        // Parsed by hand: `url` drops a port equal to the scheme's default,
        // which would make `host:80` mean every port.
        let (host, port) = split_host_port(entry).ok_or_else(invalid)?;
        // The host must be one a URL could carry (no path, no spaces).
        let probe = if host.contains(':') {
            format!("http://[{host}]/")
        } else {
            format!("http://{host}/")
        };
        let url = Url::parse(&probe).map_err(|_| invalid())?;
        if url.path() != "/" || url.host_str().is_none() {
            return Err(invalid());
        }
        Ok(Allowed::Host {
            host: normalize_host(url.host_str().ok_or_else(invalid)?),
            port,
        })
    }

    fn permits(&self, scheme: &str, host: &str, port: u16) -> bool {
        match self {
            Allowed::Origin {
                scheme: s,
                host: h,
                port: p,
            } => s == scheme && h == host && *p == port,
            Allowed::Host { host: h, port: p } => {
                h == host && Some(port) == p.or_else(|| default_port(scheme))
            }
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if entry.is_empty() {
        return None;
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?.parse().ok()?))),
        };
    }
    if entry.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some((entry, None));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((entry, None)),
    }
}

/// The allow-list, timeouts and concurrency in force for one guest instance.
pub struct OutboundPolicy {
    allowed: Vec<Allowed>,
    connect_timeout: Duration,
    /// Longest wait for the response head once connected, and between bytes.
    response_timeout: Duration,
    /// Open outbound requests; a request takes a permit for as long as its
    /// connection lives.
    open: Arc<Semaphore>,
    max_open: usize,
    /// The run's time limits: no outbound wait outlasts them, so a stalled
    /// server ends in the guest's own error path, not in a killed guest.
    clock: Arc<RunClock>,
    /// Where Plane is, to tell Plane's requests from CalDAV's in metrics.
    plane: Option<Allowed>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Left of the run's time for the guest to handle a timed-out request.
const MARGIN: Duration = Duration::from_millis(500);

/// Lower case, IPv6 brackets removed: `[::1]` and `::1` are one host.
fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Why an outbound request is refused before any connection.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    NotAllowed,
    Credentials,
}

impl OutboundPolicy {
    pub fn new(
        allowed: Vec<Allowed>,
        response_timeout: Duration,
        max_open: usize,
        clock: Arc<RunClock>,
        plane: Option<Allowed>,
    ) -> Self {
        OutboundPolicy {
            plane,
            allowed,
            connect_timeout: CONNECT_TIMEOUT,
            response_timeout,
            open: Arc::new(Semaphore::new(max_open)),
            max_open,
            clock,
        }
    }

    fn check(&self, uri: &http::Uri) -> Result<(), Refusal> {
        // Credentials belong in headers; in the authority they would reach
        // DNS resolution and logs.
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(Refusal::Credentials);
        }
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let (Some(host), Some(default)) = (uri.host().map(normalize_host), default_port(&scheme))
        else {
            return Err(Refusal::NotAllowed);
        };
        let port = uri.port_u16().unwrap_or(default);
        if self.allowed.iter().any(|a| a.permits(&scheme, &host, port)) {
            Ok(())
        } else {
            Err(Refusal::NotAllowed)
        }
    }

    /// `plane`, `caldav` (the other allowed origins) or `other`, for metrics.
    fn destination(&self, uri: &http::Uri) -> &'static str {
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().map(normalize_host).unwrap_or_default();
        let port = uri
            .port_u16()
            .or_else(|| default_port(&scheme))
            .unwrap_or(0);
        if self
            .plane
            .as_ref()
            .is_some_and(|p| p.permits(&scheme, &host, port))
        {
            "plane"
        } else if self.allowed.iter().any(|a| a.permits(&scheme, &host, port)) {
            "caldav"
        } else {
            "other"
        }
    }

    /// The guest's timeouts, capped by the host's and by the time the run
    /// has left.
    fn capped(&self, options: Option<RequestOptions>, left: Duration) -> RequestOptions {
        let cap = |asked: Option<Duration>, limit: Duration| {
            Some(asked.map_or(limit, |a| a.min(limit)).min(left))
        };
        let options = options.unwrap_or_default();
        RequestOptions {
            connect_timeout: cap(options.connect_timeout, self.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout, self.response_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout, self.response_timeout),
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _: IoFuture,
    ) -> SendFuture {
        match self.check(request.uri()) {
            Ok(()) => {}
            Err(Refusal::Credentials) => {
                tracing::warn!(
                    method = %request.method(),
                    "outbound request refused: credentials in the URL's authority"
                );
                return Box::new(async { Err(Error::HttpRequestDenied) });
            }
            Err(Refusal::NotAllowed) => {
                tracing::warn!(
                    method = %request.method(),
                    destination = %origin_of(request.uri()),
                    "outbound request refused: destination not on the allow-list"
                );
                return Box::new(async { Err(Error::HttpRequestDenied) });
            }
        }
        let Ok(permit) = self.open.clone().try_acquire_owned() else {
            tracing::warn!(
                "outbound request refused: {} already open (--max-outbound-requests)",
                self.max_open
            );
            return Box::new(async {
                Err(Error::InternalError(Some(
                    "too many concurrent outbound requests".into(),
                )))
            });
        };
        let left = self.clock.remaining().saturating_sub(MARGIN);
        if left.is_zero() {
            return Box::new(async { Err(Error::ConnectionTimeout) });
        }
        let options = self.capped(options, left);
        let overall = (self.connect_timeout + self.response_timeout).min(left);
        let destination = self.destination(request.uri());
        let method = request.method().to_string();
        Box::new(async move {
            let started = std::time::Instant::now();
            let send = wasmtime_wasi_http::default_send_request(request, Some(options));
            let sent = tokio::time::timeout(overall, send).await;
            let status = match &sent {
                Ok(Ok((response, _))) => Some(response.status().as_u16()),
                _ => None,
            };
            crate::metrics::get().outbound(destination, &method, status, started.elapsed());
            match sent {
                Ok(Ok((response, io))) => {
                    let io = async move {
                        let _permit = permit;
                        io.await
                    };
                    Ok((
                        response.map(BodyExt::boxed_unsync),
                        Box::new(io) as IoFuture,
                    ))
                }
                Ok(Err(err)) => Err(err),
                Err(_) => Err(Error::ConnectionReadTimeout),
            }
        })
    }
}

/// The scheme and host only: paths and queries may carry tokens, the
/// authority credentials.
fn origin_of(uri: &http::Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("https"),
        uri.host().unwrap_or(""),
        uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new(
            entries.iter().map(|e| Allowed::parse(e).unwrap()).collect(),
            Duration::from_secs(1),
            2,
            Arc::new(RunClock::start(
                Duration::from_secs(30),
                Duration::from_secs(30),
            )),
            None,
        )
    }

    fn permits(policy: &OutboundPolicy, uri: &str) -> bool {
        policy.check(&uri.parse().unwrap()).is_ok()
    }

    #[test]
    fn nothing_configured_allows_nothing() {
        assert!(!permits(&policy(&[]), "http://127.0.0.1:80/"));
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let p = policy(&["https://plane.example.com", "http://127.0.0.1:5232/"]);
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
    fn a_port_allows_that_port_only_and_no_port_the_default_port_only() {
        let p = policy(&["example.org", "localhost:9000", "[::1]:8080", "api.test:80"]);
        assert!(permits(&p, "http://example.org/"));
        assert!(permits(&p, "https://example.org/"));
        assert!(permits(&p, "https://example.org:443/"));
        assert!(!permits(&p, "https://example.org:444/"));
        assert!(!permits(&p, "http://example.org:8080/"));
        assert!(permits(&p, "http://localhost:9000/"));
        assert!(!permits(&p, "http://localhost:9001/"));
        assert!(!permits(&p, "http://localhost/"));
        assert!(permits(&p, "http://[::1]:8080/"));
        assert!(!permits(&p, "http://[::1]:8081/"));
        assert!(!permits(&p, "http://[::1]/"));
        // `url` would have dropped the 80 and allowed every port.
        assert!(permits(&p, "http://api.test/"));
        assert!(permits(&p, "http://api.test:80/"));
        assert!(!permits(&p, "http://api.test:6379/"));
        assert!(!permits(&p, "https://api.test/"), "443 is not 80");
    }

    #[test]
    fn ipv6_entries_in_every_form() {
        let p = policy(&["[2001:db8::1]", "::2", "[::3]:443"]);
        assert!(permits(&p, "https://[2001:db8::1]/"));
        assert!(!permits(&p, "https://[2001:db8::1]:8443/"));
        assert!(permits(&p, "http://[::2]/"));
        assert!(permits(&p, "https://[::3]/"));
        assert!(!permits(&p, "http://[::3]/"));
    }

    #[test]
    fn credentials_in_an_authority_are_refused() {
        let p = policy(&["example.org"]);
        assert_eq!(
            p.check(&"http://user:pw@example.org/".parse().unwrap()),
            Err(Refusal::Credentials)
        );
        let refused = Allowed::parse("user:pw@example.org")
            .unwrap_err()
            .to_string();
        assert!(!refused.contains("pw"), "{refused}");
        assert!(Allowed::parse("https://user@example.org").is_err());
    }

    #[test]
    fn other_schemes_are_refused() {
        let p = policy(&["example.org:21"]);
        assert!(!permits(&p, "ftp://example.org:21/"));
        assert!(Allowed::parse("ftp://example.org").is_err());
    }

    #[test]
    fn malformed_entries_are_rejected() {
        for bad in [
            "host/path",
            "",
            "http://",
            "host:port",
            "[::1",
            "[::1]x",
            "a b",
        ] {
            assert!(Allowed::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guest_timeouts_are_capped_by_the_host_and_by_the_time_left() {
        let p = policy(&[]);
        let options = p.capped(
            Some(RequestOptions {
                connect_timeout: Some(Duration::from_secs(600)),
                first_byte_timeout: Some(Duration::from_millis(5)),
                between_bytes_timeout: None,
            }),
            Duration::from_secs(30),
        );
        assert_eq!(options.connect_timeout, Some(CONNECT_TIMEOUT));
        assert_eq!(options.first_byte_timeout, Some(Duration::from_millis(5)));
        assert_eq!(options.between_bytes_timeout, Some(Duration::from_secs(1)));
        let options = p.capped(None, Duration::from_millis(300));
        assert_eq!(options.connect_timeout, Some(Duration::from_millis(300)));
        assert_eq!(options.first_byte_timeout, Some(Duration::from_millis(300)));
    }

    #[test]
    fn logged_origins_carry_no_credentials() {
        let uri: http::Uri = "http://user:secret@example.org:81/p?token=x"
            .parse()
            .unwrap();
        assert_eq!(origin_of(&uri), "http://example.org:81");
    }
}
