//! Writes a `NodeOp`'s target records (`NodeOpTarget`, one per target node, in the `NodeOp`'s
//! namespace, owned by it): creates them when the operation starts, and replaces the status of
//! those whose node moved, with `resourceVersion` preconditions so that a plan made from stale
//! data fails instead of overwriting newer progress. Writes only.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kairos_api::NodeOpTarget;
use kairos_api::names::{GROUP, LABEL_NODE, LABEL_NODEOP, LABEL_NODEOP_UID, VERSION};
use kairos_api::v1alpha1::{NodeOpTargetSpec, NodeStatus};
use kairos_core::k8s_names::label_value;
use kairos_core::nodeop::build::{self, Role};
use kairos_core::nodeop::{OpRef, Target, TargetWrite};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;

use super::State;
use super::recent::Recent;
use crate::error::{Error, Result};

/// How many record writes are in flight at once (the first plan of a large operation creates
/// one per target).
const PARALLEL: usize = 16;

/// Name of the record of `node`: the name of the node's Job (another kind, so no clash).
pub(crate) fn name(op: &OpRef, node: &str) -> String {
    build::object_name(op, node, Role::Job)
}

/// Makes every write; stops at the first failure.
pub(super) async fn write(state: &State, op_ref: &OpRef, writes: &[TargetWrite]) -> Result<()> {
    let api: Api<NodeOpTarget> = Api::namespaced(state.ctx.client.clone(), &op_ref.namespace);
    let pending: Vec<_> = writes
        .iter()
        .map(|w| write_one(&api, state, op_ref, w))
        .collect();
    futures::stream::iter(pending)
        .buffer_unordered(PARALLEL)
        .try_collect::<()>()
        .await
}

async fn write_one(
    api: &Api<NodeOpTarget>,
    state: &State,
    op_ref: &OpRef,
    w: &TargetWrite,
) -> Result<()> {
    let recent = &state.recent_targets;
    match w {
        TargetWrite::Create {
            node,
            order,
            control_plane,
            status,
        } => {
            let record = record(op_ref, node, *order, *control_plane);
            let created = match api.create(&PostParams::default(), &record).await {
                Ok(created) => {
                    recent.wrote(None, created.clone());
                    created
                }
                // An earlier plan created it (it was not in the cache yet).
                Err(kube::Error::Api(e)) if e.code == 409 => return Ok(()),
                Err(source) => {
                    return Err(Error::Apply {
                        what: format!("create the target record of node {node}"),
                        source,
                    });
                }
            };
            let pending = Target {
                order: *order,
                control_plane: *control_plane,
                status: None,
            };
            if *status == pending.current() {
                return Ok(());
            }
            replace_status(api, recent, created, status, node).await
        }
        TargetWrite::Status { node, status } => {
            let name = name(op_ref, node);
            let key = ObjectRef::new(&name).within(&op_ref.namespace);
            let current = match state.caches.targets.store.get(&key) {
                Some(cached) => recent.fresher(cached),
                None => recent.written(&op_ref.namespace, &name).ok_or_else(|| {
                    Error::Internal(format!("the target record of node {node} is not known"))
                })?,
            };
            replace_status(api, recent, current.as_ref().clone(), status, node).await
        }
    }
}

async fn replace_status(
    api: &Api<NodeOpTarget>,
    recent: &Recent<NodeOpTarget>,
    mut record: NodeOpTarget,
    status: &NodeStatus,
    node: &str,
) -> Result<()> {
    let replaced = record.metadata.resource_version.clone();
    record.status = Some(status.clone());
    record.metadata.managed_fields = None;
    let name = record.metadata.name.clone().unwrap_or_default();
    let written = api
        .replace_status(&name, &PostParams::default(), &record)
        .await
        .map_err(|source| Error::Report {
            name: format!("the target record of node {node}"),
            source,
        })?;
    recent.wrote(replaced, written);
    Ok(())
}

/// The record of `node`, fixed at start, owned by the `NodeOp`.
fn record(op_ref: &OpRef, node: &str, order: i32, control_plane: bool) -> NodeOpTarget {
    let mut record = NodeOpTarget::new(
        &name(op_ref, node),
        NodeOpTargetSpec {
            node_op: op_ref.name.clone(),
            node: node.to_owned(),
            order,
            control_plane,
        },
    );
    record.metadata = ObjectMeta {
        namespace: Some(op_ref.namespace.clone()),
        labels: Some(
            [
                (LABEL_NODEOP.to_owned(), label_value(&op_ref.name)),
                (LABEL_NODEOP_UID.to_owned(), label_value(&op_ref.uid)),
                (LABEL_NODE.to_owned(), label_value(node)),
            ]
            .into(),
        ),
        owner_references: Some(vec![OwnerReference {
            api_version: format!("{GROUP}/{VERSION}"),
            kind: "NodeOp".to_owned(),
            name: op_ref.name.clone(),
            uid: op_ref.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]),
        ..record.metadata
    };
    record
}
