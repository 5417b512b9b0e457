//! The operator's one metrics registry: every metric it exports, under the prefix `kairos`,
//! including the two gauges of this replica's role (`kairos_leader`, `kairos_ready`). No I/O
//! (`mirror` only follows a channel).

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::fleet_metrics::FleetMetrics;
use crate::metrics::ReconcileMetrics;
use crate::permissions::Permissions;
use crate::report::ReportMetrics;

/// Every metric of the operator, registered, with handles to the parts that record them.
pub(crate) struct OperatorMetrics {
    /// What `/metrics` renders.
    pub(crate) registry: Registry,
    /// The record of refused API requests (`kairos_api_*`).
    pub(crate) permissions: Permissions,
    /// Reconciles (`kairos_reconcile_*`, `kairos_events_dropped_total`).
    pub(crate) reconcile: ReconcileMetrics,
    /// The report channel (`kairos_reports_total`, `kairos_report_token_reviews_total`).
    pub(crate) report: ReportMetrics,
    /// 1 while this replica holds the leader Lease.
    pub(crate) leader: Gauge,
    /// 1 while this replica's `/readyz` answers 200.
    pub(crate) ready: Gauge,
}

impl OperatorMetrics {
    /// Registers every metric but the fleet's gauges, which need the caches
    /// ([`OperatorMetrics::add_fleet`]).
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("kairos");
        let permissions = Permissions::register(&mut registry);
        let reconcile = ReconcileMetrics::register(&mut registry);
        let report = ReportMetrics::register(&mut registry);
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and runs the controllers",
            leader.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "ready",
            "1 while this replica is ready (/readyz answers 200)",
            ready.clone(),
        );
        Self {
            registry,
            permissions,
            reconcile,
            report,
            leader,
            ready,
        }
    }

    /// Registers the fleet's gauges, computed from the caches at scrape time.
    pub(crate) fn add_fleet(&mut self, fleet: FleetMetrics) {
        self.registry.register_collector(Box::new(fleet));
    }
}

/// Keeps `gauge` at 1 while `flag` holds true and at 0 otherwise, until the sender is dropped.
pub(crate) async fn mirror(mut flag: watch::Receiver<bool>, gauge: Gauge) {
    loop {
        gauge.set(i64::from(*flag.borrow_and_update()));
        if flag.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
