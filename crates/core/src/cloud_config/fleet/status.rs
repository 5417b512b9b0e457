//! Assembly of a `NodeOpConfig` status: each node's state counted (at most
//! [`MAX_LISTED_NODES`] listed), the phase, message and conditions of the headline, and the
//! Event of a headline that changed. Pure: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use kairos_api::names::{CONTROL_PLANE_LABELS, conditions};
use kairos_api::v1alpha1::{NodeOpConfigStatus, NodePhase, NodeStatus, OperationPhase};

use super::model::ConfigEvent;
use crate::conditions::{Desired, merge};
use crate::nodeop::status::MAX_LISTED_NODES;
use crate::upgrade::fleet::ObservedNode;

/// Where one selected node stands with the current document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NodeState {
    /// It reports the managed file with the desired hash.
    Applied,
    /// Left out on purpose; the message says why.
    Skipped(String),
    /// No NodeOp covers it yet: the next one writes it.
    ToWrite(String),
    /// A NodeOp is writing it (or the agent has not reported since).
    InFlight(String),
    /// Its write was finished and it reports another hash, or none.
    Drifted(String),
    /// Its write failed.
    Failed(String),
    /// Its NodeOp stopped before it (`stopOnFailure`).
    Stopped(String),
}

/// The counts and the listed nodes.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) total: usize,
    pub(crate) applied: usize,
    pub(crate) skipped: usize,
    pub(crate) failed: usize,
    pub(crate) drifted: usize,
    pub(crate) stopped: usize,
    /// In flight or still to write.
    pub(crate) busy: usize,
    /// Still to write (no NodeOp covers them).
    pub(crate) to_write: Vec<String>,
    listed: BTreeMap<String, NodeStatus>,
}

impl Tally {
    /// Counts `node` in `state`; `record` is its record in the NodeOp covering it, if any.
    pub(crate) fn add(
        &mut self,
        node: &ObservedNode,
        state: NodeState,
        record: Option<&NodeStatus>,
    ) {
        self.total += 1;
        let (phase, message) = match state {
            NodeState::Applied => {
                self.applied += 1;
                return;
            }
            NodeState::Skipped(m) => {
                self.skipped += 1;
                (NodePhase::Skipped, m)
            }
            NodeState::ToWrite(m) => {
                self.busy += 1;
                self.to_write.push(node.name.clone());
                (NodePhase::Pending, m)
            }
            NodeState::InFlight(m) => {
                self.busy += 1;
                (record.map_or(NodePhase::Pending, |r| r.phase), m)
            }
            NodeState::Drifted(m) => {
                self.drifted += 1;
                (NodePhase::Completed, m)
            }
            NodeState::Failed(m) => {
                self.failed += 1;
                (NodePhase::Failed, m)
            }
            NodeState::Stopped(m) => {
                self.stopped += 1;
                (NodePhase::Stopped, m)
            }
        };
        if self.listed.len() >= MAX_LISTED_NODES {
            return;
        }
        let base = record.cloned().unwrap_or_default();
        let control_plane = CONTROL_PLANE_LABELS
            .iter()
            .any(|l| node.labels.contains_key(*l));
        self.listed.insert(
            node.name.clone(),
            NodeStatus {
                phase,
                control_plane: base.control_plane || control_plane,
                message: Some(message),
                ..base
            },
        );
    }

    /// One line of counts.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{}/{} node(s) applied, {} in progress, {} failed, {} drifted, {} skipped",
            self.applied, self.total, self.busy, self.failed, self.drifted, self.skipped
        )
    }
}

/// The headline of a status: the `ConfigApplied` reason and message.
#[derive(Clone, Debug)]
pub(crate) struct Headline {
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

impl Headline {
    pub(crate) fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    fn phase(&self) -> OperationPhase {
        match self.reason {
            "SourceMissing" | "Waiting" => OperationPhase::Pending,
            "Applying" | "Removing" => OperationPhase::Running,
            "Stopped" => OperationPhase::Stopped,
            "Applied" | "NoNodes" | "Drifted" | "Removed" => OperationPhase::Completed,
            _ => OperationPhase::Failed,
        }
    }

    /// Whether the reason says something went wrong (its Event is a Warning).
    fn warning(&self) -> bool {
        !matches!(
            self.reason,
            "Applying" | "Removing" | "Waiting" | "Applied" | "NoNodes" | "Removed"
        )
    }

    /// Whether the reason is a refusal of the spec (`SpecApplied=False`).
    fn refused(&self) -> bool {
        matches!(
            self.reason,
            "SourceMissing" | "InvalidConfig" | "WrongNamespace" | "InvalidSelector"
        )
    }
}

/// The new status: `tally` and `headline`, conditions merged with `old`'s.
pub(crate) fn assemble(
    old: &NodeOpConfigStatus,
    generation: Option<i64>,
    tally: Tally,
    headline: &Headline,
    desired_hash: Option<String>,
    node_op_name: Option<String>,
    now: Timestamp,
) -> NodeOpConfigStatus {
    let phase = headline.phase();
    let msg = &headline.message;
    let spec = if headline.refused() {
        Desired::new(
            conditions::SPEC_APPLIED,
            false,
            headline.reason,
            msg.clone(),
        )
    } else {
        Desired::new(
            conditions::SPEC_APPLIED,
            true,
            "Applied",
            "the current spec is in effect",
        )
    };
    let failed = tally.failed > 0 || phase == OperationPhase::Failed;
    let desired = [
        Desired::new(
            conditions::PROGRESSING,
            matches!(phase, OperationPhase::Pending | OperationPhase::Running),
            headline.reason,
            msg.clone(),
        ),
        Desired::new(
            conditions::COMPLETE,
            !matches!(phase, OperationPhase::Pending | OperationPhase::Running),
            headline.reason,
            msg.clone(),
        ),
        Desired::new(
            conditions::FAILED,
            failed,
            if failed { headline.reason } else { "NoFailure" },
            format!("{} node(s) failed", tally.failed),
        ),
        spec,
        Desired::new(
            conditions::CONFIG_APPLIED,
            matches!(headline.reason, "Applied" | "NoNodes" | "Removed"),
            headline.reason,
            msg.clone(),
        ),
    ];
    NodeOpConfigStatus {
        phase: Some(phase),
        desired_hash,
        node_op_name,
        node_statuses: tally.listed,
        total: to_i32(tally.total),
        applied: to_i32(tally.applied),
        skipped: to_i32(tally.skipped),
        failed: to_i32(tally.failed),
        drifted: to_i32(tally.drifted),
        message: Some(msg.clone()),
        conditions: merge(&old.conditions, &desired, generation, now),
        observed_generation: generation,
    }
}

/// The Event of `headline` when `old` had another `ConfigApplied` reason.
pub(crate) fn event(old: &NodeOpConfigStatus, headline: &Headline) -> Option<ConfigEvent> {
    let before = crate::conditions::find(&old.conditions, conditions::CONFIG_APPLIED)
        .map(|c| c.reason.as_str());
    (before != Some(headline.reason)).then(|| ConfigEvent {
        reason: headline.reason,
        message: headline.message.clone(),
        warning: headline.warning(),
    })
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
