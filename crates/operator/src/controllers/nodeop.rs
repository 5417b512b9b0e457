//! The `NodeOp` controller: observe (the shared caches) → plan (`kairos_core::nodeop`) → take
//! the node locks → write the target records → write the status → apply the actions, with a
//! finalizer so that deleting a `NodeOp` stops it, deletes its Jobs, uncordons what it cordoned
//! and releases its nodes. Does I/O only through its submodules.

mod apply;
mod locks;
mod observe;
mod recent;
mod report;
mod targets;

use std::sync::Arc;
use std::time::Duration;

use kairos_api::NodeOp;
use kairos_core::nodeop::{self, Verifier};
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::context::Context;
use crate::controllers::Caches;
use crate::controllers::retry::{self, Retries};
use crate::error::{Error, Result};
use crate::permissions::warn_unless_forbidden;

/// Name of this controller on metrics.
pub(crate) const CONTROLLER: &str = "nodeop";

/// How soon a reconcile whose node lock another operation took first plans again.
const LOCK_LOST_RETRY: Duration = Duration::from_millis(200);

/// Everything a `NodeOp` reconcile needs.
pub(crate) struct State {
    /// Shared context.
    pub(crate) ctx: Arc<Context>,
    /// The process's caches.
    pub(crate) caches: Caches,
    /// Engine settings.
    pub(crate) engine: nodeop::Config,
    /// Held while node locks are taken: this process decides one acquisition at a time, on a
    /// fresh read of every lock.
    pub(crate) locking: tokio::sync::Mutex<()>,
    /// Consecutive failures per `NodeOp` (the retry delays).
    pub(crate) retries: Retries,
    /// The target records this process wrote lately (read-your-writes over the cache).
    pub(crate) recent_targets: recent::Recent<kairos_api::NodeOpTarget>,
    /// The `NodeOp` statuses this process wrote lately.
    pub(crate) recent_ops: recent::Recent<NodeOp>,
}

impl State {
    /// The state of a controller that starts with nothing recent and no failures.
    pub(crate) fn new(ctx: Arc<Context>, caches: Caches, engine: nodeop::Config) -> Self {
        Self {
            ctx,
            caches,
            engine,
            locking: tokio::sync::Mutex::new(()),
            retries: Retries::default(),
            recent_targets: recent::Recent::default(),
            recent_ops: recent::Recent::default(),
        }
    }

    /// Namespace of the node locks: the engine's (the operator's) namespace.
    pub(crate) fn lock_namespace(&self) -> String {
        self.engine
            .job_namespace
            .clone()
            .unwrap_or_else(|| self.ctx.config.namespace.clone())
    }
}

/// Reconciles one `NodeOp`.
pub(crate) async fn reconcile(op: Arc<NodeOp>, state: Arc<State>) -> Result<Action> {
    let key = retry::key(op.as_ref());
    let result = reconcile_once(op, &state).await;
    if result.is_ok() {
        state.retries.succeeded(&key);
    }
    result
}

async fn reconcile_once(op: Arc<NodeOp>, state: &State) -> Result<Action> {
    let op = state.recent_ops.fresher(op);
    let ctx = &state.ctx;
    let _timer = ctx.metrics.start(CONTROLLER);
    if !crate::controllers::in_scope(ctx, op.as_ref()).await {
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
    let verifier = crate::controllers::upgrade_verifier(&state.caches, &op, in_flight);
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
    state.ctx.metrics.failure(CONTROLLER, error.category());
    if error.is_conflict() {
        tracing::debug!(nodeop = %op.name_any(), error = %error, "reconcile raced a write; planning again");
    } else {
        warn_unless_forbidden!(error, nodeop = %op.name_any(), error = %error, "reconcile failed");
    }
    Action::requeue(state.retries.failed(&retry::key(op.as_ref()), error))
}

#[cfg(test)]
mod tests;
