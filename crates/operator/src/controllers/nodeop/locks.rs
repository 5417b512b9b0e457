//! Takes and releases node locks: one `coordination.k8s.io` Lease per node in the operator's
//! namespace, created by the operation that takes the node and deleted (with a
//! `resourceVersion` precondition) when it lets go. Before taking one, every lock is read
//! afresh and the cluster-wide rules are checked again (`kairos_core::nodeop::lock::admit`), one
//! acquisition at a time in this process, so a cache that lags cannot let two operations, two
//! control-plane nodes or one node too many through. Writes Leases.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kairos_api::NodeOp;
use kairos_api::names::{
    ANNOTATION_CORDONED_BY, ANNOTATION_LOCK_CONTROL_PLANE, ANNOTATION_LOCK_NODE, LABEL_NODE_LOCK,
    LABEL_NODEOP_UID,
};
use kairos_core::k8s_names::label_value;
use kairos_core::nodeop::Acquire;
use kairos_core::nodeop::lock::{self, NodeLock};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};

use super::State;
use crate::context::Context;
use crate::error::{Error, Result};

/// A node lock as the planner sees it, from its Lease.
pub(crate) fn node_lock(lease: &Lease) -> Option<(String, NodeLock)> {
    let node = lease.annotations().get(ANNOTATION_LOCK_NODE)?.clone();
    let holder = lease.spec.as_ref()?.holder_identity.clone()?;
    let control_plane = lease
        .annotations()
        .get(ANNOTATION_LOCK_CONTROL_PLANE)
        .is_some_and(|v| v == "true");
    Some((
        node,
        NodeLock {
            holder,
            control_plane,
        },
    ))
}

/// The holder identity of a `NodeOp` (`<ns>/<name>@<uid>`, `OpRef::cordoned_by`), as its locks
/// record it; empty for an object without namespace, name or uid, which holds nothing.
pub(crate) fn identity(op: &NodeOp) -> String {
    kairos_core::nodeop::OpRef::of(op)
        .map(|r| r.cordoned_by())
        .unwrap_or_default()
}

/// Takes every lock of `acquire`. Returns false, having taken what it could, when one of them
/// cannot be taken now (another operation was faster): the plan must not be applied.
pub(super) async fn acquire(state: &State, acquire: &[Acquire]) -> Result<bool> {
    if acquire.is_empty() {
        return Ok(true);
    }
    let _one_at_a_time = state.locking.lock().await;
    let ctx = &state.ctx;
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), &state.lock_namespace());
    let fresh = api
        .list(&ListParams::default().labels(LABEL_NODE_LOCK))
        .await
        .map_err(|source| Error::Observe {
            what: "list the node locks".to_owned(),
            source,
        })?;
    let mut locks: BTreeMap<String, NodeLock> = fresh.items.iter().filter_map(node_lock).collect();
    let cordoned: BTreeSet<String> = state
        .caches
        .nodes
        .store
        .state()
        .iter()
        .filter(|n| n.annotations().contains_key(ANNOTATION_CORDONED_BY))
        .map(|n| n.name_any())
        .collect();
    for a in acquire {
        let limits = state.engine.limits;
        if let Err(wait) = lock::admit(
            &locks,
            &cordoned,
            &a.node,
            a.control_plane,
            &a.holder,
            limits,
        ) {
            tracing::debug!(node = %a.node, holder = %a.holder, %wait, "node lock not taken");
            return Ok(false);
        }
        if locks.contains_key(&a.node) {
            continue; // ours already
        }
        match api
            .create(
                &PostParams::default(),
                &lease(ctx, a, &state.lock_namespace()),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::debug!(node = %a.node, "node lock taken by someone else meanwhile");
                return Ok(false);
            }
            Err(source) => {
                return Err(Error::Apply {
                    what: format!("take the lock of node {}", a.node),
                    source,
                });
            }
        }
        let held = NodeLock {
            holder: a.holder.clone(),
            control_plane: a.control_plane,
        };
        locks.insert(a.node.clone(), held);
    }
    Ok(true)
}

/// The Lease that locks `a.node` for `a.holder`.
fn lease(ctx: &Context, a: &Acquire, namespace: &str) -> Lease {
    let uid = a.holder.rsplit_once('@').map_or("", |(_, uid)| uid);
    Lease {
        metadata: ObjectMeta {
            name: Some(lock::lease_name(&a.node)),
            namespace: Some(namespace.to_owned()),
            labels: Some(
                [
                    (LABEL_NODE_LOCK.to_owned(), label_value(&a.node)),
                    (LABEL_NODEOP_UID.to_owned(), label_value(uid)),
                ]
                .into(),
            ),
            annotations: Some(
                [
                    (ANNOTATION_LOCK_NODE.to_owned(), a.node.clone()),
                    (
                        ANNOTATION_LOCK_CONTROL_PLANE.to_owned(),
                        a.control_plane.to_string(),
                    ),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(a.holder.clone()),
            acquire_time: Some(MicroTime(ctx.now())),
            ..LeaseSpec::default()
        }),
    }
}

/// Deletes the lock of `node` if `holder` still holds it (a lock already gone is fine).
pub(super) async fn release(
    ctx: &Context,
    namespace: &str,
    node: &str,
    holder: &str,
) -> Result<()> {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), namespace);
    let name = lock::lease_name(node);
    let what = || format!("release the lock of node {node}");
    let Some(current) = api.get_opt(&name).await.map_err(|source| Error::Apply {
        what: what(),
        source,
    })?
    else {
        return Ok(());
    };
    let holds = current
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        == Some(holder);
    if !holds {
        return Ok(());
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: current.metadata.resource_version.clone(),
            uid: current.metadata.uid.clone(),
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => Ok(()),
        // Gone, or changed since it was read (the next plan looks again).
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(source) => Err(Error::Apply {
            what: what(),
            source,
        }),
    }
}
