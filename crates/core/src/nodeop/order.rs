//! Which nodes a `NodeOp` targets, in which order they go, and which of the waiting ones may
//! start now (control plane first and one at a time, then workers up to `concurrency`). Pure:
//! no I/O.

use std::collections::{BTreeMap, BTreeSet};

use kairos_api::names::CONTROL_PLANE_LABELS;
use kairos_api::v1alpha1::{NodeOpSpec, NodePhase, NodeStatus};

use super::model::NodeInfo;
use crate::k8s_names::{self, SelectorError, SelectorProblem};

/// Message of a `NodeOp` that matched no node.
pub const NO_MATCH_MESSAGE: &str = "no node matches the NodeOp's targetNodes/nodeSelector";

/// A target node as fixed at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Node name.
    pub name: String,
    /// Whether it had a control-plane role label.
    pub control_plane: bool,
}

/// Why the targets could not be selected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    /// A `matchExpressions` entry that Kubernetes refuses (see [`k8s_names::matches`]).
    #[error("failed to select nodes: invalid nodeSelector expression on {key:?}: {reason}")]
    InvalidSelector {
        /// The expression's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<SelectorError> for SelectError {
    fn from(e: SelectorError) -> Self {
        let reason = match e.problem {
            SelectorProblem::NeedsValues => "values must not be empty".to_owned(),
            SelectorProblem::TakesNoValues => format!("operator {} takes no values", e.operator),
            SelectorProblem::UnknownOperator => format!("unknown operator {:?}", e.operator),
        };
        Self::InvalidSelector { key: e.key, reason }
    }
}

/// Whether a node carries a control-plane role label.
pub fn is_control_plane(labels: &BTreeMap<String, String>) -> bool {
    CONTROL_PLANE_LABELS.iter().any(|l| labels.contains_key(*l))
}

/// Selects and orders the targets: `targetNodes` if non-empty (names that are no Node are kept,
/// so they fail visibly), else `nodeSelector`, else every node. Control-plane nodes come first,
/// then workers, each group by name with `operator_node` last.
///
/// # Errors
/// [`SelectError`] when the selector is invalid.
pub fn select_targets(
    spec: &NodeOpSpec,
    nodes: &[NodeInfo],
    operator_node: Option<&str>,
) -> Result<Vec<Target>, SelectError> {
    let by_name: BTreeMap<&str, &NodeInfo> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let names: BTreeSet<String> = match (&spec.target_nodes, &spec.node_selector) {
        (Some(t), _) if !t.is_empty() => t.iter().cloned().collect(),
        (_, Some(sel)) => {
            let mut out = BTreeSet::new();
            for n in nodes {
                if k8s_names::matches(sel, &n.labels)? {
                    out.insert(n.name.clone());
                }
            }
            out
        }
        _ => nodes.iter().map(|n| n.name.clone()).collect(),
    };
    let mut targets: Vec<Target> = names
        .into_iter()
        .map(|name| Target {
            control_plane: by_name
                .get(name.as_str())
                .is_some_and(|n| is_control_plane(&n.labels)),
            name,
        })
        .collect();
    // Sort key: control plane first, then the operator's node last within its group, then name.
    targets.sort_by(|a, b| {
        let key = |t: &Target| (!t.control_plane, operator_node == Some(t.name.as_str()));
        key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name))
    });
    Ok(targets)
}

/// Why no node may start now, if that is the case for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// `spec.paused` is set.
    Paused,
    /// A node failed and `stopOnFailure` is set.
    StoppedOnFailure,
    /// A gate of the spec (window, postCompleteDelay, alertGate) holds (see
    /// [`crate::gates::held`]).
    Gate,
}

/// The Pending nodes that may start now, in order: none while held; control-plane nodes one
/// at a time and before any worker; then workers while fewer than `concurrency` (0 = no
/// limit) nodes are in flight.
pub fn pick_starts(
    nodes: &BTreeMap<String, NodeStatus>,
    concurrency: i32,
    hold: Option<Hold>,
) -> Vec<String> {
    let (candidates, slots) = start_order(nodes, concurrency, hold);
    candidates.into_iter().take(slots).collect()
}

/// The Pending nodes that may start, in order, and how many of them may start now (see
/// [`pick_starts`]). A candidate that cannot be taken (another operation holds it) leaves its
/// slot to the next one.
pub fn start_order(
    nodes: &BTreeMap<String, NodeStatus>,
    concurrency: i32,
    hold: Option<Hold>,
) -> (Vec<String>, usize) {
    if hold.is_some() {
        return (Vec::new(), 0);
    }
    let in_flight = nodes.values().filter(|s| s.phase.is_in_flight()).count();
    let cp_open = nodes
        .values()
        .any(|s| s.control_plane && !s.phase.is_terminal());
    let limit = match usize::try_from(concurrency) {
        _ if cp_open => 1,
        Ok(0) | Err(_) => usize::MAX,
        Ok(n) => n,
    };
    let mut pending: Vec<(&String, &NodeStatus)> = nodes
        .iter()
        .filter(|(_, s)| s.phase == NodePhase::Pending)
        .filter(|(_, s)| s.control_plane || !cp_open)
        .collect();
    pending.sort_by_key(|(_, s)| (!s.control_plane, s.order));
    let names = pending.into_iter().map(|(n, _)| n.clone()).collect();
    (names, limit.saturating_sub(in_flight))
}
