//! The `NodeOpUpgrade` kind: a Kairos upgrade of a fleet, run through one owned `NodeOp`
//! (upstream-compatible). Declarations only: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LocalObjectReference, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{NodeStatus, OperationPhase, conditions_schema};
use super::gates::Gates;
use super::nodeop::default_true;

/// Desired state of a `NodeOpUpgrade`: which Kairos image to upgrade which nodes to.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "operator.kairos.io",
    version = "v1alpha1",
    kind = "NodeOpUpgrade",
    namespaced,
    status = "NodeOpUpgradeStatus",
    shortname = "nou",
    category = "kairos",
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".spec.image","priority":1}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Nodes","type":"integer","jsonPath":".status.total"}"#,
    printcolumn = r#"{"name":"Done","type":"integer","jsonPath":".status.completed"}"#,
    printcolumn = r#"{"name":"Skipped","type":"integer","jsonPath":".status.skipped"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.failed"}"#,
    printcolumn = r#"{"name":"Held","type":"string","jsonPath":".status.held"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("(has(self.upgradeActive) && self.upgradeActive) || (has(self.upgradeRecovery) && self.upgradeRecovery)").message("at least one of upgradeActive and upgradeRecovery must be true"))]
#[serde(rename_all = "camelCase")]
pub struct NodeOpUpgradeSpec {
    /// Kairos container image to upgrade to (for example
    /// `quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1`). The upgrade
    /// Job runs in this image and uses its own `kairos-agent`.
    #[schemars(length(min = 1))]
    pub image: String,

    /// Label selector of the nodes to upgrade, used when `targetNodes` is empty. When both are
    /// empty every node is upgraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,

    /// Names of the nodes to upgrade. Takes precedence over `nodeSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_nodes: Option<Vec<String>>,

    /// At most this many nodes upgrading at once; 0 means all. Control-plane nodes always go
    /// first, one at a time.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub concurrency: i32,

    /// After a node fails (or rolls back), start no new node.
    #[serde(default)]
    pub stop_on_failure: bool,

    /// Upgrade the active system (the image booted by default). Default true.
    #[serde(default = "default_true")]
    pub upgrade_active: bool,

    /// Upgrade the recovery system. Default false.
    #[serde(default)]
    pub upgrade_recovery: bool,

    /// Upgrade even when the node already runs the image's version.
    #[serde(default)]
    pub force: bool,

    /// Let `image` install another flavor, variant, architecture or Kubernetes distribution
    /// than a target node runs. Off by default: an upgrade whose image does not fit a target
    /// node's report fails before anything runs, naming both sides.
    #[serde(default)]
    pub allow_system_change: bool,

    /// `image` is a trusted-boot (UKI) container image, as `auroraboot build-uki -t container`
    /// builds it (signed EFI files, no shell, no `kairos-agent`). It is installed by each node's
    /// own `kairos-agent` (`upgrade --source oci:<image>`), which checks the signatures against
    /// the node's enrolled keys. Every target must boot trusted, and with it unset every target
    /// must not: an upgrade whose image and nodes disagree fails before anything runs, naming
    /// both. Default false.
    #[serde(default)]
    pub trusted_boot: bool,

    /// Run `kairos-agent` with `--debug`.
    #[serde(default)]
    pub debug: bool,

    /// Uncordon a node whose upgrade failed. By default it stays cordoned.
    #[serde(default)]
    pub uncordon_on_failure: bool,

    /// Secrets used to pull `image` from a private registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,

    /// What holds new starts: a window, a pacing delay, blocking pods, an alert.
    #[serde(flatten)]
    pub gates: Gates,

    /// Resources of the upgrade Job's container. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// Observed state of a `NodeOpUpgrade`; mirrors its `NodeOp`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeOpUpgradeStatus {
    /// Phase of the whole upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<OperationPhase>,
    /// Name of the `NodeOp` that runs this upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_op_name: Option<String>,
    /// Progress per target node, copied from the `NodeOp`, plus the nodes skipped up front.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_statuses: BTreeMap<String, NodeStatus>,
    /// Number of target nodes.
    #[serde(default)]
    pub total: i32,
    /// Number of nodes upgraded (the skipped ones are counted in `skipped`, not here).
    #[serde(default)]
    pub completed: i32,
    /// Number of nodes left out: already on the target version, pinned to another version by
    /// their KairosNode, or otherwise not upgraded on purpose (each one's message says why).
    #[serde(default)]
    pub skipped: i32,
    /// Number of nodes that failed or rolled back.
    #[serde(default)]
    pub failed: i32,
    /// Human-readable summary of the upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Latest observations: `Progressing`, `Complete`, `Failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// What holds its NodeOp's new starts now, if anything (as the NodeOp's `status.held`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}
