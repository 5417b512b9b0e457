//! Mapping of an upgrade NodeOp's progress to `KairosNode.status.upgrade`. Pure: no I/O.
//!
//! Includes the post-reboot verification from the node's report and its timeout.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::v1alpha1::{
    BootState, KairosNodeStatus, NodeOp, NodePhase, NodeStatus, OperationPhase, UpgradeState,
    UpgradeStatus,
};

use super::model::NodeConfig;
use crate::k8s_names;
use crate::upgrade::ANNOTATION_TARGET_VERSION;
use crate::upgrade::verify::{Verification, verify_upgrade};
use crate::upgrade::version::versions_equal;

pub(crate) fn state_reason(state: UpgradeState) -> &'static str {
    match state {
        UpgradeState::Idle => "Idle",
        UpgradeState::Pending => "Pending",
        UpgradeState::InProgress => "InProgress",
        UpgradeState::Rebooting => "Rebooting",
        UpgradeState::Completed => "Completed",
        UpgradeState::Failed => "Failed",
        UpgradeState::RolledBack => "RolledBack",
    }
}

/// What the mapping of a NodeOp needs.
pub(crate) struct MapCtx<'a> {
    /// The node's reported status.
    pub(crate) status: &'a KairosNodeStatus,
    /// The previous `status.upgrade`.
    pub(crate) prev: Option<&'a UpgradeStatus>,
    /// The time of this reconcile.
    pub(crate) now: Timestamp,
    /// The planner's settings.
    pub(crate) config: &'a NodeConfig,
}

impl MapCtx<'_> {
    /// `status.upgrade` following `op`'s progress on this node.
    pub(crate) fn map(&self, op: &NodeOp, e: Option<&NodeStatus>) -> UpgradeStatus {
        let target =
            k8s_names::annotation(&op.metadata, ANNOTATION_TARGET_VERSION).map(str::to_owned);
        let op_ref = qualified(op);
        let op_phase = op.status.as_ref().and_then(|s| s.phase);
        let same_op = self
            .prev
            .filter(|p| p.node_op.as_deref() == Some(op_ref.as_str()));
        // The record is the history: once this operation's end is recorded, later reports (a
        // later upgrade, a later reboot) do not rewrite it.
        let recorded_end = same_op.filter(|p| {
            matches!(
                p.state,
                UpgradeState::Completed | UpgradeState::Failed | UpgradeState::RolledBack
            )
        });
        if let Some(p) = recorded_end.filter(|_| e.is_none_or(|e| e.phase.is_terminal())) {
            return p.clone();
        }
        let (mut state, mut message) = match e.map(|e| e.phase) {
            None if matches!(
                op_phase,
                Some(OperationPhase::Completed | OperationPhase::Failed | OperationPhase::Stopped)
            ) =>
            {
                (
                    UpgradeState::Failed,
                    Some(format!(
                        "NodeOp {op_ref} ended without running on this node"
                    )),
                )
            }
            None | Some(NodePhase::Pending | NodePhase::Preflight) => (UpgradeState::Pending, None),
            Some(NodePhase::Cordoning | NodePhase::Draining | NodePhase::Running) => {
                (UpgradeState::InProgress, None)
            }
            Some(NodePhase::Rebooting | NodePhase::Verifying | NodePhase::Uncordoning) => {
                (UpgradeState::Rebooting, None)
            }
            Some(NodePhase::Completed | NodePhase::Skipped) => (UpgradeState::Completed, None),
            Some(NodePhase::Failed | NodePhase::Stopped) => (UpgradeState::Failed, None),
            Some(NodePhase::RolledBack) => (UpgradeState::RolledBack, None),
        };
        let mut finished_at = e.and_then(|e| e.finished_at.clone());
        let verdict = e
            .filter(|_| op.spec.reboot_on_success())
            .and_then(|e| self.verify(target.as_deref(), e));
        if let Some((s, m, at)) = verdict {
            (state, message) = (s, Some(m));
            finished_at = at.map(Time);
        }
        let message = message
            .or_else(|| e.and_then(|e| e.message.clone()))
            .unwrap_or_else(|| format!("{} on NodeOp {op_ref}", state_reason(state)));
        let attempts = match (same_op, self.prev) {
            (Some(p), _) => p.attempts.max(1),
            (None, Some(p)) if versions_equal(p.target_version.as_deref(), target.as_deref()) => {
                p.attempts + 1
            }
            _ => 1,
        };
        let terminal = matches!(
            state,
            UpgradeState::Completed | UpgradeState::Failed | UpgradeState::RolledBack
        );
        UpgradeStatus {
            state,
            target_version: target,
            image: Some(crate::upgrade::installed_image(op)),
            node_op: Some(op_ref),
            started_at: e
                .and_then(|e| e.started_at.clone())
                .or_else(|| same_op.and_then(|p| p.started_at.clone()))
                .or_else(|| op.metadata.creation_timestamp.clone()),
            finished_at: if terminal {
                finished_at.or_else(|| same_op.and_then(|p| p.finished_at.clone()))
            } else {
                None
            },
            message: Some(message),
            attempts,
        }
    }
}

impl MapCtx<'_> {
    /// The node's report overriding the engine's phase `e` of a rebooting upgrade, with the
    /// finish time when it ends the upgrade: the engine's Completed counts only once the agent
    /// reports the target booted active; a rollback or a wrong boot shows at once; and from
    /// Verifying on, no such report within `verify_timeout` is a failure.
    fn verify(
        &self,
        target: Option<&str>,
        e: &NodeStatus,
    ) -> Option<(UpgradeState, String, Option<Timestamp>)> {
        use NodePhase as P;
        if !matches!(
            e.phase,
            P::Rebooting | P::Verifying | P::Uncordoning | P::Completed
        ) {
            return None;
        }
        // A stable finish time: when the engine's current phase began (or ended).
        let seen = e
            .finished_at
            .as_ref()
            .or(e.last_transition_time.as_ref())
            .map_or(self.now, |t| t.0);
        match verify_upgrade(target, self.status, e.boot_id_before.as_deref()) {
            Verification::RolledBack(msg) => Some((UpgradeState::RolledBack, msg, Some(seen))),
            Verification::Failed(msg) => Some((UpgradeState::Failed, msg, Some(seen))),
            Verification::Succeeded => None,
            Verification::Pending => {
                let version = self
                    .status
                    .kairos
                    .as_ref()
                    .and_then(|k| k.version.as_deref());
                let at_target = target.is_none()
                    || (versions_equal(version, target)
                        && self.status.boot_state == Some(BootState::Active));
                if at_target || e.phase == P::Rebooting {
                    return None;
                }
                let limit = SignedDuration::try_from(self.config.verify_timeout)
                    .unwrap_or(SignedDuration::MAX);
                let since = e.last_transition_time.as_ref().or(e.started_at.as_ref());
                let deadline = since.and_then(|t| t.0.checked_add(limit).ok());
                let wanted = target.unwrap_or_default();
                match deadline.filter(|d| self.now > *d) {
                    Some(d) => Some((
                        UpgradeState::Failed,
                        format!(
                            "the node's agent did not report {wanted} booted from the active \
                             system within {}s after the reboot",
                            self.config.verify_timeout.as_secs()
                        ),
                        Some(d),
                    )),
                    None => Some((
                        UpgradeState::Rebooting,
                        format!("waiting for the node's agent to report {wanted} booted active"),
                        None,
                    )),
                }
            }
        }
    }
}

pub(crate) fn pending(
    ctx: &MapCtx<'_>,
    version: &str,
    image: Option<String>,
    message: String,
) -> UpgradeStatus {
    UpgradeStatus {
        state: UpgradeState::Pending,
        target_version: Some(version.to_owned()),
        image,
        node_op: None,
        started_at: None,
        finished_at: None,
        message: Some(message),
        attempts: ctx
            .prev
            .filter(|p| versions_equal(p.target_version.as_deref(), Some(version)))
            .map_or(0, |p| p.attempts),
    }
}

/// The status of an upgrade whose NodeOp is being created now. `attempts` grows only when this
/// is a new start (not a repeat of the same creation while the cache catches up).
pub(crate) fn starting(
    ctx: &MapCtx<'_>,
    version: &str,
    image: String,
    op_ref: String,
    message: String,
) -> UpgradeStatus {
    let repeat = ctx.prev.filter(|p| {
        p.node_op.as_deref() == Some(op_ref.as_str()) && p.state == UpgradeState::Pending
    });
    let same_target = ctx
        .prev
        .filter(|p| versions_equal(p.target_version.as_deref(), Some(version)));
    let attempts = match (repeat, same_target) {
        (Some(p), _) => p.attempts.max(1),
        (None, Some(p)) => p.attempts + 1,
        (None, None) => 1,
    };
    UpgradeStatus {
        state: UpgradeState::Pending,
        target_version: Some(version.to_owned()),
        image: Some(image),
        node_op: Some(op_ref),
        started_at: Some(
            repeat
                .and_then(|p| p.started_at.clone())
                .unwrap_or(Time(ctx.now)),
        ),
        finished_at: None,
        message: Some(message),
        attempts,
    }
}

pub(crate) fn idle(current: Option<&str>) -> UpgradeStatus {
    UpgradeStatus {
        state: UpgradeState::Idle,
        message: Some(format!(
            "the node runs {}",
            current.unwrap_or("an unknown version")
        )),
        ..UpgradeStatus::default()
    }
}

/// Appends `extra` to the message, once (a recorded message may already carry it).
pub(crate) fn note(upgrade: &mut UpgradeStatus, extra: &str) {
    let base = upgrade.message.take().unwrap_or_default();
    upgrade.message = Some(if base.ends_with(extra) {
        base
    } else if base.is_empty() {
        extra.to_owned()
    } else {
        format!("{base}; {extra}")
    });
}

/// The node's entry in `op`'s status.
pub(crate) fn entry<'a>(op: &'a NodeOp, node: &str) -> Option<&'a NodeStatus> {
    op.status.as_ref()?.node_statuses.get(node)
}

/// Whether `op` will not move on this node any more.
pub(crate) fn is_finished(op: &NodeOp, e: Option<&NodeStatus>) -> bool {
    match e {
        Some(e) => e.phase.is_terminal(),
        None => matches!(
            op.status.as_ref().and_then(|s| s.phase),
            Some(OperationPhase::Completed | OperationPhase::Failed | OperationPhase::Stopped)
        ),
    }
}

pub(crate) type Entry<'a> = (&'a NodeOp, Option<&'a NodeStatus>);

/// `o` when its operation still moves on this node.
pub(crate) fn in_flight(o: Option<Entry<'_>>) -> Option<Entry<'_>> {
    o.filter(|(op, e)| !is_finished(op, *e))
}

/// The finished operation that ended last (the node's own on a tie).
pub(crate) fn newest<'a>(own: Option<Entry<'a>>, fleet: Option<Entry<'a>>) -> Option<Entry<'a>> {
    let end = |(op, e): &Entry<'_>| {
        e.and_then(|e| e.finished_at.clone())
            .or_else(|| op.metadata.creation_timestamp.clone())
    };
    match (own, fleet) {
        (Some(o), Some(f)) => Some(if end(&f) > end(&o) { f } else { o }),
        (o, f) => o.or(f),
    }
}

pub(crate) fn qualified(op: &NodeOp) -> String {
    format!(
        "{}/{}",
        op.metadata.namespace.as_deref().unwrap_or_default(),
        op.metadata.name.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests;
