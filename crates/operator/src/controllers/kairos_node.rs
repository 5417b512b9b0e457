//! The `KairosNode` upgrade controller: when `spec.version` asks for another version, observe
//! (the node's own upgrade `NodeOp` and any fleet `NodeOp` targeting it) → plan
//! (`kairos_core::upgrade::node`) → apply (create or delete the single-node `NodeOp`) → report
//! (`status.upgrade` and the `UpToDate`/`Upgrading` conditions). A KairosNode no agent reports
//! for is never upgraded, and one whose Node does not exist is deleted. Does I/O.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kairos_api::names::{LABEL_KAIROSNODE, LABEL_NODEOP_UPGRADE};
use kairos_api::v1alpha1::UpgradeState;
use kairos_api::{KairosNode, NodeOp};
use kairos_core::conditions;
use kairos_core::k8s_names::label_value;
use kairos_core::upgrade::node::{self, NodeConfig, NodeObserved};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use crate::context::Context;
use crate::controllers::Caches;
use crate::error::{Error, Result};

/// Name of this controller on metrics.
pub(crate) const CONTROLLER: &str = "kairosnode";

pub(crate) use kairos_api::names::UPGRADE_FIELD_MANAGER;

/// Everything a `KairosNode` reconcile needs.
pub(crate) struct State {
    /// Shared context.
    pub(crate) ctx: Arc<Context>,
    /// Node, KairosNode and NodeOp caches.
    pub(crate) caches: Caches,
    /// Planner settings.
    pub(crate) config: NodeConfig,
    /// Consecutive failures per object (the retry delays).
    pub(crate) retries: super::retry::Retries,
}

/// Reconciles the upgrade side of one `KairosNode`.
pub(crate) async fn reconcile(kn: Arc<KairosNode>, state: Arc<State>) -> Result<Action> {
    state
        .retries
        .tracked(super::retry::key(kn.as_ref()), reconcile_once(kn, &state))
        .await
}

async fn reconcile_once(kn: Arc<KairosNode>, state: &State) -> Result<Action> {
    let ctx = &state.ctx;
    let _timer = ctx.metrics.start(CONTROLLER);
    let name = kn.name_any();
    let nodeops: Api<NodeOp> = Api::namespaced(ctx.client.clone(), &state.config.namespace);

    // Observe: the cache says which NodeOps concern this node (no LIST per reconcile); those
    // are read fresh, since the cache may not yet hold the change that woke this reconcile.
    let node_label = label_value(&name);
    let all = state.caches.nodeops.store.state();
    let own = all.iter().filter(|op| {
        op.namespace().as_deref() == Some(state.config.namespace.as_str())
            && op.labels().get(LABEL_KAIROSNODE) == Some(&node_label)
    });
    let scope = &ctx.config.operation_namespaces;
    let fleet = all.iter().filter(|op| {
        op.labels().contains_key(LABEL_NODEOP_UPGRADE)
            && scope.allows(&op.namespace().unwrap_or_default())
            && op
                .spec
                .target_nodes
                .as_ref()
                .is_some_and(|t| t.contains(&name))
    });
    let own = newest(own.map(|op| op.as_ref().clone()));
    let fleet = newest(fleet.map(|op| op.as_ref().clone()));
    let node_missing = node_missing(state, &name).await?;
    // Whether an agent reports for it shows in the managed fields, which the cache drops: read
    // them only when the KairosNode asks for something.
    let asks = node::requested_version(&kn).is_some();
    let no_agent_report = if asks && !node_missing {
        let fresh_kn = Api::<KairosNode>::all(ctx.client.clone())
            .get_opt(&name)
            .await
            .map_err(|source| Error::Observe {
                what: format!("get KairosNode {name}"),
                source,
            })?;
        let Some(fresh_kn) = fresh_kn else {
            return Ok(Action::await_change());
        };
        !node::reported_by_agent(&fresh_kn)
    } else {
        false
    };
    let observed = NodeObserved {
        own_nodeop: fresh(ctx, own).await?,
        fleet_nodeop: fresh(ctx, fleet).await?,
        no_agent_report,
        node_missing,
    };

    // Plan.
    let plan = node::plan_node(&kn, &observed, ctx.now(), &state.config)
        .map_err(Error::MissingMetadata)?;

    // Apply.
    if plan.delete_kairos_node {
        let uid = kn.uid().unwrap_or_default();
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        Api::<KairosNode>::all(ctx.client.clone())
            .delete(&name, &params)
            .await
            .map(drop)
            .or_else(|e| match e {
                kube::Error::Api(s) if s.code == 404 || s.code == 409 => Ok(()),
                source => Err(Error::Apply {
                    what: format!("delete KairosNode {name}"),
                    source,
                }),
            })?;
        tracing::info!(kairosnode = %name, "deleted the KairosNode: no Node of that name exists");
        return Ok(Action::await_change());
    }
    apply_nodeop_plan(
        &nodeops,
        plan.delete_nodeop.as_deref(),
        plan.nodeop_to_apply.as_ref(),
        UPGRADE_FIELD_MANAGER,
    )
    .await?;

    // Report: only the fields this controller owns, only when they changed, and nothing before
    // a new node's first report (which wakes this controller again).
    let current = kn.status.clone().unwrap_or_default();
    let mut desired = current.clone();
    plan.apply_to(&mut desired);
    if !node::awaits_first_report(&kn)
        && (desired.upgrade != current.upgrade
            || !conditions::same(&desired.conditions, &current.conditions))
    {
        let mine: Vec<_> = desired
            .conditions
            .iter()
            .filter(|c| plan.conditions.iter().any(|p| p.type_ == c.type_))
            .collect();
        let status = json!({"upgrade": desired.upgrade, "conditions": mine});
        apply_status(ctx, &name, UPGRADE_FIELD_MANAGER, status).await?;
    }
    // Upgrades in flight have timeouts to check; otherwise the watches wake it up.
    let in_flight = matches!(
        plan.upgrade.state,
        UpgradeState::Pending | UpgradeState::InProgress | UpgradeState::Rebooting
    );
    Ok(Action::requeue(Duration::from_secs(if in_flight {
        10
    } else {
        300
    })))
}

/// Server-side applies `status` (only the fields `manager` owns) to KairosNode `name`.
pub(super) async fn apply_status(
    ctx: &Context,
    name: &str,
    manager: &str,
    status: serde_json::Value,
) -> Result<()> {
    let patch = json!({
        "apiVersion": "operator.kairos.io/v1alpha1",
        "kind": "KairosNode",
        "metadata": {"name": name},
        "status": status,
    });
    Api::<KairosNode>::all(ctx.client.clone())
        .patch_status(
            name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(patch),
        )
        .await
        .map(drop)
        .map_err(|source| Error::Report {
            name: name.to_owned(),
            source,
        })
}

/// Deletes the finished NodeOp `delete` (gone already is fine), then server-side applies `op`
/// (without status) as `manager`: the apply step of the per-node planners.
pub(crate) async fn apply_nodeop_plan(
    nodeops: &Api<NodeOp>,
    delete: Option<&str>,
    op: Option<&NodeOp>,
    manager: &str,
) -> Result<()> {
    if let Some(done) = delete {
        nodeops
            .delete(done, &DeleteParams::background())
            .await
            .map(drop)
            .or_else(|e| match e {
                kube::Error::Api(s) if s.code == 404 => Ok(()),
                source => Err(Error::Apply {
                    what: format!("delete NodeOp {done}"),
                    source,
                }),
            })?;
    }
    if let Some(op) = op {
        let op_name = op.name_any();
        let mut body = serde_json::to_value(op)
            .map_err(|e| Error::Internal(format!("failed to serialize NodeOp {op_name}: {e}")))?;
        if let Some(obj) = body.as_object_mut() {
            obj.remove("status");
        }
        let params = PatchParams::apply(manager).force();
        nodeops
            .patch(&op_name, &params, &Patch::Apply(body))
            .await
            .map_err(|source| Error::Apply {
                what: format!("apply NodeOp {op_name}"),
                source,
            })?;
    }
    Ok(())
}

/// Whether the Node `name` does not exist: absent from the cache and confirmed by a fresh read
/// (a Node created moments ago may not be cached yet).
async fn node_missing(state: &State, name: &str) -> Result<bool> {
    if state
        .caches
        .nodes
        .store
        .get(&ObjectRef::new(name))
        .is_some()
    {
        return Ok(false);
    }
    let node = Api::<Node>::all(state.ctx.client.clone())
        .get_opt(name)
        .await
        .map_err(|source| Error::Observe {
            what: format!("get Node {name}"),
            source,
        })?;
    Ok(node.is_none())
}

/// The current version of a cached NodeOp (`None` when it is gone).
pub(super) async fn fresh(ctx: &Context, cached: Option<NodeOp>) -> Result<Option<NodeOp>> {
    let Some(op) = cached else { return Ok(None) };
    let ns = crate::error::namespace_of(&op, "the node upgrade")?.to_owned();
    Api::<NodeOp>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&op.name_any())
        .await
        .map_err(|source| Error::Observe {
            what: format!("get NodeOp {ns}/{}", op.name_any()),
            source,
        })
}

pub(super) fn newest(ops: impl Iterator<Item = NodeOp>) -> Option<NodeOp> {
    ops.max_by_key(|op| op.metadata.creation_timestamp.clone().map(|t| t.0))
}

/// Decides when to retry a failed reconcile.
pub(crate) fn error_policy(kn: Arc<KairosNode>, error: &Error, state: Arc<State>) -> Action {
    super::retry::failed(&state.ctx, &state.retries, CONTROLLER, kn.as_ref(), error)
}
