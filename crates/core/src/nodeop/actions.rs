//! The `NodeOp` planner's outputs: the [`Plan`] with the node locks to take ([`Acquire`]),
//! the target records to write ([`TargetWrite`]), the writes to make ([`Action`], applied in
//! [`stages`]) and the [`Event`]s to record. Pure: no I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kairos_api::v1alpha1::{NodeOpStatus, NodeStatus};

use super::reason::Reason;

/// A write of a target record, made before the NodeOp's status and its actions.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetWrite {
    /// Create the record (the targets are fixed at start), then write `status` into it.
    Create {
        /// Node name.
        node: String,
        /// Position in the rollout order.
        order: i32,
        /// Whether the node is a control-plane node.
        control_plane: bool,
        /// Its status after this plan.
        status: NodeStatus,
    },
    /// Replace the record's status (it changed).
    Status {
        /// Node name.
        node: String,
        /// The new status.
        status: NodeStatus,
    },
}

/// A node lock to take before anything else of the plan is written: the plan starts the node.
/// If the lock cannot be taken (another operation was faster), nothing of the plan is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acquire {
    /// Node name.
    pub node: String,
    /// Whether the node is a control-plane node.
    pub control_plane: bool,
    /// The holder identity `<ns>/<name>@<uid>` of this `NodeOp`.
    pub holder: String,
}

/// One write the operator must make. Every action is idempotent; see [`plan`](super::plan())
/// for how each is applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Set `spec.unschedulable: true` and the annotation `operator.kairos.io/cordoned-by`.
    Cordon {
        /// Node name.
        node: String,
        /// Annotation value `<ns>/<name>@<uid>`.
        cordoned_by: String,
    },
    /// Set `spec.unschedulable: false` and remove the annotation, only if the annotation still
    /// equals `cordoned_by` (use a JSON patch with a `test` operation).
    Uncordon {
        /// Node name.
        node: String,
        /// Annotation value this operation wrote.
        cordoned_by: String,
    },
    /// Create an Eviction for the pod (429 from a PodDisruptionBudget is not an error: the
    /// next plan retries until the drain times out).
    Evict {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// `DeleteOptions.gracePeriodSeconds`; `None` keeps the pod's own.
        grace_period_seconds: Option<i64>,
    },
    /// Create the Job (`AlreadyExists` counts as success: the name is deterministic).
    CreateJob(Box<Job>),
    /// Create the preflight pod (`AlreadyExists` counts as success).
    CreatePreflightPod(Box<Pod>),
    /// Create the reboot pod (`AlreadyExists` counts as success).
    CreateRebootPod(Box<Pod>),
    /// Delete a Job with `propagationPolicy: Background` (its pods go too).
    DeleteJob {
        /// Job namespace.
        namespace: String,
        /// Job name.
        name: String,
    },
    /// Delete an engine pod.
    DeletePod {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        name: String,
    },
    /// Remove [`kairos_api::names::NODEOP_FINALIZER`] from the `NodeOp`: cleanup is done.
    RemoveFinalizer,
    /// Release this operation's lock of the node (delete the Lease only while `holder` still
    /// holds it).
    Release {
        /// Node name.
        node: String,
        /// This operation's holder identity.
        holder: String,
    },
    /// Break a lock whose holder no longer exists (delete the Lease only while that `holder`
    /// still holds it).
    BreakLock {
        /// Node name.
        node: String,
        /// The vanished holder's identity.
        holder: String,
    },
}

impl Action {
    /// The one node this action is about, if it is about one: a cordon, an uncordon, a lock,
    /// or a Job or engine pod pinned to the node.
    pub fn node(&self) -> Option<&str> {
        match self {
            Self::Cordon { node, .. }
            | Self::Uncordon { node, .. }
            | Self::Release { node, .. }
            | Self::BreakLock { node, .. } => Some(node),
            Self::CreateJob(job) => job
                .spec
                .as_ref()?
                .template
                .spec
                .as_ref()?
                .node_name
                .as_deref(),
            Self::CreatePreflightPod(pod) | Self::CreateRebootPod(pod) => {
                pod.spec.as_ref()?.node_name.as_deref()
            }
            Self::Evict { .. }
            | Self::DeleteJob { .. }
            | Self::DeletePod { .. }
            | Self::RemoveFinalizer => None,
        }
    }
}

/// The actions in stages to apply one after the other; within a stage, one sequence per node
/// (in plan order) that may run alongside the others. An action about no single node is a
/// stage of its own, so every order the plan sets between nodes and such an action holds, and
/// so does the order of each node's actions.
pub fn stages(actions: &[Action]) -> Vec<Vec<Vec<&Action>>> {
    let mut stages = Vec::new();
    let mut by_node: BTreeMap<&str, Vec<&Action>> = BTreeMap::new();
    for action in actions {
        if let Some(node) = action.node() {
            by_node.entry(node).or_default().push(action);
        } else {
            if !by_node.is_empty() {
                stages.push(std::mem::take(&mut by_node).into_values().collect());
            }
            stages.push(vec![vec![action]]);
        }
    }
    if !by_node.is_empty() {
        stages.push(by_node.into_values().collect());
    }
    stages
}

/// A Kubernetes Event to record on the `NodeOp` (and on the Node when `node` is set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The node the event is about, if any.
    pub node: Option<String>,
    /// Why it is recorded (its `reason`, and whether it is a `Warning`).
    pub reason: Reason,
    /// Human-readable message.
    pub message: String,
}

/// What the operator must do after one observation.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Node locks to take first; if one cannot be taken, apply nothing else of this plan.
    pub acquire: Vec<Acquire>,
    /// Target records to write next (creates and status changes), before the status.
    pub targets: Vec<TargetWrite>,
    /// Writes to make after the status, in order.
    pub actions: Vec<Action>,
    /// The complete new status (write it even if actions fail: it only records observations).
    pub status: NodeOpStatus,
    /// Events, one per transition.
    pub events: Vec<Event>,
    /// Re-plan after this long even if nothing changes (`None`: wait for a change).
    pub requeue_after: Option<Duration>,
}
