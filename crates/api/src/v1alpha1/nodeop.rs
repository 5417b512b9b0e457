//! The `NodeOp` kind: a privileged operation run on nodes with cordon, drain, reboot and
//! concurrency control (upstream-compatible). Declarations only: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LocalObjectReference, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{NodeStatus, OperationPhase, conditions_schema};
use super::gates::Gates;

/// Desired state of a `NodeOp`: what to run, where, and how carefully.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "operator.kairos.io",
    version = "v1alpha1",
    kind = "NodeOp",
    namespaced,
    status = "NodeOpStatus",
    shortname = "nop",
    category = "kairos",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Nodes","type":"integer","jsonPath":".status.total"}"#,
    printcolumn = r#"{"name":"Done","type":"integer","jsonPath":".status.completed"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.failed"}"#,
    printcolumn = r#"{"name":"Held","type":"string","jsonPath":".status.held"}"#,
    printcolumn = r#"{"name":"Upgrade","type":"string","jsonPath":".metadata.labels.operator\\.kairos\\.io/nodeopupgrade"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Skipped","type":"integer","jsonPath":".status.skipped","priority":1}"#,
    printcolumn = r#"{"name":"Node Upgrade","type":"string","jsonPath":".metadata.labels.operator\\.kairos\\.io/kairosnode","priority":1}"#
)]
#[x_kube(validation = Rule::new("!has(self.drainOptions) || !has(self.drainOptions.enabled) || !self.drainOptions.enabled || (has(self.cordon) && self.cordon)").message("drainOptions.enabled requires cordon: true").field_path(".cordon"))]
#[serde(rename_all = "camelCase")]
pub struct NodeOpSpec {
    /// Label selector of the nodes to run on, used when `targetNodes` is empty. When both are
    /// empty the operation runs on every node. The target list is fixed when the operation starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,

    /// Names of the nodes to run on. Takes precedence over `nodeSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.all(n, n.size() > 0)").message("targetNodes must not contain empty names"))]
    pub target_nodes: Option<Vec<String>>,

    /// Container image of the Job that runs on each node. Unset: the operator's default
    /// (`NODEOP_DEFAULT_IMAGE`, else `busybox:latest`), as upstream.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1))]
    pub image: String,

    /// Secrets used to pull `image` from a private registry. They are looked up in the
    /// operator's namespace, where the Jobs run (DESIGN.md section 6), not the NodeOp's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,

    /// Command run in the container, with the node's root filesystem mounted at `hostMountPath`.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,

    /// Where the node's root filesystem is mounted in the container. An absolute path, not `/`.
    #[serde(default = "default_host_mount_path")]
    #[x_kube(validation = Rule::new("self.startsWith('/') && self != '/'").message("hostMountPath must be an absolute path other than /"))]
    pub host_mount_path: String,

    /// Run the Job's pod in the host's PID namespace, so its command can enter the host's
    /// namespaces with `nsenter -t 1` (the trusted-boot upgrade runs the host's own
    /// `kairos-agent` that way). Default false.
    #[serde(default, rename = "hostPID", skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<bool>,

    /// Cordon the node (mark it unschedulable) before running; it is uncordoned afterwards,
    /// unless it was already cordoned by someone else or the node failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cordon: Option<bool>,

    /// Evict the node's pods (through the Eviction API, so PodDisruptionBudgets hold) before
    /// running. Requires `cordon: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_options: Option<DrainOptions>,

    /// Reboot the node after its Job succeeded. The reboot runs in a separate pod, never inside
    /// the Job, and is confirmed by a new boot ID reported by the node's agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_on_success: Option<bool>,

    /// Retries of the Job's pod before the node counts as failed (the Job's `backoffLimit`;
    /// Kubernetes' default of 6 when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub backoff_limit: Option<i32>,

    /// Seconds a node's Job may run (pod start-up and retries included) before it fails with
    /// `DeadlineExceeded`; the node then fails. Unset: the operator's default (`--job-timeout`,
    /// one hour), so a Job that never finishes cannot hold a rollout forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub job_timeout_seconds: Option<i64>,

    /// At most this many nodes in flight at once (between cordon and completion); 0 means all.
    /// Control-plane nodes always go one at a time, before any worker.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub concurrency: i32,

    /// After a node fails, start no new node (nodes in flight finish). Useful for canaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_on_failure: Option<bool>,

    /// Uncordon a node whose operation failed. By default a failed node stays cordoned so a
    /// person can look at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncordon_on_failure: Option<bool>,

    /// Hold the rollout: no new node starts while true; nodes in flight finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,

    /// Optional read-only preflight check run on each node before anything disruptive. A pod
    /// that ends with a termination message means "skip this node" (recorded as Skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<Preflight>,

    /// What holds new starts: a window, a pacing delay, blocking pods, an alert.
    #[serde(flatten)]
    pub gates: Gates,

    /// Resources of the Job's container. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Resources of the preflight pod. Default: 200m CPU and 128Mi memory, as requests and
    /// limits; `{}` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight_resources: Option<ResourceRequirements>,

    /// Resources of the reboot pod. Default: 200m CPU and 128Mi memory, as requests and
    /// limits; `{}` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_resources: Option<ResourceRequirements>,
}

/// How a node is drained before its Job runs (the options of `kubectl drain`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DrainOptions {
    /// Drain the node. Requires `cordon: true` on the NodeOp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,

    /// Also delete pods that no controller manages (they will not come back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,

    /// Seconds each evicted pod is given to terminate; unset or negative uses the pod's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i32>,

    /// Leave DaemonSet pods in place (they would be recreated at once). Default true; when
    /// false, a node running DaemonSet pods cannot be drained.
    #[serde(default = "default_true")]
    pub ignore_daemon_sets: bool,

    /// Evict pods that use emptyDir volumes (their data is lost). Default false.
    #[serde(default)]
    pub delete_empty_dir_data: bool,

    /// Give up draining after this many seconds and fail the node, naming the pods that
    /// blocked it. Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<i32>,
}

/// A read-only check run on each node before it is cordoned.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Preflight {
    /// Container image of the preflight pod; defaults to the NodeOp's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Command of the preflight pod. It sees the host root read-only at `hostMountPath`. Writing
    /// a termination message (`/dev/termination-log`) means "skip this node".
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
}

/// Observed state of a `NodeOp`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeOpStatus {
    /// Phase of the whole operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<OperationPhase>,
    /// The nodes in flight, then the failed ones, keyed by node name: at most
    /// 100 entries, so the status stays small whatever the fleet's size. Every target's
    /// progress is in its `NodeOpTarget`
    /// (`kubectl get nodeoptargets -n <ns> -l operator.kairos.io/nodeop=<name>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_statuses: BTreeMap<String, NodeStatus>,
    /// Number of target nodes.
    #[serde(default)]
    pub total: i32,
    /// Number of nodes that completed or were skipped.
    #[serde(default)]
    pub completed: i32,
    /// Number of nodes that failed or rolled back.
    #[serde(default)]
    pub failed: i32,
    /// Number of nodes skipped (a preflight said so, or already at an upgrade's version); they
    /// count in `completed` too.
    #[serde(default)]
    pub skipped: i32,
    /// Number of nodes in flight.
    #[serde(default)]
    pub in_progress: i32,
    /// Human-readable summary of the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Latest observations: `Progressing`, `Complete`, `Failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// A hash of `targetNodes` and `nodeSelector` as they were when the targets were fixed
    /// (an edit of either afterwards is reported by the `SpecApplied` condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets_hash: Option<String>,
    /// What holds new starts now, if anything (`Paused`, `Window`, `PostCompleteDelay`,
    /// `Alert`, `AlertsUnknown`, `InvalidGate`); the `Held` condition says more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

fn default_host_mount_path() -> String {
    "/host".to_owned()
}

pub(crate) fn default_true() -> bool {
    true
}

impl NodeOpSpec {
    /// Whether the node is cordoned first.
    pub fn cordon(&self) -> bool {
        self.cordon.unwrap_or(false)
    }
    /// Whether the node is drained (only ever together with cordon).
    pub fn drain(&self) -> bool {
        self.drain_options
            .as_ref()
            .and_then(|d| d.enabled)
            .unwrap_or(false)
    }
    /// Whether the node reboots after its Job succeeded.
    pub fn reboot_on_success(&self) -> bool {
        self.reboot_on_success.unwrap_or(false)
    }
    /// Whether a failure stops new starts.
    pub fn stop_on_failure(&self) -> bool {
        self.stop_on_failure.unwrap_or(false)
    }
    /// Whether a failed node is uncordoned.
    pub fn uncordon_on_failure(&self) -> bool {
        self.uncordon_on_failure.unwrap_or(false)
    }
    /// Whether the rollout is held.
    pub fn paused(&self) -> bool {
        self.paused.unwrap_or(false)
    }
}
