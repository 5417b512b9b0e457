//! The periodic sweep of silent agents: every [`SWEEP_INTERVAL`], lists the KairosNodes and sets
//! `Reporting=False` (reason `AgentSilent`) on those whose `lastSeen` is older than the silence
//! threshold. The decision is `kairos_core::kairos_node::stale_reporting`; this module only
//! reads and writes. Does I/O (through the [`Store`]).
//!
//! Only the leader sweeps (reading every KairosNode from the watch cache once a minute), and
//! each write carries the listed `resourceVersion` as a precondition, so a
//! sweep never overwrites a report that arrived in between (it skips that node instead).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_core::kairos_node::{report_owned, stale_reporting, with_condition};

use super::store::{Store, StoreError};

/// How often the sweep runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Marks silent nodes once at `now`; returns how many were marked.
///
/// # Errors
/// When the KairosNodes cannot be listed, or a write fails for another reason than a conflict.
pub async fn sweep_once<S: Store>(
    store: &S,
    threshold: SignedDuration,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let mut marked = 0;
    for kn in store.list().await? {
        let (Some(name), Some(status)) = (kn.metadata.name.as_deref(), kn.status.as_ref()) else {
            continue;
        };
        let Some(silent) = stale_reporting(status, now, threshold) else {
            continue;
        };
        let new = with_condition(status, &silent, kn.metadata.generation, now);
        let rv = kn.metadata.resource_version.as_deref();
        match store.apply_status(name, &report_owned(&new), rv).await {
            Ok(_) => {
                tracing::info!(node = name, message = %silent.message, "node agent is silent");
                marked += 1;
            }
            // A report or another writer got there first; the next sweep looks again.
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(marked)
}

/// Runs [`sweep_once`] every [`SWEEP_INTERVAL`] while `leading` is true, until `shutdown`
/// turns true.
pub async fn run<S: Store>(
    store: Arc<S>,
    threshold: SignedDuration,
    leading: tokio::sync::watch::Receiver<bool>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(SWEEP_INTERVAL) => {}
            () = super::stopped(&mut shutdown) => return,
        }
        if !*leading.borrow() {
            continue;
        }
        if let Err(e) = sweep_once(store.as_ref(), threshold, Timestamp::now()).await {
            crate::permissions::warn_unless_forbidden!(&e, error = %e, "failed to sweep for silent node agents");
        }
    }
}
