//! Property tests of the `NodeOp` planner: a tiny fake cluster applies the planned actions,
//! Jobs succeed, fail or hang for a while, status writes are sometimes lost (an operator
//! killed between apply and report), and the rollout's invariants are checked after every
//! plan. Test-only; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use kairos_api::v1alpha1::{NodeOp, NodeOpStatus, NodePhase, OperationPhase};
use proptest::prelude::*;

use super::fixtures::{cp, drain_opts, node, op, ours, pod, spec, t};
use super::plan::{
    Action, Config, EnginePod, EngineRole, JobCondition, JobInfo, NodeInfo, NodePod, Observed,
    PodPhase, plan,
};

const TICK: i64 = 10;
const MAX_ROUNDS: usize = 3000;

#[derive(Clone, Debug)]
struct Scenario {
    control_planes: usize,
    /// Per node: (Job succeeds, ticks until it finishes, pod blocked by a PDB, admin cordon).
    nodes: Vec<(bool, u32, bool, bool)>,
    concurrency: i32,
    stop_on_failure: bool,
    uncordon_on_failure: bool,
    cordon: bool,
    drain: bool,
    reboot: bool,
    operator_node: Option<usize>,
    /// Rounds whose status write is lost.
    lost_writes: Vec<bool>,
    delete_at: Option<usize>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let node = (
        prop::bool::weighted(0.8),
        1u32..40,
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.15),
    );
    (
        (0usize..3, prop::collection::vec(node, 1..8), 0i32..5),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            prop::option::of(0usize..8),
            prop::collection::vec(prop::bool::weighted(0.1), 0..64),
        ),
        prop::option::weighted(0.2, 0usize..200),
    )
        .prop_map(
            |((cps, nodes, concurrency), flags, (operator_node, lost), delete_at)| {
                let (stop_on_failure, uncordon_on_failure, cordon, drain, reboot) = flags;
                Scenario {
                    control_planes: cps.min(nodes.len()),
                    nodes,
                    concurrency,
                    stop_on_failure,
                    uncordon_on_failure,
                    cordon: cordon || drain,
                    drain,
                    reboot,
                    operator_node,
                    lost_writes: lost,
                    delete_at,
                }
            },
        )
}

/// A Job in the fake cluster: its info, ticks left, and whether it will succeed.
struct FakeJob {
    info: JobInfo,
    left: u32,
    succeed: bool,
}

struct World {
    nodes: Vec<NodeInfo>,
    jobs: Vec<FakeJob>,
    pods: Vec<EnginePod>,
    node_pods: BTreeMap<String, Vec<NodePod>>,
    blocked: BTreeSet<String>,
    boot_ids: BTreeMap<String, String>,
    reboots: BTreeMap<String, u32>,
    jobs_created: BTreeMap<String, u32>,
    admin: BTreeSet<String>,
    operator_node: Option<String>,
    deleting: bool,
    finalizer_removed: bool,
}

fn name(i: usize, cps: usize) -> String {
    if i < cps {
        format!("cp{i}")
    } else {
        format!("w{i}")
    }
}

impl World {
    fn new(s: &Scenario) -> Self {
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
            operator_node: s.operator_node.map(|i| name(i, s.control_planes)),
            deleting: false,
            finalizer_removed: false,
        };
        for (i, (_, _, blocked, admin)) in s.nodes.iter().enumerate() {
            let n = name(i, s.control_planes);
            let mut info = if i < s.control_planes {
                cp(&n)
            } else {
                node(&n)
            };
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

    fn observe(&self) -> Observed {
        Observed {
            nodes: self.nodes.clone(),
            jobs: self.jobs.iter().map(|j| j.info.clone()).collect(),
            engine_pods: self.pods.clone(),
            node_pods: self.node_pods.clone(),
            agent_boot_ids: self.boot_ids.clone(),
            operator_node: self.operator_node.clone(),
            deleting: self.deleting,
        }
    }

    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        self.nodes.iter_mut().find(|n| n.name == name).unwrap()
    }

    fn apply(&mut self, action: Action) -> Result<(), TestCaseError> {
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
                    deleting: false,
                });
            }
            Action::CreatePreflightPod(_) => prop_assert!(false, "no preflight in this spec"),
            Action::DeleteJob { name, .. } => self.jobs.retain(|j| j.info.name != name),
            Action::DeletePod { name, .. } => self.pods.retain(|p| p.name != name),
            Action::RemoveFinalizer => self.finalizer_removed = true,
        }
        Ok(())
    }

    /// One tick of the fake kubelets: Jobs progress, reboots happen.
    fn tick(&mut self, outcomes: &BTreeMap<String, (bool, u32)>) {
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

fn build_op(s: &Scenario) -> NodeOp {
    let mut sp = spec();
    sp.concurrency = s.concurrency;
    sp.stop_on_failure = Some(s.stop_on_failure);
    sp.uncordon_on_failure = Some(s.uncordon_on_failure);
    sp.cordon = Some(s.cordon);
    sp.drain_options = s.drain.then(|| {
        let mut d = drain_opts();
        d.timeout_seconds = Some(120);
        d
    });
    sp.reboot_on_success = Some(s.reboot);
    op(sp)
}

fn in_flight(st: &NodeOpStatus) -> usize {
    st.node_statuses
        .values()
        .filter(|n| n.phase.is_in_flight())
        .count()
}

/// Invariants of one plan's output status, given its input status.
fn check_plan(
    s: &Scenario,
    before: &NodeOpStatus,
    after: &NodeOpStatus,
) -> Result<(), TestCaseError> {
    let limit = usize::try_from(s.concurrency).unwrap();
    prop_assert!(
        limit == 0 || in_flight(after) <= limit,
        "too many in flight: {:?}",
        after
    );
    let cp_open = after
        .node_statuses
        .values()
        .any(|n| n.control_plane && !n.phase.is_terminal());
    if cp_open {
        prop_assert!(in_flight(after) <= 1, "control plane not one at a time");
        for (n, st) in after
            .node_statuses
            .iter()
            .filter(|(_, st)| !st.control_plane)
        {
            let idle = matches!(st.phase, NodePhase::Pending | NodePhase::Stopped);
            prop_assert!(
                idle,
                "worker {} started before the control plane finished",
                n
            );
        }
    }
    let failed_before = before.node_statuses.values().any(|n| n.phase.is_failure());
    if s.stop_on_failure && failed_before {
        for (n, st) in &before.node_statuses {
            let now = after.node_statuses[n].phase;
            if st.phase == NodePhase::Pending {
                prop_assert!(
                    matches!(now, NodePhase::Pending | NodePhase::Stopped),
                    "{} started",
                    n
                );
            }
        }
    }
    Ok(())
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let mut world = World::new(s);
    let mut op = build_op(s);
    let config = Config::default();
    let outcomes: BTreeMap<String, (bool, u32)> = s
        .nodes
        .iter()
        .enumerate()
        .map(|(i, (ok, ticks, _, _))| (name(i, s.control_planes), (*ok, *ticks)))
        .collect();
    let mut now: Timestamp = t(0);
    for round in 0..MAX_ROUNDS {
        if s.delete_at == Some(round) {
            world.deleting = true;
        }
        let obs = world.observe();
        let p = plan(&op, &obs, &config, now).unwrap();
        let before = op.status.clone().unwrap_or_default();
        check_plan(s, &before, &p.status)?;
        // Restart safety: planning the same observation again, from the status before or
        // after this plan, never asks for a Job that already exists.
        let mut replanned = op.clone();
        replanned.status = Some(p.status.clone());
        for o in [&op, &replanned] {
            let again = plan(o, &obs, &config, now).unwrap();
            for a in &again.actions {
                if let Action::CreateJob(j) = a {
                    let name = j.metadata.name.as_ref().unwrap();
                    prop_assert!(
                        obs.jobs.iter().all(|j| &j.name != name),
                        "duplicate Job {}",
                        name
                    );
                }
            }
        }
        let quiet = p.actions.is_empty();
        for a in p.actions {
            world.apply(a)?;
        }
        // In the cluster itself (not only in the status): Jobs still running.
        let running = world
            .jobs
            .iter()
            .filter(|j| j.info.condition.is_none())
            .count();
        let limit = usize::try_from(s.concurrency).unwrap();
        prop_assert!(limit == 0 || running <= limit, "{} Jobs running", running);
        if !s.lost_writes.get(round).copied().unwrap_or(false) {
            op.status = Some(p.status.clone());
        }
        if world.finalizer_removed {
            return check_deleted(&world);
        }
        let done = matches!(
            p.status.phase,
            Some(OperationPhase::Completed | OperationPhase::Failed | OperationPhase::Stopped)
        );
        if done && quiet && !world.deleting && op.status.as_ref() == Some(&p.status) {
            return check_finished(s, &world, &p.status);
        }
        world.tick(&outcomes);
        now = now
            .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(TICK))
            .unwrap();
    }
    prop_assert!(
        false,
        "did not finish in {} rounds: {:?}",
        MAX_ROUNDS,
        op.status
    );
    Ok(())
}

fn check_finished(s: &Scenario, w: &World, st: &NodeOpStatus) -> Result<(), TestCaseError> {
    prop_assert_eq!(st.node_statuses.len(), s.nodes.len());
    for (name, ns) in &st.node_statuses {
        prop_assert!(ns.phase.is_terminal(), "{} not terminal", name);
        let n = w.nodes.iter().find(|n| &n.name == name).unwrap();
        if w.admin.contains(name) {
            prop_assert!(
                n.unschedulable && n.cordoned_by.is_none(),
                "admin cordon lost on {}",
                name
            );
            continue;
        }
        let held = n.cordoned_by.as_deref() == Some(ours().as_str());
        prop_assert_eq!(held, n.unschedulable, "{}", name);
        let kept = ns.phase == NodePhase::Failed && ns.cordoned && !s.uncordon_on_failure;
        prop_assert_eq!(held, kept, "{} in {:?}", name, ns.phase);
        if ns.phase == NodePhase::Completed && s.reboot {
            prop_assert!(n.ready);
        }
    }
    let failed = st.node_statuses.values().any(|n| n.phase.is_failure());
    let stopped = st
        .node_statuses
        .values()
        .any(|n| n.phase == NodePhase::Stopped);
    let expected = match (failed, stopped) {
        (false, _) => OperationPhase::Completed,
        (true, true) => OperationPhase::Stopped,
        (true, false) => OperationPhase::Failed,
    };
    prop_assert_eq!(st.phase, Some(expected));
    prop_assert!(!stopped || s.stop_on_failure);
    Ok(())
}

fn check_deleted(w: &World) -> Result<(), TestCaseError> {
    prop_assert!(
        w.jobs.is_empty() && w.pods.is_empty(),
        "objects left after deletion"
    );
    for n in &w.nodes {
        prop_assert!(
            n.cordoned_by.is_none(),
            "{} still cordoned by the deleted op",
            n.name
        );
        prop_assert_eq!(n.unschedulable, w.admin.contains(&n.name));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn rollouts_keep_their_invariants(s in scenario()) {
        run(&s)?;
    }
}
