//! Test builders for the `NodeOp` planner: specs, nodes, Jobs and pods. Test-only; no I/O.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use kairos_api::names::CONTROL_PLANE_LABELS;
use kairos_api::v1alpha1::{DrainOptions, NodeOp, NodeOpSpec, NodePhase};

use crate::nodeop::build::{self, Role};
use crate::nodeop::lock::NodeLock;
use crate::nodeop::{
    Acquire, Action, Config, JobCondition, JobInfo, NodeInfo, NodePod, Observed, OpRef, Plan,
    PodPhase, Target, TargetWrite, plan,
};

pub(super) const UID: &str = "0a1b2c3d-0000-4000-8000-000000000001";
pub(super) const BOOT_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
pub(super) const BOOT_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

pub(super) fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// A minimal spec: busybox, `true`, nothing else.
pub(super) fn spec() -> NodeOpSpec {
    serde_yaml::from_str("command: [\"true\"]").unwrap()
}

pub(super) fn drain_opts() -> DrainOptions {
    serde_yaml::from_str("enabled: true").unwrap()
}

pub(super) fn op(spec: NodeOpSpec) -> NodeOp {
    let mut op = NodeOp::new("op", spec);
    op.metadata.namespace = Some("default".to_owned());
    op.metadata.uid = Some(UID.to_owned());
    op.metadata.generation = Some(1);
    op
}

pub(super) fn op_ref() -> OpRef {
    OpRef::of(&op(spec())).unwrap()
}

pub(super) fn ours() -> String {
    op_ref().cordoned_by()
}

pub(super) fn node(name: &str) -> NodeInfo {
    NodeInfo {
        name: name.to_owned(),
        ready: true,
        boot_id: Some(BOOT_A.to_owned()),
        ..NodeInfo::default()
    }
}

pub(super) fn cp(name: &str) -> NodeInfo {
    let mut n = node(name);
    n.labels
        .insert(CONTROL_PLANE_LABELS[0].to_owned(), String::new());
    n
}

pub(super) fn observed(nodes: Vec<NodeInfo>) -> Observed {
    let node_pods = nodes.iter().map(|n| (n.name.clone(), Vec::new())).collect();
    Observed {
        nodes,
        node_pods,
        ..Observed::default()
    }
}

pub(super) fn job_name(node: &str) -> String {
    build::object_name(&op_ref(), node, Role::Job)
}

pub(super) fn job(node: &str, condition: Option<JobCondition>) -> JobInfo {
    JobInfo {
        name: job_name(node),
        node: node.to_owned(),
        active: i32::from(condition.is_none()),
        succeeded: i32::from(condition == Some(JobCondition::Complete)),
        failed: 0,
        condition,
        termination_message: None,
        cannot_start: None,
        deleting: false,
    }
}

pub(super) fn pod(ns: &str, name: &str, controller: Option<&str>) -> NodePod {
    NodePod {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        controller_kind: controller.map(str::to_owned),
        phase: PodPhase::Running,
        ..NodePod::default()
    }
}

/// Takes a plan's locks in `locks`, as the operator would.
pub(super) fn take_locks(locks: &mut BTreeMap<String, NodeLock>, acquire: &[Acquire]) {
    for a in acquire {
        let held = NodeLock {
            holder: a.holder.clone(),
            control_plane: a.control_plane,
        };
        locks.insert(a.node.clone(), held);
    }
}

/// Applies a plan's target record writes to `targets`, as the API server would.
pub(super) fn apply_targets(targets: &mut BTreeMap<String, Target>, writes: &[TargetWrite]) {
    for w in writes {
        match w {
            TargetWrite::Create {
                node,
                order,
                control_plane,
                status,
            } => {
                targets.entry(node.clone()).or_insert(Target {
                    order: *order,
                    control_plane: *control_plane,
                    status: Some(status.clone()),
                });
            }
            TargetWrite::Status { node, status } => {
                if let Some(t) = targets.get_mut(node) {
                    t.status = Some(status.clone());
                }
            }
        }
    }
}

/// The target records as the previous plan of `op` left them, read back from its status
/// (which lists every node of an operation of at most 100 nodes).
pub(super) fn records(op: &NodeOp) -> BTreeMap<String, Target> {
    op.status
        .iter()
        .flat_map(|s| &s.node_statuses)
        .map(|(n, st)| {
            let t = Target {
                order: st.order,
                control_plane: st.control_plane,
                status: Some(st.clone()),
            };
            (n.clone(), t)
        })
        .collect()
}

/// `obs` with the records `op`'s previous plan left, when `obs` brings none.
pub(super) fn with_records(op: &NodeOp, obs: &Observed) -> Observed {
    let mut obs = obs.clone();
    if obs.targets.is_empty() {
        obs.targets = records(op);
    }
    obs
}

/// Plans and stores the new status on the object, as the operator would (the target records
/// follow the status, see [`with_records`]).
pub(super) fn step(op: &mut NodeOp, obs: &Observed, now: Timestamp) -> Plan {
    let p = plan(op, &with_records(op, obs), &Config::default(), now).unwrap();
    op.status = Some(p.status.clone());
    p
}

pub(super) fn phase_of(p: &Plan, node: &str) -> NodePhase {
    p.status.node_statuses[node].phase
}

pub(super) fn phases(p: &Plan) -> BTreeMap<String, NodePhase> {
    p.status
        .node_statuses
        .iter()
        .map(|(n, s)| (n.clone(), s.phase))
        .collect()
}

pub(super) fn creates_job_for(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreateJob(j) => j.spec.as_ref()?.template.spec.as_ref()?.node_name.clone(),
            _ => None,
        })
        .collect()
}

pub(super) fn reasons(p: &Plan) -> Vec<&'static str> {
    p.events.iter().map(|e| e.reason.as_str()).collect()
}
