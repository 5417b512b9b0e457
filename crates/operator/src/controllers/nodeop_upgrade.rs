//! The `NodeOpUpgrade` controller: observe (Nodes, KairosNodes, the owned `NodeOp`) → plan
//! (`kairos_core::upgrade::fleet`) → apply (server-side apply of the owned `NodeOp`) → report
//! (status mirrored from the `NodeOp`). Does I/O.

use std::sync::Arc;
use std::time::Duration;

use kairos_api::names::OPERATOR_FIELD_MANAGER;
use kairos_api::{KairosNode, NodeOp, NodeOpUpgrade};
use kairos_core::upgrade::fleet::{self, FleetObserved, ObservedNode};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::controllers::Caches;
use crate::error::{Error, Result};

/// Name of this controller on metrics.
pub(crate) const CONTROLLER: &str = "nodeopupgrade";

/// Everything a `NodeOpUpgrade` reconcile needs.
pub(crate) struct State {
    /// Shared context.
    pub(crate) ctx: Arc<Context>,
    /// Node and KairosNode caches.
    pub(crate) caches: Caches,
    /// Consecutive failures per object (the retry delays).
    pub(crate) retries: super::retry::Retries,
}

/// Every cached Node with its labels and KairosNode, as the fleet planners read them.
pub(crate) fn observed_nodes(caches: &Caches) -> Vec<ObservedNode> {
    let kairos_nodes: std::collections::HashMap<String, Arc<KairosNode>> = caches
        .kairos_nodes
        .store
        .state()
        .into_iter()
        .map(|kn| (kn.name_any(), kn))
        .collect();
    caches
        .nodes
        .store
        .state()
        .iter()
        .map(|n| ObservedNode {
            name: n.name_any(),
            labels: n.labels().clone(),
            kairos_node: kairos_nodes
                .get(&n.name_any())
                .map(|kn| kn.as_ref().clone()),
        })
        .collect()
}

/// Reconciles one `NodeOpUpgrade`.
pub(crate) async fn reconcile(upgrade: Arc<NodeOpUpgrade>, state: Arc<State>) -> Result<Action> {
    state
        .retries
        .tracked(
            super::retry::key(upgrade.as_ref()),
            reconcile_once(upgrade, &state),
        )
        .await
}

async fn reconcile_once(upgrade: Arc<NodeOpUpgrade>, state: &State) -> Result<Action> {
    let ctx = &state.ctx;
    let _timer = ctx.metrics.start(CONTROLLER);
    if !crate::controllers::scope::in_scope(ctx, upgrade.as_ref()).await {
        return Ok(Action::await_change());
    }
    let ns = crate::error::namespace_of(upgrade.as_ref(), "the upgrade")?.to_owned();
    let nodeops: Api<NodeOp> = Api::namespaced(ctx.client.clone(), &ns);

    // Observe.
    let nodes = observed_nodes(&state.caches);
    let name = fleet::nodeop_name(&upgrade.name_any());
    let nodeop = nodeops
        .get_opt(&name)
        .await
        .map_err(|source| Error::Observe {
            what: format!("get NodeOp {ns}/{name}"),
            source,
        })?;
    let observed = FleetObserved { nodes, nodeop };

    // Plan.
    let plan = fleet::plan_fleet(&upgrade, &observed, ctx.now()).map_err(Error::MissingMetadata)?;

    // Apply.
    if let Some(op) = &plan.nodeop_to_apply {
        let params = PatchParams::apply(OPERATOR_FIELD_MANAGER).force();
        let mut body = serde_json::to_value(op)
            .map_err(|e| Error::Internal(format!("failed to serialize NodeOp {name}: {e}")))?;
        if let Some(obj) = body.as_object_mut() {
            obj.remove("status");
        }
        nodeops
            .patch(&name, &params, &Patch::Apply(body))
            .await
            .map_err(|source| Error::Apply {
                what: format!("apply NodeOp {ns}/{name}"),
                source,
            })?;
    }

    // Report.
    if upgrade.status.as_ref() != Some(&plan.status) {
        let mut updated = upgrade.as_ref().clone();
        updated.status = Some(plan.status.clone());
        updated.metadata.managed_fields = None;
        Api::<NodeOpUpgrade>::namespaced(ctx.client.clone(), &ns)
            .replace_status(&upgrade.name_any(), &PostParams::default(), &updated)
            .await
            .map_err(|source| Error::Report {
                name: upgrade.name_any(),
                source,
            })?;
    }
    Ok(Action::requeue(Duration::from_secs(60)))
}

/// Decides when to retry a failed reconcile.
pub(crate) fn error_policy(
    upgrade: Arc<NodeOpUpgrade>,
    error: &Error,
    state: Arc<State>,
) -> Action {
    super::retry::failed(
        &state.ctx,
        &state.retries,
        CONTROLLER,
        upgrade.as_ref(),
        error,
    )
}
