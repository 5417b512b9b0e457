//! The `NodeOpConfig` kind: one declared cloud-config applied to the nodes a selector picks,
//! run through the NodeOp engine like a `NodeOpUpgrade`. Declarations only: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{NodeStatus, OperationPhase, conditions_schema};
use super::node_config::NodeConfigSpec;

/// Desired state of a `NodeOpConfig`: which cloud-config file the nodes a selector picks
/// should carry. It must live in the operator's namespace, where its Secret or ConfigMap is.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "operator.kairos.io",
    version = "v1alpha1",
    kind = "NodeOpConfig",
    namespaced,
    status = "NodeOpConfigStatus",
    shortname = "noc",
    category = "kairos",
    printcolumn = r#"{"name":"Path","type":"string","jsonPath":".spec.config.path","priority":1}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Nodes","type":"integer","jsonPath":".status.total"}"#,
    printcolumn = r#"{"name":"Applied","type":"integer","jsonPath":".status.applied"}"#,
    printcolumn = r#"{"name":"Skipped","type":"integer","jsonPath":".status.skipped"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.failed"}"#,
    printcolumn = r#"{"name":"Drifted","type":"integer","jsonPath":".status.drifted"}"#,
    printcolumn = r#"{"name":"Operation","type":"string","jsonPath":".status.nodeOpName","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NodeOpConfigSpec {
    /// Label selector of the nodes that should carry the configuration. Absent: every node
    /// with a KairosNode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,

    /// The configuration: a key of a Secret or ConfigMap in the operator's namespace, the file
    /// it becomes under `/oem`, and whether writing it reboots the node or runs a stage (the
    /// same fields as a KairosNode's `spec.config`).
    pub config: NodeConfigSpec,

    /// At most this many nodes applying at once; 0 means all. Control-plane nodes always go
    /// first, one at a time.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub concurrency: i32,

    /// After a node fails, start no new node.
    #[serde(default)]
    pub stop_on_failure: bool,
}

/// Observed state of a `NodeOpConfig`: where its current document stands on the nodes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeOpConfigStatus {
    /// Phase of the rollout of the current document (or of the removal, once deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<OperationPhase>,
    /// SHA-256 (hex) of the current document; absent while it is missing or refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_hash: Option<String>,
    /// Name of the `NodeOp` (in this namespace) writing the current document, or removing the
    /// file after deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_op_name: Option<String>,
    /// Nodes not (yet) carrying the document, with why: at most 100, the others counted only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_statuses: BTreeMap<String, NodeStatus>,
    /// Number of nodes the selector picks.
    #[serde(default)]
    pub total: i32,
    /// Number of nodes reporting the managed file with the desired hash.
    #[serde(default)]
    pub applied: i32,
    /// Number of nodes left out on purpose: their KairosNode declares the same file, an older
    /// NodeOpConfig manages it, or no agent reports for them.
    #[serde(default)]
    pub skipped: i32,
    /// Number of nodes whose write failed.
    #[serde(default)]
    pub failed: i32,
    /// Number of nodes the document was written to that now report another hash (or none).
    #[serde(default)]
    pub drifted: i32,
    /// Human-readable summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Latest observations: `Progressing`, `Complete`, `Failed`, `SpecApplied`, `ConfigApplied`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
