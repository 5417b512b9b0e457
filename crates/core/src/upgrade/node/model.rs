//! What the per-node upgrade planner reads and returns: its settings ([`NodeConfig`]), the
//! NodeOps observed for the node ([`NodeObserved`]) and its decision ([`NodePlan`]). Pure: no
//! I/O.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kairos_api::names::conditions;
use kairos_api::v1alpha1::{Gates, KairosNodeStatus, NodeOp, UpgradeStatus};

/// Settings of the per-node planner.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The operator's namespace, where per-node NodeOps are created.
    pub namespace: String,
    /// How long after the reboot starts the node's agent has to report the new boot.
    pub verify_timeout: Duration,
    /// The gates of every per-node upgrade (the operator's `--node-upgrade-*` flags).
    pub gates: Gates,
}

/// Everything [`plan_node`](super::plan_node) reads besides the KairosNode itself.
#[derive(Clone, Debug, Default)]
pub struct NodeObserved {
    /// The newest NodeOp in the operator's namespace labelled
    /// `operator.kairos.io/kairosnode=<label_value(node)>`, if any.
    pub own_nodeop: Option<NodeOp>,
    /// The newest fleet upgrade NodeOp (label `operator.kairos.io/nodeopupgrade`) whose
    /// `spec.targetNodes` contains the node, if any.
    pub fleet_nodeop: Option<NodeOp>,
    /// No agent reports for this KairosNode: it was not created by the report service (no
    /// managed-fields entry of [`REPORT_FIELD_MANAGER`](crate::kairos_node::REPORT_FIELD_MANAGER);
    /// see [`reported_by_agent`](super::reported_by_agent)), so it was made by hand.
    pub no_agent_report: bool,
    /// The Node the KairosNode is named after does not exist (confirmed by a fresh read).
    pub node_missing: bool,
}

/// What [`plan_node`](super::plan_node) decided.
#[derive(Clone, Debug)]
pub struct NodePlan {
    /// The NodeOp to server-side apply.
    pub nodeop_to_apply: Option<NodeOp>,
    /// Name of a finished NodeOp (in the operator's namespace) to delete.
    pub delete_nodeop: Option<String>,
    /// Delete the KairosNode itself: its Node does not exist.
    pub delete_kairos_node: bool,
    /// The new `status.upgrade`.
    pub upgrade: UpgradeStatus,
    /// The new `UpToDate` and `Upgrading` conditions (merged, transition times kept).
    pub conditions: Vec<Condition>,
}

impl NodePlan {
    /// Writes the plan into `status`: `upgrade` is replaced, and so are the conditions of this
    /// planner's two types; other conditions (`Reporting`, `Degraded`) are kept.
    pub fn apply_to(&self, status: &mut KairosNodeStatus) {
        status.upgrade = Some(self.upgrade.clone());
        let mine = [conditions::UP_TO_DATE, conditions::UPGRADING];
        status
            .conditions
            .retain(|c| !mine.contains(&c.type_.as_str()));
        status.conditions.extend(self.conditions.iter().cloned());
        status.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    }
}
