//! Property tests of the `NodeOp` planner: a tiny fake cluster applies the planned actions,
//! Jobs succeed, fail or hang for a while, status writes are sometimes lost (an operator
//! killed between apply and report), and the rollout's invariants are checked after every
//! plan. Test-only; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use kairos_api::v1alpha1::{NodeOp, NodeOpStatus, NodePhase, OperationPhase};
use proptest::prelude::*;

use super::fake_cluster::{World, name};
use super::fixtures::{drain_opts, op, ours, spec, t};
use crate::nodeop::{Action, Config, Observed, plan};

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
    /// Run a preflight pod; it skips the nodes whose ticks are a multiple of 4.
    preflight: bool,
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
            prop::bool::weighted(0.3),
        ),
        (
            prop::option::of(0usize..8),
            prop::collection::vec(prop::bool::weighted(0.1), 0..64),
        ),
        prop::option::weighted(0.2, 0usize..200),
    )
        .prop_map(
            |((cps, nodes, concurrency), flags, (operator_node, lost), delete_at)| {
                let (stop_on_failure, uncordon_on_failure, cordon, drain, reboot, preflight) =
                    flags;
                Scenario {
                    control_planes: cps.min(nodes.len()),
                    nodes,
                    concurrency,
                    stop_on_failure,
                    uncordon_on_failure,
                    cordon: cordon || drain,
                    drain,
                    reboot,
                    preflight,
                    operator_node,
                    lost_writes: lost,
                    delete_at,
                }
            },
        )
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
    if s.preflight {
        sp.preflight = Some(serde_yaml::from_str("command: [check]").unwrap());
    }
    op(sp)
}

fn in_flight(st: &NodeOpStatus) -> usize {
    st.node_statuses
        .values()
        .filter(|n| n.phase.is_in_flight())
        .count()
}

/// Invariants of one plan's output status, given its input status and the nodes that the
/// cluster shows as started (our Job or our cordon), which a lost status write may hide.
fn check_plan(
    s: &Scenario,
    before: &NodeOpStatus,
    after: &NodeOpStatus,
    started: &BTreeSet<String>,
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
            if st.phase == NodePhase::Pending && !started.contains(n) {
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
    let shape: Vec<(bool, bool)> = s.nodes.iter().map(|n| (n.2, n.3)).collect();
    let mut world = World::new(&shape, s.control_planes, s.operator_node);
    world.preflight_skip = s
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.1 % 4 == 0)
        .map(|(i, _)| name(i, s.control_planes))
        .collect();
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
        // The plan from only the Nodes it looks at is the same plan.
        let mut narrowed = obs.clone();
        narrowed.nodes.retain(|n| {
            Observed::looks_at_node(&op, &obs.targets, &n.name, n.cordoned_by.is_some())
        });
        prop_assert_eq!(&plan(&op, &narrowed, &config, now).unwrap(), &p);
        // What the cluster holds once this plan's locks and records are written.
        let mut after = obs.clone();
        super::fixtures::apply_targets(&mut after.targets, &p.targets);
        let before = op.status.clone().unwrap_or_default();
        let started: BTreeSet<String> = obs
            .nodes
            .iter()
            .filter(|n| n.cordoned_by == Some(ours()) || obs.jobs.iter().any(|j| j.node == n.name))
            .map(|n| n.name.clone())
            .collect();
        check_plan(s, &before, &p.status, &started)?;
        // Restart safety: planning the same observation again, from the status before or
        // after this plan, never asks for a Job that already exists.
        let mut replanned = op.clone();
        replanned.status = Some(p.status.clone());
        for (o, seen) in [(&op, &obs), (&replanned, &after)] {
            let again = plan(o, seen, &config, now).unwrap();
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
        // A plan goes as far as the observation allows: planning again from its own status
        // with the same observation (and clock) changes nothing and says nothing new.
        let mut after_locks = after.clone();
        super::fixtures::take_locks(&mut after_locks.locks, &p.acquire);
        let again = plan(&replanned, &after_locks, &config, now).unwrap();
        prop_assert_eq!(&again.status, &p.status, "not a fixpoint");
        prop_assert!(again.events.is_empty(), "new events: {:?}", again.events);
        prop_assert!(
            again.targets.is_empty(),
            "new record writes: {:?}",
            again.targets
        );
        prop_assert!(again.acquire.is_empty(), "new locks: {:?}", again.acquire);
        let quiet = p.actions.is_empty() && p.acquire.is_empty() && p.targets.is_empty();
        let lost = s.lost_writes.get(round).copied().unwrap_or(false);
        for a in &p.acquire {
            world.acquire(a)?;
        }
        if !lost {
            world.write_targets(&p.targets);
        }
        // Every node in flight holds its lock.
        for (n, st) in &p.status.node_statuses {
            if st.phase.is_in_flight() {
                prop_assert!(
                    world.locks.get(n).is_some_and(|l| l.holder == ours()),
                    "{} in flight without its lock",
                    n
                );
            }
        }
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
        if !lost {
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
    prop_assert!(w.locks.is_empty(), "locks left: {:?}", w.locks);
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
    prop_assert!(
        w.locks.is_empty(),
        "locks left after deletion: {:?}",
        w.locks
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
