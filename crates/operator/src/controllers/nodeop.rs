//! The `NodeOp` controller: observe (the shared caches) → plan (`kairos_core::nodeop`) → take
//! the node locks → write the target records → write the status → apply the actions, with a
//! finalizer so that deleting a `NodeOp` stops it, deletes its Jobs, uncordons what it cordoned
//! and releases its nodes. Does I/O only through its submodules.

mod apply;
mod locks;
mod observe;
mod recent;
mod report;
mod state;
mod targets;

pub(crate) use locks::identity;
pub(crate) use state::State;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kairos_api::NodeOp;
use kairos_core::nodeop::{self, RebootOnly, Verifier};
use kairos_core::upgrade::upgrade_target;
use kairos_core::upgrade_verifier::UpgradeVerifier;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use crate::controllers::Caches;
use crate::controllers::retry;
use crate::error::{Error, Result};

/// Name of this controller on metrics.
pub(crate) const CONTROLLER: &str = "nodeop";

/// How soon a reconcile whose node lock another operation took first plans again.
const LOCK_LOST_RETRY: Duration = Duration::from_millis(200);

/// Reconciles one `NodeOp`.
pub(crate) async fn reconcile(op: Arc<NodeOp>, state: Arc<State>) -> Result<Action> {
    state
        .retries
        .tracked(retry::key(op.as_ref()), reconcile_once(op, &state))
        .await
}

async fn reconcile_once(op: Arc<NodeOp>, state: &State) -> Result<Action> {
    let op = state.recent_ops.fresher(op);
    let ctx = &state.ctx;
    let _timer = ctx.metrics.start(CONTROLLER);
    if !crate::controllers::scope::in_scope(ctx, op.as_ref()).await {
        return Ok(Action::await_change());
    }
    if op.metadata.deletion_timestamp.is_none() && apply::ensure_finalizer(ctx, &op).await? {
        return Ok(Action::await_change());
    }
    let op_ref = nodeop::OpRef::of(&op).map_err(Error::MissingMetadata)?;
    let job_namespace = nodeop::build::namespace(&op_ref, &state.engine);
    let observed = observe::observe(state, &op, &op_ref.uid, &job_namespace).await?;
    let in_flight = observed
        .targets
        .iter()
        .filter(|(_, t)| t.status.as_ref().is_some_and(|s| s.phase.is_in_flight()))
        .map(|(n, _)| n);
    let verifier = upgrade_verifier(&state.caches, &op, in_flight);
    let verifier: &dyn Verifier = verifier.as_ref();
    let plan = nodeop::plan_with(&op, &observed, &state.engine, verifier, ctx.now())
        .map_err(Error::MissingMetadata)?;
    // The nodes it starts first: if another operation took one first, nothing of this plan
    // is written, and the next plan sees who holds it.
    if !locks::acquire(state, &plan.acquire).await? {
        return Ok(Action::requeue(LOCK_LOST_RETRY));
    }
    // Then what it decided, records and status, so a failed action is retried from the
    // recorded phase, never repeated from an older one.
    targets::write(state, &op_ref, &plan.targets).await?;
    if let Some(written) = report::status(ctx, &op, &plan.status).await? {
        state
            .recent_ops
            .wrote(op.metadata.resource_version.clone(), written);
    }
    apply::apply(ctx, &op, &plan.actions, &state.lock_namespace()).await?;
    report::events(ctx, &op, &plan.events);
    Ok(match plan.requeue_after {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// Decides when to retry a failed reconcile.
pub(crate) fn error_policy(op: Arc<NodeOp>, error: &Error, state: Arc<State>) -> Action {
    retry::failed(&state.ctx, &state.retries, CONTROLLER, op.as_ref(), error)
}

/// The [`Verifier`] of `op`: the upgrade verifier for upgrade `NodeOp`s, else reboot-only.
/// It judges the nodes in flight (`nodes`), from their KairosNodes' reports.
pub(crate) fn upgrade_verifier<'a>(
    caches: &Caches,
    op: &NodeOp,
    nodes: impl Iterator<Item = &'a String>,
) -> Box<dyn Verifier + Send + Sync> {
    let Some(target) = upgrade_target(op) else {
        return Box::new(RebootOnly);
    };
    let reports: BTreeMap<String, _> = nodes
        .filter_map(|n| {
            let kn = caches.kairos_nodes.store.get(&ObjectRef::new(n))?;
            Some((n.clone(), kn.status.clone()?))
        })
        .collect();
    Box::new(UpgradeVerifier { target, reports })
}

#[cfg(test)]
mod tests;
