//! The `NodeOp` status from its per-node statuses: counts, the operation's phase and message,
//! and the `Progressing`/`Complete`/`Failed`/`SpecApplied` conditions. Pure: no I/O.

use std::collections::BTreeMap;

use kairos_api::names::conditions::{COMPLETE, FAILED, HELD, PROGRESSING, SPEC_APPLIED};
use kairos_api::v1alpha1::{NodeOpSpec, NodeOpStatus, NodePhase, NodeStatus, OperationPhase};

use super::context::{Ctx, Out};
use super::reason::Reason;
use super::step::listing;
use crate::conditions::{Desired, merge};
use crate::gates::Held;
use crate::hash::short_hash;

/// Most nodes a `NodeOp` status lists (see [`listed`]): the status stays well under the API
/// server's object size limit whatever the fleet's size.
pub const MAX_LISTED_NODES: usize = 100;

/// The operation's phase when its targets could not be fixed: `Some((phase, message))` for an
/// operation without nodes (no match, or an invalid selector).
pub(crate) type Fixed = Option<(OperationPhase, String)>;

/// Counts of the nodes of an operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Target nodes.
    pub total: i32,
    /// Completed or skipped.
    pub completed: i32,
    /// Failed (or rolled back).
    pub failed: i32,
    /// Skipped (also counted in `completed`).
    pub skipped: i32,
    /// Between leaving Pending and a terminal phase.
    pub in_progress: i32,
    /// Stopped before starting.
    pub stopped: i32,
    /// Still Pending.
    pub pending: i32,
}

/// Counts the nodes by phase.
pub fn count(nodes: &BTreeMap<String, NodeStatus>) -> Counts {
    let n = |f: &dyn Fn(NodePhase) -> bool| {
        i32::try_from(nodes.values().filter(|s| f(s.phase)).count()).unwrap_or(i32::MAX)
    };
    Counts {
        total: n(&|_| true),
        completed: n(&|p| matches!(p, NodePhase::Completed | NodePhase::Skipped)),
        failed: n(&NodePhase::is_failure),
        skipped: n(&|p| p == NodePhase::Skipped),
        in_progress: n(&NodePhase::is_in_flight),
        stopped: n(&|p| p == NodePhase::Stopped),
        pending: n(&|p| p == NodePhase::Pending),
    }
}

/// The operation's phase, message and condition reasons (progressing, complete).
struct Summary {
    phase: OperationPhase,
    message: String,
    progressing: &'static str,
    complete: &'static str,
}

fn summary(
    c: &Ctx,
    gate: Option<&Held>,
    k: Counts,
    failed_names: &[String],
    fixed: Fixed,
) -> Summary {
    use OperationPhase as P;
    let done = |phase, message, complete| Summary {
        phase,
        message,
        progressing: match phase {
            P::Completed => "Completed",
            P::Failed => "Failed",
            _ => "Stopped",
        },
        complete,
    };
    if c.observed.deleting {
        return done(
            P::Stopped,
            "the NodeOp is being deleted".to_owned(),
            "Deleted",
        );
    }
    if let Some((phase, message)) = fixed {
        let reason = if phase == P::Completed {
            "NoMatchingNodes"
        } else {
            "InvalidNodeSelector"
        };
        return done(phase, message, reason);
    }
    if k.pending == 0 && k.in_progress == 0 {
        let failed = listing(failed_names);
        return if k.stopped > 0 {
            let msg = format!(
                "stopped after a failure (stopOnFailure): failed: {failed}; {} node(s) not started",
                k.stopped
            );
            done(P::Stopped, msg, "StoppedOnFailure")
        } else if k.failed > 0 {
            let msg = format!("{} of {} node(s) failed: {failed}", k.failed, k.total);
            done(P::Failed, msg, "NodesFailed")
        } else {
            let msg = format!("all {} node(s) completed", k.total);
            done(P::Completed, msg, "AllNodesCompleted")
        };
    }
    let mut message = format!(
        "{} of {} node(s) done, {} in progress, {} failed",
        k.completed, k.total, k.in_progress, k.failed
    );
    let stopping = c.spec.stop_on_failure() && k.failed > 0;
    let progressing = if stopping {
        message.push_str("; stopping after a failure (stopOnFailure)");
        "Stopping"
    } else if c.spec.paused() {
        message.push_str("; paused");
        "Paused"
    } else if let Some(held) = gate {
        message.push_str("; held: ");
        message.push_str(&held.message);
        "Held"
    } else {
        "InProgress"
    };
    let phase = if k.in_progress == 0 && k.completed == 0 && k.failed == 0 {
        P::Pending
    } else {
        P::Running
    };
    Summary {
        phase,
        message,
        progressing,
        complete: "InProgress",
    }
}

/// Builds the new status from the per-node statuses; adds an event when the operation's
/// phase changes.
pub(crate) fn summarize(
    c: &Ctx,
    old: &NodeOpStatus,
    nodes: &BTreeMap<String, NodeStatus>,
    fixed: Fixed,
    out: &mut Out,
) -> NodeOpStatus {
    let k = count(nodes);
    let failed_names: Vec<String> = nodes
        .iter()
        .filter(|(_, s)| s.phase.is_failure())
        .map(|(n, _)| n.clone())
        .collect();
    let gate = c.gate(nodes);
    let s = summary(c, gate.as_ref(), k, &failed_names, fixed);
    let terminal = !matches!(s.phase, OperationPhase::Pending | OperationPhase::Running);
    let any_failed = k.failed > 0 || s.phase == OperationPhase::Failed;
    let failed_msg = if k.failed > 0 {
        format!("failed node(s): {}", listing(&failed_names))
    } else if any_failed {
        s.message.clone()
    } else {
        "no node failed".to_owned()
    };
    let failed_reason = match (k.failed > 0, any_failed) {
        (true, _) => "NodesFailed",
        (false, true) => s.complete,
        _ => "NoFailures",
    };
    // The targets are fixed by the first plan: an edit of what chose them is reported, never
    // applied (the other fields apply to the nodes that start from then on).
    let selection = selection_hash(c.spec);
    let targets_hash = old
        .targets_hash
        .clone()
        .unwrap_or_else(|| selection.clone());
    let spec_applied = if targets_hash == selection {
        Desired::new(
            SPEC_APPLIED,
            true,
            "Applied",
            "the current spec is in effect; its Job, drain and reboot settings apply to the nodes \
             that start from now on"
                .to_owned(),
        )
    } else {
        Desired::new(
            SPEC_APPLIED,
            false,
            "TargetsFixed",
            "targetNodes or nodeSelector changed after the targets were fixed at start: the \
             targets stay as they were (create a new NodeOp to change them); the other fields \
             apply to the nodes that start from now on"
                .to_owned(),
        )
    };
    let held = (!terminal)
        .then(|| {
            if c.spec.paused() {
                Some(("Paused", "paused: no new node starts".to_owned()))
            } else {
                gate.map(|h| (h.reason.as_str(), h.message))
            }
        })
        .flatten();
    let held_condition = match &held {
        Some((reason, message)) => Desired::new(HELD, true, *reason, message.clone()),
        None => Desired::new(
            HELD,
            false,
            "NotHeld",
            "nothing holds new starts".to_owned(),
        ),
    };
    let desired = [
        Desired::new(PROGRESSING, !terminal, s.progressing, s.message.clone()),
        Desired::new(COMPLETE, terminal, s.complete, s.message.clone()),
        Desired::new(FAILED, any_failed, failed_reason, failed_msg),
        spec_applied,
        held_condition,
    ];
    if old.phase != Some(s.phase) {
        let reason = match s.phase {
            OperationPhase::Pending => Reason::OperationPending,
            OperationPhase::Running => Reason::OperationStarted,
            OperationPhase::Completed => Reason::OperationCompleted,
            OperationPhase::Failed => Reason::OperationFailed,
            OperationPhase::Stopped => Reason::OperationStopped,
        };
        out.event(None, reason, s.message.clone());
    }
    NodeOpStatus {
        phase: Some(s.phase),
        node_statuses: listed(nodes),
        total: k.total,
        completed: k.completed,
        failed: k.failed,
        skipped: k.skipped,
        in_progress: k.in_progress,
        message: Some(s.message),
        conditions: merge(&old.conditions, &desired, c.op.generation, c.now),
        observed_generation: c.op.generation,
        targets_hash: Some(targets_hash),
        held: held.map(|(reason, _)| reason.to_owned()),
    }
}

/// What chose the targets, hashed: `targetNodes` and `nodeSelector`.
fn selection_hash(spec: &NodeOpSpec) -> String {
    let targets = serde_json::to_string(&spec.target_nodes).unwrap_or_default();
    let selector = serde_json::to_string(&spec.node_selector).unwrap_or_default();
    short_hash(&[&targets, &selector], 16)
}

/// The nodes a `NodeOp`'s status lists: every node of an operation of at most
/// [`MAX_LISTED_NODES`] targets, else the nodes in flight (in rollout order), then the failed
/// ones, [`MAX_LISTED_NODES`] at most. Every node's record is its `NodeOpTarget`.
pub fn listed(nodes: &BTreeMap<String, NodeStatus>) -> BTreeMap<String, NodeStatus> {
    if nodes.len() <= MAX_LISTED_NODES {
        return nodes.clone();
    }
    let mut picked: Vec<(&String, &NodeStatus)> = nodes
        .iter()
        .filter(|(_, s)| s.phase.is_in_flight())
        .collect();
    picked.sort_by_key(|(_, s)| s.order);
    let mut failed: Vec<(&String, &NodeStatus)> =
        nodes.iter().filter(|(_, s)| s.phase.is_failure()).collect();
    failed.sort_by_key(|(_, s)| s.order);
    picked.extend(failed);
    picked
        .into_iter()
        .take(MAX_LISTED_NODES)
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect()
}
