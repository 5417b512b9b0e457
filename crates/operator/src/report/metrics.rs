//! Metrics of the report channel: reports by result and TokenReviews sent. Bounded labels only
//! (a fixed set of results, never a node name). No I/O.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The outcome of one `Report` call: the `result` label of `kairos_reports_total`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ReportResult {
    /// Authenticated, valid and persisted (whether or not anything changed).
    accepted,
    /// Missing or invalid token, wrong audience or wrong service account.
    rejected_unauthenticated,
    /// The token's pod runs on another node than the report names.
    rejected_wrong_node,
    /// The request itself is malformed (empty node name, oversized fields).
    rejected_invalid,
    /// The operator could not check the token or persist the report (API server errors).
    error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: ReportResult,
}

/// Counters of the report channel. Cheap to clone (the counters are shared).
#[derive(Clone, Debug, Default)]
pub struct ReportMetrics {
    reports: Family<ResultLabel, Counter>,
    token_reviews: Counter,
}

impl ReportMetrics {
    /// Creates the metrics and registers them in `registry`. With the operator's registry prefix
    /// `kairos` they are exported as `kairos_reports_total{result}` and
    /// `kairos_report_token_reviews_total`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "reports",
            "Node reports received, by result",
            metrics.reports.clone(),
        );
        registry.register(
            "report_token_reviews",
            "TokenReviews sent to authenticate agents (cache misses)",
            metrics.token_reviews.clone(),
        );
        metrics
    }

    /// Counts one report with its outcome.
    pub fn report(&self, result: ReportResult) {
        self.reports.get_or_create(&ResultLabel { result }).inc();
    }

    /// How many reports ended with `result` so far.
    pub fn reports(&self, result: ReportResult) -> u64 {
        self.reports.get_or_create(&ResultLabel { result }).get()
    }

    /// Counts one TokenReview sent to the API server.
    pub fn token_review(&self) {
        self.token_reviews.inc();
    }

    /// How many TokenReviews were sent so far.
    pub fn token_reviews(&self) -> u64 {
        self.token_reviews.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_names_and_labels() {
        let mut registry = Registry::with_prefix("kairos");
        let metrics = ReportMetrics::register(&mut registry);
        metrics.report(ReportResult::accepted);
        metrics.report(ReportResult::rejected_wrong_node);
        metrics.token_review();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("kairos_reports_total{result=\"accepted\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kairos_reports_total{result=\"rejected_wrong_node\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kairos_report_token_reviews_total 1"),
            "{text}"
        );
    }
}
