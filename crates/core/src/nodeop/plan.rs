//! [`plan`] itself: from the `NodeOp` and what the operator observed, decide the next actions,
//! the new status and the events. Pure: no I/O, no clock (`now` is a parameter).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kairos_api::v1alpha1::{NodeOp, NodeStatus, OperationPhase};

use super::actions::{Plan, TargetWrite};
use super::context::{Ctx, Out};
use super::model::{Config, Observed, OpRef};
use super::verify::{RebootOnly, Verifier};
use super::{order, rollout, status};
use crate::meta::MissingField;

/// Plans one reconcile of a `NodeOp`.
///
/// # Errors
/// [`MissingField`] when the object lacks its namespace, name or uid.
///
/// # Guarantees
/// - The result depends only on the arguments; `now` is used only to stamp transitions and to
///   check timeouts, so the same inputs give the same status.
/// - At most one Job per node ever: Job names are deterministic and a node whose Job was seen
///   once never gets a `CreateJob` again (a vanished Job fails the node instead).
/// - Never more than `concurrency` nodes in flight (one while control-plane nodes run), and
///   no worker starts before every control-plane node is terminal.
/// - `Uncordon` is only planned for nodes whose annotation names this operation.
pub fn plan(
    op: &NodeOp,
    observed: &Observed,
    config: &Config,
    now: Timestamp,
) -> Result<Plan, MissingField> {
    plan_with(op, observed, config, &RebootOnly, now)
}

/// [`plan`] with a [`Verifier`] that judges nodes after their Job and their reboot (upgrades).
///
/// # Errors
/// As [`plan`].
pub fn plan_with(
    op: &NodeOp,
    observed: &Observed,
    config: &Config,
    verifier: &dyn Verifier,
    now: Timestamp,
) -> Result<Plan, MissingField> {
    let op_ref = OpRef::of(op)?;
    let old = op.status.clone().unwrap_or_default();
    let ctx = Ctx::new(&op_ref, &op.spec, observed, config, verifier, now);
    let mut out = Out::default();
    let mut nodes: BTreeMap<String, NodeStatus> = observed
        .targets
        .iter()
        .map(|(n, t)| (n.clone(), t.current()))
        .collect();
    let recorded = observed.targets.len();
    let mut fixed = None;

    if old.phase.is_none() {
        // The first plan fixes the targets (records left by an interrupted first plan join).
        match order::select_targets(&op.spec, &observed.nodes, observed.operator_node.as_deref()) {
            Ok(targets) if targets.is_empty() && nodes.is_empty() => {
                fixed = Some((
                    OperationPhase::Completed,
                    order::NO_MATCH_MESSAGE.to_owned(),
                ));
            }
            Ok(targets) => {
                let base = i32::try_from(nodes.len()).unwrap_or(i32::MAX);
                for (i, t) in targets.into_iter().enumerate() {
                    let order = base.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
                    nodes.entry(t.name).or_insert(NodeStatus {
                        order,
                        control_plane: t.control_plane,
                        ..NodeStatus::default()
                    });
                }
            }
            Err(e) => fixed = Some((OperationPhase::Failed, e.to_string())),
        }
    } else if old.total == 0 {
        // No targets were fixed at start: keep the outcome recorded then.
        let phase = old.phase.unwrap_or(OperationPhase::Completed);
        let message = old.message.clone().unwrap_or_default();
        fixed = Some((phase, message));
    } else if usize::try_from(old.total).unwrap_or(usize::MAX) > recorded {
        // Not every target record is seen yet (the cache is catching up with their creation):
        // decide nothing on a partial view.
        return Ok(Plan {
            acquire: Vec::new(),
            targets: Vec::new(),
            actions: Vec::new(),
            status: old,
            events: Vec::new(),
            requeue_after: Some(config.poll_interval.min(Duration::from_secs(1))),
        });
    }

    if observed.deleting {
        rollout::cleanup(&ctx, &mut nodes, &mut out);
    } else {
        rollout::advance_all(&ctx, &mut nodes, &mut out);
    }
    if !out.actions.is_empty() || !out.acquire.is_empty() {
        // Look again soon even if no watch fires for what the actions change.
        out.requeue(config.poll_interval);
    }
    let targets = target_writes(observed, &nodes);
    let status = status::summarize(&ctx, &old, &nodes, fixed, &mut out);
    Ok(Plan {
        acquire: out.acquire,
        targets,
        actions: out.actions,
        status,
        events: out.events,
        requeue_after: out.requeue,
    })
}

/// The target records to create (not observed yet) and the statuses that changed.
fn target_writes(observed: &Observed, nodes: &BTreeMap<String, NodeStatus>) -> Vec<TargetWrite> {
    nodes
        .iter()
        .filter_map(|(node, st)| {
            let Some(recorded) = observed.targets.get(node) else {
                return Some(TargetWrite::Create {
                    node: node.clone(),
                    order: st.order,
                    control_plane: st.control_plane,
                    status: st.clone(),
                });
            };
            (!recorded.shows(st)).then(|| TargetWrite::Status {
                node: node.clone(),
                status: st.clone(),
            })
        })
        .collect()
}
