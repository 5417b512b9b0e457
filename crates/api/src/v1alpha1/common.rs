//! Types shared by the kinds of this version: per-node progress, phases and the conditions
//! schema. Declarations only: no I/O.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Phase of a whole operation (`NodeOp` or `NodeOpUpgrade`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub enum OperationPhase {
    /// Accepted; no node has started yet.
    #[default]
    Pending,
    /// At least one node is in flight or still waiting its turn.
    Running,
    /// Every target node completed or was skipped.
    Completed,
    /// Every node finished and at least one failed.
    Failed,
    /// A failure stopped new starts (`stopOnFailure`), or the operation was deleted.
    Stopped,
}

/// Where one node stands in an operation's state machine.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub enum NodePhase {
    /// Waiting for its turn.
    #[default]
    Pending,
    /// The optional read-only preflight pod is running.
    Preflight,
    /// Being cordoned.
    Cordoning,
    /// Its pods are being evicted.
    Draining,
    /// The operation's Job is running on it.
    Running,
    /// The reboot pod is rebooting it; waiting for a new boot ID.
    Rebooting,
    /// Waiting for the node's agent to confirm the result (version and boot state).
    Verifying,
    /// Being uncordoned.
    Uncordoning,
    /// Finished successfully.
    Completed,
    /// Left out on purpose (preflight said so, or already at the target version).
    Skipped,
    /// Finished unsuccessfully; `message` says why.
    Failed,
    /// The upgrade booted the fallback (passive) image: it did not stick.
    RolledBack,
    /// Never started because the operation stopped.
    Stopped,
}

impl NodePhase {
    /// True once the node will not move again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Skipped | Self::Failed | Self::RolledBack | Self::Stopped
        )
    }

    /// True while the node is between Cordoning and Completed (it counts against `concurrency`).
    pub fn is_in_flight(self) -> bool {
        !self.is_terminal() && self != Self::Pending
    }

    /// True when the node ended badly.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::RolledBack)
    }
}

/// Progress of one target node in an operation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Where the node stands in the operation's state machine.
    pub phase: NodePhase,
    /// Position of the node in the rollout order fixed at start (control plane first).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub order: i32,
    /// Whether the node was a control-plane node when the operation started.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control_plane: bool,
    /// Name of the Job created for this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Human-readable explanation of the current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How many times the Job's pod was started (retries included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    /// Whether this operation cordoned the node (and so must uncordon it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cordoned: bool,
    /// Boot ID the node's agent reported before the reboot (the reboot is confirmed by a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id_before: Option<String>,
    /// When the node left Pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the node entered its current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// When the node reached a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}

/// Schema of a `conditions` list: a list-map keyed by `type`, as Kubernetes API conventions ask.
pub(crate) fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Condition>();
    json_schema!({
        "type": "array",
        "description": "Latest observations of the object's state.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": item,
    })
}
