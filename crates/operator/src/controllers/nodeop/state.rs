//! What every `NodeOp` reconcile shares: the context, the caches, the engine settings, the lock
//! that serialises node-lock acquisitions in this process, retry counts and read-your-writes
//! records. No I/O.

use std::sync::Arc;

use kairos_api::NodeOp;
use kairos_core::nodeop;

use super::recent;
use crate::context::Context;
use crate::controllers::Caches;
use crate::controllers::retry::Retries;

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
