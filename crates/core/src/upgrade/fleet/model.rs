//! What the fleet upgrade planner reads and returns: the Nodes ([`ObservedNode`]) and the
//! upgrade's NodeOp as observed ([`FleetObserved`]), and its decision ([`FleetPlan`]). Pure:
//! no I/O.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::{KairosNode, NodeOp, NodeOpUpgradeStatus};

/// One Node as the fleet planner sees it.
#[derive(Clone, Debug, Default)]
pub struct ObservedNode {
    /// The Node's name.
    pub name: String,
    /// The Node's labels.
    pub labels: BTreeMap<String, String>,
    /// The node's KairosNode, if it has one.
    pub kairos_node: Option<KairosNode>,
}

/// Everything [`plan_fleet`](super::plan_fleet) reads.
#[derive(Clone, Debug, Default)]
pub struct FleetObserved {
    /// Every Node of the cluster (the planner applies `targetNodes`/`nodeSelector` itself).
    pub nodes: Vec<ObservedNode>,
    /// The NodeOp named [`nodeop_name`](super::nodeop_name) in the upgrade's namespace, if it
    /// exists.
    pub nodeop: Option<NodeOp>,
}

/// What [`plan_fleet`](super::plan_fleet) decided.
#[derive(Clone, Debug)]
pub struct FleetPlan {
    /// The NodeOp to server-side apply (`None`: nothing to apply).
    pub nodeop_to_apply: Option<NodeOp>,
    /// The NodeOpUpgrade's new status.
    pub status: NodeOpUpgradeStatus,
}
