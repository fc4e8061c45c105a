//! The store's counters in the OpenMetrics text format (which Prometheus
//! reads), through `prometheus-client` rather than by hand.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::{
    EVENT_CHANGES, SYNC_DURATION_BUCKETS, SYNC_OUTCOMES, WEBHOOK_OUTCOMES, events, key, read,
};
use crate::api::ErrorCode;
use crate::store::{KeyValue, StoreError};

type Labels = Vec<(String, String)>;

/// What the guest knows beyond its counters, read by the caller.
pub struct Gauges {
    pub queue_length: u64,
    /// Changes the last full syncs found that no webhook delivered.
    pub changes_only_by_sync: u64,
}

fn family(
    store: &dyn KeyValue,
    name: &str,
    label: &str,
    values: &[&str],
) -> Result<Family<Labels, Counter>, StoreError> {
    let family = Family::<Labels, Counter>::default();
    for value in values {
        let count = read(store, &key(name, value))?;
        family
            .get_or_create(&vec![(label.to_string(), value.to_string())])
            .inc_by(count);
    }
    Ok(family)
}

pub fn render(store: &dyn KeyValue, gauges: &Gauges) -> Result<String, StoreError> {
    let mut registry = Registry::with_prefix("calplanebot");
    registry.register(
        "syncs",
        "Full syncs finished, by outcome",
        family(store, "syncs", "outcome", &SYNC_OUTCOMES)?,
    );
    let mut buckets = Vec::new();
    let mut count = 0;
    for (index, bound) in SYNC_DURATION_BUCKETS.iter().enumerate() {
        let n = read(store, &key("sync_duration_bucket", &index.to_string()))?;
        count += n;
        buckets.push((*bound, n));
    }
    registry.register_with_unit(
        "sync_duration",
        "How long full syncs took",
        Unit::Seconds,
        StoredHistogram {
            sum: read(store, &key("sync_duration", "millis"))? as f64 / 1000.0,
            count,
            buckets,
        },
    );
    let changes = Family::<Labels, Counter>::default();
    for change in EVENT_CHANGES {
        changes
            .get_or_create(&vec![("change".to_string(), change.to_string())])
            .inc_by(events(store, change)?);
    }
    registry.register(
        "events",
        "Calendar events written or found right, by change",
        changes,
    );
    let webhooks = Family::<Labels, Counter>::default();
    for outcome in WEBHOOK_OUTCOMES.iter().filter(|o| **o != "rejected") {
        webhooks
            .get_or_create(&vec![
                ("outcome".to_string(), outcome.to_string()),
                ("reason".to_string(), String::new()),
            ])
            .inc_by(read(store, &key("webhooks", outcome))?);
    }
    for code in ErrorCode::ALL {
        let n = read(
            store,
            &key("webhooks", &format!("rejected:{}", code.as_str())),
        )?;
        if n > 0 {
            webhooks
                .get_or_create(&vec![
                    ("outcome".to_string(), "rejected".to_string()),
                    ("reason".to_string(), code.as_str().to_string()),
                ])
                .inc_by(n);
        }
    }
    registry.register(
        "webhooks",
        "Plane webhooks received, by outcome (and a rejection's error code)",
        webhooks,
    );
    let codes: Vec<&str> = ErrorCode::ALL
        .into_iter()
        .filter(|c| super::counts_in_store(*c))
        .map(|c| c.as_str())
        .collect();
    registry.register(
        "errors",
        "Answers in the error format, by error_code",
        family(store, "errors", "error_code", &codes)?,
    );
    let waits = Counter::<u64>::default();
    waits.inc_by(read(store, &key("plane_waits", "count"))?);
    registry.register(
        "plane_rate_limit_waits",
        "Waits of syncs on Plane's rate limit and retries",
        waits,
    );
    let waited = Counter::<f64>::default();
    waited.inc_by(read(store, &key("plane_waits", "millis"))? as f64 / 1000.0);
    registry.register_with_unit(
        "plane_rate_limit_wait",
        "Time syncs spent waiting on Plane's rate limit and retries",
        Unit::Seconds,
        waited,
    );
    let queue = Gauge::<i64>::default();
    queue.set(i64::try_from(gauges.queue_length).unwrap_or(i64::MAX));
    registry.register(
        "queue_length",
        "Webhook changes waiting in the durable queue",
        queue,
    );
    let missed = Gauge::<i64>::default();
    missed.set(i64::try_from(gauges.changes_only_by_sync).unwrap_or(i64::MAX));
    registry.register(
        "changes_only_by_sync",
        "Changes recent full syncs found that no webhook delivered (Plane's webhook may be disabled)",
        missed,
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|err| StoreError::Other(format!("metrics not encoded: {err}")))?;
    Ok(text)
}

/// A histogram whose buckets were counted in the store, not observed here.
#[derive(Debug)]
struct StoredHistogram {
    sum: f64,
    count: u64,
    /// Upper bound and the count in that bucket alone.
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for StoredHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
