//! Reads everything the `NodeOp` planner looks at: Nodes and agent boot IDs (from the shared
//! caches), this operation's Jobs and pods, and the pods on nodes being drained. Reads only.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kairos_api::NodeOp;
use kairos_api::v1alpha1::NodePhase;
use kairos_core::nodeop::job::{LABEL_NODEOP_UID, label_value};
use kairos_core::nodeop::{EnginePod, JobInfo, NodeInfo, NodePod, Observed};
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
    let nodes: Vec<NodeInfo> = caches
        .nodes
        .state()
        .iter()
        .map(|n| NodeInfo::from_node(n))
        .collect();
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

    let mut job_pods: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    let mut engine_pods = Vec::new();
    for pod in pods.items {
        if let Some(engine) = EnginePod::from_pod(&pod) {
            engine_pods.push(engine);
        } else if let Some(job) = pod.labels().get("job-name").cloned() {
            job_pods.entry(job).or_default().push(pod);
        }
    }
    let jobs = jobs
        .items
        .iter()
        .map(|j| {
            JobInfo::from_job(
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
        node_pods.insert(
            node.clone(),
            pods.items.iter().map(NodePod::from_pod).collect(),
        );
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
