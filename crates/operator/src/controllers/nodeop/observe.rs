//! Reads everything the `NodeOp` planner looks at from the shared caches: Nodes and agent boot
//! IDs, this operation's target records, Jobs and engine pods, every node lock and every live
//! operation; and lists the pods of the nodes being drained (the only read that goes to the API
//! server: the drain must see every pod on the node, and no cache holds every pod). Reads only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use k8s_openapi::api::core::v1::Pod;
use kairos_api::names::{ANNOTATION_CORDONED_BY, LABEL_NODEOP_UID};
use kairos_api::v1alpha1::NodePhase;
use kairos_api::{NodeOp, NodeOpTarget};
use kairos_core::gates::GateInputs;
use kairos_core::k8s_names::label_value;
use kairos_core::nodeop::{EnginePod, JobInfo, NodeInfo, NodePod, Observed, Target};
use kube::api::{Api, ListParams};
use kube::core::Selector;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::State;
use super::locks::{identity, node_lock};
use crate::context::Context;
use crate::error::{Error, Result};

/// Whether `obj` is in `namespace` and carries `uid_label`, the operation's uid label value.
fn of_op<K: Resource>(obj: &K, namespace: &str, uid_label: &str) -> bool {
    let m = obj.meta();
    m.namespace.as_deref() == Some(namespace)
        && m.labels
            .as_ref()
            .and_then(|l| l.get(LABEL_NODEOP_UID))
            .is_some_and(|v| v == uid_label)
}

/// Observes the world of one `NodeOp`; decides nothing.
pub(crate) async fn observe(
    state: &State,
    op: &NodeOp,
    uid: &str,
    job_namespace: &str,
) -> Result<Observed> {
    let (ctx, caches) = (&state.ctx, &state.caches);
    let uid_label = label_value(uid);
    // The records as cached, or as this process last wrote them when the cache lags.
    let namespace = crate::error::namespace_of(op, "the NodeOp")?.to_owned();
    let mut records: Vec<Arc<NodeOpTarget>> = caches
        .targets
        .store
        .state()
        .into_iter()
        .filter(|t| of_op(t.as_ref(), &namespace, &uid_label))
        .map(|t| state.recent_targets.fresher(t))
        .collect();
    records.extend(
        state
            .recent_targets
            .unseen(&|ns, name| {
                let key = ObjectRef::new(name).within(ns);
                caches.targets.store.get(&key).is_some()
            })
            .into_iter()
            .filter(|t| of_op(t.as_ref(), &namespace, &uid_label)),
    );
    let targets: BTreeMap<String, Target> = records
        .iter()
        .map(|t| {
            let target = Target {
                order: t.spec.order,
                control_plane: t.spec.control_plane,
                status: t.status.clone(),
            };
            (t.spec.node.clone(), target)
        })
        .collect();
    // Only the Nodes the plan looks at: once the targets are fixed, a finished node is never
    // converted again.
    let nodes: Vec<NodeInfo> = caches
        .nodes
        .store
        .state()
        .iter()
        .filter(|n| {
            let cordoned = n.annotations().contains_key(ANNOTATION_CORDONED_BY);
            let name = n.metadata.name.as_deref().unwrap_or_default();
            Observed::looks_at_node(op, &targets, name, cordoned)
        })
        .map(|n| NodeInfo::from_node(n))
        .collect();
    let agent_boot_ids = caches
        .kairos_nodes
        .store
        .state()
        .iter()
        .filter_map(|kn| {
            let boot = kn.status.as_ref()?.boot_id.clone()?;
            Some((kn.name_any(), boot))
        })
        .collect();

    // The Jobs and pods of the nodes still to finish (all of them while the NodeOp is being
    // deleted): a finished node's are never looked at again, and a large operation has
    // thousands.
    let deleting = op.metadata.deletion_timestamp.is_some();
    let wanted = |node: Option<&str>| {
        deleting
            || node.is_none_or(|n| {
                targets
                    .get(n)
                    .and_then(|t| t.status.as_ref())
                    .is_none_or(|s| !s.phase.is_terminal())
            })
    };
    let jobs_of_op: Vec<_> = caches
        .jobs
        .store
        .state()
        .into_iter()
        .filter(|j| of_op(j.as_ref(), job_namespace, &uid_label))
        .filter(|j| {
            let node = j
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref()?.node_name.as_deref());
            wanted(node)
        })
        .collect();
    let job_names: BTreeSet<String> = jobs_of_op.iter().map(|j| j.name_any()).collect();
    let mut job_pods: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    let mut engine_pods = Vec::new();
    for pod in caches.engine_pods.store.state() {
        if !of_op(pod.as_ref(), job_namespace, &uid_label) {
            continue;
        }
        if let Some(engine) = EnginePod::from_pod(&pod) {
            if wanted(Some(&engine.node)) {
                engine_pods.push(engine);
            }
        } else if let Some(job) = pod
            .labels()
            .get("job-name")
            .filter(|j| job_names.contains(*j))
        {
            job_pods
                .entry(job.clone())
                .or_default()
                .push(pod.as_ref().clone());
        }
    }
    let jobs = jobs_of_op
        .iter()
        .map(|j| {
            let pods = job_pods
                .get(&j.name_any())
                .map(Vec::as_slice)
                .unwrap_or_default();
            JobInfo::from_job(j, pods)
        })
        .collect();
    let locks = caches
        .locks
        .store
        .state()
        .iter()
        .filter_map(|l| node_lock(l))
        .collect();
    let live_operations = caches
        .nodeops
        .store
        .state()
        .iter()
        .map(|o| identity(o))
        .collect();

    // The pods of the nodes about to be drained (an operation that does not drain needs none),
    // listed side by side.
    let drains = op.spec.drain();
    let draining: Vec<_> = targets
        .iter()
        .filter(|(_, t)| {
            drains
                && t.status
                    .as_ref()
                    .is_some_and(|s| matches!(s.phase, NodePhase::Draining | NodePhase::Cordoning))
        })
        .map(|(node, _)| pods_on(ctx.client.clone(), node.clone()))
        .collect();
    let node_pods = futures::stream::iter(draining)
        .buffer_unordered(PARALLEL_LISTS)
        .try_collect()
        .await?;

    let gates = gates(ctx, op, &targets).await?;
    Ok(Observed {
        gates,
        nodes,
        jobs,
        engine_pods,
        node_pods,
        agent_boot_ids,
        operator_node: ctx.config.node_name.clone(),
        deleting,
        targets,
        locks,
        live_operations,
    })
}

/// What `op`'s gates look at: Prometheus' alerts when it sets `alertGate`, and the pods
/// matching its `blockingPodSelector` (one list, any namespace) while a node has yet to start.
async fn gates(
    ctx: &Context,
    op: &NodeOp,
    targets: &BTreeMap<String, Target>,
) -> Result<GateInputs> {
    let mut inputs = GateInputs::default();
    if op.spec.gates.alert_gate.is_some()
        && let Some(source) = &ctx.alerts
    {
        inputs.alerts = Some(source.alerts().await);
    }
    let waiting = || {
        targets.values().any(|t| {
            t.status
                .as_ref()
                .is_none_or(|s| s.phase == NodePhase::Pending)
        })
    };
    if let Some(selector) = &op.spec.gates.blocking_pod_selector
        && (targets.is_empty() || waiting())
    {
        // A selector the API server cannot take holds the operation (the planner says why,
        // `InvalidGate`); nothing is listed for it.
        let Ok(selector) = Selector::try_from(selector.clone()) else {
            return Ok(inputs);
        };
        let lp = ListParams::default().labels_from(&selector);
        let pods = Api::<Pod>::all(ctx.client.clone())
            .list(&lp)
            .await
            .map_err(|source| Error::Observe {
                what: "list the pods matching blockingPodSelector".to_owned(),
                source,
            })?;
        for pod in pods {
            let read = NodePod::from_pod(&pod);
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            if let (false, Some(node)) = (read.phase.is_finished(), node) {
                let name = format!("{}/{}", read.namespace, read.name);
                inputs.blocking_pods.entry(node).or_default().push(name);
            }
        }
    }
    Ok(inputs)
}

/// How many nodes' pods are listed at once.
const PARALLEL_LISTS: usize = 8;

/// Every pod on `node` (the drain must see them all; no cache holds every pod).
async fn pods_on(client: kube::Client, node: String) -> Result<(String, Vec<NodePod>)> {
    let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let pods = Api::<Pod>::all(client)
        .list(&lp)
        .await
        .map_err(|source| Error::Observe {
            what: format!("list the pods on node {node}"),
            source,
        })?;
    let pods = pods.items.iter().map(NodePod::from_pod).collect();
    Ok((node, pods))
}
