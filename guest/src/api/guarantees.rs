//! Which of the service's promises the host it runs on lets it keep, for
//! `/api/v1/health`. Under `wasmtime serve` nothing written outlives the
//! request, and `wasi:keyvalue@0.2.0-draft` (wasmtime serve, wasmCloud)
//! has no compare-and-swap: the sync stays correct there (it reads what it
//! needs back from the calendar), but a monitor must be able to see what
//! is off.

use serde_json::{Value, json};

use crate::store::Durability;

/// Each promise that depends on the store, and whether it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guarantees {
    /// A webhook answered `queued` is applied by a later sync.
    pub durable_queue: bool,
    /// One sync at a time across instances and replicas.
    pub cross_instance_lease: bool,
    /// Rate limits are counted over their whole window.
    pub rate_limit_counters: bool,
    /// Counters, the last sync and its status outlive the request.
    pub metrics_across_requests: bool,
}

impl From<Durability> for Guarantees {
    fn from(durability: Durability) -> Self {
        let persists = durability.persists;
        // The queue's index and the event records are compare-and-swapped:
        // a get-then-set between concurrent instances loses a slot.
        let shared_safely = persists && durability.atomic_compare_and_swap;
        Guarantees {
            durable_queue: shared_safely,
            cross_instance_lease: shared_safely,
            rate_limit_counters: persists,
            metrics_across_requests: persists,
        }
    }
}

impl Guarantees {
    fn named(&self) -> [(&'static str, bool); 4] {
        [
            ("durable_queue", self.durable_queue),
            ("cross_instance_lease", self.cross_instance_lease),
            ("rate_limit_counters", self.rate_limit_counters),
            ("metrics_across_requests", self.metrics_across_requests),
        ]
    }

    /// The names of the promises that do not hold, for a monitor to alert on.
    pub fn off(&self) -> Vec<&'static str> {
        self.named()
            .into_iter()
            .filter_map(|(name, holds)| (!holds).then_some(name))
            .collect()
    }

    /// `guarantees`, `guarantees_off` and, when some are off, a note that
    /// says what it means for the operator.
    pub fn fields(&self, durability: Durability) -> Vec<(&'static str, Value)> {
        let named: serde_json::Map<String, Value> = self
            .named()
            .into_iter()
            .map(|(name, holds)| (name.to_string(), json!(holds)))
            .collect();
        let mut fields = vec![
            ("guarantees", Value::Object(named)),
            ("guarantees_off", json!(self.off())),
        ];
        let note = if !durability.persists {
            Some(
                "This host keeps nothing between requests (wasmtime serve): webhooks are applied \
                 within their request or by the next full sync, which rebuilds its state from the \
                 calendars; trigger that sync from outside (POST /webhooks/sync), as this host has \
                 no timer",
            )
        } else if !durability.atomic_compare_and_swap {
            Some(
                "This store has no atomic compare-and-swap (wasi:keyvalue@0.2.0-draft): run one \
                 instance at a time (--max-instances 1 on calplanebot's host), or two syncs may \
                 overlap and concurrent webhooks may lose a queued change",
            )
        } else {
            None
        };
        if let Some(note) = note {
            fields.push(("guarantees_note", json!(note)));
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Invariant: a promise is reported as holding only when the store
    /// provides what it rests on.
    #[test]
    fn each_promise_follows_what_the_store_keeps() {
        for persists in [false, true] {
            for atomic_compare_and_swap in [false, true] {
                let durability = Durability {
                    persists,
                    atomic_compare_and_swap,
                };
                let guarantees = Guarantees::from(durability);
                assert_eq!(
                    guarantees.durable_queue,
                    persists && atomic_compare_and_swap
                );
                assert_eq!(guarantees.rate_limit_counters, persists);
                assert_eq!(guarantees.metrics_across_requests, persists);
                assert_eq!(
                    guarantees.cross_instance_lease,
                    persists && atomic_compare_and_swap
                );
                let fields = guarantees.fields(durability);
                let has_note = fields.iter().any(|(name, _)| *name == "guarantees_note");
                assert_eq!(has_note, !guarantees.off().is_empty());
            }
        }
    }
}
