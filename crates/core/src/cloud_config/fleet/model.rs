//! What the fleet cloud-config planner reads besides the `NodeOpConfig` ([`FleetConfigObserved`])
//! and what it decides ([`FleetConfigPlan`]). Pure: no I/O.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::{NodeOp, NodeOpConfig, NodeOpConfigStatus, NodeStatus};

use crate::cloud_config::SourceRead;
use crate::upgrade::fleet::ObservedNode;

/// Everything [`plan_fleet_config`](super::plan_fleet_config) reads besides the NodeOpConfig.
#[derive(Clone, Debug, Default)]
pub struct FleetConfigObserved {
    /// The key `spec.config` names, read from the operator's namespace.
    pub source: Option<SourceRead>,
    /// Every Node, with its KairosNode (the planner applies `nodeSelector` itself).
    pub nodes: Vec<ObservedNode>,
    /// The other NodeOpConfigs (an older one writing the same path on a node keeps it).
    pub others: Vec<NodeOpConfig>,
    /// The NodeOps labelled `operator.kairos.io/nodeopconfig=<name>` in its namespace (the
    /// planner keeps those this object owns).
    pub nodeops: Vec<NodeOp>,
    /// Where each node stands in each of those NodeOps (their `NodeOpTarget`s): NodeOp name
    /// -> node -> record.
    pub targets: BTreeMap<String, BTreeMap<String, NodeStatus>>,
}

/// What to do with the NodeOpConfig's finalizer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Finalizer {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Add it (the object applies to nodes: its file is removed before it goes).
    Add,
    /// Remove it (the file was removed, or there is nothing to remove).
    Remove,
}

/// A Kubernetes Event to publish about the NodeOpConfig.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEvent {
    /// CamelCase reason.
    pub reason: &'static str,
    /// What happened.
    pub message: String,
    /// A Warning (else Normal).
    pub warning: bool,
}

/// What [`plan_fleet_config`](super::plan_fleet_config) decided.
#[derive(Clone, Debug, Default)]
pub struct FleetConfigPlan {
    /// The NodeOp to create (server-side apply).
    pub nodeop_to_apply: Option<NodeOp>,
    /// Finished NodeOps of earlier documents to delete (names, in the same namespace).
    pub delete_nodeops: Vec<String>,
    /// The NodeOpConfig's new status.
    pub status: NodeOpConfigStatus,
    /// The finalizer change.
    pub finalizer: Finalizer,
    /// Events of the transitions this plan makes.
    pub events: Vec<ConfigEvent>,
}
