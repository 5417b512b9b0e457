//! Carries out the `NodeOp` planner's actions against the API server: cordon and uncordon,
//! evictions, Jobs and engine pods, node lock releases, the finalizer. Every write is
//! idempotent. Writes only.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kairos_api::NodeOp;
use kairos_api::names::{ANNOTATION_CORDONED_BY, NODEOP_FINALIZER};
use kairos_core::nodeop::{self, Action};
use kube::api::{Api, DeleteParams, EvictParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::context::Context;
use crate::error::{Error, Result};

/// Adds the cleanup finalizer unless present. Returns whether it wrote.
pub(crate) async fn ensure_finalizer(ctx: &Context, op: &NodeOp) -> Result<bool> {
    if op.finalizers().iter().any(|f| f == NODEOP_FINALIZER) {
        return Ok(false);
    }
    let mut finalizers = op.finalizers().to_vec();
    finalizers.push(NODEOP_FINALIZER.to_owned());
    let ns = crate::error::namespace_of(op, "the NodeOp")?;
    set_finalizers(ctx, ns, op, &finalizers)
        .await
        .map_err(apply_err(format!(
            "add the finalizer to NodeOp {}",
            op.name_any()
        )))?;
    Ok(true)
}

/// Writes `finalizers`; the resourceVersion makes the patch fail rather than overwrite a
/// concurrent change.
async fn set_finalizers(
    ctx: &Context,
    ns: &str,
    op: &NodeOp,
    finalizers: &[String],
) -> std::result::Result<(), kube::Error> {
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": op.resource_version(),
    }});
    Api::<NodeOp>::namespaced(ctx.client.clone(), ns)
        .patch(
            &op.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(drop)
}

/// How many nodes' actions are applied at once.
const PARALLEL_NODES: usize = 16;

/// Applies the actions stage by stage ([`nodeop::stages`]): each node's in order, different
/// nodes' side by side. Stops at the first failure (the next reconcile re-plans; every write
/// is idempotent). `lock_namespace` is where the node locks live.
pub(crate) async fn apply(
    ctx: &Context,
    op: &NodeOp,
    actions: &[Action],
    lock_namespace: &str,
) -> Result<()> {
    for stage in nodeop::stages(actions) {
        let sequences: Vec<_> = stage
            .into_iter()
            .map(|sequence| apply_in_order(ctx, op, sequence, lock_namespace))
            .collect();
        futures::stream::iter(sequences)
            .buffer_unordered(PARALLEL_NODES)
            .try_collect::<()>()
            .await?;
    }
    Ok(())
}

async fn apply_in_order(
    ctx: &Context,
    op: &NodeOp,
    actions: Vec<&Action>,
    lock_namespace: &str,
) -> Result<()> {
    for action in actions {
        apply_one(ctx, op, action, lock_namespace).await?;
    }
    Ok(())
}

async fn apply_one(
    ctx: &Context,
    op: &NodeOp,
    action: &Action,
    lock_namespace: &str,
) -> Result<()> {
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    match action {
        Action::Cordon { node, cordoned_by } => {
            let patch = json!({
                "metadata": {"annotations": {ANNOTATION_CORDONED_BY: cordoned_by}},
                "spec": {"unschedulable": true},
            });
            nodes
                .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
                .or_else(ignore(404))
                .map_err(apply_err(format!("cordon node {node}")))
        }
        Action::Uncordon { node, cordoned_by } => {
            // The `test` makes the patch fail when someone else re-cordoned the node since.
            let key = ANNOTATION_CORDONED_BY.replace('~', "~0").replace('/', "~1");
            let patch: json_patch::Patch = serde_json::from_value(json!([
                {"op": "test", "path": format!("/metadata/annotations/{key}"), "value": cordoned_by},
                {"op": "remove", "path": format!("/metadata/annotations/{key}")},
                {"op": "add", "path": "/spec/unschedulable", "value": false},
            ]))
            .map_err(|e| Error::Internal(format!("failed to build the uncordon patch: {e}")))?;
            match nodes
                .patch(node, &PatchParams::default(), &Patch::<()>::Json(patch))
                .await
            {
                Ok(_) => Ok(()),
                // 422: the annotation is gone or names someone else; 404: the node is gone.
                Err(kube::Error::Api(e)) if e.code == 422 || e.code == 404 => {
                    tracing::info!(%node, reason = %e.message, "not uncordoning: the cordon is not ours");
                    Ok(())
                }
                Err(source) => Err(Error::Apply {
                    what: format!("uncordon node {node}"),
                    source,
                }),
            }
        }
        Action::Evict {
            namespace,
            pod,
            grace_period_seconds,
        } => {
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
            let params = EvictParams {
                delete_options: Some(DeleteParams {
                    grace_period_seconds: grace_period_seconds.and_then(|g| u32::try_from(g).ok()),
                    ..DeleteParams::default()
                }),
                ..EvictParams::default()
            };
            match pods.evict(pod, &params).await {
                Ok(_) => Ok(()),
                // 429: a PodDisruptionBudget says not now; the next plan retries until timeout.
                Err(kube::Error::Api(e)) if e.code == 429 || e.code == 404 => {
                    tracing::debug!(%namespace, %pod, reason = %e.message, "eviction refused");
                    Ok(())
                }
                Err(source) => Err(Error::Apply {
                    what: format!("evict pod {namespace}/{pod}"),
                    source,
                }),
            }
        }
        Action::CreateJob(job) => create(ctx, job.as_ref()).await,
        Action::CreatePreflightPod(pod) | Action::CreateRebootPod(pod) => {
            create(ctx, pod.as_ref()).await
        }
        Action::DeleteJob { namespace, name } => {
            let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
            jobs.delete(name, &DeleteParams::background())
                .await
                .map(drop)
                .or_else(ignore(404))
                .map_err(apply_err(format!("delete Job {namespace}/{name}")))
        }
        Action::DeletePod { namespace, name } => {
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
            pods.delete(name, &DeleteParams::default())
                .await
                .map(drop)
                .or_else(ignore(404))
                .map_err(apply_err(format!("delete pod {namespace}/{name}")))
        }
        Action::Release { node, holder } => {
            super::locks::release(ctx, lock_namespace, node, holder).await
        }
        Action::BreakLock { node, holder } => {
            tracing::info!(%node, %holder, "breaking the lock of an operation that no longer exists");
            super::locks::release(ctx, lock_namespace, node, holder).await
        }
        Action::RemoveFinalizer => {
            let finalizers: Vec<String> = op
                .finalizers()
                .iter()
                .filter(|f| *f != NODEOP_FINALIZER)
                .cloned()
                .collect();
            let ns = crate::error::namespace_of(op, "the NodeOp")?;
            set_finalizers(ctx, ns, op, &finalizers)
                .await
                .or_else(ignore(404))
                .map_err(apply_err(format!(
                    "remove the finalizer of NodeOp {}",
                    op.name_any()
                )))
        }
    }
}

/// Creates `obj` in its namespace; `AlreadyExists` is success (names are deterministic).
async fn create<K>(ctx: &Context, obj: &K) -> Result<()>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let ns = crate::error::namespace_of(obj, "an engine object")?.to_owned();
    let name = obj.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    api.create(&PostParams::default(), obj)
        .await
        .map(drop)
        .or_else(ignore(409))
        .map_err(apply_err(format!(
            "create {} {ns}/{name}",
            K::kind(&K::DynamicType::default())
        )))
}

/// Treats an API error with `code` as success.
fn ignore(code: u16) -> impl FnOnce(kube::Error) -> std::result::Result<(), kube::Error> {
    move |e| match e {
        kube::Error::Api(ref s) if s.code == code => Ok(()),
        e => Err(e),
    }
}

fn apply_err(what: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Apply { what, source }
}
