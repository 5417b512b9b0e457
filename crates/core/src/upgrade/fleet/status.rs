//! Assembly of a `NodeOpUpgrade` status (counts, phase, message, conditions). Pure: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use kairos_api::names::{CONTROL_PLANE_LABELS, conditions};
use kairos_api::v1alpha1::{
    NodeOp, NodeOpUpgrade, NodeOpUpgradeStatus, NodePhase, NodeStatus, OperationPhase,
};

use super::model::{FleetPlan, ObservedNode};
use crate::conditions::{Desired, merge};
use crate::nodeop::status::MAX_LISTED_NODES;
use crate::upgrade::version::target_version_from_image;

/// The status being assembled by [`plan_fleet`](super::plan_fleet).
pub(crate) struct Progress {
    generation: Option<i64>,
    target: String,
    /// Phase of the whole upgrade.
    pub(crate) phase: OperationPhase,
    /// The NodeOp's per-node statuses.
    pub(crate) running: BTreeMap<String, NodeStatus>,
    /// The nodes left out, with why.
    pub(crate) skipped: BTreeMap<String, NodeStatus>,
    /// The NodeOp's targets (its `targetNodes`).
    pub(crate) pending_targets: usize,
    /// The NodeOp's own counts, once it has a status (its `nodeStatuses` lists only some
    /// nodes of a large operation).
    pub(crate) counts: Option<Counts>,
    /// The NodeOp running the upgrade, when it exists or is being created.
    pub(crate) node_op_name: Option<String>,
    /// A message overriding the one derived from the phase.
    pub(crate) message: Option<String>,
    /// Status, reason and message of the [`SPEC_APPLIED`](conditions::SPEC_APPLIED) condition.
    pub(crate) spec_applied: (bool, &'static str, String),
    /// What holds the NodeOp's new starts (its `status.held` and `Held` message), if anything.
    pub(crate) held: Option<(String, String)>,
}

impl Progress {
    pub(crate) fn new(upgrade: &NodeOpUpgrade) -> Self {
        Self {
            generation: upgrade.metadata.generation,
            target: target_version_from_image(&upgrade.spec.image)
                .unwrap_or_else(|| upgrade.spec.image.clone()),
            phase: OperationPhase::Pending,
            running: BTreeMap::new(),
            skipped: BTreeMap::new(),
            pending_targets: 0,
            counts: None,
            node_op_name: None,
            message: None,
            spec_applied: (true, "Applied", "the current spec is in effect".to_owned()),
            held: None,
        }
    }

    /// Records `node` as skipped with `message`.
    pub(crate) fn skip(&mut self, node: &ObservedNode, message: String) {
        let control_plane = CONTROL_PLANE_LABELS
            .iter()
            .any(|l| node.labels.contains_key(*l));
        let st = NodeStatus {
            phase: NodePhase::Skipped,
            control_plane,
            message: Some(message),
            ..NodeStatus::default()
        };
        self.skipped.insert(node.name.clone(), st);
    }

    /// The plan: `apply` and the status computed from everything recorded.
    pub(crate) fn finish(
        self,
        old: &NodeOpUpgradeStatus,
        apply: Option<NodeOp>,
        now: Timestamp,
    ) -> FleetPlan {
        let left_out = self.skipped.len();
        // `upgraded` and `skipped` apart for the status (and `kubectl get`), `done` (both) for
        // the message.
        let (upgraded, skipped, failed, in_flight, total) = match self.counts {
            Some(k) => (
                to_usize(k.completed).saturating_sub(to_usize(k.skipped)),
                left_out + to_usize(k.skipped.min(k.completed)),
                to_usize(k.failed),
                to_usize(k.in_progress),
                left_out + to_usize(k.total),
            ),
            None => (0, left_out, 0, 0, left_out + self.pending_targets),
        };
        let done = upgraded + skipped;
        // The NodeOp's listed nodes first (in flight, failed), then the skipped ones: at most
        // as many as a NodeOp lists.
        let mut node_statuses = self.running;
        let room = MAX_LISTED_NODES.saturating_sub(node_statuses.len());
        for (name, st) in self.skipped.into_iter().take(room) {
            node_statuses.entry(name).or_insert(st);
        }
        let phase = self.phase;
        let target = &self.target;
        let message = self.message.unwrap_or_else(|| match phase {
            OperationPhase::Pending => format!("upgrade to {target} pending: {} to upgrade, {done} skipped", total - done),
            OperationPhase::Running => format!("upgrading to {target}: {done}/{total} done, {in_flight} in progress, {failed} failed"),
            OperationPhase::Completed => format!("upgrade to {target} completed: {done}/{total} nodes done or skipped"),
            OperationPhase::Failed => format!("upgrade to {target} failed: {failed} of {total} nodes failed"),
            OperationPhase::Stopped => format!("upgrade to {target} stopped after a failure: {done}/{total} done, {failed} failed"),
        });
        let phase_reason = phase_reason(phase);
        let (ok, reason, msg) = self.spec_applied;
        let desired = [
            Desired::new(
                conditions::PROGRESSING,
                matches!(phase, OperationPhase::Pending | OperationPhase::Running),
                phase_reason,
                message.clone(),
            ),
            Desired::new(
                conditions::COMPLETE,
                matches!(
                    phase,
                    OperationPhase::Completed | OperationPhase::Failed | OperationPhase::Stopped
                ),
                phase_reason,
                message.clone(),
            ),
            Desired::new(
                conditions::FAILED,
                failed > 0 || phase == OperationPhase::Failed,
                if failed > 0 {
                    "NodesFailed"
                } else {
                    phase_reason
                },
                format!("{failed} node(s) failed or rolled back"),
            ),
            Desired::new(conditions::SPEC_APPLIED, ok, reason, msg),
            match &self.held {
                Some((reason, message)) => {
                    Desired::new(conditions::HELD, true, reason.clone(), message.clone())
                }
                None => Desired::new(
                    conditions::HELD,
                    false,
                    "NotHeld",
                    "nothing holds new starts",
                ),
            },
        ];
        let status = NodeOpUpgradeStatus {
            phase: Some(phase),
            node_op_name: self.node_op_name,
            node_statuses,
            total: to_i32(total),
            completed: to_i32(upgraded),
            skipped: to_i32(skipped),
            failed: to_i32(failed),
            message: Some(message),
            conditions: merge(&old.conditions, &desired, self.generation, now),
            observed_generation: self.generation,
            held: self.held.map(|(reason, _)| reason),
        };
        FleetPlan {
            nodeop_to_apply: apply,
            status,
        }
    }
}

fn phase_reason(phase: OperationPhase) -> &'static str {
    match phase {
        OperationPhase::Pending => "Pending",
        OperationPhase::Running => "Running",
        OperationPhase::Completed => "Completed",
        OperationPhase::Failed => "Failed",
        OperationPhase::Stopped => "Stopped",
    }
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn to_usize(n: i32) -> usize {
    usize::try_from(n).unwrap_or_default()
}

/// A NodeOp's node counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Target nodes.
    pub(crate) total: i32,
    /// Completed or skipped.
    pub(crate) completed: i32,
    /// Failed or rolled back.
    pub(crate) failed: i32,
    /// Skipped (also counted in `completed`).
    pub(crate) skipped: i32,
    /// In flight.
    pub(crate) in_progress: i32,
}
