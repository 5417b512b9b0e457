//! What one plan of a `NodeOp` reads and writes while it moves the nodes: [`Ctx`] (the
//! observations, indexed by name, and the rules read from them) and [`Out`] (the locks,
//! actions, events and requeue it decides). Pure: no I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kairos_api::v1alpha1::{Gates, NodeOpSpec, NodePhase, NodeStatus};

use super::actions::{Acquire, Action, Event};
use super::model::{Config, EnginePod, JobInfo, NodeInfo, Observed, OpRef};
use super::reason::Reason;
use super::verify::Verifier;
use crate::gates::Held;

/// Everything a step reads, with the observations indexed by name.
pub(crate) struct Ctx<'a> {
    pub(crate) op: &'a OpRef,
    pub(crate) spec: &'a NodeOpSpec,
    pub(crate) observed: &'a Observed,
    pub(crate) config: &'a Config,
    pub(crate) verifier: &'a dyn Verifier,
    pub(crate) now: Timestamp,
    /// This operation's holder identity (`<ns>/<name>@<uid>`).
    pub(crate) holder: String,
    nodes: BTreeMap<&'a str, &'a NodeInfo>,
    jobs: BTreeMap<&'a str, &'a JobInfo>,
    engine_pods: BTreeMap<&'a str, &'a EnginePod>,
}

/// Everything a step produces besides the node's status.
#[derive(Default)]
pub(crate) struct Out {
    pub(crate) acquire: Vec<Acquire>,
    pub(crate) actions: Vec<Action>,
    pub(crate) events: Vec<Event>,
    pub(crate) requeue: Option<Duration>,
}

impl Out {
    pub(crate) fn event(&mut self, node: Option<&str>, reason: Reason, msg: String) {
        self.events.push(Event {
            node: node.map(str::to_owned),
            reason,
            message: msg,
        });
    }

    pub(crate) fn requeue(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        op: &'a OpRef,
        spec: &'a NodeOpSpec,
        observed: &'a Observed,
        config: &'a Config,
        verifier: &'a dyn Verifier,
        now: Timestamp,
    ) -> Self {
        Self {
            op,
            spec,
            observed,
            config,
            verifier,
            now,
            holder: op.cordoned_by(),
            nodes: observed
                .nodes
                .iter()
                .map(|n| (n.name.as_str(), n))
                .collect(),
            jobs: observed.jobs.iter().map(|j| (j.name.as_str(), j)).collect(),
            engine_pods: observed
                .engine_pods
                .iter()
                .map(|p| (p.name.as_str(), p))
                .collect(),
        }
    }
    pub(crate) fn node(&self, name: &str) -> Option<&'a NodeInfo> {
        self.nodes.get(name).copied()
    }
    pub(crate) fn job(&self, name: &str) -> Option<&'a JobInfo> {
        self.jobs.get(name).copied()
    }
    pub(crate) fn engine_pod(&self, name: &str) -> Option<&'a EnginePod> {
        self.engine_pods.get(name).copied()
    }
    /// What of the spec's gates holds new starts now, given where the nodes stand (the pacing
    /// runs from the latest node that ran its Job and finished: a node skipped by its preflight
    /// did nothing to wait after).
    /// Nothing is scanned or parsed for an operation without gates.
    pub(crate) fn gate(&self, nodes: &BTreeMap<String, NodeStatus>) -> Option<Held> {
        let gates = &self.spec.gates;
        if *gates == Gates::default() {
            return None;
        }
        let last_finished = gates.post_complete_delay.as_ref().and_then(|_| {
            nodes
                .values()
                .filter(|s| s.phase == NodePhase::Completed || s.phase.is_failure())
                .filter(|s| s.started_at.is_some())
                .filter_map(|s| s.finished_at.as_ref().map(|t| t.0))
                .max()
        });
        crate::gates::held(gates, &self.observed.gates, last_finished, self.now)
    }
    /// Whether this operation holds the node's lock (as observed).
    pub(crate) fn holds_lock(&self, name: &str) -> bool {
        self.observed
            .locks
            .get(name)
            .is_some_and(|l| l.holder == self.holder)
    }
    /// The node's agent's last reported boot ID, if any.
    pub(crate) fn agent_boot_id(&self, node: &NodeInfo) -> Option<&String> {
        self.observed
            .agent_boot_ids
            .get(&node.name)
            .filter(|id| !id.is_empty())
    }
    /// The kubelet's boot ID (`nodeInfo.bootID`), if any.
    pub(crate) fn kubelet_boot_id(node: &NodeInfo) -> Option<&String> {
        node.boot_id.as_ref().filter(|id| !id.is_empty())
    }
    /// The node's current boot ID: the kubelet's (posted at each kubelet start, so it is the
    /// running boot's), else the agent's last report (which is older than the running boot
    /// when the agent was down across a reboot).
    pub(crate) fn boot_id(&self, node: &NodeInfo) -> Option<String> {
        Self::kubelet_boot_id(node)
            .or_else(|| self.agent_boot_id(node))
            .cloned()
    }
    /// A boot ID other than `before` reported by the node's agent and, when the Node shows
    /// one, equal to the kubelet's: an agent report from an older boot must not pass for the
    /// new one. Without an agent report, the kubelet's alone.
    pub(crate) fn new_boot_id(&self, node: &NodeInfo, before: &str) -> Option<String> {
        let id = match (self.agent_boot_id(node), Self::kubelet_boot_id(node)) {
            (Some(agent), Some(kubelet)) => (agent == kubelet).then_some(agent),
            (agent, kubelet) => agent.or(kubelet),
        };
        id.filter(|id| *id != before).cloned()
    }
    /// Whether the node carries this operation's cordon annotation.
    pub(crate) fn ours(&self, node: &NodeInfo) -> bool {
        node.cordoned_by.as_deref() == Some(self.op.cordoned_by().as_str())
    }
    /// Whether the node has been in its current phase for at least `limit`.
    pub(crate) fn timed_out(&self, st: &NodeStatus, limit: Duration) -> bool {
        let since = st.last_transition_time.as_ref().map_or(self.now, |t| t.0);
        let elapsed = self.now.duration_since(since);
        elapsed.as_secs() >= i64::try_from(limit.as_secs()).unwrap_or(i64::MAX)
    }
}
