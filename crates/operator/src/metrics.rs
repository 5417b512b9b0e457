//! Reconcile metrics (runs, failures by category, durations, Events dropped) with bounded labels: the
//! controller name and the error category, never an object name. No I/O.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabel {
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    controller: &'static str,
    category: &'static str,
}

/// Counters and histograms of every controller's reconciles.
#[derive(Clone)]
pub(crate) struct ReconcileMetrics {
    runs: Family<ControllerLabel, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Family<ControllerLabel, Histogram>,
    events_dropped: Counter,
}

impl ReconcileMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let runs = Family::<ControllerLabel, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let duration = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        registry.register(
            "reconcile_runs",
            "Reconciles started, by controller",
            runs.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciles that failed, by controller and error category",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile, by controller",
            duration.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "events_dropped",
            "Kubernetes Events not published because the queue was full",
            events_dropped.clone(),
        );
        Self {
            runs,
            failures,
            duration,
            events_dropped,
        }
    }

    /// The counter of Events dropped by a full queue.
    pub(crate) fn events_dropped(&self) -> Counter {
        self.events_dropped.clone()
    }

    /// Counts a reconcile start; the returned guard records its duration when dropped.
    pub(crate) fn start(&self, controller: &'static str) -> DurationGuard {
        self.runs
            .get_or_create(&ControllerLabel { controller })
            .inc();
        DurationGuard {
            histogram: self
                .duration
                .get_or_create(&ControllerLabel { controller })
                .clone(),
            started: Instant::now(),
        }
    }

    /// Counts a failed reconcile.
    pub(crate) fn failure(&self, controller: &'static str, category: &'static str) {
        self.failures
            .get_or_create(&FailureLabels {
                controller,
                category,
            })
            .inc();
    }
}

/// Observes the time since its creation into a histogram when dropped.
pub(crate) struct DurationGuard {
    histogram: Histogram,
    started: Instant,
}

impl Drop for DurationGuard {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}
