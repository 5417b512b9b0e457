//! The `NodeOp` planner's inputs and outputs, and [`plan`] itself: from the `NodeOp` and what
//! the operator observed, decide the next actions, the new status and the events. Pure: no I/O,
//! no clock (`now` is a parameter).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kairos_api::v1alpha1::{NodeOp, NodeOpStatus, NodePhase, NodeStatus, OperationPhase};

use super::lock::{Limits, NodeLock};
use super::reason::Reason;
use super::verify::{RebootOnly, Verifier};
use super::{order, rollout, status, step};

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
    fn shows(&self, status: &NodeStatus) -> bool {
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

/// One write the operator must make. Every action is idempotent; see [`plan`] for how each is
/// applied.
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

/// Why [`plan`] could not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// The `NodeOp` lacks a field the API server always sets.
    #[error("failed to plan the NodeOp: metadata field {0} is missing")]
    MissingMetadata(&'static str),
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
}

impl OpRef {
    /// Reads the identity from the `NodeOp`'s metadata.
    ///
    /// # Errors
    /// [`PlanError::MissingMetadata`] when the namespace, name or uid is missing.
    pub fn of(op: &NodeOp) -> Result<Self, PlanError> {
        let m = &op.metadata;
        Ok(Self {
            namespace: m
                .namespace
                .clone()
                .ok_or(PlanError::MissingMetadata("namespace"))?,
            name: m.name.clone().ok_or(PlanError::MissingMetadata("name"))?,
            uid: m.uid.clone().ok_or(PlanError::MissingMetadata("uid"))?,
            generation: m.generation,
        })
    }

    /// The value of the `cordoned-by` annotation this operation writes: `<ns>/<name>@<uid>`.
    pub fn cordoned_by(&self) -> String {
        format!("{}/{}@{}", self.namespace, self.name, self.uid)
    }
}

/// Plans one reconcile of a `NodeOp`.
///
/// # Errors
/// [`PlanError::MissingMetadata`] when the object lacks its namespace, name or uid.
///
/// # Guarantees
/// - The result depends only on the arguments; `now` is used only to stamp transitions and to
///   check timeouts, so the same inputs give the same status.
/// - At most one Job per node ever: Job names are deterministic and a node whose Job was seen
///   once never gets a `CreateJob` again (a vanished Job fails the node instead).
/// - Never more than `concurrency` nodes in flight (one while control-plane nodes run), and
///   no worker starts before every control-plane node is terminal.
/// - `Uncordon` is only planned for nodes whose annotation names this operation.
pub fn plan(
    op: &NodeOp,
    observed: &Observed,
    config: &Config,
    now: Timestamp,
) -> Result<Plan, PlanError> {
    plan_with(op, observed, config, &RebootOnly, now)
}

/// [`plan`] with a [`Verifier`] that judges nodes after their Job and their reboot (upgrades).
///
/// # Errors
/// As [`plan`].
pub fn plan_with(
    op: &NodeOp,
    observed: &Observed,
    config: &Config,
    verifier: &dyn Verifier,
    now: Timestamp,
) -> Result<Plan, PlanError> {
    let op_ref = OpRef::of(op)?;
    let old = op.status.clone().unwrap_or_default();
    let ctx = step::Ctx::new(&op_ref, &op.spec, observed, config, verifier, now);
    let mut out = step::Out::default();
    let mut nodes: BTreeMap<String, NodeStatus> = observed
        .targets
        .iter()
        .map(|(n, t)| (n.clone(), t.current()))
        .collect();
    let recorded = observed.targets.len();
    let mut fixed = None;

    if old.phase.is_none() {
        // The first plan fixes the targets (records left by an interrupted first plan join).
        match order::select_targets(&op.spec, &observed.nodes, observed.operator_node.as_deref()) {
            Ok(targets) if targets.is_empty() && nodes.is_empty() => {
                fixed = Some((
                    OperationPhase::Completed,
                    order::NO_MATCH_MESSAGE.to_owned(),
                ));
            }
            Ok(targets) => {
                let base = i32::try_from(nodes.len()).unwrap_or(i32::MAX);
                for (i, t) in targets.into_iter().enumerate() {
                    let order = base.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
                    nodes.entry(t.name).or_insert(NodeStatus {
                        order,
                        control_plane: t.control_plane,
                        ..NodeStatus::default()
                    });
                }
            }
            Err(e) => fixed = Some((OperationPhase::Failed, e.to_string())),
        }
    } else if old.total == 0 {
        // No targets were fixed at start: keep the outcome recorded then.
        let phase = old.phase.unwrap_or(OperationPhase::Completed);
        let message = old.message.clone().unwrap_or_default();
        fixed = Some((phase, message));
    } else if usize::try_from(old.total).unwrap_or(usize::MAX) > recorded {
        // Not every target record is seen yet (the cache is catching up with their creation):
        // decide nothing on a partial view.
        return Ok(Plan {
            acquire: Vec::new(),
            targets: Vec::new(),
            actions: Vec::new(),
            status: old,
            events: Vec::new(),
            requeue_after: Some(config.poll_interval.min(Duration::from_secs(1))),
        });
    }

    if observed.deleting {
        rollout::cleanup(&ctx, &mut nodes, &mut out);
    } else {
        rollout::advance_all(&ctx, &mut nodes, &mut out);
    }
    if !out.actions.is_empty() || !out.acquire.is_empty() {
        // Look again soon even if no watch fires for what the actions change.
        out.requeue(config.poll_interval);
    }
    let targets = target_writes(observed, &nodes);
    let status = status::summarize(&ctx, &old, &nodes, fixed, &mut out);
    Ok(Plan {
        acquire: out.acquire,
        targets,
        actions: out.actions,
        status,
        events: out.events,
        requeue_after: out.requeue,
    })
}

/// The target records to create (not observed yet) and the statuses that changed.
fn target_writes(observed: &Observed, nodes: &BTreeMap<String, NodeStatus>) -> Vec<TargetWrite> {
    nodes
        .iter()
        .filter_map(|(node, st)| {
            let Some(recorded) = observed.targets.get(node) else {
                return Some(TargetWrite::Create {
                    node: node.clone(),
                    order: st.order,
                    control_plane: st.control_plane,
                    status: st.clone(),
                });
            };
            (!recorded.shows(st)).then(|| TargetWrite::Status {
                node: node.clone(),
                status: st.clone(),
            })
        })
        .collect()
}

/// Whether a finished node keeps this operation's cordon: only when it failed (or rolled
/// back) and `uncordonOnFailure` is off.
pub(crate) fn keeps_cordon(phase: NodePhase, uncordon_on_failure: bool) -> bool {
    phase.is_failure() && !uncordon_on_failure
}
