//! The host's own per-process metrics (requests it served, outbound
//! requests it made for the guest, instances, swaps, store operations),
//! added after the guest's fleet-wide ones in `GET /metrics`. Labels come
//! from fixed sets (routes the API has, methods, status codes), so no
//! client can add a series.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

type Labels = Vec<(&'static str, String)>;

/// Seconds: from a cached `/health` to a slow Plane listing.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// The routes requests are counted by; any other path is `other`.
const ROUTES: &[&str] = &[
    "/",
    "/health",
    "/api/v1/health",
    "/openapi.json",
    "/docs",
    "/metrics",
    "/status",
    "/webhooks/plane",
    "/webhooks/sync",
    "/webhooks/status",
];
const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "PROPFIND",
    "REPORT",
    "MKCALENDAR",
    "PROPPATCH",
    "OPTIONS",
];

pub struct HostMetrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    request_seconds: Family<Labels, Histogram>,
    outbound: Family<Labels, Counter>,
    outbound_seconds: Family<Labels, Histogram>,
    pub instances: Gauge,
    instantiation_seconds: Histogram,
    swaps: Family<Labels, Counter>,
    store_operations: Family<Labels, Counter>,
    store_errors: Family<Labels, Counter>,
}

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl HostMetrics {
    fn new() -> Self {
        let requests = Family::<Labels, Counter>::default();
        let request_seconds =
            Family::<Labels, Histogram>::new_with_constructor(latency as fn() -> Histogram);
        let outbound = Family::<Labels, Counter>::default();
        let outbound_seconds =
            Family::<Labels, Histogram>::new_with_constructor(latency as fn() -> Histogram);
        let instances = Gauge::default();
        let instantiation_seconds = latency();
        let swaps = Family::<Labels, Counter>::default();
        let store_operations = Family::<Labels, Counter>::default();
        let store_errors = Family::<Labels, Counter>::default();
        let mut registry = Registry::with_prefix("calplanebot_host");
        registry.register(
            "http_requests",
            "Requests answered by this process, by route, method and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer, by route",
            Unit::Seconds,
            request_seconds.clone(),
        );
        registry.register("outbound_requests", "Requests the guest sent through this process, by destination (plane, caldav, other), method and status (error: no response)", outbound.clone());
        registry.register_with_unit(
            "outbound_request_duration",
            "Time to a response's head, by destination",
            Unit::Seconds,
            outbound_seconds.clone(),
        );
        registry.register(
            "guest_instances",
            "Guest instances running now",
            instances.clone(),
        );
        registry.register_with_unit(
            "guest_instantiation",
            "Time to instantiate the guest",
            Unit::Seconds,
            instantiation_seconds.clone(),
        );
        registry.register(
            "component_swaps",
            "Component swaps, by outcome",
            swaps.clone(),
        );
        registry.register(
            "store_operations",
            "Key-value store operations, by operation",
            store_operations.clone(),
        );
        registry.register(
            "store_errors",
            "Key-value store operations that failed, by operation",
            store_errors.clone(),
        );
        HostMetrics {
            registry,
            requests,
            request_seconds,
            outbound,
            outbound_seconds,
            instances,
            instantiation_seconds,
            swaps,
            store_operations,
            store_errors,
        }
    }

    pub fn request(&self, method: &str, path: &str, status: u16, took: Duration) {
        let route = route_of(path);
        self.requests
            .get_or_create(&vec![
                ("route", route.to_string()),
                ("method", known(method, METHODS)),
                ("status", status.to_string()),
            ])
            .inc();
        self.request_seconds
            .get_or_create(&vec![("route", route.to_string())])
            .observe(took.as_secs_f64());
    }

    pub fn outbound(
        &self,
        destination: &'static str,
        method: &str,
        status: Option<u16>,
        took: Duration,
    ) {
        self.outbound
            .get_or_create(&vec![
                ("destination", destination.to_string()),
                ("method", known(method, METHODS)),
                (
                    "status",
                    status.map_or_else(|| "error".to_string(), |s| s.to_string()),
                ),
            ])
            .inc();
        self.outbound_seconds
            .get_or_create(&vec![("destination", destination.to_string())])
            .observe(took.as_secs_f64());
    }

    pub fn instantiated(&self, took: Duration) {
        self.instantiation_seconds.observe(took.as_secs_f64());
    }

    pub fn swap(&self, succeeded: bool) {
        let outcome = if succeeded { "swapped" } else { "rejected" };
        self.swaps
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
    }

    pub fn store_operation(&self, operation: &'static str, failed: bool) {
        let labels = vec![("operation", operation.to_string())];
        self.store_operations.get_or_create(&labels).inc();
        if failed {
            self.store_errors.get_or_create(&labels).inc();
        }
    }

    /// This process's series in the OpenMetrics text format, ending `# EOF`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

pub fn get() -> &'static HostMetrics {
    static METRICS: OnceLock<HostMetrics> = OnceLock::new();
    METRICS.get_or_init(HostMetrics::new)
}

fn route_of(path: &str) -> &'static str {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("other")
}

fn known(value: &str, set: &[&'static str]) -> String {
    set.iter()
        .find(|v| v.eq_ignore_ascii_case(value))
        .map_or_else(|| "other".to_string(), |v| v.to_string())
}

/// The guest's exposition with this process's series added before its
/// closing `# EOF` (one exposition may have only one).
pub fn append_host_series(guest: &str) -> String {
    let guest = guest.trim_end();
    let guest = guest.strip_suffix("# EOF").unwrap_or(guest);
    format!("{guest}{}", get().render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_outside_the_api_share_one_series() {
        assert_eq!(route_of("/health/"), "/health");
        assert_eq!(route_of("/../etc/passwd"), "other");
        assert_eq!(known("BREW", METHODS), "other");
        get().request("GET", "/health", 200, Duration::from_millis(2));
        let text = append_host_series(
            "# TYPE calplanebot_syncs counter\ncalplanebot_syncs_total 0\n# EOF\n",
        );
        assert_eq!(text.matches("# EOF").count(), 1);
        assert!(text.ends_with("# EOF\n"));
        assert!(
            text.contains(
                r#"calplanebot_host_http_requests_total{route="/health",method="GET",status="200"}"#
            ),
            "{text}"
        );
    }
}
