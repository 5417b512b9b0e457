//! From Kubernetes objects to the planner's view ([`NodeInfo`], [`JobInfo`], [`EnginePod`],
//! [`NodePod`]): mechanical reads, so that `observe` contains no interpretation. Pure: no I/O.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kairos_api::names::{ANNOTATION_CORDONED_BY, LABEL_ROLE};

use super::model::{EnginePod, EngineRole, JobCondition, JobInfo, NodeInfo, NodePod, PodPhase};

/// Annotation the kubelet puts on the API copy of a static pod.
pub const ANNOTATION_MIRROR: &str = "kubernetes.io/config.mirror";

impl NodeInfo {
    /// Reads a Node: labels, `spec.unschedulable`, our annotation, Ready, `nodeInfo.bootID`.
    pub fn from_node(node: &Node) -> Self {
        let m = &node.metadata;
        let status = node.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let boot_id = status
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.boot_id.clone())
            .filter(|b| !b.is_empty());
        Self {
            name: m.name.clone().unwrap_or_default(),
            labels: m.labels.clone().unwrap_or_default(),
            unschedulable: node
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false),
            cordoned_by: m
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_CORDONED_BY))
                .cloned(),
            ready,
            boot_id,
        }
    }
}

fn pod_phase(pod: &Pod) -> PodPhase {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Running") => PodPhase::Running,
        Some("Succeeded") => PodPhase::Succeeded,
        Some("Failed") => PodPhase::Failed,
        Some("Unknown") => PodPhase::Unknown,
        _ => PodPhase::Pending,
    }
}

/// The termination message of the pod's first container, and when it terminated.
fn termination(pod: &Pod) -> Option<(Option<String>, Option<Timestamp>)> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let terminated = statuses.first()?.state.as_ref()?.terminated.as_ref()?;
    let at = terminated.finished_at.as_ref().map(|t| t.0);
    let message = terminated.message.clone().filter(|m| !m.trim().is_empty());
    Some((message, at))
}

/// Waiting reasons of a container that will not start without a change: its image cannot be
/// pulled or its configuration is wrong (the kubelet retries, but nothing will differ).
pub const CANNOT_START: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
];

/// `<reason>: <message>` of the first container of `pod` waiting for one of [`CANNOT_START`].
fn cannot_start(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let containers = status.init_container_statuses.iter().flatten();
    containers
        .chain(status.container_statuses.iter().flatten())
        .find_map(|c| {
            let waiting = c.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref()?;
            CANNOT_START.contains(&reason).then(|| {
                match waiting
                    .message
                    .as_deref()
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                {
                    Some(m) => format!("{reason}: {m}"),
                    None => reason.to_owned(),
                }
            })
        })
}

fn deleting(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

impl JobInfo {
    /// Reads a Job of the engine and its pods (any order): counts, the `Complete`/`Failed`
    /// condition that is `True`, and the termination message of the pod that finished last.
    pub fn from_job(job: &Job, pods: &[Pod]) -> Self {
        let status = job.status.as_ref();
        let count = |f: fn(&k8s_openapi::api::batch::v1::JobStatus) -> Option<i32>| {
            status.and_then(f).unwrap_or(0)
        };
        let condition = status.and_then(|s| s.conditions.as_ref()).and_then(|cs| {
            cs.iter()
                .filter(|c| c.status == "True")
                .find_map(|c| match c.type_.as_str() {
                    "Complete" => Some(JobCondition::Complete),
                    "Failed" => Some(JobCondition::Failed {
                        reason: c.reason.clone().unwrap_or_default(),
                        message: c.message.clone().unwrap_or_default(),
                    }),
                    _ => None,
                })
        });
        let termination_message = pods
            .iter()
            .filter_map(termination)
            .max_by_key(|(_, at)| *at)
            .and_then(|(message, _)| message);
        let node = job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let cannot_start = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .find_map(cannot_start);
        Self {
            name: job.metadata.name.clone().unwrap_or_default(),
            node,
            active: count(|s| s.active),
            succeeded: count(|s| s.succeeded),
            failed: count(|s| s.failed),
            condition,
            termination_message,
            cannot_start,
            deleting: deleting(&job.metadata),
        }
    }
}

impl EnginePod {
    /// Reads a preflight or reboot pod; `None` for any other pod.
    pub fn from_pod(pod: &Pod) -> Option<Self> {
        let labels = pod.metadata.labels.as_ref()?;
        let role = match labels.get(LABEL_ROLE).map(String::as_str) {
            Some("preflight") => EngineRole::Preflight,
            Some("reboot") => EngineRole::Reboot,
            _ => return None,
        };
        Some(Self {
            name: pod.metadata.name.clone().unwrap_or_default(),
            node: pod.spec.as_ref()?.node_name.clone().unwrap_or_default(),
            role,
            phase: pod_phase(pod),
            termination_message: termination(pod).and_then(|(m, _)| m),
            cannot_start: cannot_start(pod),
            deleting: deleting(&pod.metadata),
        })
    }
}

impl NodePod {
    /// Reads a pod on a node being drained: its controller's kind, mirror annotation,
    /// `emptyDir` volumes, phase and deletion.
    pub fn from_pod(pod: &Pod) -> Self {
        let m = &pod.metadata;
        let controller_kind = m
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| o.kind.clone());
        let has_empty_dir = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .is_some_and(|vs| vs.iter().any(|v| v.empty_dir.is_some()));
        Self {
            namespace: m.namespace.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
            labels: m.labels.clone().unwrap_or_default(),
            controller_kind,
            is_mirror: m
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(ANNOTATION_MIRROR)),
            has_empty_dir,
            phase: pod_phase(pod),
            deleting: deleting(m),
        }
    }
}
