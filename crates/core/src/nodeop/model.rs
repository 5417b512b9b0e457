//! The `NodeOp` planner's inputs: the engine's settings ([`Config`]), the identity of the
//! `NodeOp` being planned ([`OpRef`]), and what `observe` provides ([`Observed`]: Nodes, Jobs,
//! engine pods, pods to drain, target records, node locks). Pure data: no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kairos_api::v1alpha1::{NodeOp, NodeStatus};

use super::lock::{Limits, NodeLock};
use crate::meta::{MissingField, Required};

/// Knobs of the engine that are not part of the `NodeOp` spec (the operator's flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Namespace of the Jobs and pods. `None` runs them in the `NodeOp`'s own namespace (as
    /// upstream does) with an owner reference to it; `Some(ns)` runs them in `ns` (the operator's
    /// namespace, DESIGN.md section 6) without an owner reference, since Kubernetes forbids
    /// cross-namespace owners; cleanup then relies on the finalizer and the labels.
    pub job_namespace: Option<String>,
    /// Service account of the Jobs and pods (must exist in their namespace); `None` leaves the
    /// namespace's `default`. No API token is mounted either way.
    pub service_account: Option<String>,
    /// Image of the reboot pod; it needs `sh`, `cat` and `nsenter` (busybox has all three).
    pub reboot_image: String,
    /// Image of a NodeOp's Job when its spec names none (the operator's
    /// `NODEOP_DEFAULT_IMAGE`, as upstream).
    pub default_image: String,
    /// How long a node may stay in Rebooting (waiting for a new boot ID), and then in Verifying
    /// (waiting for Ready), before it fails.
    pub reboot_timeout: Duration,
    /// Default `activeDeadlineSeconds` of a Job when the NodeOp sets no `jobTimeoutSeconds`.
    pub job_timeout: Duration,
    /// How long the preflight pod may take before the node fails.
    pub preflight_timeout: Duration,
    /// Re-plan at least this often while nodes are in flight (drain retries, timeouts).
    pub poll_interval: Duration,
    /// The cluster-wide limits on taking nodes (the operator's `--max-disrupted-nodes`).
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            job_namespace: None,
            service_account: None,
            reboot_image: "busybox:latest".to_owned(),
            default_image: "busybox:latest".to_owned(),
            reboot_timeout: Duration::from_secs(15 * 60),
            job_timeout: Duration::from_secs(60 * 60),
            preflight_timeout: Duration::from_secs(10 * 60),
            poll_interval: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

/// A Node as the planner needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// The value of the `operator.kairos.io/cordoned-by` annotation, if any.
    pub cordoned_by: Option<String>,
    /// Whether the `Ready` condition is `True`.
    pub ready: bool,
    /// `status.nodeInfo.bootID` (the kubelet's report), used when no agent reported one.
    pub boot_id: Option<String>,
}

/// How a Job finished, from its `Complete` or `Failed` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobCondition {
    /// The `Complete` condition is `True`.
    Complete,
    /// The `Failed` condition is `True` (for instance `BackoffLimitExceeded`).
    Failed {
        /// The condition's reason.
        reason: String,
        /// The condition's message.
        message: String,
    },
}

/// A Job of this `NodeOp` (selected by the `operator.kairos.io/nodeop-uid` label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobInfo {
    /// `metadata.name`.
    pub name: String,
    /// The node it is pinned to (`spec.template.spec.nodeName`).
    pub node: String,
    /// `status.active`.
    pub active: i32,
    /// `status.succeeded`.
    pub succeeded: i32,
    /// `status.failed`.
    pub failed: i32,
    /// The finishing condition, if the Job finished.
    pub condition: Option<JobCondition>,
    /// Termination message of its most recent finished pod, if any.
    pub termination_message: Option<String>,
    /// Why a pod of the Job cannot start, from a container's waiting state: the kubelet's
    /// reason (`ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`, ...) and message.
    pub cannot_start: Option<String>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

/// Phase of a pod (`status.phase`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodPhase {
    /// Not all containers started yet.
    #[default]
    Pending,
    /// Running.
    Running,
    /// Every container exited 0.
    Succeeded,
    /// A container failed.
    Failed,
    /// The node stopped reporting.
    Unknown,
}

impl PodPhase {
    /// True for `Succeeded` and `Failed`.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// What an engine pod (not a Job pod) of this `NodeOp` is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineRole {
    /// The read-only preflight check (label `operator.kairos.io/role=preflight`).
    Preflight,
    /// The reboot pod (label `operator.kairos.io/role=reboot`).
    Reboot,
}

/// A preflight or reboot pod of this `NodeOp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnginePod {
    /// `metadata.name`.
    pub name: String,
    /// `spec.nodeName`.
    pub node: String,
    /// From the `operator.kairos.io/role` label.
    pub role: EngineRole,
    /// `status.phase`.
    pub phase: PodPhase,
    /// Termination message of its container, if it wrote one.
    pub termination_message: Option<String>,
    /// Why the pod cannot start, as for a Job's pod ([`JobInfo::cannot_start`]).
    pub cannot_start: Option<String>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

/// A pod running on a target node, as the drain sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePod {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels` (pods of the engine carry `operator.kairos.io/role`).
    pub labels: BTreeMap<String, String>,
    /// Kind of the owner reference with `controller: true` (`ReplicaSet`, `DaemonSet`, ...).
    pub controller_kind: Option<String>,
    /// Whether it is a static pod's mirror (annotation `kubernetes.io/config.mirror`).
    pub is_mirror: bool,
    /// Whether it mounts an `emptyDir` volume.
    pub has_empty_dir: bool,
    /// `status.phase`.
    pub phase: PodPhase,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

/// Everything the planner looks at besides the `NodeOp` itself. `observe` fills it without
/// deciding anything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The Nodes of the cluster the plan looks at: every Node until the targets are fixed,
    /// then at least those [`Observed::looks_at_node`] names (a large rollout's finished nodes
    /// are never looked at again).
    pub nodes: Vec<NodeInfo>,
    /// Every Job of this `NodeOp`.
    pub jobs: Vec<JobInfo>,
    /// Every preflight and reboot pod of this `NodeOp`.
    pub engine_pods: Vec<EnginePod>,
    /// Pods on the nodes this `NodeOp` is draining (at least those in phase Draining), by node.
    pub node_pods: BTreeMap<String, Vec<NodePod>>,
    /// Boot IDs reported by the node agents (`KairosNode` `status.bootID`), by node.
    pub agent_boot_ids: BTreeMap<String, String>,
    /// The node the operator's own pod runs on (it goes last in its group).
    pub operator_node: Option<String>,
    /// Whether the `NodeOp` has a deletion timestamp (its finalizer must clean up).
    pub deleting: bool,
    /// This `NodeOp`'s target records (`NodeOpTarget`s), by node.
    pub targets: BTreeMap<String, Target>,
    /// Every node lock of the cluster (whichever operation holds it), by node.
    pub locks: BTreeMap<String, NodeLock>,
    /// The identity (`<ns>/<name>@<uid>`) of every `NodeOp` that exists: a lock held by
    /// anything else is stale and may be broken.
    pub live_operations: BTreeSet<String>,
    /// What the gates of the spec look at: Prometheus' alerts, blocking pods.
    pub gates: crate::gates::GateInputs,
}

impl Observed {
    /// Whether a plan of `op` looks at the Node `name`, given the operation's target records and
    /// whether an operation cordoned the node (its `cordoned-by` annotation): every Node before
    /// the first plan fixed the targets; afterwards the targets not finished yet (to move them,
    /// or to fail a vanished one) and every node an operation cordoned (the cluster-wide
    /// budget, and the cordons this operation must lift).
    pub fn looks_at_node(
        op: &NodeOp,
        targets: &BTreeMap<String, Target>,
        name: &str,
        cordoned: bool,
    ) -> bool {
        let fixed = op.status.as_ref().is_some_and(|s| s.phase.is_some());
        !fixed
            || cordoned
            || targets
                .get(name)
                .is_some_and(|t| t.status.as_ref().is_none_or(|s| !s.phase.is_terminal()))
    }
}

/// A target record of this `NodeOp`, as observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Target {
    /// Position in the rollout order fixed at start.
    pub order: i32,
    /// Whether the node was a control-plane node at start.
    pub control_plane: bool,
    /// Where the node stands; `None` until first written (the node is Pending).
    pub status: Option<NodeStatus>,
}

impl Target {
    /// The node's status: the recorded one, or Pending with the fixed order.
    pub fn current(&self) -> NodeStatus {
        self.status.clone().unwrap_or_else(|| self.pending())
    }

    /// Whether the record shows `status` (an unwritten record shows Pending).
    pub(crate) fn shows(&self, status: &NodeStatus) -> bool {
        match &self.status {
            Some(recorded) => recorded == status,
            None => self.pending() == *status,
        }
    }

    fn pending(&self) -> NodeStatus {
        NodeStatus {
            order: self.order,
            control_plane: self.control_plane,
            ..NodeStatus::default()
        }
    }
}

/// Identity of the `NodeOp` being planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRef {
    /// Namespace of the `NodeOp`.
    pub namespace: String,
    /// Name of the `NodeOp`.
    pub name: String,
    /// UID of the `NodeOp`.
    pub uid: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The cloud-config source a config `NodeOp` names (see
    /// [`ConfigSource::of_nodeop`](crate::cloud_config::source::ConfigSource::of_nodeop)): its
    /// Job's pod mounts it.
    pub config_source: Option<crate::cloud_config::source::ConfigSource>,
}

impl OpRef {
    /// Reads the identity from the `NodeOp`'s metadata.
    ///
    /// # Errors
    /// [`MissingField`] when the namespace, name or uid is missing.
    pub fn of(op: &NodeOp) -> Result<Self, MissingField> {
        let m = Required::new(&op.metadata, "the NodeOp");
        Ok(Self {
            namespace: m.namespace()?.to_owned(),
            name: m.name()?.to_owned(),
            uid: m.uid()?.to_owned(),
            generation: op.metadata.generation,
            config_source: crate::cloud_config::source::ConfigSource::of_nodeop(op),
        })
    }

    /// The value of the `cordoned-by` annotation this operation writes: `<ns>/<name>@<uid>`.
    pub fn cordoned_by(&self) -> String {
        format!("{}/{}@{}", self.namespace, self.name, self.uid)
    }
}
