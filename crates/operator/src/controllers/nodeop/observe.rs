//! Reads everything the `NodeOp` planner looks at: Nodes and agent boot IDs (from the shared
//! caches), this operation's Jobs and pods, and the pods on nodes being drained. Reads only.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kairos_api::NodeOp;
use kairos_api::names::{ANNOTATION_CORDONED_BY, LABEL_NODE, LABEL_ROLE};
use kairos_api::v1alpha1::NodePhase;
use kairos_core::nodeop::job::{LABEL_NODEOP_UID, label_value};
use kairos_core::nodeop::{
    EnginePod, EngineRole, JobCondition, JobInfo, NodeInfo, NodePod, Observed, PodPhase,
};
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use crate::context::Context;
use crate::controllers::Caches;
use crate::error::{Error, Result};

/// Observes the world of one `NodeOp`; decides nothing.
pub(crate) async fn observe(
    ctx: &Context,
    caches: &Caches,
    op: &NodeOp,
    uid: &str,
    job_namespace: &str,
) -> Result<Observed> {
    let nodes: Vec<NodeInfo> = caches.nodes.state().iter().map(|n| node_info(n)).collect();
    let agent_boot_ids = caches
        .kairos_nodes
        .state()
        .iter()
        .filter_map(|kn| {
            let boot = kn.status.as_ref()?.boot_id.clone()?;
            Some((kn.name_any(), boot))
        })
        .collect();

    let selector = format!("{LABEL_NODEOP_UID}={}", label_value(uid));
    let lp = ListParams::default().labels(&selector);
    let jobs_api: Api<Job> = Api::namespaced(ctx.client.clone(), job_namespace);
    let jobs = jobs_api.list(&lp).await.map_err(|source| Error::Observe {
        what: format!("list the Jobs of NodeOp {}", op.name_any()),
        source,
    })?;
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), job_namespace);
    let pods = pods_api.list(&lp).await.map_err(|source| Error::Observe {
        what: format!("list the pods of NodeOp {}", op.name_any()),
        source,
    })?;

    let mut job_pods: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    let mut engine_pods = Vec::new();
    for pod in &pods.items {
        match pod.labels().get(LABEL_ROLE).map(String::as_str) {
            Some("job") => {
                if let Some(job) = pod.labels().get("job-name") {
                    job_pods.entry(job.clone()).or_default().push(pod);
                }
            }
            Some("preflight") => engine_pods.push(engine_pod(pod, EngineRole::Preflight)),
            Some("reboot") => engine_pods.push(engine_pod(pod, EngineRole::Reboot)),
            _ => {}
        }
    }
    let jobs = jobs
        .items
        .iter()
        .map(|j| {
            job_info(
                j,
                job_pods
                    .get(&j.name_any())
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            )
        })
        .collect();

    let mut node_pods = BTreeMap::new();
    let draining = op
        .status
        .iter()
        .flat_map(|s| &s.node_statuses)
        .filter(|(_, s)| s.phase == NodePhase::Draining || s.phase == NodePhase::Cordoning);
    for (node, _) in draining {
        let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let pods = Api::<Pod>::all(ctx.client.clone())
            .list(&lp)
            .await
            .map_err(|source| Error::Observe {
                what: format!("list the pods on node {node}"),
                source,
            })?;
        node_pods.insert(node.clone(), pods.items.iter().map(node_pod).collect());
    }

    Ok(Observed {
        nodes,
        jobs,
        engine_pods,
        node_pods,
        agent_boot_ids,
        operator_node: ctx.config.node_name.clone(),
        deleting: op.metadata.deletion_timestamp.is_some(),
    })
}

fn node_info(node: &Node) -> NodeInfo {
    let status = node.status.as_ref();
    NodeInfo {
        name: node.name_any(),
        labels: node.labels().clone(),
        unschedulable: node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
        cordoned_by: node.annotations().get(ANNOTATION_CORDONED_BY).cloned(),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        boot_id: status
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.boot_id.clone())
            .filter(|b| !b.is_empty()),
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

fn termination_message(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find_map(|c| c.state.as_ref()?.terminated.as_ref()?.message.clone())
        .filter(|m| !m.is_empty())
}

fn engine_pod(pod: &Pod, role: EngineRole) -> EnginePod {
    EnginePod {
        name: pod.name_any(),
        node: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .or_else(|| pod.labels().get(LABEL_NODE).cloned())
            .unwrap_or_default(),
        role,
        phase: pod_phase(pod),
        termination_message: termination_message(pod),
        deleting: pod.metadata.deletion_timestamp.is_some(),
    }
}

fn job_info(job: &Job, pods: &[&Pod]) -> JobInfo {
    let status = job.status.as_ref();
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
    // The most recent finished pod's message is the Job's result (the boot ID, or a skip note).
    let termination_message = pods
        .iter()
        .filter(|p| pod_phase(p).is_finished())
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
        .and_then(|p| termination_message(p));
    JobInfo {
        name: job.name_any(),
        node: job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
        active: status.and_then(|s| s.active).unwrap_or(0),
        succeeded: status.and_then(|s| s.succeeded).unwrap_or(0),
        failed: status.and_then(|s| s.failed).unwrap_or(0),
        condition,
        termination_message,
        deleting: job.metadata.deletion_timestamp.is_some(),
    }
}

fn node_pod(pod: &Pod) -> NodePod {
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    NodePod {
        namespace: pod.namespace().unwrap_or_default(),
        name: pod.name_any(),
        labels: pod.labels().clone(),
        controller_kind: pod
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
            .map(|o| o.kind.clone()),
        is_mirror: pod
            .annotations()
            .contains_key("kubernetes.io/config.mirror"),
        has_empty_dir: volumes.is_some_and(|vs| vs.iter().any(|v| v.empty_dir.is_some())),
        phase: pod_phase(pod),
        deleting: pod.metadata.deletion_timestamp.is_some(),
    }
}
