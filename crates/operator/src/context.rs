//! What every reconcile shares: the API client, the Event queue, metrics and the operator's
//! configuration. The clock is read here, never in `kairos-core`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::{Recorder, Reporter};

use crate::alerts::AlertSource;
use crate::events::Events;
use crate::metrics::ReconcileMetrics;
use crate::scope::OperationNamespaces;

/// The operator's settings that controllers need.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Namespace the operator runs in; the engine's Jobs and pods run there too.
    pub(crate) namespace: String,
    /// Node of the operator's own pod (it goes last in its rollout group).
    pub(crate) node_name: Option<String>,
    /// How long a node may take to come back after a reboot.
    pub(crate) reboot_timeout: std::time::Duration,
    /// The namespaces whose NodeOps and NodeOpUpgrades are acted on.
    pub(crate) operation_namespaces: OperationNamespaces,
    /// The gates of every per-node upgrade (`--node-upgrade-*`).
    pub(crate) node_upgrade_gates: kairos_api::v1alpha1::Gates,
}

/// Shared state of the controllers.
pub(crate) struct Context {
    /// The API client.
    pub(crate) client: kube::Client,
    /// Publishes Kubernetes Events (queued: a reconcile never waits for them).
    pub(crate) events: Events,
    /// Reconcile metrics.
    pub(crate) metrics: ReconcileMetrics,
    /// Settings.
    pub(crate) config: Config,
    /// UIDs of the objects outside the operation namespaces already reported (log and Event
    /// once per object, not on every reconcile).
    pub(crate) noted_out_of_scope: Mutex<HashSet<String>>,
    /// Prometheus' alerts, for the alert gates (`--prometheus-url`); `None` when not set.
    pub(crate) alerts: Option<AlertSource>,
}

impl Context {
    /// Builds the context and starts publishing Events, as `kairos-operator` from `instance`.
    pub(crate) fn new(
        client: kube::Client,
        metrics: ReconcileMetrics,
        config: Config,
        instance: Option<String>,
        alerts: Option<AlertSource>,
    ) -> Arc<Self> {
        let reporter = Reporter {
            controller: "kairos-operator".into(),
            instance,
        };
        let recorder = Recorder::new(client.clone(), reporter);
        let events = Events::start(recorder, metrics.events_dropped());
        Arc::new(Self {
            client,
            events,
            metrics,
            config,
            noted_out_of_scope: Mutex::default(),
            alerts,
        })
    }

    /// The current time; the only place controllers read the clock.
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
