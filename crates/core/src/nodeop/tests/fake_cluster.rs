//! A tiny fake cluster for the `NodeOp` property tests: it applies the planner's actions,
//! runs Jobs to a scripted outcome and reboots nodes. Test-only; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::fixtures::{apply_targets, cp, node, ours, pod};
use crate::nodeop::lock::NodeLock;
use crate::nodeop::{
    Acquire, Action, EnginePod, EngineRole, JobCondition, JobInfo, NodeInfo, NodePod, Observed,
    PodPhase, Target, TargetWrite,
};

/// A Job in the fake cluster: its info, ticks left, and whether it will succeed.
pub(super) struct FakeJob {
    pub(super) info: JobInfo,
    pub(super) left: u32,
    pub(super) succeed: bool,
}

/// The cluster: Nodes, Jobs, engine pods, workload pods, agents' boot IDs.
pub(super) struct World {
    pub(super) nodes: Vec<NodeInfo>,
    pub(super) jobs: Vec<FakeJob>,
    pub(super) pods: Vec<EnginePod>,
    pub(super) node_pods: BTreeMap<String, Vec<NodePod>>,
    pub(super) blocked: BTreeSet<String>,
    pub(super) boot_ids: BTreeMap<String, String>,
    pub(super) reboots: BTreeMap<String, u32>,
    pub(super) jobs_created: BTreeMap<String, u32>,
    pub(super) admin: BTreeSet<String>,
    pub(super) operator_node: Option<String>,
    /// Nodes whose preflight pod says "skip".
    pub(super) preflight_skip: BTreeSet<String>,
    pub(super) deleting: bool,
    pub(super) finalizer_removed: bool,
    /// The operation's target records.
    pub(super) targets: BTreeMap<String, Target>,
    /// Node locks, by node.
    pub(super) locks: BTreeMap<String, NodeLock>,
}

/// Name of the `i`th node; the first `cps` are control-plane nodes.
pub(super) fn name(i: usize, cps: usize) -> String {
    if i < cps {
        format!("cp{i}")
    } else {
        format!("w{i}")
    }
}

impl World {
    /// Per node `(blocked by a PDB, cordoned by an admin)`.
    pub(super) fn new(nodes: &[(bool, bool)], cps: usize, operator_node: Option<usize>) -> Self {
        let mut w = World {
            nodes: Vec::new(),
            jobs: Vec::new(),
            pods: Vec::new(),
            node_pods: BTreeMap::new(),
            blocked: BTreeSet::new(),
            boot_ids: BTreeMap::new(),
            reboots: BTreeMap::new(),
            jobs_created: BTreeMap::new(),
            admin: BTreeSet::new(),
            operator_node: operator_node.map(|i| name(i, cps)),
            deleting: false,
            finalizer_removed: false,
            preflight_skip: BTreeSet::new(),
            targets: BTreeMap::new(),
            locks: BTreeMap::new(),
        };
        for (i, (blocked, admin)) in nodes.iter().enumerate() {
            let n = name(i, cps);
            let mut info = if i < cps { cp(&n) } else { node(&n) };
            info.unschedulable = *admin;
            if *admin {
                w.admin.insert(n.clone());
            }
            let mut pods = vec![
                pod("app", &format!("web-{n}"), Some("ReplicaSet")),
                pod("kube-system", &format!("agent-{n}"), Some("DaemonSet")),
            ];
            if *blocked {
                pods.push(pod("app", &format!("db-{n}"), Some("StatefulSet")));
                w.blocked.insert(format!("db-{n}"));
            }
            w.boot_ids
                .insert(n.clone(), format!("{i:08x}-0000-4000-8000-000000000000"));
            w.node_pods.insert(n, pods);
            w.nodes.push(info);
        }
        w
    }

    pub(super) fn observe(&self) -> Observed {
        // The kubelet and the agent read the same kernel boot ID.
        let nodes = self
            .nodes
            .iter()
            .cloned()
            .map(|mut n| {
                if let Some(id) = self.boot_ids.get(&n.name) {
                    n.boot_id = Some(id.clone());
                }
                n
            })
            .collect();
        Observed {
            nodes,
            jobs: self.jobs.iter().map(|j| j.info.clone()).collect(),
            engine_pods: self.pods.clone(),
            node_pods: self.node_pods.clone(),
            agent_boot_ids: self.boot_ids.clone(),
            operator_node: self.operator_node.clone(),
            deleting: self.deleting,
            targets: self.targets.clone(),
            locks: self.locks.clone(),
            live_operations: BTreeSet::from([ours()]),
            gates: crate::gates::GateInputs::default(),
        }
    }

    /// Takes a lock: it must be free or ours already.
    pub(super) fn acquire(&mut self, a: &Acquire) -> Result<(), TestCaseError> {
        if let Some(l) = self.locks.get(&a.node) {
            prop_assert_eq!(&l.holder, &a.holder, "lock of {} held by another", &a.node);
        }
        self.locks.insert(
            a.node.clone(),
            NodeLock {
                holder: a.holder.clone(),
                control_plane: a.control_plane,
            },
        );
        Ok(())
    }

    /// Writes target records.
    pub(super) fn write_targets(&mut self, writes: &[TargetWrite]) {
        apply_targets(&mut self.targets, writes);
    }

    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        self.nodes.iter_mut().find(|n| n.name == name).unwrap()
    }

    pub(super) fn apply(&mut self, action: Action) -> Result<(), TestCaseError> {
        match action {
            Action::Cordon { node, cordoned_by } => {
                prop_assert!(
                    !self.admin.contains(&node),
                    "cordoned an admin-cordoned node"
                );
                let n = self.node_mut(&node);
                n.unschedulable = true;
                n.cordoned_by = Some(cordoned_by);
            }
            Action::Uncordon { node, cordoned_by } => {
                let n = self.node_mut(&node);
                prop_assert_eq!(
                    n.cordoned_by.as_ref(),
                    Some(&cordoned_by),
                    "not ours: {}",
                    node
                );
                n.unschedulable = false;
                n.cordoned_by = None;
            }
            Action::Evict { pod, .. } => {
                if !self.blocked.contains(&pod) {
                    self.node_pods
                        .values_mut()
                        .for_each(|ps| ps.retain(|p| p.name != pod));
                }
            }
            Action::CreateJob(job) => {
                let name = job.metadata.name.clone().unwrap();
                let spec = job.spec.unwrap().template.spec.unwrap();
                let node = spec.node_name.unwrap();
                prop_assert!(self.jobs.iter().all(|j| j.info.name != name), "Job exists");
                let created = self.jobs_created.entry(node.clone()).or_default();
                *created += 1;
                prop_assert_eq!(*created, 1, "two Jobs for {}", node);
                self.jobs.push(FakeJob {
                    info: JobInfo {
                        name,
                        node,
                        active: 1,
                        succeeded: 0,
                        failed: 0,
                        condition: None,
                        termination_message: None,
                        cannot_start: None,
                        deleting: false,
                    },
                    left: 0,
                    succeed: true,
                });
            }
            Action::CreateRebootPod(p) => {
                let node = p.spec.unwrap().node_name.unwrap();
                self.reboots.entry(node.clone()).or_insert(2);
                self.pods.push(EnginePod {
                    name: p.metadata.name.unwrap(),
                    node,
                    role: EngineRole::Reboot,
                    phase: PodPhase::Running,
                    termination_message: None,
                    cannot_start: None,
                    deleting: false,
                });
            }
            Action::CreatePreflightPod(p) => {
                let node = p.spec.unwrap().node_name.unwrap();
                let skip = self.preflight_skip.contains(&node);
                prop_assert!(
                    !self
                        .nodes
                        .iter()
                        .any(|n| n.name == node && n.cordoned_by.is_some())
                );
                self.pods.push(EnginePod {
                    name: p.metadata.name.unwrap(),
                    node,
                    role: EngineRole::Preflight,
                    phase: PodPhase::Succeeded,
                    termination_message: skip.then(|| "already done".to_owned()),
                    cannot_start: None,
                    deleting: false,
                });
            }
            Action::DeleteJob { name, .. } => self.jobs.retain(|j| j.info.name != name),
            Action::DeletePod { name, .. } => self.pods.retain(|p| p.name != name),
            Action::RemoveFinalizer => self.finalizer_removed = true,
            Action::Release { node, holder } | Action::BreakLock { node, holder } => {
                if self.locks.get(&node).is_some_and(|l| l.holder == holder) {
                    self.locks.remove(&node);
                }
            }
        }
        Ok(())
    }

    /// One tick of the fake kubelets: Jobs progress, reboots happen.
    pub(super) fn tick(&mut self, outcomes: &BTreeMap<String, (bool, u32)>) {
        for j in &mut self.jobs {
            if j.info.condition.is_some() {
                continue;
            }
            if j.left == 0 {
                let (succeed, ticks) = outcomes[&j.info.node];
                (j.succeed, j.left) = (succeed, ticks);
                continue;
            }
            j.left -= 1;
            if j.left == 0 {
                j.info.active = 0;
                if j.succeed {
                    j.info.succeeded = 1;
                    j.info.condition = Some(JobCondition::Complete);
                    j.info.termination_message = self.boot_ids.get(&j.info.node).cloned();
                } else {
                    j.info.failed = 3;
                    j.info.condition = Some(JobCondition::Failed {
                        reason: "BackoffLimitExceeded".into(),
                        message: "Job has reached the specified backoff limit".into(),
                    });
                }
            }
        }
        for (node, left) in &mut self.reboots {
            if *left == 0 {
                continue;
            }
            *left -= 1;
            let info = self.nodes.iter_mut().find(|n| &n.name == node).unwrap();
            if *left == 1 {
                info.ready = false;
                let id = self.boot_ids.get_mut(node).unwrap();
                id.replace_range(..1, "f");
            } else {
                info.ready = true;
            }
        }
    }
}
