//! The `NodeOpTarget` kind: one target node of one `NodeOp`, and where that node stands in it.
//! The operator creates one per target when the operation starts (fixing the target list) and
//! owns it; the `NodeOp`'s own status stays small whatever the fleet's size. Declarations only:
//! no I/O.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::common::NodeStatus;

/// A target node of a `NodeOp`, fixed when the operation started. Written by the operator
/// only; listed per operation with
/// `kubectl get nodeoptargets -n <ns> -l operator.kairos.io/nodeop=<name>`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[kube(
    group = "operator.kairos.io",
    version = "v1alpha1",
    kind = "NodeOpTarget",
    namespaced,
    status = "NodeStatus",
    shortname = "nopt",
    category = "kairos",
    printcolumn = r#"{"name":"NodeOp","type":"string","jsonPath":".spec.nodeOp"}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.node"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NodeOpTargetSpec {
    /// Name of the `NodeOp` (in this namespace) this node is a target of.
    #[schemars(length(min = 1, max = 253))]
    pub node_op: String,
    /// Name of the target Node.
    #[schemars(length(min = 1, max = 253))]
    pub node: String,
    /// Position of the node in the rollout order fixed at start (control plane first).
    #[schemars(range(min = 0))]
    pub order: i32,
    /// Whether the node was a control-plane node when the operation started.
    #[serde(default)]
    pub control_plane: bool,
}
