//! Tests of the engine across operations and at fleet scale: target records, node locks, the
//! cluster-wide control-plane rule and disruption budget, and the bounded status. Test-only;
//! no I/O.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::{NodeOp, NodePhase as P, OperationPhase};

use super::fixtures::*;
use crate::nodeop::lock::{Limits, NodeLock};
use crate::nodeop::status::MAX_LISTED_NODES;
use crate::nodeop::{Acquire, Action, Config, Observed, Plan, TargetWrite, plan};

fn other_lock(control_plane: bool) -> NodeLock {
    NodeLock {
        holder: "ops/other@0a1b2c3d-0000-4000-8000-0000000000ff".into(),
        control_plane,
    }
}

fn with_live_other(mut obs: Observed) -> Observed {
    obs.live_operations.insert(other_lock(false).holder);
    obs.live_operations.insert(ours());
    obs
}

fn plan_with_config(op: &mut NodeOp, obs: &Observed, config: &Config, now: i64) -> Plan {
    let p = plan(op, &with_records(op, obs), config, t(now)).unwrap();
    op.status = Some(p.status.clone());
    p
}

#[test]
fn the_first_plan_records_every_target_and_takes_the_locks_of_the_nodes_it_starts() {
    let mut s = spec();
    s.concurrency = 1;
    let mut op = op(s);
    let obs = observed(vec![node("w1"), node("w2")]);
    let p = step(&mut op, &obs, t(0));
    let created: Vec<&str> = p
        .targets
        .iter()
        .map(|w| match w {
            TargetWrite::Create { node, .. } => node.as_str(),
            TargetWrite::Status { node, .. } => panic!("status of {node} before its creation"),
        })
        .collect();
    assert_eq!(created, ["w1", "w2"]);
    assert_eq!(
        p.acquire,
        [Acquire {
            node: "w1".into(),
            control_plane: false,
            holder: ours()
        }]
    );
    // Next time only what changed is written: nothing, the Job has not been seen yet.
    let mut obs = obs;
    obs.targets = records(&op);
    obs.locks.insert(
        "w1".into(),
        NodeLock {
            holder: ours(),
            control_plane: false,
        },
    );
    let again = plan(&op, &obs, &Config::default(), t(1)).unwrap();
    assert!(again.targets.is_empty(), "{:?}", again.targets);
    assert!(again.acquire.is_empty());
    obs.jobs
        .push(job("w1", Some(crate::nodeop::JobCondition::Complete)));
    let done = plan(&op, &obs, &Config::default(), t(2)).unwrap();
    let written: Vec<&str> = done
        .targets
        .iter()
        .map(|w| match w {
            TargetWrite::Status { node, .. } | TargetWrite::Create { node, .. } => node.as_str(),
        })
        .collect();
    assert_eq!(written, ["w1", "w2"], "w1 completed, w2 started");
    assert!(done.actions.contains(&Action::Release {
        node: "w1".into(),
        holder: ours()
    }));
}

#[test]
fn a_node_held_by_another_operation_waits_and_says_for_whom() {
    let mut op = op(spec());
    let mut obs = with_live_other(observed(vec![node("w1"), node("w2")]));
    obs.locks.insert("w1".into(), other_lock(false));
    let p = step(&mut op, &obs, t(0));
    assert_eq!(phase_of(&p, "w1"), P::Pending);
    assert_eq!(
        p.status.node_statuses["w1"].message.as_deref(),
        Some("waiting for ops/other, which holds the node")
    );
    // The free node starts in the meantime.
    assert_eq!(phase_of(&p, "w2"), P::Running);
    assert!(p.acquire.iter().all(|a| a.node == "w2"));
    // Once released, w1 starts.
    obs.locks.clear();
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w1"), P::Running);
}

#[test]
fn one_control_plane_node_at_a_time_across_operations_and_workers_wait_for_their_own() {
    let mut op = op(spec());
    let mut obs = with_live_other(observed(vec![cp("cp1"), cp("cp2"), node("w1")]));
    obs.locks.insert("cp2".into(), other_lock(true));
    let p = step(&mut op, &obs, t(0));
    assert_eq!(phase_of(&p, "cp1"), P::Pending);
    assert!(
        p.status.node_statuses["cp1"]
            .message
            .as_deref()
            .unwrap()
            .contains("control-plane node cp2 is held by ops/other"),
        "{:?}",
        p.status.node_statuses["cp1"]
    );
    // This operation's workers wait for its own control plane, as before.
    assert_eq!(phase_of(&p, "w1"), P::Pending);
    assert!(p.acquire.is_empty() && creates_job_for(&p).is_empty());
}

#[test]
fn the_disruption_budget_holds_across_operations() {
    let mut s = spec();
    s.concurrency = 5;
    let mut op = op(s);
    let nodes: Vec<_> = ["w1", "w2", "w3", "w4"].iter().map(|n| node(n)).collect();
    let mut obs = with_live_other(observed(nodes));
    obs.locks.insert("w9".into(), other_lock(false));
    let config = Config {
        limits: Limits {
            max_disrupted_nodes: Some(3),
        },
        ..Config::default()
    };
    let p = plan_with_config(&mut op, &obs, &config, 0);
    assert_eq!(p.status.in_progress, 2, "{:?}", p.status.node_statuses);
    assert_eq!(p.acquire.len(), 2);
    assert!(
        p.status.node_statuses["w3"]
            .message
            .as_deref()
            .unwrap()
            .contains("--max-disrupted-nodes 3")
    );
}

#[test]
fn a_lock_whose_holder_is_gone_is_broken() {
    let mut op = op(spec());
    let mut obs = observed(vec![node("w1")]);
    obs.live_operations.insert(ours());
    obs.locks.insert("w1".into(), other_lock(false));
    let p = step(&mut op, &obs, t(0));
    assert!(p.actions.contains(&Action::BreakLock {
        node: "w1".into(),
        holder: other_lock(false).holder
    }));
    assert_eq!(phase_of(&p, "w1"), P::Pending);
}

#[test]
fn nothing_is_decided_while_target_records_are_missing() {
    let mut op = op(spec());
    let obs = observed(vec![node("w1"), node("w2")]);
    let first = step(&mut op, &obs, t(0));
    assert_eq!(first.status.total, 2);
    let mut partial = obs.clone();
    partial.targets = records(&op);
    partial.targets.remove("w2");
    let p = plan(&op, &partial, &Config::default(), t(1)).unwrap();
    assert!(p.actions.is_empty() && p.targets.is_empty() && p.acquire.is_empty());
    assert_eq!(p.status, first.status);
    assert!(p.requeue_after.is_some());
}

#[test]
fn a_large_operation_lists_only_nodes_in_flight_and_failed_but_counts_all() {
    let n = MAX_LISTED_NODES * 3;
    let names: Vec<String> = (0..n).map(|i| format!("w{i:04}")).collect();
    let mut s = spec();
    s.concurrency = 10;
    let mut op = op(s);
    let mut obs = observed(names.iter().map(|n| node(n)).collect());
    let p = plan(&op, &obs, &Config::default(), t(0)).unwrap();
    op.status = Some(p.status.clone());
    super::fixtures::apply_targets(&mut obs.targets, &p.targets);
    assert_eq!(obs.targets.len(), n);
    assert_eq!(p.status.total, i32::try_from(n).unwrap());
    assert_eq!(p.status.in_progress, 10);
    assert_eq!(p.status.node_statuses.len(), 10);
    assert!(
        p.status
            .node_statuses
            .values()
            .all(|s| s.phase == P::Running)
    );
    let bytes = serde_json::to_vec(&p.status).unwrap().len();
    assert!(bytes < 16 * 1024, "{bytes} bytes");
    // A whole rollout with every Job failing on even nodes: failed nodes stay listed (bounded).
    let mut now = 1;
    let mut locks: BTreeMap<String, NodeLock> = BTreeMap::new();
    take_locks(&mut locks, &p.acquire);
    loop {
        obs.locks = locks.clone();
        let p = plan(&op, &obs, &Config::default(), t(now)).unwrap();
        super::fixtures::apply_targets(&mut obs.targets, &p.targets);
        take_locks(&mut locks, &p.acquire);
        for a in &p.actions {
            if let Action::Release { node, .. } = a {
                locks.remove(node);
            }
        }
        for a in &p.actions {
            if let Action::CreateJob(j) = a {
                let node = j
                    .spec
                    .as_ref()
                    .unwrap()
                    .template
                    .spec
                    .as_ref()
                    .unwrap()
                    .node_name
                    .clone()
                    .unwrap();
                let i: usize = node[1..].parse().unwrap();
                let cond = if i.is_multiple_of(2) {
                    crate::nodeop::JobCondition::Failed {
                        reason: "BackoffLimitExceeded".into(),
                        message: String::new(),
                    }
                } else {
                    crate::nodeop::JobCondition::Complete
                };
                obs.jobs.push(job(&node, Some(cond)));
            }
        }
        op.status = Some(p.status.clone());
        assert!(p.status.node_statuses.len() <= MAX_LISTED_NODES);
        if p.status.phase == Some(OperationPhase::Failed) {
            assert_eq!(p.status.failed, i32::try_from(n / 2).unwrap());
            assert_eq!(p.status.completed, i32::try_from(n / 2).unwrap());
            assert_eq!(p.status.node_statuses.len(), MAX_LISTED_NODES);
            assert!(
                p.status
                    .node_statuses
                    .values()
                    .all(|s| s.phase == P::Failed)
            );
            assert!(locks.is_empty(), "{locks:?}");
            break;
        }
        now += 1;
        assert!(now < 1000, "did not finish");
    }
}
