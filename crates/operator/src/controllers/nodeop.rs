//! The `NodeOp` controller: observe → plan (`kairos_core::nodeop`) → apply → report, with a
//! finalizer so that deleting a `NodeOp` stops it, deletes its Jobs and uncordons what it
//! cordoned. Does I/O only through its submodules.

mod apply;
mod observe;
mod report;

use std::sync::Arc;

use kairos_api::NodeOp;
use kairos_core::nodeop::{self, Verifier};
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::controllers::Caches;
use crate::error::{Error, Result};
use crate::permissions::warn_unless_forbidden;

/// Name of this controller on metrics.
pub(crate) const CONTROLLER: &str = "nodeop";

/// Everything a `NodeOp` reconcile needs.
pub(crate) struct State {
    /// Shared context.
    pub(crate) ctx: Arc<Context>,
    /// Node and KairosNode caches.
    pub(crate) caches: Caches,
    /// Engine settings.
    pub(crate) engine: nodeop::Config,
}

/// Reconciles one `NodeOp`.
pub(crate) async fn reconcile(op: Arc<NodeOp>, state: Arc<State>) -> Result<Action> {
    let ctx = &state.ctx;
    let _timer = ctx.metrics.start(CONTROLLER);
    if !crate::controllers::in_scope(ctx, op.as_ref()).await {
        return Ok(Action::await_change());
    }
    if op.metadata.deletion_timestamp.is_none() && apply::ensure_finalizer(ctx, &op).await? {
        return Ok(Action::await_change());
    }
    let op_ref = nodeop::OpRef::of(&op).map_err(|e| Error::Invalid(e.to_string()))?;
    let job_namespace = nodeop::job::namespace(&op_ref, &state.engine);
    let observed = observe::observe(ctx, &state.caches, &op, &op_ref.uid, &job_namespace).await?;
    let verifier = crate::controllers::upgrade_verifier(&state.caches, &op);
    let verifier: &dyn Verifier = verifier.as_ref();
    let plan = nodeop::plan_with(&op, &observed, &state.engine, verifier, ctx.now())
        .map_err(|e| Error::Invalid(e.to_string()))?;
    // Status first: it records what was observed and decided, so a failed action is retried
    // from the recorded phase, never repeated from an older one.
    report::status(ctx, &op, &plan.status).await?;
    report::events(ctx, &op, &plan.events).await;
    apply::apply(ctx, &op, &plan.actions).await?;
    Ok(match plan.requeue_after {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// Decides when to retry a failed reconcile.
pub(crate) fn error_policy(op: Arc<NodeOp>, error: &Error, state: Arc<State>) -> Action {
    state.ctx.metrics.failure(CONTROLLER, error.category());
    warn_unless_forbidden!(error, nodeop = %op.name_any(), error = %error, "reconcile failed");
    error.retry_after()
}
